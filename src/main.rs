//! The `understudy` binary: parses the command line and runs the library. Errors from the
//! library are reported here, with `anyhow`, and end the process with a non-zero status.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::FromArgMatches;

use std::io::IsTerminal;
use understudy::auth::TokenDb;

use understudy::cli::{
    Cli, Command, DataFormat, Format, GenerateArgs, LogFormat, ScenarioCommand, ScenarioSource,
    ServeArgs, SpecArgs, VerifyArgs,
};
use understudy::engine::{Config, Engine};
use understudy::http::Server;
use understudy::scenario::{self, Scenario};
use understudy::spec::{self, Api};

/// mimalloc rather than the system allocator: answers build and drop many small JSON values,
/// and glibc's malloc spent about a third of a write's CPU time on them. Built without
/// transparent huge pages (`no_thp`): with them its arenas made 17 MiB more resident at start.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Hand back to the system the memory a warm-up freed. Its workers, which have ended, freed
/// their chunks of generated rows, and the orders their sort buffers: at a million entities
/// mimalloc otherwise keeps about 150 MB of it resident until it happens to reuse it.
fn release_freed_memory() {
    // SAFETY: `mi_collect` takes a flag and touches only mimalloc's own state (the global
    // allocator above); it is safe to call from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

fn load_specs(args: &SpecArgs) -> anyhow::Result<Vec<Api>> {
    load_spec_paths(args, &[])
}

/// Specs from `--specs` and argument paths (files or folders); the embedded ones when none.
fn load_spec_paths(args: &SpecArgs, files: &[PathBuf]) -> anyhow::Result<Vec<Api>> {
    let paths: Vec<&PathBuf> = args.specs.iter().chain(files).collect();
    if paths.is_empty() {
        if !args.overlay.is_empty() {
            anyhow::bail!("--overlay applies to specs given as files or folders");
        }
        return Ok(spec::load_embedded()?);
    }
    let overlays = args
        .overlay
        .iter()
        .map(|o| spec::overlay::Overlay::load(o))
        .collect::<Result<Vec<_>, _>>()?;
    let mut apis = Vec::new();
    for p in paths {
        if p.is_dir() {
            apis.extend(spec::load_dir_with(p, &overlays)?);
        } else {
            apis.push(spec::load_file_with(p, &overlays)?);
        }
    }
    Ok(apis)
}

/// Load a spec named by path, or by the name of an embedded spec.
fn load_one_spec(path: &std::path::Path) -> anyhow::Result<Api> {
    if path.exists() {
        return Ok(spec::load_file(path)?);
    }
    let name = path.to_string_lossy();
    spec::load_embedded()?
        .into_iter()
        .find(|a| a.name == name)
        .ok_or_else(|| anyhow::anyhow!("{name}: no such file, nor an embedded spec of that name"))
}

/// The engine's configuration from `serve`'s flags (tokens and scenarios read from their
/// files).
fn serve_config(args: &ServeArgs) -> anyhow::Result<Config> {
    Ok(Config {
        seed: args.seed,
        count: args.count,
        single_api: args.api.clone(),
        tokens: args.tokens.as_deref().map(TokenDb::load).transpose()?,
        scenarios: load_scenarios(&args.source)?,
        start: args.scenario.clone(),
        strict: args.strict,
        variants: args.variant.clone(),
        admin: understudy::engine::admin::Guard {
            token: args.admin_token.clone(),
            hosts: args.allowed_hosts.clone(),
        },
        epoch_ms: args.epoch,
        access_log: args.access_log,
        journal: understudy::engine::journal::Limits {
            entries: args.journal_size,
            body: args.journal_body,
            bytes: args.journal_bytes,
        },
    })
}

/// `--watch`: rebuild the engine from the same flags when a file they name changes.
fn watch(
    args: &ServeArgs,
    live: Arc<understudy::engine::live::Live>,
) -> anyhow::Result<understudy::reload::Watch> {
    let mut paths: Vec<PathBuf> = args
        .specs
        .specs
        .iter()
        .chain(&args.files.spec_files)
        .chain(&args.specs.overlay)
        .chain(args.source.scenarios.iter())
        .chain(args.tokens.iter())
        .cloned()
        .collect();
    // An overlay beside a spec file applies to it by itself: watched too, even before it
    // exists.
    let siblings: Vec<PathBuf> = paths
        .iter()
        .filter(|p| p.is_file())
        .filter_map(|p| {
            let stem = p.file_stem()?.to_str()?;
            Some(["yaml", "yml", "json"].map(|x| p.with_file_name(format!("{stem}.overlay.{x}"))))
        })
        .flatten()
        .collect();
    paths.extend(siblings);
    paths.sort();
    paths.dedup();
    if paths.is_empty() {
        tracing::warn!(
            "--watch: the specs and scenarios are the embedded ones; nothing to watch (give \
             --specs, spec files or --scenarios)"
        );
    }
    let owned = args.clone();
    let build = move || -> Result<Engine, String> {
        let cfg = serve_config(&owned).map_err(|e| format!("{e:#}"))?;
        let apis =
            load_spec_paths(&owned.specs, &owned.files.spec_files).map_err(|e| format!("{e:#}"))?;
        Engine::new(apis, &cfg).map_err(|e| e.to_string())
    };
    tracing::info!("--watch: reloading on changes to {} path(s)", paths.len());
    Ok(understudy::reload::watch(&paths, live, build)?)
}

/// Resolves on the first SIGTERM or SIGINT; a second one ends the process at once.
async fn shutdown_signal() {
    wait_for_signal().await;
    tracing::info!("shutting down: finishing in-flight requests (a second signal exits now)");
    tokio::spawn(async {
        wait_for_signal().await;
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Raise the soft limit on open files to the hard limit, so that many clients (and a retry
/// storm) do not exhaust it.
fn raise_fd_limit() {
    #[cfg(unix)]
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!("open-file limit: {n}"),
        Err(e) => tracing::warn!("cannot raise the open-file limit: {e}"),
    }
}

static PROGRESS: std::sync::OnceLock<indicatif::ProgressBar> = std::sync::OnceLock::new();

fn tick(n: usize) {
    if let Some(p) = PROGRESS.get() {
        p.set_message(format!("{n} requests"));
        p.tick();
    }
}

fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let api = load_one_spec(&args.spec)?;
    let show_progress = args.format == Format::Human && std::io::stderr().is_terminal();
    if show_progress {
        let p = indicatif::ProgressBar::new_spinner();
        p.set_message(format!("verifying {}", api.name));
        p.enable_steady_tick(std::time::Duration::from_millis(120));
        let _ = PROGRESS.set(p);
    }
    let opts = understudy::verify::Options {
        base_url: args.base_url.clone(),
        token: args.token.clone(),
        max_pages: args.max_pages,
        sample: args.sample,
        on_request: Some(tick),
    };
    let report = understudy::verify::run(&api, &opts).map_err(|e| anyhow::anyhow!(e))?;
    if let Some(p) = PROGRESS.get() {
        p.finish_and_clear();
    }
    let text = match args.format {
        Format::Human => report.text(),
        Format::Junit => report.junit(),
        Format::Json => report.json(),
    };
    match &args.output {
        Some(f) => std::fs::write(f, &text).with_context(|| format!("writing {}", f.display()))?,
        None => print!("{text}"),
    }
    if report.clean() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} violations of {} against {}",
            report.violations(),
            api.file,
            args.base_url
        )
    }
}

