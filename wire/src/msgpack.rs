//! The MessagePack hub protocol (`messagepack`, version 1 and 2): binary WebSocket frames, each
//! holding length-prefixed messages, each message one MessagePack array.
//!
//! Authorities, read at dotnet/aspnetcore commit `cca91f243918df72a3228817436ab78291684d41`
//! (the test vectors) with the spec at `a4af6185ea14f8d498db324806bb67471d3c1e23` and the
//! protocol worker at `4931b1929188349b438575803bcec889a9a7d190`:
//! - `src/SignalR/docs/specs/HubProtocol.md`, "MessagePack Encoding": the array layout of every
//!   message type, the headers map, the VarInt length prefix;
//! - `src/SignalR/common/Protocols.MessagePack/src/Protocol/MessagePackHubProtocolWorker.cs`:
//!   the order fields are read and written in, which are optional, and the error texts;
//! - `src/SignalR/common/Shared/BinaryMessageParser.cs` and `BinaryMessageFormatter.cs`: the
//!   length prefix;
//! - `src/SignalR/common/SignalR.Common/test/Internal/Protocol/MessagePackHubProtocolTestBase.cs`
//!   and `MessagePackHubProtocolTests.cs`: byte vectors of every message kind and the expected
//!   error of each malformed message, including the null-or-empty checks (`Null or empty target
//!   for Invocation message.` …) that newer workers than the one above make. Our tests transcribe
//!   those vectors (see the `tests` module).
//!
//! Layout (`Headers` is a map of string to string, written even when empty as `0x80`):
//! - Invocation `[1, Headers, InvocationId|nil, Target, [Arguments], [StreamIds]]`
//! - StreamItem `[2, Headers, InvocationId, Item]`
//! - Completion `[3, Headers, InvocationId, ResultKind, Result?]`, kind 1 error, 2 void,
//!   3 result
//! - StreamInvocation `[4, Headers, InvocationId, Target, [Arguments], [StreamIds]]`
//! - CancelInvocation `[5, Headers, InvocationId]`
//! - Ping `[6]`, Close `[7, Error|nil, AllowReconnect]`, Ack `[8, SequenceId]`,
//!   Sequence `[9, SequenceId]`
//!
//! Reading follows the worker: fields are read in order whatever the array's declared length
//! (so extra trailing items are ignored, and a short array fails on the first missing field
//! with that field's error); the declared length matters only for the optional `StreamIds`
//! (more than 5 items) and `AllowReconnect` (more than 2 items). An unknown message type is
//! [`HubMessage::Unknown`], which .NET drops.
//!
//! # Payloads
//!
//! Arguments, stream items and results stay [`serde_json::Value`], the crate's one payload
//! representation, so refhub and the harness handle both protocols alike. The conversion:
//!
//! | MessagePack | JSON | back to MessagePack |
//! | --- | --- | --- |
//! | nil, bool, str | null, bool, string | the same, exactly |
//! | int (any width) | integer number | the most compact int, as MessagePack-CSharp writes |
//! | float32, float64 | number | float64 (lossy for float32: `0xca` comes back as `0xcb`); NaN and infinities become null |
//! | array | array | array |
//! | map with string keys | object | map, keys in sorted order (lossy: key order) |
//! | map with other keys | object keyed by the key's JSON text | map with string keys (lossy) |
//! | bin | base64 string, as .NET's JSON writes `byte[]` | str (lossy) |
//! | timestamp ext (-1) | ISO 8601 string, as .NET's JSON writes a UTC `DateTime` | str (lossy) |
//! | other ext | base64 string of its data | str (lossy) |
//!
//! Strings that are not UTF-8 are decoded with U+FFFD replacements, as .NET's `UTF8Encoding`
//! does. Nesting deeper than [`MAX_DEPTH`] (MessagePack-CSharp's limit for untrusted data) is
//! an error.
//!
//! # Crates
//!
//! `rmp` writes each item in the exact format MessagePack-CSharp chooses (`write_sint` picks
//! the smallest int format, unsigned formats for non-negative values; `write_str` the smallest
//! str format), and reads single items with typed errors, which is what reading field by
//! field with .NET's messages needs. `rmpv` reads arbitrary payload values with a depth limit
//! and without trusting declared lengths for preallocation. Both are the msgpack-rust project's
//! maintained crates; rmp-serde was not needed, as no Rust type is (de)serialized.

