//! Connection ids as the model assigns them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A connection, numbered from 1 in the order the hub accepted it (`c1`, `c2`, …).
///
/// Ids are never reused, across restarts too, so a closed id stays a closed id: an operation on
/// it must be a no-op, exactly like an operation on an id the hub never issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnId(pub u32);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// The connection an operation targets by id: one the model issued, an id no hub ever
/// issued (the harness sends a random string for it), or `null`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Target {
    /// An id the model issued; the connection may be connected, suspended or already ended.
    Id(ConnId),
    /// An id that was never issued.
    Unknown,
    /// JSON `null` instead of an id. As an argument of its own (`AddToGroupAsync`,
    /// `RemoveFromGroupAsync`, `Client(id)`) ASP.NET Core throws `ArgumentNullException`; inside
    /// an id list it is an entry that matches no connection (GRP-NULL-CONNECTION-ID).
    Null,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Id(c) => c.fmt(f),
            Target::Unknown => f.write_str("unknown-id"),
            Target::Null => f.write_str("null"),
        }
    }
}

impl From<ConnId> for Target {
    fn from(c: ConnId) -> Self {
        Target::Id(c)
    }
}
