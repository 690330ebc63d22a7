//! Finding the text files understudy loads, specs and scenarios alike: the copies embedded in
//! the binary, or the files of a folder, always in the same (sorted) order.

use std::path::{Path, PathBuf};

use include_dir::Dir;

use crate::error::{Error, Result};

fn has_ext(name: &str, exts: &[&str]) -> bool {
    exts.iter().any(|e| name.ends_with(e))
}

/// Each embedded file with one of `exts`, sorted, as (name shown in messages, its text if it is
/// UTF-8); `prefix` is the folder the files come from in the repository.
pub fn embedded<'a>(
    dir: &'a Dir<'a>,
    prefix: &str,
    exts: &[&str],
) -> Vec<(String, Option<&'a str>)> {
    let mut files: Vec<_> = dir
        .files()
        .filter(|f| has_ext(&f.path().to_string_lossy(), exts))
        .collect();
    files.sort_by_key(|f| f.path().to_path_buf());
    files
        .into_iter()
        .map(|f| {
            (
                format!("{prefix}/{}", f.path().to_string_lossy()),
                f.contents_utf8(),
            )
        })
        .collect()
}

/// The files in `dir` with one of `exts`, sorted.
pub fn in_dir(dir: &Path, exts: &[&str]) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| has_ext(&p.to_string_lossy(), exts))
        .collect();
    paths.sort();
    Ok(paths)
}

/// Read a whole file as text.
pub fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}
