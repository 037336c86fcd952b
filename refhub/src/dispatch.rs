//! The conformance hub's methods: binding an Invocation's `target` and `arguments` to a
//! [`Call`], and the error texts a client gets when it cannot be bound or performed.
//!
//! Binding follows ASP.NET Core's JSON hub protocol: the method name is matched
//! case-insensitively (`DefaultHubDispatcher`), the argument count must match exactly, a
//! string parameter takes a JSON string or `null`, an array parameter a JSON array of those.
//! Error texts are ASP.NET Core's with `EnableDetailedErrors` on, so that a client sees what
//! went wrong; see the `errors` functions below.

use serde_json::Value;

/// A group (or room) name as sent: `None` is JSON `null`.
pub(crate) type Name = Option<String>;

/// One bound contract invocation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Call {
    /// `GetConnectionId()`.
    GetConnectionId,
    /// `AddToGroup(group)`.
    AddToGroup(Name),
    /// `RemoveFromGroup(group)`.
    RemoveFromGroup(Name),
    /// `AddConnectionToGroup(connectionId, group)`; a `null` id is the model's to refuse.
    AddConnectionToGroup(Option<String>, Name),
    /// `RemoveConnectionFromGroup(connectionId, group)`.
    RemoveConnectionFromGroup(Option<String>, Name),
    /// `JoinRoom(room)`.
    JoinRoom(Name),
    /// `LeaveRoom(room)`.
    LeaveRoom(Name),
    /// Any `SendTo…` method, with its payload.
    Send(Send, String),
}

impl Call {
    /// Whether this call changes memberships (the calls `late-membership` delays).
    pub(crate) fn is_membership(&self) -> bool {
        matches!(
            self,
            Call::AddToGroup(_)
                | Call::RemoveFromGroup(_)
                | Call::AddConnectionToGroup(..)
                | Call::RemoveConnectionFromGroup(..)
                | Call::JoinRoom(_)
                | Call::LeaveRoom(_)
        )
    }
}

/// The recipients of a send, with connection ids still as the client's strings (`None`: a
/// `null`, which the model refuses for `Connection` and matches with no connection in a list).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Send {
    All,
    AllExcept(Vec<Option<String>>),
    Others,
    Caller,
    Connection(Option<String>),
    Connections(Vec<Option<String>>),
    Group(Name),
    Groups(Vec<Name>),
    GroupExcept(Name, Vec<Option<String>>),
    OthersInGroup(Name),
    User(String),
    Users(Vec<Option<String>>),
}

/// The parameter types the contract uses.
#[derive(Clone, Copy)]
enum Param {
    /// `string` (`null` allowed by binding; the method decides).
    Str,
    /// `string[]`.
    StrList,
}

/// The contract's methods: name and parameters (payload last for sends).
const METHODS: &[(&str, &[Param])] = {
    use Param::*;
    &[
        ("GetConnectionId", &[]),
        ("AddToGroup", &[Str]),
        ("RemoveFromGroup", &[Str]),
        ("AddConnectionToGroup", &[Str, Str]),
        ("RemoveConnectionFromGroup", &[Str, Str]),
        ("SendToAll", &[Str]),
        ("SendToAllExcept", &[StrList, Str]),
        ("SendToOthers", &[Str]),
        ("SendToCaller", &[Str]),
        ("SendToConnection", &[Str, Str]),
        ("SendToConnections", &[StrList, Str]),
        ("SendToGroup", &[Str, Str]),
        ("SendToGroups", &[StrList, Str]),
        ("SendToGroupExcept", &[Str, StrList, Str]),
        ("SendToOthersInGroup", &[Str, Str]),
        ("SendToUser", &[Str, Str]),
        ("SendToUsers", &[StrList, Str]),
        ("JoinRoom", &[Str]),
        ("LeaveRoom", &[Str]),
    ]
};

/// The names of every contract method, as the contract spells them.
pub(crate) fn method_names() -> impl Iterator<Item = &'static str> {
    METHODS.iter().map(|(name, _)| *name)
}

/// A bound argument.
enum Arg {
    Str(Option<String>),
    List(Option<Vec<Option<String>>>),
}

