//! Command-line definitions (clap). `main` turns these into actions; the library stays free of
//! argument parsing.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Default dataset seed.
pub const DEFAULT_SEED: u64 = 20_251_122;

/// understudy: stands in for real HTTP APIs, from their OpenAPI specs.
#[derive(Debug, Parser)]
#[command(name = "understudy", version, about)]
pub struct Cli {
    /// Read settings from this TOML file (keys are flag names; default: ./understudy.toml
    /// when it exists). Flags and UNDERSTUDY_* variables win over it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the loaded APIs over HTTP.
    Serve(Box<ServeArgs>),
    /// List the loaded APIs and their base paths, without serving.
    Apis(SpecArgs),
    /// Work with scenario files offline.
    #[command(subcommand)]
    Scenario(ScenarioCommand),
    /// Check a live server against a spec.
    Verify(VerifyArgs),
    /// Check specs and scenario files without serving.
    Lint(LintArgs),
    /// Write an API's dataset (what it serves to a session that changed nothing), for fixtures.
    Generate(GenerateArgs),
    /// Print a shell completion script (e.g. `understudy completions bash > /etc/bash_completion.d/understudy`).
    Completions(CompletionsArgs),
}

/// Output formats of `generate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DataFormat {
    /// One JSON document: an array of entities (an object by collection without --collection
    /// when the API has several).
    Json,
    /// One entity per line.
    Ndjson,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub specs: SpecArgs,
    /// The API whose dataset is written.
    #[arg(long, value_name = "NAME")]
    pub api: String,
    /// Only this collection (required for ndjson when the API has several).
    #[arg(long, value_name = "NAME")]
    pub collection: Option<String>,
    /// Dataset seed: the same seed gives the same entities as `serve --seed`.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Number of entities per collection (default: each spec's own count).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    #[arg(long, value_enum, default_value_t = DataFormat::Json)]
    pub format: DataFormat,
    /// Write to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    #[command(flatten)]
    pub specs: SpecArgs,
    #[command(flatten)]
    pub files: SpecFiles,
    #[command(flatten)]
    pub source: ScenarioSource,
}

/// Output formats of `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Junit,
    Json,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The spec to verify against: a file, or the name of an embedded spec.
    #[arg(long, value_name = "FILE")]
    pub spec: PathBuf,
    /// Takes the place of the spec's server URL (for understudy: its base path for the API,
    /// e.g. http://127.0.0.1:4010/myapi).
    #[arg(long, value_name = "URL")]
    pub base_url: String,
    /// Credential to send, the way the spec's security scheme says.
    #[arg(long, value_name = "T", default_value = "understudy-verify")]
    pub token: String,
    /// Most pages fetched per list walk.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub max_pages: usize,
    /// Most items fetched through their detail endpoint, per list.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub sample: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Write the report to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ScenarioCommand {
    /// List the available scenarios.
    List(ScenarioSource),
    /// Check scenario files (default: all available) against their APIs, without serving.
    Validate(ValidateArgs),
}

/// Where scenarios come from.
#[derive(Debug, Args, Clone)]
pub struct ScenarioSource {
    /// Load scenarios from this folder instead of the ones embedded in the binary.
    #[arg(long, value_name = "DIR")]
    pub scenarios: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub specs: SpecArgs,
    #[command(flatten)]
    pub source: ScenarioSource,
    /// Scenario files to check.
    pub files: Vec<PathBuf>,
    /// Dataset seed to check against.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Number of entities per collection to check against (default: each spec's own count).
    /// `--agents` is the old name.
    #[arg(long = "count", alias = "agents", value_name = "N")]
    pub count: Option<u64>,
}

/// Where specs come from.
#[derive(Debug, Args, Clone)]
pub struct SpecArgs {
    /// Load specs from this folder or file instead of the ones embedded in the binary
    /// (repeatable; spec files may also be given as arguments).
    #[arg(long, value_name = "PATH")]
    pub specs: Vec<PathBuf>,
    /// Apply this OpenAPI Overlay 1.0 file to every spec loaded from a path (repeatable; an
    /// overlay named NAME.overlay.yaml beside NAME.yaml applies to it by itself).
    #[arg(long, value_name = "FILE")]
    pub overlay: Vec<PathBuf>,
}

