//! Black-box tests of the reference hub over real sockets on 127.0.0.1:0.
//!
//! - `bad_input`: every kind of bad input gets its documented error.
//! - `binary`: the `hubspec-refhub` command line, its tracing log, and rooms across a real
//!   process restart (SIGTERM, same port, same `--rooms-db`).
//! - `classic`: the classic endpoint (`/signalr`, ASP.NET SignalR 2.x) with a classic client
//!   built from `hubspec_wire::classic`.
//! - `client`: the minimal test client.
//! - `cluster`: two nodes on one real redis-server: sends, adds by id and a lost subscription
//!   across nodes.
//! - `cuts`: cut storms through the harness's fault-injecting proxy, every resume exact.
//! - `protocol`: negotiate, WebSocket endpoint, handshake, invocations, ordering.
//! - `faults`: every fault is observable through the contract.
//! - `groups`: every contract method, wired to the model.
//! - `fuzz`: seeded mutations of real HTTP requests, WebSocket sessions and classic socket
//!   invocations: no panic, no 5xx, no hang, and the hub still serves.
//! - `msgpack`: the MessagePack protocol next to JSON on one hub, and its bad input.
//! - `peers`: the official JS client and a Python client (installed on first use).
//! - `reconnect`: stateful reconnect and the core profile's drop.
//! - `rooms`: rooms records in SQLite, in-process and process restarts.
//! - `security`: what a known connection id opens (nothing), what ids and tokens are made of.

mod bad_input;
mod binary;
mod classic;
mod client;
mod cluster;
mod cuts;
mod faults;
mod fuzz;
mod groups;
mod msgpack;
mod peers;
mod protocol;
mod reconnect;
mod rooms;
mod security;