use std::collections::BTreeMap;

use rmp::decode::{self, NumValueReadError, ValueReadError};
use rmp::encode;
use rmp::Marker;
use serde_json::{Map, Number, Value};

use crate::error::{ProtocolError, Result};
use crate::framing::DEFAULT_MAX_RECORD_SIZE;
use crate::message::{CompletionResult, Headers, HubMessage};

/// The MessagePack hub protocol's name in the handshake.
pub const MESSAGEPACK_PROTOCOL: &str = "messagepack";

/// The highest MessagePack protocol version: 2 adds stateful reconnect (Ack and Sequence), as
/// for JSON.
pub const MESSAGEPACK_PROTOCOL_VERSION: i32 = 2;

/// The deepest nesting of arrays and maps read in a payload: MessagePack-CSharp's
/// `MessagePackSecurity.UntrustedData.MaximumObjectGraphDepth`, which ASP.NET Core's default
/// options use.
pub const MAX_DEPTH: usize = 500;

/// The longest length prefix: 5 bytes of 7 bits hold `i32::MAX`.
pub const MAX_LENGTH_PREFIX_SIZE: usize = 5;

/// The largest message the length prefix may announce (2 GB - 1).
pub const MAX_MESSAGE_LENGTH: usize = i32::MAX as usize;

const ERROR_RESULT: i32 = 1;
const VOID_RESULT: i32 = 2;
const NON_VOID_RESULT: i32 = 3;

// ---------------------------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------------------------

/// Appends the VarInt length prefix of a `length`-byte message: 7 bits a byte, least
/// significant first, the high bit set on every byte but the last (`BinaryMessageFormatter`).
pub fn write_length_prefix(length: usize, out: &mut Vec<u8>) {
    let mut rest = length;
    loop {
        let low = (rest & 0x7f) as u8;
        rest >>= 7;
        if rest > 0 {
            out.push(low | 0x80);
        } else {
            out.push(low);
            return;
        }
    }
}

/// The length prefix followed by `payload`: the bytes to put in a binary frame.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + MAX_LENGTH_PREFIX_SIZE);
    write_length_prefix(payload.len(), &mut out);
    out.extend_from_slice(payload);
    out
}

/// Where the first message of `buffer` lies, as `BinaryMessageParser.TryParseMessage` finds
/// it: `Ok(Some((start, length)))` when the whole message is buffered, `Ok(None)` when more
/// bytes are needed (an empty buffer, a prefix cut short, a message cut short), and
/// [`ProtocolError::MessageOver2Gb`] for a prefix without an end in 5 bytes or above
/// `i32::MAX`.
pub fn parse_length_prefix(buffer: &[u8]) -> Result<Option<(usize, usize)>> {
    let mut length: u64 = 0;
    for (index, &byte) in buffer.iter().take(MAX_LENGTH_PREFIX_SIZE).enumerate() {
        length |= u64::from(byte & 0x7f) << (7 * index);
        let prefix_len = index + 1;
        if byte & 0x80 == 0 {
            if prefix_len == MAX_LENGTH_PREFIX_SIZE && byte > 7 {
                return Err(ProtocolError::MessageOver2Gb);
            }
            let length = usize::try_from(length).map_err(|_| ProtocolError::MessageOver2Gb)?;
            return Ok((buffer.len() - prefix_len >= length).then_some((prefix_len, length)));
        }
        if prefix_len == MAX_LENGTH_PREFIX_SIZE {
            return Err(ProtocolError::MessageOver2Gb);
        }
    }
    Ok(None)
}

