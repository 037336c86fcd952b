//! Replay after a reconnect: a connection's bounded log of what was sent to it (to it, to its
//! hubs, to its groups), numbered, with opaque cursors; on `/reconnect` everything after the
//! client's `messageId` is sent again (reference §5.1).
//!
//! The 2.x server gets this from its message bus: one ring of `DefaultMessageBufferSize` =
//! 1000 messages per topic (`Messaging/MessageStore.cs`), one cursor per topic in `C`
//! (`d-<random hex>-<key>,<hex id>|…`). A dead socket's subscription keeps consuming, so what
//! was sent while the client was away waits in the rings. On reconnect:
//!
//! - a cursor from another server instance (prefix mismatch) or an unreadable one: no replay,
//!   messages "from now" (`DefaultSubscription`);
//! - a cursor older than the ring: `GetMessagesImpl` case 3 jumps to the oldest fragment still
//!   held, so the client silently loses what fell out;
//! - no cursor (`/connect`): nothing old is delivered.
//!
//! hubspec keeps one log per connection instead of one per topic (reference §2, "refhub
//! freedom": clients only echo `C`), with the cursor `d-<epoch>-<hex sequence number>`, and
//! reports a loss ([`Replay::missed`]) where the server is silent; the caller decides what to
//! do with it (the 2.x behaviour is to send what is left). Entries are generic: a server may
//! log hub messages only, or also group commands to re-apply. Bus results (`{"I":…}`) are never
//! replayed on the 2.x server: do not log them.

use std::collections::VecDeque;

use thiserror::Error;

/// `DefaultMessageBufferSize`, the 2.x server's ring size per topic.
pub const DEFAULT_CAPACITY: usize = 1000;

/// Why a `messageId` gives no replay. The 2.x server answers all of these by delivering only
/// new messages.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CursorError {
    /// Not a cursor this buffer writes (`d-<epoch>-<upper-case hex>`).
    #[error("The cursor is not in the expected format.")]
    Malformed,
    /// Issued by another server instance (another epoch), e.g. before a restart.
    #[error("The cursor belongs to another server instance.")]
    OtherServer,
    /// Past the last message logged: not a cursor this buffer issued.
    #[error("The cursor {requested} is ahead of the last message {last}.")]
    Ahead {
        /// The sequence number in the cursor.
        requested: u64,
        /// The last sequence number logged.
        last: u64,
    },
}

/// What to send again after a reconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay<T> {
    /// The entries after the cursor that are still held, oldest first.
    pub items: Vec<T>,
    /// How many entries after the cursor are no longer held (0: the replay is complete).
    pub missed: u64,
    /// The cursor to send with them (`C`): the last entry logged.
    pub cursor: String,
}

/// A connection's replay log: at most `capacity` entries, each numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayBuffer<T> {
    epoch: String,
    capacity: usize,
    last: u64,
    entries: VecDeque<(u64, T)>,
}

impl<T: Clone> ReplayBuffer<T> {
    /// An empty log for one connection. `epoch` identifies the server instance (e.g. a random
    /// upper-case hex number, as the server's cursor prefix); `capacity` may be 0 (nothing is
    /// ever replayed).
    pub fn new(epoch: impl Into<String>, capacity: usize) -> Self {
        ReplayBuffer {
            epoch: epoch.into(),
            capacity,
            last: 0,
            entries: VecDeque::with_capacity(capacity.min(DEFAULT_CAPACITY)),
        }
    }

    /// Logs `item` (sent now, or held for a client that is away) and returns the cursor after
    /// it. The oldest entry falls out when the log is full.
    pub fn push(&mut self, item: T) -> String {
        self.last += 1;
        if self.capacity > 0 {
            if self.entries.len() == self.capacity {
                self.entries.pop_front();
            }
            self.entries.push_back((self.last, item));
        }
        self.cursor()
    }

    /// The cursor of the last entry logged (`d-<epoch>-0` before the first one).
    pub fn cursor(&self) -> String {
        format!("d-{}-{:X}", self.epoch, self.last)
    }

    /// The sequence number of the last entry logged (0 before the first).
    pub fn last_sequence(&self) -> u64 {
        self.last
    }

    /// The entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The sequence number in `cursor`, if this buffer could have written it.
    pub fn parse_cursor(&self, cursor: &str) -> Result<u64, CursorError> {
        let rest = cursor.strip_prefix("d-").ok_or(CursorError::Malformed)?;
        let (epoch, hex) = rest.rsplit_once('-').ok_or(CursorError::Malformed)?;
        let sequence = u64::from_str_radix(hex, 16).map_err(|_| CursorError::Malformed)?;
        if format!("{sequence:X}") != hex {
            return Err(CursorError::Malformed);
        }
        if epoch != self.epoch {
            return Err(CursorError::OtherServer);
        }
        Ok(sequence)
    }

