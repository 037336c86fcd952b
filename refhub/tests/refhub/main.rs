//! Black-box tests of the reference hub over real sockets on 127.0.0.1:0.
//!
//! - `client`: the minimal test client.
//! - `protocol`: negotiate, WebSocket endpoint, handshake, invocations, ordering.
//! - `groups`: every contract method, wired to the model.

mod client;
mod groups;
mod protocol;
