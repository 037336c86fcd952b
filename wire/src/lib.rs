//! hubspec-wire: the ASP.NET Core SignalR hub protocols, JSON and MessagePack, and the classic
//! ASP.NET SignalR 2.x protocol, sans I/O.
//!
//! Pure functions and small state machines, shared by the reference hub (`refhub`) and the
//! test client (`harness`) so that both speak exactly what ASP.NET Core speaks. Sockets,
//! timers and tasks stay with the callers.
//!
//! Module map:
//! - [`framing`]: the 0x1E record separator; [`RecordReader`] turns transport chunks into
//!   records, with ASP.NET Core's receive size limit.
//! - [`handshake`]: the first record each way (`{"protocol":"json","version":1}` or
//!   `{"protocol":"messagepack","version":1}`, `{}` or `{"error":…}`), always JSON text, the
//!   server's protocol choice ([`HubProtocol`]) and its exact rejection texts.
//! - [`message`]: [`HubMessage`], types 1 to 9, parsed and written exactly like
//!   `JsonHubProtocol`.
//! - [`msgpack`]: the same [`HubMessage`] in `MessagePackHubProtocol`'s binary form
//!   ([`HubMessage::parse_msgpack`], [`HubMessage::to_msgpack_wire`]), the VarInt length prefix
//!   and [`FrameReader`], which turns binary frames into messages with the receive size limit.
//! - [`protocol`]: [`HubProtocol`] (`json` or `messagepack`) encodes and parses a
//!   [`HubMessage`] in either, and [`MessageReader`] cuts either's stream, so one code path
//!   serves both after the handshake.
//! - [`negotiate`]: the `POST …/negotiate` response body and the query strings of the negotiate
//!   and WebSocket requests.
//! - [`reconnect`]: [`MessageBuffer`], stateful reconnect's numbering, Ack/Sequence handling,
//!   duplicate dropping, backpressure and resend, as a state machine.
//! - [`error`]: [`ProtocolError`], whose messages are .NET's own.
//! - [`backplane`]: ASP.NET Core's Redis backplane, sans I/O: the pub/sub channel names
//!   ([`Channels`]) and the MessagePack payloads servers of one hub exchange (invocations with
//!   excluded ids, group commands, acks, client-result completions); its own [`BackplaneError`].
//! - [`classic`]: classic ASP.NET SignalR 2.x (not ASP.NET Core): negotiate and
//!   `ProtocolVersion`, the query strings of connect/reconnect/start/abort/send/ping, the
//!   persistent-response envelope, hub invocations and results, the signed groups token
//!   ([`GroupsToken`]) and the bounded replay buffer; its own [`ClassicError`].

pub mod backplane;
pub mod classic;
pub mod error;
pub mod framing;
pub mod handshake;
mod json;
pub mod message;
pub mod msgpack;
pub mod negotiate;
pub mod protocol;
pub mod reconnect;

pub use backplane::{BackplaneError, Channels};
pub use classic::{ClassicError, GroupsToken};
pub use error::{ProtocolError, Result};
pub use framing::{encode, RecordReader, RECORD_SEPARATOR};
pub use handshake::{HandshakeRequest, HandshakeResponse};
pub use message::{CompletionResult, Headers, HubMessage};
pub use msgpack::FrameReader;
pub use negotiate::{AvailableTransport, NegotiateReply, NegotiateResponse};
pub use protocol::{HubProtocol, MessageReader};
pub use reconnect::MessageBuffer;
