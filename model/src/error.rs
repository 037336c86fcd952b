//! The model's one error type: an operation that cannot happen in the state it is applied to.
//!
//! This is a malformed *history* (an invocation from a connection that has no socket, a resume
//! of a connection that is connected), not a hub misbehaving: generators must not produce such
//! operations, and a caller that does gets this error and an unchanged hub.

use crate::ids::ConnId;
use std::fmt;

/// An operation whose precondition does not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelError {
    /// The operation needs a connected connection (an invocation, a disconnect or a drop),
    /// and this one is not connected.
    NotConnected(ConnId),
    /// `Resume` of a connection whose transport is up: there is nothing to resume.
    AlreadyConnected(ConnId),
    /// `Expire` of a connection that is not suspended: only a suspended connection times out.
    NotSuspended(ConnId),
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::NotConnected(c) => write!(f, "operation needs {c} to be connected"),
            ModelError::AlreadyConnected(c) => write!(f, "cannot resume {c}: it is connected"),
            ModelError::NotSuspended(c) => write!(f, "cannot expire {c}: it is not suspended"),
        }
    }
}

impl std::error::Error for ModelError {}
