//! hubspec-wire: the ASP.NET Core SignalR JSON hub protocol, sans I/O.
//!
//! Pure functions and small state machines, shared by the reference hub (`refhub`) and the
//! test client (`harness`) so that both speak exactly what ASP.NET Core speaks. Sockets,
//! timers and tasks stay with the callers.
//!
//! Module map:
//! - [`framing`]: the 0x1E record separator; [`RecordReader`] turns transport chunks into
//!   records, with ASP.NET Core's receive size limit.
//! - [`handshake`]: the first record each way (`{"protocol":"json","version":1}`, `{}` or
//!   `{"error":…}`) and the server's exact rejection texts.
//! - [`message`]: [`HubMessage`], types 1 to 9, parsed and written exactly like
//!   `JsonHubProtocol`.
//! - [`negotiate`]: the `POST …/negotiate` response body and the query strings of the negotiate
//!   and WebSocket requests.
//! - [`reconnect`]: [`MessageBuffer`], stateful reconnect's numbering, Ack/Sequence handling,
//!   duplicate dropping, backpressure and resend, as a state machine.
//! - [`error`]: [`ProtocolError`], whose messages are .NET's own.

pub mod error;
pub mod framing;
pub mod handshake;
mod json;
pub mod message;
pub mod negotiate;
pub mod reconnect;

pub use error::{ProtocolError, Result};
pub use framing::{encode, RecordReader, RECORD_SEPARATOR};
pub use handshake::{HandshakeRequest, HandshakeResponse};
pub use message::{CompletionResult, Headers, HubMessage};
pub use negotiate::{AvailableTransport, NegotiateReply, NegotiateResponse};
pub use reconnect::MessageBuffer;