/// Spec files given as arguments (`serve openapi.yaml`).
#[derive(Debug, Args, Clone)]
pub struct SpecFiles {
    /// Spec files or folders (OpenAPI 3.0 or 3.1, YAML or JSON), as with --specs.
    #[arg(value_name = "SPEC")]
    pub spec_files: Vec<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub specs: SpecArgs,
    #[command(flatten)]
    pub files: SpecFiles,
    /// Address to listen on (loopback unless told otherwise).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 4010)]
    pub port: u16,
    /// Dataset seed: the same seed gives byte-identical responses.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Number of entities in every collection (default: each spec's own count; static
    /// collections keep their rows). `--agents` is the old name.
    #[arg(long = "count", alias = "agents", value_name = "N")]
    pub count: Option<u64>,
    /// Serve only this API, at the root instead of under /NAME.
    #[arg(long, value_name = "NAME")]
    pub api: Option<String>,
    /// Accept only the tokens listed in FILE (`TOKEN [perm,perm]` per line).
    #[arg(long, value_name = "FILE")]
    pub tokens: Option<PathBuf>,
    /// Validate every response against the spec; a violation is logged and answered as a 500.
    #[arg(long)]
    pub strict: bool,
    /// Start this scenario in every session (repeatable).
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenario: Vec<String>,
    /// Token the admin API (/__understudy/) requires, as `Authorization: Bearer TOKEN`.
    /// Required when --host is not a loopback address.
    #[arg(long, value_name = "TOKEN", env = "UNDERSTUDY_ADMIN_TOKEN")]
    pub admin_token: Option<String>,
    /// A host name the admin API accepts in `Host` and `Origin` besides loopback names
    /// (repeatable).
    #[arg(long = "allowed-host", value_name = "NAME")]
    pub allowed_hosts: Vec<String>,
    /// Longest a request's head may take to arrive, from its first byte.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_timeout: std::time::Duration,
    /// Longest a request's body may take to arrive, after its head (408 past it).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub body_timeout: std::time::Duration,
    /// How long a keep-alive connection may sit idle between requests.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub idle_timeout: std::time::Duration,
    /// HTTP/2 keep-alive: ping interval, and how long the answer may take.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = humantime::parse_duration)]
    pub h2_keepalive: std::time::Duration,
    /// Connections served at once; more are answered 503 in the API's error shape.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub max_connections: usize,
    /// On SIGTERM or SIGINT, how long in-flight requests may take to finish (a second signal
    /// exits at once).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: std::time::Duration,
    /// Answer API in its declared variant VARIANT unless a request's X-Understudy-Variant
    /// header names another (repeatable), e.g. `--variant myapi=sdk`.
    #[arg(long = "variant", value_name = "API=VARIANT", value_parser = parse_variant)]
    pub variant: Vec<(String, String)>,
    /// Keep the default session (the one requests without X-Understudy-Session use) in this
    /// file: its writes and admin changes are committed before they are answered and replayed
    /// at the next start, so a restart (or a crash) loses nothing that was acknowledged.
    /// Other sessions stay in memory.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Reload the specs, overlays, scenarios and tokens file when they change (when given as
    /// files or folders), swapping the whole configuration at once; sessions start afresh.
    /// A reload that fails keeps the previous configuration serving.
    #[arg(long)]
    pub watch: bool,
    /// Scenario time zero of every session (RFC 3339, e.g. 2026-11-01T00:00:00Z): the `now`
    /// that scenario steps and writes are stamped from. Give replicas the same one.
    #[arg(long, value_name = "TIME", value_parser = parse_epoch)]
    pub epoch: Option<i64>,
    /// Most recent requests the journal (/__understudy/requests) keeps; 0 turns it off.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub journal_size: usize,
    /// Most bytes of each request and response body the journal keeps (the rest is cut).
    #[arg(long, value_name = "BYTES", default_value_t = 16384)]
    pub journal_body: usize,
    /// Most bytes the journal keeps in all (bodies and headers, as kept): past it the oldest
    /// requests go first, even before `--journal-size` is reached.
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 20)]
    pub journal_bytes: usize,
    /// Log one line per request (target `understudy::access`, at info; credentials
    /// redacted). Off by default: a line costs about as much CPU as answering a cached read.
    #[arg(long)]
    pub access_log: bool,
    /// Log format: `text` for people, `json` (one object per line) for machines.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub source: ScenarioSource,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// An RFC 3339 time as Unix milliseconds.
fn parse_epoch(s: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("'{s}': not an RFC 3339 time like 2026-11-01T00:00:00Z ({e})"))
}

fn parse_variant(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((a, v)) if !a.is_empty() && !v.is_empty() => Ok((a.to_string(), v.to_string())),
        _ => Err(format!("'{s}': write API=VARIANT, e.g. myapi=sdk")),
    }
}