fn load_scenarios(src: &ScenarioSource) -> anyhow::Result<Vec<Scenario>> {
    Ok(match &src.scenarios {
        Some(dir) => scenario::load_dir(dir)?,
        None => scenario::load_embedded()?,
    })
}

/// The command line, completed from `UNDERSTUDY_*` variables and the settings file.
fn parse() -> anyhow::Result<Cli> {
    let cmd = understudy::settings::command();
    let argv = understudy::settings::with_file(std::env::args_os().collect(), &cmd)?;
    let matches = cmd.try_get_matches_from(argv).unwrap_or_else(|e| e.exit());
    Ok(Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit()))
}

/// `generate`: an API's dataset as JSON or NDJSON.
fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let cfg = Config {
        seed: args.seed,
        count: args.count,
        single_api: Some(args.api.clone()),
        // The shipped scenarios, so that writes naming a timeline are not reported as broken.
        scenarios: scenario::load_embedded()?,
        ..Config::default()
    };
    let engine = Engine::new(load_specs(&args.specs)?, &cfg)?;
    let m = engine
        .mounts()
        .first()
        .ok_or_else(|| anyhow::anyhow!("--api {}: no such API", args.api))?;
    let names: Vec<&String> = match &args.collection {
        Some(c) => {
            let known: Vec<&String> = m.collections.keys().collect();
            vec![
                m.collections
                    .get_key_value(c)
                    .map(|(k, _)| k)
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "--collection {c}: {} has no such collection (it has: {})",
                            args.api,
                            known
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })?,
            ]
        }
        None => m.collections.keys().collect(),
    };
    let mut out: Box<dyn Write> = match &args.output {
        Some(f) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(f).with_context(|| format!("writing {}", f.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let entities = |name: &str| {
        let c = &m.collections[name];
        (0..u32::try_from(c.len()).unwrap_or(u32::MAX)).map(move |i| c.entity(i))
    };
    match args.format {
        DataFormat::Ndjson => {
            if names.len() > 1 {
                anyhow::bail!(
                    "{} has several collections ({}): name one with --collection",
                    args.api,
                    names
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            for name in &names {
                for e in entities(name) {
                    serde_json::to_writer(&mut out, &e)?;
                    out.write_all(b"\n")?;
                }
            }
        }
        DataFormat::Json if args.collection.is_some() || names.len() == 1 => {
            let all: Vec<serde_json::Value> = names.iter().flat_map(|n| entities(n)).collect();
            serde_json::to_writer_pretty(&mut out, &all)?;
            out.write_all(b"\n")?;
        }
        DataFormat::Json => {
            let all: serde_json::Map<String, serde_json::Value> = names
                .iter()
                .map(|n| (n.to_string(), entities(n).collect()))
                .collect();
            serde_json::to_writer_pretty(&mut out, &all)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = match parse() {
        Ok(c) => c,
        Err(e) => {
            report(&e);
            return std::process::ExitCode::FAILURE;
        }
    };
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            std::process::ExitCode::FAILURE
        }
    }
}

/// Print an error: `error:` in red on a terminal (unless NO_COLOR is set), plain when piped.
fn report(e: &anyhow::Error) {
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    if colour {
        eprintln!("\x1b[1;31merror:\x1b[0m {e:#}");
    } else {
        eprintln!("error: {e:#}");
    }
}

/// Log to standard error, in `format`, at `RUST_LOG`'s levels (default `info`). Lines are
/// written by a background thread: a slow reader of standard error never holds a request up
/// (lines past its buffer are dropped rather than waited for).
fn init_logs(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(64 * 1024)
        .finish(std::io::stderr());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => fmt.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => fmt.json().flatten_event(true).init(),
    }
    guard
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let format = match &cli.command {
        Command::Serve(a) => a.log_format,
        _ => LogFormat::Text,
    };
    let _logs = init_logs(format);
    match cli.command {
        Command::Apis(args) => {
            for api in load_specs(&args)? {
                println!("{}\t/{}{}", api.name, api.name, api.base_path);
            }
            Ok(())
        }
        Command::Verify(args) => verify(args),
        Command::Generate(args) => generate(args),
        Command::Completions(args) => {
            use std::io::Write;
            let mut cmd = understudy::settings::command();
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut cmd, "understudy", &mut script);
            // A reader that stops early (`| head`) is not an error.
            match std::io::stdout().lock().write_all(&script) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(()),
            }
        }
        Command::Lint(args) => {
            let apis = load_spec_paths(&args.specs, &args.files.spec_files)?;
            let mut scenarios = load_scenarios(&args.source)?;
            // Given specs, only the scenarios that belong to them.
            let given = !args.specs.specs.is_empty() || !args.files.spec_files.is_empty();
            if given && args.source.scenarios.is_none() {
                scenarios.retain(|sc| apis.iter().any(|a| a.name == sc.api));
            }
            let (n_apis, n_sc) = (apis.len(), scenarios.len());
            let findings = understudy::lint::lint(apis, scenarios);
            for f in &findings {
                eprintln!("{f}");
            }
            let errors = findings
                .iter()
                .filter(|f| f.severity == understudy::lint::Severity::Error)
                .count();
            let warnings = findings.len() - errors;
            if errors > 0 {
                anyhow::bail!("{errors} problems ({warnings} warnings)")
            } else if warnings > 0 {
                println!("{n_apis} specs and {n_sc} scenarios: no problems, {warnings} warnings");
                Ok(())
            } else {
                println!("{n_apis} specs and {n_sc} scenarios: clean");
                Ok(())
            }
        }
        Command::Scenario(ScenarioCommand::List(src)) => {
            for s in load_scenarios(&src)? {
                println!("{}\t{}\t{}", s.name, s.api, s.description);
            }
            Ok(())
        }
        Command::Scenario(ScenarioCommand::Validate(args)) => {
            let scenarios = if args.files.is_empty() {
                load_scenarios(&args.source)?
            } else {
                args.files
                    .iter()
                    .map(|f| scenario::load_file(f))
                    .collect::<Result<Vec<_>, _>>()?
            };
            let cfg = Config {
                seed: args.seed,
                count: args.count,
                scenarios: scenarios.clone(),
                ..Config::default()
            };
            let engine = Engine::new(load_specs(&args.specs)?, &cfg)?;
            let mut failed = 0;
            for sc in engine.sessions.scenarios.values() {
                match engine.check_scenario(sc) {
                    Ok(()) => println!("ok\t{}", sc.file),
                    Err(e) => {
                        failed += 1;
                        eprintln!("error: {e}");
                    }
                }
            }
            if failed > 0 {
                anyhow::bail!("{failed} of {} scenario files are invalid", scenarios.len());
            }
            Ok(())
        }
        Command::Serve(args) => {
            if !args.host.is_loopback() {
                if args.admin_token.is_none() {
                    anyhow::bail!(
                        "--host {}: bound beyond loopback, the admin API (scenarios, clock) \
                         would be open to the network; give --admin-token TOKEN (or \
                         UNDERSTUDY_ADMIN_TOKEN)",
                        args.host
                    );
                }
                tracing::warn!(
                    "listening on {} (not loopback): every API is reachable from the network; \
                     the admin API requires the admin token",
                    args.host
                );
            }
            if args.watch && args.state.is_some() {
                anyhow::bail!(
                    "--watch and --state: a reload starts every session afresh, which would \
                     drop the durable default session; use one or the other"
                );
            }
            let cfg = serve_config(&args)?;
            let started = std::time::Instant::now();
            let mut engine =
                Engine::new(load_spec_paths(&args.specs, &args.files.spec_files)?, &cfg)?;
            if let Some(path) = &args.state {
                let store = understudy::state::Store::open(path)?;
                let entries = store.entries()?;
                let failed = engine.restore(Box::new(store), &entries);
                tracing::info!(
                    "--state {}: {} change(s) of the default session replayed{}",
                    path.display(),
                    entries.len(),
                    if failed > 0 {
                        format!(", {failed} of them not as first answered")
                    } else {
                        String::new()
                    }
                );
            }
            let engine = Arc::new(engine);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(async move {
                let addr = SocketAddr::new(args.host, args.port);
                raise_fd_limit();
                let opts = understudy::http::Options {
                    timeouts: understudy::http::Timeouts {
                        header: args.header_timeout,
                        body: args.body_timeout,
                        idle: args.idle_timeout,
                        h2_keepalive: args.h2_keepalive,
                    },
                    max_connections: args.max_connections,
                    shutdown_grace: args.shutdown_timeout,
                    ..understudy::http::Options::default()
                };
                let server = Server::bind_with(addr, engine.clone(), opts).await?;
                let local = server.local_addr()?;
                let _watch = if args.watch {
                    Some(watch(&args, server.live())?)
                } else {
                    None
                };
                let warm = engine.clone();
                std::thread::spawn(move || {
                    let t = std::time::Instant::now();
                    warm.warm();
                    release_freed_memory();
                    tracing::info!("indexes ready in {} ms", t.elapsed().as_millis());
                });
                for m in engine.mounts() {
                    tracing::info!("{} at http://{local}{}", m.api.name, m.prefix);
                }
                tracing::info!(
                    "admin API at http://{local}{}/ (requests journal: /requests, metrics: \
                     /metrics, health: /health)",
                    understudy::engine::admin::PREFIX
                );
                let available = engine.sessions.scenarios.len();
                if cfg.start.is_empty() {
                    tracing::info!("{available} scenarios available; none active at start");
                } else {
                    tracing::info!(
                        "{available} scenarios available; active in every session: {}",
                        cfg.start.join(", ")
                    );
                }
                tracing::info!(
                    "understudy listening on http://{local} (seed {}, ready in {} ms)",
                    cfg.seed,
                    started.elapsed().as_millis()
                );
                server.run(shutdown_signal()).await?;
                tracing::info!("understudy stopped");
                anyhow::Ok(())
            })
        }
    }
}