/// Binds an invocation. `Err` is the Completion error text.
pub(crate) fn bind(target: &str, arguments: &[Value]) -> Result<Call, String> {
    let Some((name, params)) = METHODS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(target))
    else {
        return Err(errors::unknown_method(target));
    };
    if arguments.len() != params.len() {
        return Err(errors::argument_count(
            target,
            arguments.len(),
            params.len(),
        ));
    }
    let mut args = Vec::with_capacity(params.len());
    for (param, value) in params.iter().zip(arguments) {
        args.push(bind_arg(*param, value).ok_or_else(|| errors::argument_types(target))?);
    }
    build(name, args, target)
}

fn bind_arg(param: Param, value: &Value) -> Option<Arg> {
    match (param, value) {
        (Param::Str, Value::Null) => Some(Arg::Str(None)),
        (Param::Str, Value::String(s)) => Some(Arg::Str(Some(s.clone()))),
        (Param::StrList, Value::Null) => Some(Arg::List(None)),
        (Param::StrList, Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::Null => Some(None),
                Value::String(s) => Some(Some(s.clone())),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(|list| Arg::List(Some(list))),
        _ => None,
    }
}

fn build(name: &str, args: Vec<Arg>, target: &str) -> Result<Call, String> {
    // Strings and lists are taken in parameter order, each kind from its own queue.
    let mut strs: Vec<Option<String>> = Vec::new();
    let mut lists: Vec<Option<Vec<Option<String>>>> = Vec::new();
    for arg in args {
        match arg {
            Arg::Str(s) => strs.push(s),
            Arg::List(l) => lists.push(l),
        }
    }
    let required = |value: Option<String>, param: &str| {
        value.ok_or_else(|| errors::argument_null(target, param))
    };
    let required_list = |value: Option<Vec<Option<String>>>, param: &str| {
        value.ok_or_else(|| errors::argument_null(target, param))
    };
    let mut strs = strs.into_iter();
    let mut lists = lists.into_iter();
    let mut s = || strs.next().expect("bound against METHODS");
    let mut l = || lists.next().expect("bound against METHODS");
    // The payload is the last string of every send.
    let call = match name {
        "GetConnectionId" => Call::GetConnectionId,
        "AddToGroup" => Call::AddToGroup(s()),
        "RemoveFromGroup" => Call::RemoveFromGroup(s()),
        // A null connectionId binds: refusing it is semantics (GRP-NULL-CONNECTION-ID), so
        // the model does it, not the binder.
        "AddConnectionToGroup" => Call::AddConnectionToGroup(s(), s()),
        "RemoveConnectionFromGroup" => Call::RemoveConnectionFromGroup(s(), s()),
        "JoinRoom" => Call::JoinRoom(s()),
        "LeaveRoom" => Call::LeaveRoom(s()),
        _ => {
            let send = match name {
                "SendToAll" => Send::All,
                "SendToAllExcept" => Send::AllExcept(required_list(l(), "excludedConnectionIds")?),
                "SendToOthers" => Send::Others,
                "SendToCaller" => Send::Caller,
                "SendToConnection" => Send::Connection(s()),
                "SendToConnections" => Send::Connections(required_list(l(), "connectionIds")?),
                "SendToGroup" => Send::Group(s()),
                "SendToGroups" => Send::Groups(required_list(l(), "groupNames")?),
                "SendToGroupExcept" => {
                    let group = s();
                    Send::GroupExcept(group, required_list(l(), "excludedConnectionIds")?)
                }
                "SendToOthersInGroup" => Send::OthersInGroup(s()),
                "SendToUser" => Send::User(required(s(), "userId")?),
                "SendToUsers" => Send::Users(required_list(l(), "userIds")?),
                other => unreachable!("method {other} is in METHODS"),
            };
            let payload = s().ok_or_else(|| errors::null_payload(target))?;
            Call::Send(send, payload)
        }
    };
    Ok(call)
}

/// Completion and Close error texts. Each is ASP.NET Core's text with detailed errors on.
pub(crate) mod errors {
    use hubspec_wire::ProtocolError;

    /// The Close error after `client_timeout` without a message: `CheckClientTimeout`'s
    /// `OperationCanceledException`, as `ErrorMessageHelper.BuildErrorMessage` words it with
    /// detailed errors on.
    pub(crate) const CLIENT_TIMEOUT: &str = "Connection closed with an error. OperationCanceledException: Client hasn't sent a message/ping within the configured ClientTimeoutInterval.";

    /// The Close error after a text frame that is not UTF-8: the `WebSocketException` that
    /// dotnet/runtime's `ManagedWebSocket` throws (`WebSocketError.Faulted`, whose message is
    /// `SR.net_Websockets_WebSocketBaseFaulted`), as `BuildErrorMessage` words it.
    pub(crate) const INVALID_UTF8: &str = "Connection closed with an error. WebSocketException: An exception caused the WebSocket to enter the Aborted state. Please see the InnerException, if present, for more details.";

    /// No such method (the JSON protocol's binder throws `HubException`).
    pub(crate) fn unknown_method(target: &str) -> String {
        format!("Failed to invoke '{target}' due to an error on the server. HubException: Method does not exist.")
    }

    /// Too few or too many arguments.
    pub(crate) fn argument_count(target: &str, got: usize, want: usize) -> String {
        format!(
            "Failed to invoke '{target}' due to an error on the server. InvalidDataException: Invocation provides {got} argument(s) but target expects {want}."
        )
    }

    /// An argument of the wrong JSON type.
    pub(crate) fn argument_types(target: &str) -> String {
        format!(
            "Failed to invoke '{target}' due to an error on the server. InvalidDataException: Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked."
        )
    }

    /// A required argument is `null` (`ArgumentNullException`).
    pub(crate) fn argument_null(target: &str, param: &str) -> String {
        format!(
            "An unexpected error occurred invoking '{target}' on the server. ArgumentNullException: Value cannot be null. (Parameter '{param}')"
        )
    }

    /// A `null` payload: the model's payloads are strings, so refhub refuses it.
    pub(crate) fn null_payload(target: &str) -> String {
        hub_exception(target, "The payload must be a string, not null.")
    }

    /// A hub method threw `HubException(message)`: the message reaches the client as is.
    pub(crate) fn hub_exception(target: &str, message: &str) -> String {
        format!(
            "An unexpected error occurred invoking '{target}' on the server. HubException: {message}"
        )
    }

    /// A group name over the configured limit.
    pub(crate) fn group_name_too_long(target: &str, len: usize, limit: usize) -> String {
        hub_exception(
            target,
            &format!("The group name is {len} bytes long; the limit is {limit} bytes."),
        )
    }

    /// `Groups(list)` with a null or empty name (`InvalidOperationException`).
    pub(crate) fn empty_group_name(target: &str) -> String {
        format!(
            "An unexpected error occurred invoking '{target}' on the server. InvalidOperationException: Cannot send to an empty group name."
        )
    }

    /// A rooms call from a connection without a user.
    pub(crate) fn no_user(target: &str) -> String {
        hub_exception(
            target,
            "This connection has no user: connect with ?user=<id> to use rooms.",
        )
    }

    /// A streaming invocation of a method that does not stream.
    pub(crate) fn not_streaming(target: &str) -> String {
        format!("The client attempted to invoke the non-streaming '{target}' method with a streaming invocation.")
    }

    /// The text of a Close sent because of a protocol error: `SendCloseAsync`'s
    /// `ErrorMessageHelper.BuildErrorMessage("Connection closed with an error.", exception,
    /// _enableDetailedErrors)` for the protocol's `InvalidDataException`
    /// (HubConnectionHandler.cs@bf884ebc758a8ca4e6d99efdeba223dcf0e38d6c).
    pub(crate) fn connection_error(detail: &str) -> String {
        format!("Connection closed with an error. InvalidDataException: {detail}")
    }

    /// The text of a Close for a message the protocol cannot read: [`connection_error`] with
    /// the exception .NET throws, a `FormatException` for a MessagePack length prefix over
    /// 2 GB (`BinaryMessageParser.TryParseMessage`), an `InvalidDataException` otherwise (the
    /// JSON protocol, the size check, `MessagePackHubProtocolWorker`'s field reads).
    pub(crate) fn protocol_error(error: &ProtocolError) -> String {
        match error {
            ProtocolError::MessageOver2Gb => {
                format!("Connection closed with an error. FormatException: {error}")
            }
            _ => connection_error(&error.to_string()),
        }
    }

    /// The Completion error for a MessagePack invocation whose arguments did not bind:
    /// `DefaultHubDispatcher.ProcessInvocationBindingFailure` builds "Failed to invoke
    /// '{target}' due to an error on the server." with the worker's `InvalidDataException`.
    pub(crate) fn binding_failure(target: &str, detail: &str) -> String {
        format!(
            "Failed to invoke '{target}' due to an error on the server. InvalidDataException: {detail}"
        )
    }

    /// The text of a Close sent because a `Sequence` asks to rewind past what was received:
    /// .NET's `MessageBuffer.ShouldProcessMessage` throws `InvalidOperationException("Sequence
    /// ID greater than amount of messages we've received.")`
    /// (src/SignalR/common/Shared/MessageBuffer.cs@1e0bf1c78ade1e23400977d1e3315af6acb51838).
    pub(crate) fn sequence_error(detail: &str) -> String {
        format!("Connection closed with an error. InvalidOperationException: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Vec<Value> {
        v.as_array().unwrap().clone()
    }

    #[test]
    fn every_contract_method_binds_with_good_arguments() {
        let good = [
            ("GetConnectionId", json!([])),
            ("AddToGroup", json!(["g"])),
            ("RemoveFromGroup", json!(["g"])),
            ("AddConnectionToGroup", json!(["id", "g"])),
            ("RemoveConnectionFromGroup", json!(["id", "g"])),
            ("SendToAll", json!(["p"])),
            ("SendToAllExcept", json!([["a", null], "p"])),
            ("SendToOthers", json!(["p"])),
            ("SendToCaller", json!(["p"])),
            ("SendToConnection", json!(["id", "p"])),
            ("SendToConnections", json!([["a"], "p"])),
            ("SendToGroup", json!(["g", "p"])),
            ("SendToGroups", json!([["g", "h"], "p"])),
            ("SendToGroupExcept", json!(["g", ["a"], "p"])),
            ("SendToOthersInGroup", json!(["g", "p"])),
            ("SendToUser", json!(["u", "p"])),
            ("SendToUsers", json!([["u"], "p"])),
            ("JoinRoom", json!(["r"])),
            ("LeaveRoom", json!(["r"])),
        ];
        assert_eq!(good.len(), method_names().count());
        for (name, a) in good {
            assert!(bind(name, &args(a)).is_ok(), "{name}");
        }
        assert_eq!(
            bind("sendtogroupexcept", &args(json!(["g", ["a"], "p"]))),
            Ok(Call::Send(
                Send::GroupExcept(Some("g".into()), vec![Some("a".into())]),
                "p".into()
            )),
            "method names are case-insensitive"
        );
    }

    #[test]
    fn a_null_group_binds_and_is_refused_by_the_model() {
        assert_eq!(
            bind("AddToGroup", &args(json!([null]))),
            Ok(Call::AddToGroup(None))
        );
    }

    #[test]
    fn a_null_connection_id_binds_and_is_refused_by_the_model() {
        assert_eq!(
            bind("AddConnectionToGroup", &args(json!([null, "g"]))),
            Ok(Call::AddConnectionToGroup(None, Some("g".into())))
        );
        assert_eq!(
            bind("SendToConnection", &args(json!([null, "p"]))),
            Ok(Call::Send(Send::Connection(None), "p".into()))
        );
    }

    #[test]
    fn binding_failures_have_aspnet_core_texts() {
        assert_eq!(
            bind("Nope", &[]).unwrap_err(),
            "Failed to invoke 'Nope' due to an error on the server. HubException: Method does not exist."
        );
        assert_eq!(
            bind("AddToGroup", &[]).unwrap_err(),
            "Failed to invoke 'AddToGroup' due to an error on the server. InvalidDataException: Invocation provides 0 argument(s) but target expects 1."
        );
        assert!(bind("AddToGroup", &args(json!([1])))
            .unwrap_err()
            .contains("Error binding arguments"));
        assert!(bind("SendToGroups", &args(json!([[1], "p"])))
            .unwrap_err()
            .contains("Error binding arguments"));
        assert!(bind("SendToAll", &args(json!([null])))
            .unwrap_err()
            .contains("payload must be a string"));
    }
}