/// Reassembles length-prefixed messages from binary frames of any size, the MessagePack
/// counterpart of [`crate::RecordReader`].
///
/// Size rule (`HubConnectionHandler`): a message *with its length prefix* must fit in
/// `max_message_size` bytes; the error comes as soon as more than that many bytes are buffered
/// and the first `max_message_size` of them hold no whole message. Messages before an oversized
/// one are returned first. After an error the reader stays failed: the connection must close.
#[derive(Debug, Clone)]
pub struct FrameReader {
    buffer: Vec<u8>,
    /// Bytes at the front of `buffer` already returned.
    consumed: usize,
    max_message_size: Option<usize>,
}

impl Default for FrameReader {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameReader {
    /// A reader with ASP.NET Core's default 32 KiB limit.
    pub fn new() -> Self {
        Self::with_max_message_size(DEFAULT_MAX_RECORD_SIZE)
    }

    /// A reader whose messages plus length prefix may be at most `max_message_size` bytes.
    pub fn with_max_message_size(max_message_size: usize) -> Self {
        Self {
            buffer: Vec::new(),
            consumed: 0,
            max_message_size: Some(max_message_size),
        }
    }

    /// A reader without a size limit (`MaximumReceiveMessageSize = null`); the 2 GB prefix
    /// limit still holds.
    pub fn unlimited() -> Self {
        Self {
            buffer: Vec::new(),
            consumed: 0,
            max_message_size: None,
        }
    }

    /// Appends a chunk (a binary frame, or part of one). Nothing is parsed yet.
    pub fn push(&mut self, chunk: impl AsRef<[u8]>) {
        if self.consumed > 0 && self.consumed * 2 >= self.buffer.len() {
            self.buffer.drain(..self.consumed);
            self.consumed = 0;
        }
        self.buffer.extend_from_slice(chunk.as_ref());
    }

    /// Takes the next whole message (without its prefix), if one is buffered. Call it in a
    /// loop after each [`push`](Self::push) until it returns `Ok(None)`.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>> {
        let pending = &self.buffer[self.consumed..];
        let window = match self.max_message_size {
            Some(max) => &pending[..pending.len().min(max)],
            None => pending,
        };
        match parse_length_prefix(window)? {
            Some((start, length)) => {
                let message = window[start..start + length].to_vec();
                self.consumed += start + length;
                Ok(Some(message))
            }
            None => match self.max_message_size {
                Some(limit) if pending.len() > limit => {
                    Err(ProtocolError::RecordTooLarge { limit })
                }
                _ => Ok(None),
            },
        }
    }

    /// Pushes `chunk` and returns every message now complete. On an error the good messages
    /// before it in this call are lost; use [`next_message`](Self::next_message) when they
    /// matter.
    pub fn feed(&mut self, chunk: impl AsRef<[u8]>) -> Result<Vec<Vec<u8>>> {
        self.push(chunk);
        let mut messages = Vec::new();
        while let Some(message) = self.next_message()? {
            messages.push(message);
        }
        Ok(messages)
    }

    /// Bytes received but not yet returned as a message.
    pub fn pending_len(&self) -> usize {
        self.buffer.len() - self.consumed
    }
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

impl HubMessage {
    /// Parses one MessagePack message (the payload after its length prefix), as
    /// `MessagePackHubProtocolWorker.ParseMessage` does without a binder: see the module
    /// documentation for the rules and [`ProtocolError`] for the failures.
    pub fn parse_msgpack(payload: &[u8]) -> Result<HubMessage> {
        parse(payload)
    }

    /// The MessagePack message, byte for byte as `MessagePackHubProtocol` writes it, without
    /// its length prefix.
    pub fn to_msgpack(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        write_message(self, &mut out);
        out
    }

