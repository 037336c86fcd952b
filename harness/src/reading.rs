//! What an error Completion says about *why* an invocation failed, and the observed
//! transcript that shows it as read.
//!
//! The model tells errors apart by kind ([`ErrorKind`]: a null group name, an empty name in a
//! `Groups` list, a rooms call without a user). On the wire an error is only a text, so the
//! harness reads the kind from the text ([`read_error`]) instead of assuming the one the model
//! expects: a server that errors for the wrong reason must not pass.
//!
//! - A text that names one of the model's kinds is that kind: the reference hub's texts and
//!   ASP.NET Core's detailed errors (`ArgumentNullException … (Parameter 'groupName')` or
//!   `(Parameter 'connectionId')`,
//!   `InvalidOperationException: Cannot send to an empty group name.`, a `HubException` about
//!   a missing user), and classic SignalR's cancelled group call (a `TaskCanceledException`,
//!   `A task was canceled.`: an add or remove by an id that is live nowhere).
//! - A text that names a failure no kind of the model stands for (an unknown method, arguments
//!   that could not be bound, a `null` argument other than a group name or a connection id) is [`ErrorReading::Other`]
//!   and never matches an expected error.
//! - Anything else, above all ASP.NET Core's generic text without detailed errors
//!   (`An unexpected error occurred invoking 'X' on the server.`), is
//!   [`ErrorReading::Unstated`]: an error whose kind the wire does not say. It matches any
//!   expected error, because the wire cannot say more, and the observed transcript shows it as
//!   `error (kind not stated)`.

use hubspec_model::{ErrorKind, OpResult, Transcript};
use std::collections::BTreeMap;
use std::fmt;

/// What an error text says about the error's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorReading {
    /// The text names this kind of the model.
    Kind(ErrorKind),
    /// The text does not say why (a generic message): an error of unknown kind.
    Unstated,
    /// The text names a failure that is none of the model's kinds; what it names.
    Other(&'static str),
}

impl ErrorReading {
    /// Whether an error read this way is the result the model expects.
    pub fn matches(self, expected: OpResult) -> bool {
        match (self, expected) {
            (ErrorReading::Kind(k), OpResult::Error(e)) => k == e,
            (ErrorReading::Unstated, OpResult::Error(_)) => true,
            _ => false,
        }
    }

    /// The result as a transcript shows it: `error null-group-name`,
    /// `error (kind not stated)`, `error (unknown hub method)`.
    pub fn describe(self) -> String {
        match self {
            ErrorReading::Kind(k) => format!("error {k}"),
            ErrorReading::Unstated => "error (kind not stated)".into(),
            ErrorReading::Other(what) => format!("error ({what})"),
        }
    }
}

/// The parameter an `ArgumentNullException` text names: `… (Parameter 'groupName')`.
fn null_parameter(text: &str) -> Option<&str> {
    let rest = text.split("(Parameter '").nth(1)?;
    rest.split('\'').next()
}

/// Reads the kind of error from a Completion's error text (see the module doc).
pub fn read_error(text: &str) -> ErrorReading {
    let lower = text.to_ascii_lowercase();
    if lower.contains("cannot send to an empty group name") {
        return ErrorReading::Kind(ErrorKind::EmptyGroupName);
    }
    if text.contains("ArgumentNullException") {
        return match null_parameter(text) {
            Some("groupName" | "group" | "room" | "roomName") => {
                ErrorReading::Kind(ErrorKind::NullGroupName)
            }
            Some("connectionId") => ErrorReading::Kind(ErrorKind::NullConnectionId),
            Some(_) => {
                ErrorReading::Other("a null argument that is not a group name or connection id")
            }
            None => ErrorReading::Unstated,
        };
    }
    // Classic SignalR's `Groups.Add`/`Remove` for an id live nowhere: the ack never comes and
    // the task is cancelled (`TaskCanceledException`, whose own text is "A task was
    // canceled."; an `OperationCanceledException` says "The operation was canceled.").
    if [
        "taskcanceledexception",
        "operationcanceledexception",
        "a task was canceled",
        "the operation was canceled",
    ]
    .iter()
    .any(|p| lower.contains(p))
    {
        return ErrorReading::Kind(ErrorKind::Cancelled);
    }
    if ["no user", "need a user", "needs a user", "requires a user"]
        .iter()
        .any(|p| lower.contains(p))
    {
        return ErrorReading::Kind(ErrorKind::NoUser);
    }
    if lower.starts_with("unknown hub method") || lower.contains("method does not exist") {
        return ErrorReading::Other("unknown hub method");
    }
    // ASP.NET Core's binder failures ("Failed to invoke 'X' due to an error on the server.")
    // happen before the hub method runs, so they are never one of the model's kinds.
    if lower.starts_with("failed to invoke") || lower.contains("invaliddataexception") {
        return ErrorReading::Other("the arguments could not be bound");
    }
    ErrorReading::Unstated
}

