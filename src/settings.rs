//! The command line's two other sources: `UNDERSTUDY_*` environment variables and a TOML file
//! (`understudy.toml` in the working directory, or `--config FILE` / `UNDERSTUDY_CONFIG`).
//! Precedence: flags, then environment variables, then the file, then the defaults.
//!
//! Both are derived from the clap definitions in [`crate::cli`], not listed by hand: every
//! long flag `--some-flag` of every subcommand reads `UNDERSTUDY_SOME_FLAG`, and the file's
//! keys are the flag names (`some-flag` or `some_flag`). The file is turned into flags placed
//! before the command line's own, so that a flag given on the command line replaces the
//! file's value (a repeatable flag given on the command line replaces all of the file's).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{ArgAction, Command, CommandFactory};

use crate::cli::Cli;
use crate::error::{Error, Result};

/// The file read when no `--config` names one, if it exists.
pub const DEFAULT_FILE: &str = "understudy.toml";
/// The variable that names the file.
pub const CONFIG_ENV: &str = "UNDERSTUDY_CONFIG";

/// The variable of a long flag: `--journal-size` reads `UNDERSTUDY_JOURNAL_SIZE`.
pub fn env_name(long: &str) -> String {
    format!("UNDERSTUDY_{}", long.replace('-', "_").to_ascii_uppercase())
}

/// The command, with an environment variable for every long flag of every subcommand and a
/// flag given twice taking its last value (the command line's after the file's).
pub fn command() -> Command {
    let with_env = |c: Command| {
        c.args_override_self(true)
            .mut_args(|a| match a.get_long().map(str::to_string) {
                Some(long) if !matches!(long.as_str(), "help" | "version") => {
                    a.env(env_name(&long))
                }
                _ => a,
            })
    };
    let mut cmd = Cli::command();
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for n in names {
        cmd = cmd.mut_subcommand(&n, |s| {
            let inner: Vec<String> = s
                .get_subcommands()
                .map(|x| x.get_name().to_string())
                .collect();
            let mut s = with_env(s);
            for i in inner {
                s = s.mut_subcommand(&i, with_env);
            }
            s
        });
    }
    cmd
}

/// Where the file is: `--config FILE` (or `--config=FILE`) in `argv`, else `UNDERSTUDY_CONFIG`,
/// else `understudy.toml` when it exists. `Some` with `true` when it was named (and so must
/// exist).
fn file_of(argv: &[OsString]) -> Option<(PathBuf, bool)> {
    let mut it = argv.iter().skip(1);
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if s == "--" {
            break;
        }
        if s == "--config" {
            return it.next().map(|p| (PathBuf::from(p), true));
        }
        if let Some(p) = s.strip_prefix("--config=") {
            return Some((PathBuf::from(p), true));
        }
    }
    if let Some(p) = std::env::var_os(CONFIG_ENV) {
        return Some((PathBuf::from(p), true));
    }
    let default = PathBuf::from(DEFAULT_FILE);
    default.exists().then_some((default, false))
}

/// `argv` with the file's settings inserted as flags right after the subcommand's name (for
/// the subcommand being run; keys that belong only to other subcommands are left out, and a
/// key no subcommand has is an error naming it).
pub fn with_file(argv: Vec<OsString>, cmd: &Command) -> Result<Vec<OsString>> {
    let Some((path, named)) = file_of(&argv) else {
        return Ok(argv);
    };
    if !named && !path.exists() {
        return Ok(argv);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Io {
        path: path.clone(),
        source: e,
    })?;
    let flags = flags_from(&path, &text, &argv, cmd)?;
    if flags.is_empty() {
        return Ok(argv);
    }
    // Insert after the (last) subcommand name.
    let (_, at) = running(&argv, cmd);
    let mut out = argv;
    out.splice(at..at, flags);
    Ok(out)
}

/// The subcommand `argv` runs (the deepest named one), and the position right after its
/// name.
fn running<'c>(argv: &[OsString], cmd: &'c Command) -> (&'c Command, usize) {
    let (mut sub, mut at) = (cmd, 1);
    for (i, a) in argv.iter().enumerate().skip(1) {
        if let Some(s) = sub.find_subcommand(a.to_string_lossy().as_ref()) {
            sub = s;
            at = i + 1;
        }
    }
    (sub, at)
}

/// Whether any subcommand (at any depth) has the long flag `long`.
fn known_anywhere(cmd: &Command, long: &str) -> bool {
    cmd.get_arguments().any(|a| a.get_long() == Some(long))
        || cmd.get_subcommands().any(|s| known_anywhere(s, long))
}