    /// The length prefix and the message: the bytes of one binary frame.
    pub fn to_msgpack_wire(&self) -> Vec<u8> {
        frame(&self.to_msgpack())
    }
}

/// See [`HubMessage::parse_msgpack`].
pub fn parse(payload: &[u8]) -> Result<HubMessage> {
    let rd = &mut &payload[..];
    let item_count = decode::read_array_len(rd).map_err(|_| ProtocolError::NotAMessagePackArray)?;
    let message_type = read_i32(rd, "messageType")?;
    match message_type {
        1 => {
            let headers = read_headers(rd)?;
            let invocation_id = read_string(rd, "invocationId")?.filter(|id| !id.is_empty());
            let target = required(read_string(rd, "target")?)
                .ok_or(ProtocolError::NullOrEmptyTarget("Invocation"))?;
            let arguments = read_arguments(rd, &invocation_id, &target)?;
            let stream_ids = read_stream_ids(rd, item_count)?;
            Ok(HubMessage::Invocation {
                invocation_id,
                target,
                arguments,
                stream_ids,
                headers,
            })
        }
        2 => {
            let headers = read_headers(rd)?;
            let invocation_id = read_invocation_id(rd, "StreamItem")?;
            let item = read_payload(rd, "item")?;
            Ok(HubMessage::StreamItem {
                invocation_id,
                item,
                headers,
            })
        }
        3 => {
            let headers = read_headers(rd)?;
            let invocation_id = read_invocation_id(rd, "Completion")?;
            let result = match read_i32(rd, "resultKind")? {
                // A nil error leaves .NET's CompletionMessage with neither error nor result:
                // a void completion.
                ERROR_RESULT => match read_string(rd, "error")? {
                    Some(error) => CompletionResult::Error(error),
                    None => CompletionResult::Void,
                },
                VOID_RESULT => CompletionResult::Void,
                NON_VOID_RESULT => CompletionResult::Result(read_payload(rd, "argument")?),
                _ => return Err(ProtocolError::InvalidResultKind),
            };
            Ok(HubMessage::Completion {
                invocation_id,
                result,
                headers,
            })
        }
        4 => {
            let headers = read_headers(rd)?;
            let invocation_id = read_invocation_id(rd, "StreamInvocation")?;
            let target = required(read_string(rd, "target")?)
                .ok_or(ProtocolError::NullOrEmptyTarget("StreamInvocation"))?;
            let arguments = read_arguments(rd, &Some(invocation_id.clone()), &target)?;
            let stream_ids = read_stream_ids(rd, item_count)?;
            Ok(HubMessage::StreamInvocation {
                invocation_id,
                target,
                arguments,
                stream_ids,
                headers,
            })
        }
        5 => {
            let headers = read_headers(rd)?;
            let invocation_id = read_invocation_id(rd, "CancelInvocation")?;
            Ok(HubMessage::CancelInvocation {
                invocation_id,
                headers,
            })
        }
        6 => Ok(HubMessage::Ping),
        7 => {
            let error = read_string(rd, "error")?;
            let allow_reconnect = if item_count > 2 {
                decode::read_bool(rd).map_err(|_| reading_failed("allowReconnect", "Boolean"))?
            } else {
                false
            };
            Ok(HubMessage::Close {
                error,
                allow_reconnect,
            })
        }
        8 => Ok(HubMessage::Ack {
            sequence_id: read_i64(rd, "sequenceId")?,
        }),
        9 => Ok(HubMessage::Sequence {
            sequence_id: read_i64(rd, "sequenceId")?,
        }),
        other => Ok(HubMessage::Unknown(other)),
    }
}

fn reading_failed(field: impl Into<String>, as_type: &'static str) -> ProtocolError {
    ProtocolError::ReadingFailed {
        field: field.into(),
        as_type,
    }
}

/// `Some` only for a non-empty string: .NET's `string.IsNullOrEmpty` checks.
fn required(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.is_empty())
}

fn read_i32(rd: &mut &[u8], field: &'static str) -> Result<i32> {
    decode::read_int::<i32, _>(rd).map_err(|_: NumValueReadError<_>| reading_failed(field, "Int32"))
}

fn read_i64(rd: &mut &[u8], field: &'static str) -> Result<i64> {
    decode::read_int::<i64, _>(rd).map_err(|_: NumValueReadError<_>| reading_failed(field, "Int64"))
}

