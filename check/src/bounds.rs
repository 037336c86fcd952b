//! The bounded universe a check explores.

use std::fmt;

/// How big the explored world is. Every dimension is small on purpose: the rules are about
/// relations between a handful of connections and groups, and a few of each already exhibit
/// every case (a member and a non-member, a user with two connections, a group listed twice).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bounds {
    /// Live (connected or suspended) connections at most.
    pub connections: u8,
    /// Distinct users (a connection may also have none).
    pub users: u8,
    /// Distinct group names.
    pub groups: u8,
    /// Distinct payloads; they matter only for the order of buffered messages.
    pub payloads: u8,
    /// Messages kept for one suspended connection at most.
    pub buffer: u8,
    /// The longest history explored; `None` explores every reachable state.
    pub depth: Option<usize>,
    /// Whether `JoinRoom` / `LeaveRoom` are in the universe.
    pub rooms: bool,
    /// Whether `Restart` is in the universe.
    pub restart: bool,
}

impl Default for Bounds {
    /// 3 connections × 2 users × 2 groups, 1 payload, 2 buffered messages, no depth bound,
    /// rooms and restart included.
    fn default() -> Self {
        Bounds {
            connections: 3,
            users: 2,
            groups: 2,
            payloads: 1,
            buffer: 2,
            depth: None,
            rooms: true,
            restart: true,
        }
    }
}

impl fmt::Display for Bounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} connections × {} users × {} groups, {} payloads, buffer {}, depth {}, rooms {}, restart {}",
            self.connections,
            self.users,
            self.groups,
            self.payloads,
            self.buffer,
            self.depth.map_or("unbounded".to_string(), |d| d.to_string()),
            self.rooms,
            self.restart
        )
    }
}
