//! The rooms capability's durable records: (user, room) pairs in SQLite.
//!
//! This is the application's store in the persisted-membership pattern; the model keeps the
//! same records in `Hub::rooms` and restores them on every new connection. The database is
//! the source of truth across process restarts: refhub loads it into the model at start and
//! after every in-process restart.

use std::path::Path;

use hubspec_model::hub::{RoomRecords, Set};
use hubspec_model::{Hub, Text};
use rusqlite::{params, Connection};

use crate::error::RefHubError;

/// The rooms table.
pub(crate) struct RoomsDb {
    conn: Connection,
}

impl RoomsDb {
    /// Opens (creating if needed) the database at `path`, or an in-memory one.
    pub(crate) fn open(path: Option<&Path>) -> Result<RoomsDb, RefHubError> {
        let conn = match path {
            Some(path) => Connection::open(path)?,
            None => Connection::open_in_memory()?,
        };
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS rooms (
                 user TEXT NOT NULL,
                 room TEXT NOT NULL,
                 PRIMARY KEY (user, room)
             ) WITHOUT ROWID;",
        )?;
        Ok(RoomsDb { conn })
    }

    /// Records (user, room); recording it twice is one record.
    pub(crate) fn join(&self, user: &str, room: &str) -> Result<(), RefHubError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO rooms (user, room) VALUES (?1, ?2)",
            params![user, room],
        )?;
        Ok(())
    }

    /// Deletes (user, room) if recorded.
    pub(crate) fn leave(&self, user: &str, room: &str) -> Result<(), RefHubError> {
        self.conn.execute(
            "DELETE FROM rooms WHERE user = ?1 AND room = ?2",
            params![user, room],
        )?;
        Ok(())
    }

    /// Every record, as the model keeps them: sorted by user, each user's rooms sorted.
    ///
    /// SQLite's `BINARY` collation orders TEXT by bytes, which for UTF-8 is Rust's `String`
    /// order, so the rows come out in model order.
    pub(crate) fn load(&self) -> Result<Vec<RoomRecords<Text>>, RefHubError> {
        let mut stmt = self
            .conn
            .prepare("SELECT user, room FROM rooms ORDER BY user, room")?;
        let rows = stmt.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut records: Vec<RoomRecords<Text>> = Vec::new();
        for row in rows {
            let (user, room) = row?;
            match records.last_mut() {
                Some(last) if last.user == user => last.rooms.push(room),
                _ => {
                    let mut rooms = Set::new();
                    rooms.push(room);
                    records.push(RoomRecords { user, rooms });
                }
            }
        }
        Ok(records)
    }

    /// Deletes every record (the `rooms-in-memory` fault's restart).
    pub(crate) fn clear(&self) -> Result<(), RefHubError> {
        self.conn.execute("DELETE FROM rooms", [])?;
        Ok(())
    }

    /// Replaces the model's records with the database's.
    pub(crate) fn load_into(&self, hub: &mut Hub<Text>) -> Result<(), RefHubError> {
        hub.rooms = self.load()?.into_iter().collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_loaded_sorted_and_deduplicated() {
        let db = RoomsDb::open(None).unwrap();
        db.join("bob", "z").unwrap();
        db.join("alice", "b").unwrap();
        db.join("alice", "a").unwrap();
        db.join("alice", "a").unwrap();
        db.leave("bob", "z").unwrap();
        db.join("bob", "y").unwrap();
        let records = db.load().unwrap();
        let flat: Vec<(String, Vec<String>)> = records
            .into_iter()
            .map(|r| (r.user, r.rooms.into_iter().collect()))
            .collect();
        assert_eq!(
            flat,
            vec![
                ("alice".to_string(), vec!["a".to_string(), "b".to_string()]),
                ("bob".to_string(), vec!["y".to_string()]),
            ]
        );
    }

    #[test]
    fn records_survive_reopening_the_file() {
        let dir = std::env::temp_dir().join(format!("refhub-rooms-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rooms.db");
        let _ = std::fs::remove_file(&path);
        RoomsDb::open(Some(&path)).unwrap().join("u", "r").unwrap();
        let records = RoomsDb::open(Some(&path)).unwrap().load().unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].user, "u");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