/// `MessagePackReader.ReadString`: nil is `None`; only the str formats are strings.
fn read_string(rd: &mut &[u8], field: &str) -> Result<Option<String>> {
    let failed = || reading_failed(field, "String");
    let marker = decode::read_marker(rd).map_err(|_| failed())?;
    let length = match marker {
        Marker::Null => return Ok(None),
        Marker::FixStr(n) => usize::from(n),
        Marker::Str8 => usize::from(take(rd, 1).ok_or_else(failed)?[0]),
        Marker::Str16 => {
            let bytes = take(rd, 2).ok_or_else(failed)?;
            usize::from(u16::from_be_bytes([bytes[0], bytes[1]]))
        }
        Marker::Str32 => {
            let bytes = take(rd, 4).ok_or_else(failed)?;
            let n = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            usize::try_from(n).map_err(|_| failed())?
        }
        _ => return Err(failed()),
    };
    let bytes = take(rd, length).ok_or_else(failed)?;
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

/// The next `n` bytes, or `None` when fewer remain.
fn take<'a>(rd: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if rd.len() < n {
        return None;
    }
    let (head, tail) = rd.split_at(n);
    *rd = tail;
    Some(head)
}

fn read_invocation_id(rd: &mut &[u8], kind: &'static str) -> Result<String> {
    required(read_string(rd, "invocationId")?).ok_or(ProtocolError::NullOrEmptyInvocationId(kind))
}

fn read_headers(rd: &mut &[u8]) -> Result<Headers> {
    let count = decode::read_map_len(rd)
        .map_err(|_: ValueReadError<_>| ProtocolError::ReadingMapLength("headers"))?;
    let mut headers = Headers::new();
    for i in 0..count {
        let key = required(read_string(rd, &format!("headers[{i}].Key"))?)
            .ok_or(ProtocolError::NullOrEmptyHeaderKey)?;
        let value = required(read_string(rd, &format!("headers[{i}].Value"))?)
            .ok_or(ProtocolError::NullOrEmptyHeaderValue)?;
        if headers.contains_key(&key) {
            return Err(ProtocolError::DuplicateHeader(key));
        }
        headers.insert(key, value);
    }
    Ok(headers)
}

fn read_arguments(
    rd: &mut &[u8],
    invocation_id: &Option<String>,
    target: &str,
) -> Result<Vec<Value>> {
    let failure = |detail: &str| ProtocolError::InvocationBindingFailure {
        invocation_id: invocation_id.clone(),
        target: target.to_owned(),
        detail: detail.to_owned(),
    };
    let count = decode::read_array_len(rd)
        .map_err(|_: ValueReadError<_>| failure("Reading array length for 'arguments' failed."))?;
    let mut arguments = Vec::new();
    for _ in 0..count {
        let value = read_value(rd).map_err(|()| {
            failure("Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked.")
        })?;
        arguments.push(value);
    }
    Ok(arguments)
}

/// `StreamIds`, read only when the array has more than 5 items ("previous clients will send 5
/// items"); an empty list is `None`, as .NET keeps `null` for it.
fn read_stream_ids(rd: &mut &[u8], item_count: u32) -> Result<Option<Vec<String>>> {
    if item_count <= 5 {
        return Ok(None);
    }
    let count = decode::read_array_len(rd)
        .map_err(|_: ValueReadError<_>| ProtocolError::ReadingArrayLength("streamIds"))?;
    let mut ids = Vec::new();
    for _ in 0..count {
        let id =
            required(read_string(rd, "streamIds")?).ok_or(ProtocolError::NullOrEmptyStreamId)?;
        ids.push(id);
    }
    Ok((!ids.is_empty()).then_some(ids))
}

fn read_payload(rd: &mut &[u8], field: &'static str) -> Result<Value> {
    read_value(rd).map_err(|()| ProtocolError::DeserializingFailed(field))
}

/// One MessagePack value of any type, converted to JSON (see the module documentation).
fn read_value(rd: &mut &[u8]) -> std::result::Result<Value, ()> {
    let value = rmpv::decode::read_value_with_max_depth(rd, MAX_DEPTH).map_err(|_| ())?;
    Ok(to_json(&value))
}

