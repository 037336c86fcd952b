//! Record framing: every JSON message, handshake frames included, ends with the ASCII record
//! separator 0x1E.
//!
//! The transport's frames and the protocol's records are independent: one WebSocket frame may
//! hold several records, and one record may span frames. [`RecordReader`] turns arbitrary
//! chunks back into records. It bounds its buffer the way ASP.NET Core's
//! `MaximumReceiveMessageSize` does, so a peer cannot make it grow without limit.

use crate::error::{ProtocolError, Result};

/// The byte that ends every record.
pub const RECORD_SEPARATOR: u8 = 0x1E;

/// [`RECORD_SEPARATOR`] as a `char`, for string building.
pub const RECORD_SEPARATOR_CHAR: char = '\u{1e}';

/// ASP.NET Core's default `HubOptions.MaximumReceiveMessageSize`: 32 KiB.
pub const DEFAULT_MAX_RECORD_SIZE: usize = 32 * 1024;

/// Appends the record separator to one JSON text, giving the bytes to put on the wire.
pub fn encode(record: &str) -> String {
    let mut framed = String::with_capacity(record.len() + 1);
    framed.push_str(record);
    framed.push(RECORD_SEPARATOR_CHAR);
    framed
}

/// Reassembles records from chunks of any size.
///
/// Size rule (the one `HubConnectionHandler` applies): a record *and its separator* must fit
/// in `max_record_size` bytes, so the longest accepted record is `max_record_size - 1` bytes.
/// As in .NET, the error is raised as soon as more than `max_record_size` bytes are buffered
/// with no separator among the first `max_record_size` of them.
#[derive(Debug, Clone)]
pub struct RecordReader {
    buffer: Vec<u8>,
    /// Bytes at the front of `buffer` already searched without finding a separator.
    scanned: usize,
    max_record_size: Option<usize>,
}

impl Default for RecordReader {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordReader {
    /// A reader with the default 32 KiB limit.
    pub fn new() -> Self {
        Self::with_max_record_size(DEFAULT_MAX_RECORD_SIZE)
    }

    /// A reader whose records plus separator may be at most `max_record_size` bytes.
    pub fn with_max_record_size(max_record_size: usize) -> Self {
        Self {
            buffer: Vec::new(),
            scanned: 0,
            max_record_size: Some(max_record_size),
        }
    }

    /// A reader without a size limit (ASP.NET Core's `MaximumReceiveMessageSize = null`).
    pub fn unlimited() -> Self {
        Self {
            buffer: Vec::new(),
            scanned: 0,
            max_record_size: None,
        }
    }

    /// Appends a chunk as received from the transport. Nothing is parsed yet.
    pub fn push(&mut self, chunk: impl AsRef<[u8]>) {
        self.buffer.extend_from_slice(chunk.as_ref());
    }

    /// Takes the next complete record (without its separator), if one is buffered.
    ///
    /// Call it in a loop after each [`push`](Self::push) until it returns `Ok(None)`. Records
    /// before an oversized one are returned first, as .NET dispatches them first. After
    /// [`ProtocolError::RecordTooLarge`] the reader stays failed: the connection must close.
    /// [`ProtocolError::InvalidUtf8`] consumes the bad record, so reading may go on.
    pub fn next_record(&mut self) -> Result<Option<String>> {
        let window = match self.max_record_size {
            Some(max) => self.buffer.len().min(max),
            None => self.buffer.len(),
        };
        let start = self.scanned.min(window);
        let found = self.buffer[start..window]
            .iter()
            .position(|&b| b == RECORD_SEPARATOR)
            .map(|i| start + i);
        match found {
            Some(end) => {
                let mut record: Vec<u8> = self.buffer.drain(..=end).collect();
                record.pop();
                self.scanned = 0;
                String::from_utf8(record)
                    .map(Some)
                    .map_err(|_| ProtocolError::InvalidUtf8)
            }
            None => {
                self.scanned = window;
                match self.max_record_size {
                    Some(limit) if self.buffer.len() > limit => {
                        Err(ProtocolError::RecordTooLarge { limit })
                    }
                    _ => Ok(None),
                }
            }
        }
    }

    /// Pushes `chunk` and returns every record now complete.
    ///
    /// On an error the good records that came before it in this call are lost; use
    /// [`push`](Self::push) and [`next_record`](Self::next_record) when they matter.
    pub fn feed(&mut self, chunk: impl AsRef<[u8]>) -> Result<Vec<String>> {
        self.push(chunk);
        let mut records = Vec::new();
        while let Some(record) = self.next_record()? {
            records.push(record);
        }
        Ok(records)
    }

    /// Bytes received but not yet returned as a record.
    pub fn pending_len(&self) -> usize {
        self.buffer.len()
    }

