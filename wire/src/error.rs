//! The crate's one error type.
//!
//! Every variant's `Display` is the exact text ASP.NET Core puts in its exception (mostly an
//! `InvalidDataException`), so a server built on this crate can send the same words in a
//! `Close` or handshake error, and a client can compare a server's words with ours.

use thiserror::Error;

/// A frame, handshake, hub message or negotiate body that breaks the protocol, or a
/// stateful-reconnect `Sequence` that cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtocolError {
    /// The text is not JSON. .NET wraps the reader's exception in this fixed message;
    /// `detail` keeps serde_json's explanation for logs.
    #[error("Error reading JSON.")]
    InvalidJson {
        /// serde_json's description of where parsing failed.
        detail: String,
    },
    /// The top-level JSON value is not an object; `found` is .NET's token name
    /// (`Array`, `String`, `Number`, `True`, `False`, `Null`).
    #[error("Unexpected JSON Token Type '{found}'. Expected a JSON Object.")]
    NotAnObject {
        /// .NET's name for the token that was found.
        found: &'static str,
    },
    /// A property that must hold an array holds something else (negotiate response).
    #[error("Unexpected JSON Token Type '{found}'. Expected a JSON Array.")]
    NotAnArray {
        /// .NET's name for the token that was found.
        found: &'static str,
    },
    /// A property the message type requires is absent (or, for ids and targets, empty).
    #[error("Missing required property '{0}'.")]
    MissingProperty(&'static str),
    /// Like [`ProtocolError::MissingProperty`], in the handshake request, where .NET appends
    /// the whole payload.
    #[error("Missing required property '{property}'. Message content: {content}")]
    HandshakeMissingProperty {
        /// `protocol` or `version`.
        property: &'static str,
        /// The handshake record as received.
        content: String,
    },
    /// A property has the wrong JSON type; `expected` is .NET's token name
    /// (`String`, `Number`, `Array`, `StartObject`).
    #[error("Expected '{property}' to be of type {expected}.")]
    WrongType {
        /// The offending property.
        property: &'static str,
        /// The JSON type .NET wanted.
        expected: &'static str,
    },
    /// A number does not fit the .NET integer type (`Int32` for `type`/`version`,
    /// `Int64` for `sequenceId`), or is not integral.
    #[error("Either the JSON value is not in a supported format, or is out of bounds for an {0}.")]
    NumberOutOfRange(&'static str),
    /// `allowReconnect` is not a JSON boolean.
    #[error("Expected '{0}' to be true or false.")]
    NotABoolean(&'static str),
    /// A value in `headers` is not a string.
    #[error("Expected header '{0}' to be of type String.")]
    HeaderNotString(String),
    /// `streamIds` holds a `null`.
    #[error("Null value for 'streamIds' is not valid.")]
    NullStreamId,
    /// `streamIds` holds something other than a string or null. .NET fails here with a
    /// reader exception of its own; this text is ours.
    #[error("Expected 'streamIds' to contain only strings.")]
    StreamIdNotString,
    /// A Completion carries both `result` and `error`.
    #[error("The 'error' and 'result' properties are mutually exclusive.")]
    ErrorAndResult,
    /// A handshake response carries `type`: the peer sent a hub message instead.
    #[error("Expected a handshake response from the server.")]
    NotAHandshakeResponse,
    /// A negotiate response carries `ProtocolVersion`: the server is classic ASP.NET SignalR.
    #[error("Detected a connection attempt to an ASP.NET SignalR Server. This client only supports connecting to an ASP.NET Core SignalR Server. See https://aka.ms/signalr-core-differences for details.")]
    ClassicServer,
    /// A record (without its separator) does not fit in the receive limit. .NET requires the
    /// record *and* its 0x1E to fit in `MaximumReceiveMessageSize` bytes; for MessagePack, the
    /// length prefix and the message.
    #[error("The maximum message size of {limit}B was exceeded. The message size can be configured in AddHubOptions.")]
    RecordTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// A complete record is not valid UTF-8.
    #[error("The record is not valid UTF-8.")]
    InvalidUtf8,
    /// MessagePack framing: a length prefix that has no end within 5 bytes or encodes more than
    /// `i32::MAX` (`BinaryMessageParser`, a `FormatException` in .NET).
    #[error("Messages over 2GB in size are not supported.")]
    MessageOver2Gb,
    /// MessagePack: the message is not a MessagePack array (or is empty). .NET fails here with
    /// MessagePack-CSharp's own exception; this text is ours.
    #[error("The message is not a MessagePack array.")]
    NotAMessagePackArray,
    /// MessagePack: a field is absent (the payload ended) or has the wrong MessagePack type;
    /// `as_type` is .NET's type name (`String`, `Int32`, `Int64`, `Boolean`).
    #[error("Reading '{field}' as {as_type} failed.")]
    ReadingFailed {
        /// .NET's name for the field, e.g. `target` or `headers[0].Key`.
        field: String,
        /// The .NET type it was read as.
        as_type: &'static str,
    },
    /// MessagePack: `headers` is absent or not a map.
    #[error("Reading map length for '{0}' failed.")]
    ReadingMapLength(&'static str),
    /// MessagePack: `arguments` or `streamIds` is absent or not an array.
    #[error("Reading array length for '{0}' failed.")]
    ReadingArrayLength(&'static str),
    /// MessagePack: a Completion's result kind is not 1 (error), 2 (void) or 3 (result).
    #[error("Invalid invocation result kind.")]
    InvalidResultKind,
    /// MessagePack: a header key is nil or empty.
    #[error("Null or empty key in header.")]
    NullOrEmptyHeaderKey,
    /// MessagePack: a header value is nil or empty.
    #[error("Null or empty value in header.")]
    NullOrEmptyHeaderValue,
    /// MessagePack: the same header key twice (.NET's `Dictionary.Add` refuses it).
    #[error("An item with the same key has already been added. Key: {0}")]
    DuplicateHeader(String),
    /// MessagePack: an Invocation's or StreamInvocation's target is nil or empty; the field
    /// is the message kind (`Invocation`, `StreamInvocation`).
    #[error("Null or empty target for {0} message.")]
    NullOrEmptyTarget(&'static str),
    /// MessagePack: a message kind that needs an invocation id has a nil or empty one.
    #[error("Null or empty invocation ID for {0} message.")]
    NullOrEmptyInvocationId(&'static str),
    /// MessagePack: a stream id is nil or empty.
    #[error("Null or empty value in streamIds received.")]
    NullOrEmptyStreamId,
    /// MessagePack: a StreamItem's `item` or a Completion's result (`argument`) is absent or
    /// not a readable MessagePack value. .NET names the binder's type; without a binder every
    /// payload is read as `Object`.
    #[error("Deserializing object of the `Object` type for '{0}' failed.")]
    DeserializingFailed(&'static str),
    /// MessagePack: an Invocation or StreamInvocation whose arguments cannot be read. .NET does
    /// not close the connection for this: it turns the message into an
    /// `InvocationBindingFailureMessage` and answers a blocking invocation with a Completion
    /// error. `detail` is .NET's text (`Reading array length for 'arguments' failed.` or
    /// `Error binding arguments. …`).
    #[error("{detail}")]
    InvocationBindingFailure {
        /// The invocation id, if the invocation is blocking.
        invocation_id: Option<String>,
        /// The target that was called.
        target: String,
        /// .NET's message.
        detail: String,
    },
    /// A `Sequence` asks to rewind past the next message id this side expects.
    #[error("Sequence ID greater than amount of messages we've received.")]
    SequenceIdTooLarge {
        /// The id the peer sent.
        requested: i64,
        /// The id of the next sequenced message this side expects.
        next_expected: i64,
    },
}

/// `Result` with [`ProtocolError`].
pub type Result<T, E = ProtocolError> = std::result::Result<T, E>;