    /// What a reconnect presenting `message_id` gets: everything logged after it, and how
    /// much of that fell out of the log. No `messageId` (or an empty one) replays nothing.
    pub fn replay(&self, message_id: Option<&str>) -> Result<Replay<T>, CursorError> {
        let Some(message_id) = message_id.filter(|m| !m.is_empty()) else {
            return Ok(self.nothing());
        };
        let requested = self.parse_cursor(message_id)?;
        if requested > self.last {
            return Err(CursorError::Ahead {
                requested,
                last: self.last,
            });
        }
        let oldest_held = self.entries.front().map_or(self.last + 1, |(seq, _)| *seq);
        let missed = oldest_held.saturating_sub(requested + 1);
        let items = self
            .entries
            .iter()
            .filter(|(seq, _)| *seq > requested)
            .map(|(_, item)| item.clone())
            .collect();
        Ok(Replay {
            items,
            missed,
            cursor: self.cursor(),
        })
    }

    /// The replay for a client without a usable cursor: nothing old ("from now").
    pub fn nothing(&self) -> Replay<T> {
        Replay {
            items: Vec::new(),
            missed: 0,
            cursor: self.cursor(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer(capacity: usize, pushed: u32) -> ReplayBuffer<u32> {
        let mut buffer = ReplayBuffer::new("8F1AB453", capacity);
        for i in 1..=pushed {
            buffer.push(i);
        }
        buffer
    }

    #[test]
    fn a_reconnect_gets_what_came_after_its_cursor() {
        let mut log = ReplayBuffer::new("8F1AB453", 10);
        assert_eq!(log.cursor(), "d-8F1AB453-0");
        log.push("a");
        let seen = log.push("b");
        assert_eq!(seen, "d-8F1AB453-2");
        log.push("c");
        log.push("d");
        let replay = log.replay(Some(&seen)).unwrap();
        assert_eq!(
            replay,
            Replay {
                items: vec!["c", "d"],
                missed: 0,
                cursor: "d-8F1AB453-4".into()
            }
        );
        assert_eq!(
            log.replay(Some(&log.cursor())).unwrap().items,
            Vec::<&str>::new()
        );
        assert_eq!(
            log.replay(Some("d-8F1AB453-0")).unwrap().items,
            vec!["a", "b", "c", "d"]
        );
    }

    #[test]
    fn no_cursor_replays_nothing() {
        let log = buffer(10, 3);
        assert_eq!(
            log.replay(None),
            Ok(Replay {
                items: vec![],
                missed: 0,
                cursor: "d-8F1AB453-3".into()
            })
        );
        assert_eq!(log.replay(Some("")).unwrap().items, Vec::<u32>::new());
    }

    #[test]
    fn a_cursor_older_than_the_log_reports_the_loss() {
        let log = buffer(3, 10);
        assert_eq!(log.len(), 3);
        let replay = log.replay(Some("d-8F1AB453-2")).unwrap();
        assert_eq!((replay.items, replay.missed), (vec![8, 9, 10], 5));
        let replay = log.replay(Some("d-8F1AB453-7")).unwrap();
        assert_eq!((replay.items, replay.missed), (vec![8, 9, 10], 0));
        let replay = buffer(0, 4).replay(Some("d-8F1AB453-1")).unwrap();
        assert_eq!((replay.items, replay.missed), (vec![], 3));
        assert!(buffer(0, 0).is_empty());
    }

    #[test]
    fn bad_cursors_are_typed_errors() {
        let log = buffer(5, 2);
        for (cursor, expected) in [
            ("d-1A2B3C4D-1", CursorError::OtherServer),
            (
                "d-8F1AB453-3",
                CursorError::Ahead {
                    requested: 3,
                    last: 2,
                },
            ),
            ("d-8F1AB453-a", CursorError::Malformed),
            ("d-8F1AB453-01", CursorError::Malformed),
            ("d-8F1AB453-+1", CursorError::Malformed),
            ("d-8F1AB453-", CursorError::Malformed),
            ("d-8F1AB453-FFFFFFFFFFFFFFFFF", CursorError::Malformed),
            ("x-8F1AB453-1", CursorError::Malformed),
            ("d-8F1AB453", CursorError::Malformed),
            // A real 2.x server's cursor (reference §2).
            ("d-8F1AB453-B,0|C,0|D,1|E,0", CursorError::Malformed),
        ] {
            assert_eq!(log.replay(Some(cursor)), Err(expected), "{cursor}");
        }
        assert_eq!(log.nothing().items, Vec::<u32>::new());
    }

    #[test]
    fn sequence_numbers_keep_counting_past_the_capacity() {
        let log = buffer(2, 300);
        assert_eq!(log.cursor(), "d-8F1AB453-12C");
        assert_eq!(log.parse_cursor("d-8F1AB453-12C"), Ok(300));
        assert_eq!(log.last_sequence(), 300);
    }
}
