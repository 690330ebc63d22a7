//! The default session made durable (`serve --state FILE`): a journal of what changed it, in
//! an embedded store (redb), each entry committed (written through to disk) before the answer
//! that acknowledges it leaves. A session is a pure function of its sequence of state-changing
//! calls (writes through the API, clock advances, scenario starts, stops and manual steps), so
//! replaying the journal at start-up brings the session back as it was; a reset empties it.
//!
//! The engine sees only the [`Journal`] trait; [`Store`] is the file behind it.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");

/// One call that changed the session, as it arrived (reads are not kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Headers (lower-case names), credentials included: the replay must pass the same
    /// checks.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Where the default session's changes are kept.
pub trait Journal: Send + Sync {
    /// Keep `entry`, durably, before returning.
    fn append(&self, entry: &Entry) -> std::result::Result<(), String>;
    /// Forget every entry (a reset).
    fn clear(&self) -> std::result::Result<(), String>;
}

/// A journal in a redb file.
pub struct Store {
    db: Database,
}

impl Store {
    /// Open (or create) the store at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let db = Database::create(path)
            .map_err(|e| Error::Config(format!("--state {}: {e}", path.display())))?;
        Ok(Store { db })
    }

    /// Every entry, in order.
    pub fn entries(&self) -> Result<Vec<Entry>> {
        let err = |e: &dyn std::fmt::Display| Error::Config(format!("--state: {e}"));
        let tx = self.db.begin_read().map_err(|e| err(&e))?;
        let table = match tx.open_table(ENTRIES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(err(&e)),
        };
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| err(&e))? {
            let (_, v) = row.map_err(|e| err(&e))?;
            out.push(serde_json::from_slice(v.value()).map_err(|e| err(&e))?);
        }
        Ok(out)
    }
}

impl Journal for Store {
    fn append(&self, entry: &Entry) -> std::result::Result<(), String> {
        let bytes = serde_json::to_vec(entry).map_err(|e| e.to_string())?;
        let tx = self.db.begin_write().map_err(|e| e.to_string())?;
        {
            let mut table = tx.open_table(ENTRIES).map_err(|e| e.to_string())?;
            let next = table
                .last()
                .map_err(|e| e.to_string())?
                .map_or(0, |(k, _)| k.value() + 1);
            table
                .insert(next, bytes.as_slice())
                .map_err(|e| e.to_string())?;
        }
        tx.commit().map_err(|e| e.to_string())
    }

    fn clear(&self) -> std::result::Result<(), String> {
        let tx = self.db.begin_write().map_err(|e| e.to_string())?;
        tx.delete_table(ENTRIES).map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopening_and_a_clear_empties_the_journal() {
        let dir = std::env::temp_dir().join(format!("understudy-state-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let e = |n: u32| Entry {
            method: "POST".into(),
            path: format!("/p/{n}"),
            query: String::new(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: "{}".into(),
        };
        {
            let s = Store::open(&dir).unwrap();
            assert!(s.entries().unwrap().is_empty());
            s.append(&e(1)).unwrap();
            s.append(&e(2)).unwrap();
        }
        let s = Store::open(&dir).unwrap();
        assert_eq!(s.entries().unwrap(), vec![e(1), e(2)]);
        s.clear().unwrap();
        assert!(s.entries().unwrap().is_empty());
        s.append(&e(3)).unwrap();
        assert_eq!(s.entries().unwrap(), vec![e(3)]);
        let _ = std::fs::remove_file(&dir);
    }
}
