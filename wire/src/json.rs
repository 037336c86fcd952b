//! Private JSON helpers shared by the message, handshake and negotiate codecs: a writer that
//! escapes like System.Text.Json, and property readers with .NET's type rules and messages.

use std::io;

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};
use serde_json::{Map, Value};

use crate::error::{ProtocolError, Result};

/// serde_json's compact formatter, except that control characters are written as `\u001E`
/// (upper-case hex) the way System.Text.Json writes them, instead of `\u001e`.
struct DotNetFormatter;

impl Formatter for DotNetFormatter {
    fn write_char_escape<W>(&mut self, writer: &mut W, char_escape: CharEscape) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let bytes: &[u8] = match char_escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"\\/",
            CharEscape::Backspace => b"\\b",
            CharEscape::FormFeed => b"\\f",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(byte) => {
                let hex = [
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(byte >> 4)],
                    HEX[usize::from(byte & 0xF)],
                ];
                return writer.write_all(&hex);
            }
        };
        writer.write_all(bytes)
    }
}

/// Compact JSON with .NET-style escapes. Serializing our own types cannot fail.
pub(crate) fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::with_capacity(64);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, DotNetFormatter);
    value
        .serialize(&mut ser)
        .expect("serializing plain data to a Vec cannot fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Parses `text` and insists on an object, with .NET's messages for both failures.
pub(crate) fn parse_object(text: &str) -> Result<Map<String, Value>> {
    let value: Value = serde_json::from_str(text).map_err(|e| ProtocolError::InvalidJson {
        detail: e.to_string(),
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(ProtocolError::NotAnObject {
            found: token_name(&other),
        }),
    }
}

/// The name .NET gives the first token of `value` in its error messages.
pub(crate) fn token_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "Null",
        Value::Bool(true) => "True",
        Value::Bool(false) => "False",
        Value::Number(_) => "Number",
        Value::String(_) => "String",
        Value::Array(_) => "Array",
        Value::Object(_) => "Object",
    }
}

/// `ReadAsString`: absent is `None`; anything but a string (`null` included) is an error.
pub(crate) fn read_string(map: &Map<String, Value>, name: &'static str) -> Result<Option<String>> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ProtocolError::WrongType {
            property: name,
            expected: "String",
        }),
    }
}

/// `ReadAsInt32`: absent or `null` is `None`; a non-number or a non-Int32 number is an error.
pub(crate) fn read_i32(map: &Map<String, Value>, name: &'static str) -> Result<Option<i32>> {
    read_integer(map, name, "Int32")?
        .map(|n| i32::try_from(n).map_err(|_| ProtocolError::NumberOutOfRange("Int32")))
        .transpose()
}

/// `ReadAsInt64`: as [`read_i32`] for 64-bit values.
pub(crate) fn read_i64(map: &Map<String, Value>, name: &'static str) -> Result<Option<i64>> {
    read_integer(map, name, "Int64")
}

fn read_integer(
    map: &Map<String, Value>,
    name: &'static str,
    dotnet_type: &'static str,
) -> Result<Option<i64>> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or(ProtocolError::NumberOutOfRange(dotnet_type)),
        Some(_) => Err(ProtocolError::WrongType {
            property: name,
            expected: "Number",
        }),
    }
}

/// `ReadAsBoolean`: absent is `None`; anything but `true`/`false` is an error.
pub(crate) fn read_bool(map: &Map<String, Value>, name: &'static str) -> Result<Option<bool>> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ProtocolError::NotABoolean(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_with_upper_case_hex_like_system_text_json() {
        let s = to_string(&"a\u{1e}b\n\"\\\u{7}");
        assert_eq!(s, "\"a\\u001Eb\\n\\\"\\\\\\u0007\"");
    }

    #[test]
    fn non_ascii_text_is_written_unescaped_like_the_relaxed_encoder() {
        assert_eq!(to_string(&"héllo <&>"), "\"héllo <&>\"");
    }

    #[test]
    fn a_non_object_is_reported_with_the_dotnet_token_name() {
        let err = parse_object("[1]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unexpected JSON Token Type 'Array'. Expected a JSON Object."
        );
        assert_eq!(
            parse_object("false").unwrap_err(),
            ProtocolError::NotAnObject { found: "False" }
        );
    }

    #[test]
    fn invalid_json_is_reported_as_error_reading_json() {
        let err = parse_object("{\"type\":").unwrap_err();
        assert_eq!(err.to_string(), "Error reading JSON.");
    }

    #[test]
    fn integers_follow_dotnet_ranges() {
        let map = parse_object(r#"{"a":1,"b":4294967296,"c":1.5,"d":"1","e":null}"#).unwrap();
        assert_eq!(read_i32(&map, "a"), Ok(Some(1)));
        assert_eq!(
            read_i32(&map, "b"),
            Err(ProtocolError::NumberOutOfRange("Int32"))
        );
        assert_eq!(read_i64(&map, "b"), Ok(Some(4_294_967_296)));
        assert_eq!(
            read_i64(&map, "c"),
            Err(ProtocolError::NumberOutOfRange("Int64"))
        );
        assert_eq!(
            read_i32(&map, "d").unwrap_err().to_string(),
            "Expected 'd' to be of type Number."
        );
        assert_eq!(read_i32(&map, "e"), Ok(None));
        assert_eq!(read_i32(&map, "missing"), Ok(None));
    }
}