/// An observed transcript with the steps whose result is shown as read from the wire rather
/// than as a model value (an error of unstated kind, or an error no kind stands for).
///
/// The transcript holds model values only; at those steps its result is a stand-in (the
/// expected kind when an unstated error matched one) and [`Display`](fmt::Display) prints
/// what was read instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedTranscript {
    /// The transcript in model values.
    pub transcript: Transcript,
    /// 1-based step -> the result as read (e.g. `error (kind not stated)`).
    pub results_as_read: BTreeMap<usize, String>,
}

impl std::ops::Deref for ObservedTranscript {
    type Target = Transcript;
    fn deref(&self) -> &Transcript {
        &self.transcript
    }
}

impl fmt::Display for ObservedTranscript {
    /// `Display for Transcript`, with the results as read where they were.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.transcript
            .fmt_with(f, |step| self.results_as_read.get(&step).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorKind::*;
    use ErrorReading::*;

    #[test]
    fn detailed_texts_name_their_kind() {
        let cases = [
            ("An unexpected error occurred invoking 'AddToGroup' on the server. ArgumentNullException: Value cannot be null. (Parameter 'groupName')", Kind(NullGroupName)),
            ("An unexpected error occurred invoking 'JoinRoom' on the server. ArgumentNullException: Value cannot be null. (Parameter 'room')", Kind(NullGroupName)),
            ("An unexpected error occurred invoking 'SendToGroups' on the server. InvalidOperationException: Cannot send to an empty group name.", Kind(EmptyGroupName)),
            ("An unexpected error occurred invoking 'JoinRoom' on the server. HubException: This connection has no user: connect with ?user=<id> to use rooms.", Kind(NoUser)),
            ("An unexpected error occurred invoking 'JoinRoom' on the server. HubException: Rooms need a user: connect with the query parameter 'user'.", Kind(NoUser)),
            ("An unexpected error occurred invoking 'SendToConnection' on the server. ArgumentNullException: Value cannot be null. (Parameter 'connectionId')", Kind(NullConnectionId)),
            ("An unexpected error occurred invoking 'SendToUser' on the server. ArgumentNullException: Value cannot be null. (Parameter 'userId')", Other("a null argument that is not a group name or connection id")),
            ("Unknown hub method 'AddToGroup'", Other("unknown hub method")),
            ("Failed to invoke 'AddToGroup' due to an error on the server. HubException: Method does not exist.", Other("unknown hub method")),
            ("Failed to invoke 'AddToGroup' due to an error on the server.", Other("the arguments could not be bound")),
            ("An unexpected error occurred invoking 'AddToGroup' on the server.", Unstated),
            ("something broke", Unstated),
        ];
        for (text, want) in cases {
            assert_eq!(read_error(text), want, "{text}");
        }
    }

    /// The model's `cancelled` kind (GRP-CLASSIC-UNKNOWN-ID-CANCELLED): classic SignalR's
    /// `Groups.Add` for an id live nowhere fails with a `TaskCanceledException`.
    #[test]
    fn a_cancelled_task_is_the_cancelled_kind() {
        let cases = [
            ("A task was canceled.", Kind(Cancelled)),
            ("System.Threading.Tasks.TaskCanceledException: A task was canceled.", Kind(Cancelled)),
            ("An unexpected error occurred invoking 'AddToGroup' on the server. TaskCanceledException: A task was canceled.", Kind(Cancelled)),
            ("An unexpected error occurred invoking 'AddToGroup' on the server. OperationCanceledException: The operation was canceled.", Kind(Cancelled)),
            // A generic text says nothing about the kind, cancelled or not.
            ("There was an error invoking Hub method 'hub.AddToGroup'.", Unstated),
        ];
        for (text, want) in cases {
            assert_eq!(read_error(text), want, "{text}");
        }
        assert!(Kind(Cancelled).matches(OpResult::Error(Cancelled)));
        assert!(!Kind(Cancelled).matches(OpResult::Error(NullGroupName)));
        assert!(!Kind(NullGroupName).matches(OpResult::Error(Cancelled)));
        assert_eq!(Kind(Cancelled).describe(), "error cancelled");
    }

    #[test]
    fn an_unstated_kind_matches_any_expected_error_and_nothing_else() {
        assert!(Unstated.matches(OpResult::Error(NoUser)));
        assert!(!Unstated.matches(OpResult::Ok));
        assert!(!Kind(EmptyGroupName).matches(OpResult::Error(NullGroupName)));
        assert!(!Other("x").matches(OpResult::Error(NullGroupName)));
    }
}