/// Converts a MessagePack value to JSON as described in the module documentation.
pub fn to_json(value: &rmpv::Value) -> Value {
    match value {
        rmpv::Value::Nil => Value::Null,
        rmpv::Value::Boolean(b) => Value::Bool(*b),
        rmpv::Value::Integer(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Value::Number(u.into()),
            (None, Some(i)) => Value::Number(i.into()),
            (None, None) => Value::Null,
        },
        rmpv::Value::F32(f) => float(f64::from(*f)),
        rmpv::Value::F64(f) => float(*f),
        rmpv::Value::String(s) => Value::String(utf8_lossy(s)),
        rmpv::Value::Binary(bytes) => Value::String(base64(bytes)),
        rmpv::Value::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        rmpv::Value::Map(pairs) => {
            let mut object = Map::new();
            for (key, value) in pairs {
                let key = match key {
                    rmpv::Value::String(s) => utf8_lossy(s),
                    other => to_json(other).to_string(),
                };
                object.insert(key, to_json(value));
            }
            Value::Object(object)
        }
        rmpv::Value::Ext(-1, data) => match timestamp(data) {
            Some(text) => Value::String(text),
            None => Value::String(base64(data)),
        },
        rmpv::Value::Ext(_, data) => Value::String(base64(data)),
    }
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn utf8_lossy(s: &rmpv::Utf8String) -> String {
    match s.as_str() {
        Some(text) => text.to_owned(),
        None => String::from_utf8_lossy(s.as_bytes()).into_owned(),
    }
}

/// Standard base64 with padding, as .NET's `Convert.ToBase64String`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The MessagePack timestamp extension (32, 64 or 96 bits) as .NET's JSON writes a UTC
/// `DateTime`: `2017-04-11T00:00:00Z`, with up to 7 fractional digits (100 ns ticks) and
/// trailing zeros dropped.
fn timestamp(data: &[u8]) -> Option<String> {
    let (seconds, nanos): (i64, u32) = match data.len() {
        4 => (i64::from(u32::from_be_bytes(data.try_into().ok()?)), 0),
        8 => {
            let n = u64::from_be_bytes(data.try_into().ok()?);
            ((n & 0x3_ffff_ffff) as i64, (n >> 34) as u32)
        }
        12 => (
            i64::from_be_bytes(data[4..].try_into().ok()?),
            u32::from_be_bytes(data[..4].try_into().ok()?),
        ),
        _ => return None,
    };
    if nanos >= 1_000_000_000 {
        return None;
    }
    let days = seconds.div_euclid(86_400);
    let secs_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60
    );
    let ticks = nanos / 100;
    if ticks > 0 {
        let fraction = format!("{ticks:07}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    text.push('Z');
    Some(text)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

const VEC_WRITE: &str = "writing MessagePack to a Vec cannot fail";

fn write_len(out: &mut Vec<u8>, len: usize, array: bool) {
    let len = u32::try_from(len).expect("MessagePack holds at most u32::MAX items");
    if array {
        encode::write_array_len(out, len).expect(VEC_WRITE);
    } else {
        encode::write_map_len(out, len).expect(VEC_WRITE);
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    encode::write_str(out, s).expect(VEC_WRITE);
}

fn write_int(out: &mut Vec<u8>, n: i64) {
    encode::write_sint(out, n).expect(VEC_WRITE);
}

fn write_nil(out: &mut Vec<u8>) {
    encode::write_nil(out).expect(VEC_WRITE);
}

/// Writes a JSON value in MessagePack as MessagePack-CSharp writes the matching .NET value:
/// integers in their most compact format, other numbers as float64, strings as str, objects
/// as maps with string keys.
pub fn write_json_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => write_nil(out),
        Value::Bool(b) => encode::write_bool(out, *b).expect(VEC_WRITE),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                write_int(out, i);
            } else if let Some(u) = n.as_u64() {
                encode::write_uint(out, u).expect(VEC_WRITE);
            } else {
                encode::write_f64(out, n.as_f64().unwrap_or(f64::NAN)).expect(VEC_WRITE);
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            write_len(out, items.len(), true);
            for item in items {
                write_json_value(out, item);
            }
        }
        Value::Object(object) => {
            write_len(out, object.len(), false);
            for (key, item) in object {
                write_str(out, key);
                write_json_value(out, item);
            }
        }
    }
}

fn write_headers(out: &mut Vec<u8>, headers: &BTreeMap<String, String>) {
    write_len(out, headers.len(), false);
    for (key, value) in headers {
        write_str(out, key);
        write_str(out, value);
    }
}

fn write_invocation(
    out: &mut Vec<u8>,
    message_type: i64,
    headers: &Headers,
    invocation_id: Option<&str>,
    target: &str,
    arguments: &[Value],
    stream_ids: Option<&[String]>,
) {
    write_len(out, 6, true);
    write_int(out, message_type);
    write_headers(out, headers);
    match invocation_id {
        Some(id) => write_str(out, id),
        None => write_nil(out),
    }
    write_str(out, target);
    write_len(out, arguments.len(), true);
    for argument in arguments {
        write_json_value(out, argument);
    }
    let stream_ids = stream_ids.unwrap_or_default();
    write_len(out, stream_ids.len(), true);
    for id in stream_ids {
        write_str(out, id);
    }
}

/// `MessagePackHubProtocolWorker.WriteMessageCore`, item by item.
fn write_message(message: &HubMessage, out: &mut Vec<u8>) {
    match message {
        HubMessage::Invocation {
            invocation_id,
            target,
            arguments,
            stream_ids,
            headers,
        } => write_invocation(
            out,
            1,
            headers,
            invocation_id.as_deref().filter(|id| !id.is_empty()),
            target,
            arguments,
            stream_ids.as_deref(),
        ),
        HubMessage::StreamInvocation {
            invocation_id,
            target,
            arguments,
            stream_ids,
            headers,
        } => write_invocation(
            out,
            4,
            headers,
            Some(invocation_id),
            target,
            arguments,
            stream_ids.as_deref(),
        ),
        HubMessage::StreamItem {
            invocation_id,
            item,
            headers,
        } => {
            write_len(out, 4, true);
            write_int(out, 2);
            write_headers(out, headers);
            write_str(out, invocation_id);
            write_json_value(out, item);
        }
        HubMessage::Completion {
            invocation_id,
            result,
            headers,
        } => {
            let kind = match result {
                CompletionResult::Error(_) => ERROR_RESULT,
                CompletionResult::Void => VOID_RESULT,
                CompletionResult::Result(_) => NON_VOID_RESULT,
            };
            write_len(out, if kind == VOID_RESULT { 4 } else { 5 }, true);
            write_int(out, 3);
            write_headers(out, headers);
            write_str(out, invocation_id);
            write_int(out, i64::from(kind));
            match result {
                CompletionResult::Error(error) => write_str(out, error),
                CompletionResult::Result(value) => write_json_value(out, value),
                CompletionResult::Void => {}
            }
        }
        HubMessage::CancelInvocation {
            invocation_id,
            headers,
        } => {
            write_len(out, 3, true);
            write_int(out, 5);
            write_headers(out, headers);
            write_str(out, invocation_id);
        }
        HubMessage::Ping => {
            write_len(out, 1, true);
            write_int(out, 6);
        }
        HubMessage::Close {
            error,
            allow_reconnect,
        } => {
            write_len(out, 3, true);
            write_int(out, 7);
            match error.as_deref().filter(|e| !e.is_empty()) {
                Some(error) => write_str(out, error),
                None => write_nil(out),
            }
            encode::write_bool(out, *allow_reconnect).expect(VEC_WRITE);
        }
        HubMessage::Ack { sequence_id } | HubMessage::Sequence { sequence_id } => {
            write_len(out, 2, true);
            write_int(out, i64::from(message.type_code()));
            write_int(out, *sequence_id);
        }
        HubMessage::Unknown(code) => {
            write_len(out, 1, true);
            write_int(out, i64::from(*code));
        }
    }
}