/// The flags a file's text gives the running subcommand.
fn flags_from(path: &Path, text: &str, argv: &[OsString], cmd: &Command) -> Result<Vec<OsString>> {
    let bad = |m: String| Error::Config(format!("{}: {m}", path.display()));
    let table: toml::Table = text.parse().map_err(|e| bad(format!("{e}")))?;
    let (sub, _) = running(argv, cmd);
    let given = |long: &str| {
        argv.iter().any(|a| {
            let s = a.to_string_lossy();
            s == format!("--{long}") || s.starts_with(&format!("--{long}="))
        })
    };
    let mut out = Vec::new();
    for (key, value) in &table {
        let long = key.replace('_', "-");
        let Some(arg) = sub
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()))
        else {
            if long == "config" || known_anywhere(cmd, &long) {
                continue;
            }
            return Err(bad(format!("'{key}' is not a flag of understudy")));
        };
        let repeatable = matches!(arg.get_action(), ArgAction::Append);
        // The command line's (or the environment's) value wins: leave the file's out (all of
        // a repeatable flag's values).
        // Under its name or any alias (`--agents` for `--count`).
        let on_line = given(&long)
            || arg
                .get_all_aliases()
                .unwrap_or_default()
                .iter()
                .any(|a| given(a));
        if on_line || std::env::var_os(env_name(&long)).is_some() {
            continue;
        }
        let flag = matches!(arg.get_action(), ArgAction::SetTrue);
        let scalar = |v: &toml::Value| -> Result<String> {
            match v {
                toml::Value::String(s) => Ok(s.clone()),
                toml::Value::Integer(n) => Ok(n.to_string()),
                toml::Value::Float(f) => Ok(f.to_string()),
                toml::Value::Boolean(b) => Ok(b.to_string()),
                other => Err(bad(format!("'{key}': {other} is not a single value"))),
            }
        };
        match value {
            toml::Value::Boolean(b) if flag => {
                if *b {
                    out.push(OsString::from(format!("--{long}")));
                }
            }
            _ if flag => return Err(bad(format!("'{key}' is true or false"))),
            toml::Value::Array(items) if repeatable => {
                for v in items {
                    out.push(OsString::from(format!("--{long}={}", scalar(v)?)));
                }
            }
            toml::Value::Array(_) => {
                return Err(bad(format!("'{key}' takes one value, not a list")));
            }
            v => out.push(OsString::from(format!("--{long}={}", scalar(v)?))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::FromArgMatches;

    fn argv(args: &[&str]) -> Vec<OsString> {
        std::iter::once("understudy")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect()
    }

    fn flags(text: &str, args: &[&str]) -> Result<Vec<String>> {
        let cmd = command();
        flags_from(Path::new("understudy.toml"), text, &argv(args), &cmd)
            .map(|v| v.into_iter().map(|s| s.into_string().unwrap()).collect())
    }

    #[test]
    fn a_files_keys_become_the_running_subcommands_flags() {
        let got = flags(
            "port = 4999\nstrict = true\nlog_format = \"json\"\nscenario = [\"outage\", \"rate-limited\"]\nmax-pages = 3\n",
            &["serve"],
        )
        .unwrap();
        assert!(got.contains(&"--port=4999".to_string()), "{got:?}");
        assert!(got.contains(&"--strict".to_string()));
        assert!(got.contains(&"--log-format=json".to_string()));
        assert!(got.contains(&"--scenario=outage".to_string()));
        assert!(got.contains(&"--scenario=rate-limited".to_string()));
        // verify's flag: known, not serve's, left out.
        assert!(!got.iter().any(|f| f.contains("max-pages")));
    }

    #[test]
    fn mistakes_in_the_file_are_named() {
        let e = flags("prot = 1\n", &["serve"]).unwrap_err().to_string();
        assert!(e.contains("'prot' is not a flag"), "{e}");
        assert!(flags("strict = 1\n", &["serve"]).is_err());
        assert!(flags("port = [1, 2]\n", &["serve"]).is_err());
        assert!(flags("port = \n", &["serve"]).is_err(), "not TOML");
    }

    #[test]
    fn the_command_line_wins_over_the_file() {
        let cmd = command();
        let m = cmd
            .clone()
            .try_get_matches_from(argv(&["serve", "--port=1", "--port=2"]))
            .unwrap();
        let cli = Cli::from_arg_matches(&m).unwrap();
        match cli.command {
            crate::cli::Command::Serve(a) => assert_eq!(a.port, 2),
            _ => unreachable!(),
        }
        // A flag the command line gives is left out of the file's, under an alias too.
        let got = flags("count = 5\n", &["serve", "--agents", "7"]).unwrap();
        assert!(got.is_empty(), "{got:?}");
        let got = flags(
            "port = 4999\nscenario = [\"outage\"]\n",
            &["serve", "--scenario", "x"],
        )
        .unwrap();
        assert_eq!(got, vec!["--port=4999".to_string()]);
        assert_eq!(env_name("journal-size"), "UNDERSTUDY_JOURNAL_SIZE");
    }
}