    /// Takes every byte received but not yet returned, leaving the reader empty. After a
    /// MessagePack handshake record, the rest of the frame already belongs to the binary
    /// protocol: hand it to a [`crate::FrameReader`].
    pub fn take_remaining(&mut self) -> Vec<u8> {
        self.scanned = 0;
        std::mem::take(&mut self.buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encode_appends_exactly_one_separator() {
        assert_eq!(encode("{}"), "{}\u{1e}");
        assert_eq!(encode(""), "\u{1e}");
    }

    #[test]
    fn a_record_split_across_chunks_is_returned_once_complete() {
        let mut reader = RecordReader::new();
        assert_eq!(
            reader.feed(b"{\"protocol\":\"js").unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            reader.feed(b"on\",\"version\":1}").unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            reader.feed([RECORD_SEPARATOR]).unwrap(),
            vec![r#"{"protocol":"json","version":1}"#]
        );
        assert_eq!(reader.pending_len(), 0);
    }

    #[test]
    fn several_records_in_one_chunk_are_all_returned_in_order() {
        let mut reader = RecordReader::new();
        let records = reader
            .feed("{\"protocol\":\"json\",\"version\":1}\u{1e}{\"type\":6}\u{1e}{\"ty")
            .unwrap();
        assert_eq!(
            records,
            vec![r#"{"protocol":"json","version":1}"#, r#"{"type":6}"#]
        );
        assert_eq!(reader.pending_len(), 4);
        assert_eq!(reader.feed("pe\":7}\u{1e}").unwrap(), vec![r#"{"type":7}"#]);
    }

    #[test]
    fn bytes_after_the_handshake_record_can_be_taken_for_the_binary_protocol() {
        let mut reader = RecordReader::new();
        reader.push(b"{}\x1e\x02\x91\x06");
        assert_eq!(reader.next_record(), Ok(Some("{}".to_string())));
        assert_eq!(reader.take_remaining(), vec![0x02, 0x91, 0x06]);
        assert_eq!(reader.pending_len(), 0);
        assert_eq!(reader.next_record(), Ok(None));
    }

    #[test]
    fn empty_records_are_returned_as_empty_strings() {
        let mut reader = RecordReader::new();
        assert_eq!(reader.feed("\u{1e}\u{1e}").unwrap(), vec!["", ""]);
    }

    #[test]
    fn a_record_one_byte_shorter_than_the_limit_is_accepted() {
        let mut reader = RecordReader::with_max_record_size(8);
        assert_eq!(reader.feed("1234567\u{1e}").unwrap(), vec!["1234567"]);
    }

    #[test]
    fn a_record_as_long_as_the_limit_is_rejected_because_its_separator_does_not_fit() {
        let mut reader = RecordReader::with_max_record_size(8);
        let err = reader.feed("12345678\u{1e}").unwrap_err();
        assert_eq!(err, ProtocolError::RecordTooLarge { limit: 8 });
        assert_eq!(
            err.to_string(),
            "The maximum message size of 8B was exceeded. The message size can be configured in AddHubOptions."
        );
    }

    #[test]
    fn an_unterminated_record_fails_once_the_buffer_exceeds_the_limit() {
        let mut reader = RecordReader::with_max_record_size(8);
        assert_eq!(reader.feed("12345678").unwrap(), Vec::<String>::new());
        assert_eq!(
            reader.feed("9"),
            Err(ProtocolError::RecordTooLarge { limit: 8 })
        );
        assert_eq!(
            reader.next_record(),
            Err(ProtocolError::RecordTooLarge { limit: 8 }),
            "the reader stays failed"
        );
    }

    #[test]
    fn records_before_an_oversized_one_are_still_delivered() {
        let mut reader = RecordReader::with_max_record_size(8);
        reader.push("ok\u{1e}123456789012\u{1e}");
        assert_eq!(reader.next_record(), Ok(Some("ok".to_string())));
        assert_eq!(
            reader.next_record(),
            Err(ProtocolError::RecordTooLarge { limit: 8 })
        );
    }

    #[test]
    fn the_default_limit_is_32_kib() {
        let mut reader = RecordReader::new();
        let fits = "x".repeat(DEFAULT_MAX_RECORD_SIZE - 1);
        assert_eq!(reader.feed(encode(&fits)).unwrap(), vec![fits]);
        let too_big = "x".repeat(DEFAULT_MAX_RECORD_SIZE);
        assert!(reader.feed(encode(&too_big)).is_err());
    }

    #[test]
    fn an_unlimited_reader_accepts_any_size() {
        let mut reader = RecordReader::unlimited();
        let big = "x".repeat(DEFAULT_MAX_RECORD_SIZE * 3);
        assert_eq!(reader.feed(encode(&big)).unwrap(), vec![big]);
    }

    #[test]
    fn invalid_utf8_fails_that_record_only() {
        let mut reader = RecordReader::new();
        reader.push(b"\xc3\x28\x1eok\x1e");
        assert_eq!(reader.next_record(), Err(ProtocolError::InvalidUtf8));
        assert_eq!(reader.next_record(), Ok(Some("ok".to_string())));
    }

    #[test]
    fn a_multibyte_character_split_between_chunks_is_reassembled() {
        let mut reader = RecordReader::new();
        let bytes = encode("héllo").into_bytes();
        assert!(reader.feed(&bytes[..2]).unwrap().is_empty());
        assert_eq!(reader.feed(&bytes[2..]).unwrap(), vec!["héllo"]);
    }

    proptest! {
        #[test]
        fn any_split_of_concatenated_records_yields_the_same_records(
            records in proptest::collection::vec("[^\u{1e}]{0,40}", 0..8),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
        ) {
            let wire: Vec<u8> = records.iter().flat_map(|r| encode(r).into_bytes()).collect();
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
            points.push(0);
            points.push(wire.len());
            points.sort_unstable();
            let mut reader = RecordReader::new();
            let mut got = Vec::new();
            for pair in points.windows(2) {
                got.extend(reader.feed(&wire[pair[0]..pair[1]]).unwrap());
            }
            prop_assert_eq!(got, records);
            prop_assert_eq!(reader.pending_len(), 0);
        }
    }
}
