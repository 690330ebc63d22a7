//! `--watch`: when a spec, overlay, scenario or tokens file changes, the whole configuration
//! is built again and swapped in at once ([`crate::engine::live::Live::replace`]): no request
//! sees half of it. A build that fails (a broken spec, a scenario that no longer applies)
//! leaves the previous configuration serving, and says why in the log and in
//! `/__understudy/health`.
//!
//! Changes are gathered for a short while (editors write a file in several steps), then one
//! rebuild runs on the watcher's own thread, never on the request path.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify_debouncer_mini::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};

use crate::engine::Engine;
use crate::engine::live::Live;
use crate::error::{Error, Result};

/// How long changes are gathered before a rebuild.
pub const SETTLE: Duration = Duration::from_millis(250);

/// A running watch; dropping it stops watching.
pub struct Watch {
    _debouncer: Debouncer<RecommendedWatcher>,
}

/// What is watched: folders whole, files through their folder (an editor that saves by
/// renaming a new file over the old one replaces the file a watch was attached to).
struct Watched {
    dirs: Vec<PathBuf>,
    files: Vec<PathBuf>,
}

impl Watched {
    fn new(paths: &[PathBuf]) -> Self {
        // A file that does not exist yet is named through its (existing) folder.
        let abs = |p: &Path| {
            std::fs::canonicalize(p).unwrap_or_else(|_| {
                match (p.parent().map(std::fs::canonicalize), p.file_name()) {
                    (Some(Ok(dir)), Some(name)) => dir.join(name),
                    _ => p.to_path_buf(),
                }
            })
        };
        let (mut dirs, mut files) = (Vec::new(), Vec::new());
        for p in paths {
            if p.is_dir() {
                dirs.push(abs(p));
            } else {
                files.push(abs(p));
            }
        }
        Watched { dirs, files }
    }

    /// Whether a changed path is one of ours.
    fn concerns(&self, changed: &Path) -> bool {
        self.dirs.iter().any(|d| changed.starts_with(d)) || self.files.iter().any(|f| f == changed)
    }

    /// What the watched files are now: each one's path, size and modification time, sorted.
    /// Watchers also report files being opened and read (a rebuild reads them all), so a
    /// rebuild runs only when this changes.
    fn fingerprint(&self) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
        fn visit(p: &Path, out: &mut Vec<(PathBuf, u64, Option<std::time::SystemTime>)>) {
            let Ok(meta) = std::fs::metadata(p) else {
                return;
            };
            if meta.is_dir() {
                if let Ok(entries) = std::fs::read_dir(p) {
                    for e in entries.flatten() {
                        visit(&e.path(), out);
                    }
                }
            } else {
                out.push((p.to_path_buf(), meta.len(), meta.modified().ok()));
            }
        }
        let mut out = Vec::new();
        for p in self.dirs.iter().chain(&self.files) {
            visit(p, &mut out);
        }
        out.sort();
        out
    }
}

/// Watch `paths` and, on a change, replace `live`'s engine with what `build` makes.
pub fn watch<F>(paths: &[PathBuf], live: Arc<Live>, build: F) -> Result<Watch>
where
    F: Fn() -> std::result::Result<Engine, String> + Send + 'static,
{
    let watched = Watched::new(paths);
    let handler = {
        let files = watched.files.clone();
        let dirs = watched.dirs.clone();
        let watched = Watched { dirs, files };
        let mut seen = watched.fingerprint();
        move |res: DebounceEventResult| match res {
            Ok(events) => {
                let Some(first) = events.iter().find(|e| watched.concerns(&e.path)) else {
                    return;
                };
                let now = watched.fingerprint();
                if now == seen {
                    return;
                }
                seen = now;
                tracing::info!("{} changed: reloading", first.path.display());
                let started = std::time::Instant::now();
                match build() {
                    Ok(engine) => {
                        live.replace(engine);
                        // Its indexes are computed in the background, as at start.
                        let fresh = live.engine();
                        std::thread::spawn(move || fresh.warm());
                        tracing::info!(
                            "reloaded in {} ms (sessions start afresh)",
                            started.elapsed().as_millis()
                        );
                    }
                    Err(why) => {
                        tracing::error!(
                            "reload failed; the previous configuration keeps serving: {why}"
                        );
                        live.failed(why);
                    }
                }
            }
            Err(e) => tracing::warn!("--watch: {e}"),
        }
    };
    let mut debouncer = new_debouncer(SETTLE, handler)
        .map_err(|e| Error::Config(format!("--watch: cannot watch files: {e}")))?;
    let mut parents: Vec<PathBuf> = watched
        .files
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
    parents.sort();
    parents.dedup();
    for (p, mode) in watched
        .dirs
        .iter()
        .map(|d| (d, RecursiveMode::Recursive))
        .chain(parents.iter().map(|d| (d, RecursiveMode::NonRecursive)))
    {
        debouncer
            .watcher()
            .watch(p, mode)
            .map_err(|e| Error::Config(format!("--watch: cannot watch {}: {e}", p.display())))?;
    }
    Ok(Watch {
        _debouncer: debouncer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_moves_when_a_file_changes_not_when_it_is_read() {
        let d = std::env::temp_dir().join(format!("understudy-fp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/a.yaml"), "a: 1\n").unwrap();
        let w = Watched::new(std::slice::from_ref(&d));
        let before = w.fingerprint();
        assert_eq!(before.len(), 1);
        let _ = std::fs::read_to_string(d.join("sub/a.yaml")).unwrap();
        assert_eq!(w.fingerprint(), before, "reading is no change");
        std::fs::write(d.join("sub/a.yaml"), "a: 22\n").unwrap();
        assert_ne!(w.fingerprint(), before, "a new size");
        std::fs::write(d.join("b.yaml"), "").unwrap();
        assert_eq!(w.fingerprint().len(), 2, "a new file");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn only_the_watched_files_and_folders_concern_a_reload() {
        let w = Watched {
            dirs: vec![PathBuf::from("/specs")],
            files: vec![PathBuf::from("/etc/tokens")],
        };
        assert!(w.concerns(Path::new("/specs/a.yaml")));
        assert!(w.concerns(Path::new("/specs/deep/b.yaml")));
        assert!(w.concerns(Path::new("/etc/tokens")));
        assert!(!w.concerns(Path::new("/etc/passwd")));
        assert!(!w.concerns(Path::new("/specs2/a.yaml")));
    }
}
