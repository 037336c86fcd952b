//! `clientProtocol` and `ProtocolVersion`: .NET's `System.Version`, parsed like
//! `Version.TryParse` and resolved like `Infrastructure/ProtocolResolver.cs` (2.4.3): a
//! parsable client version is clamped to `1.2..=2.0`, anything else answers `1.2`. OnConnected
//! waits for `/start` ("delayed start") from 1.4 on.
//!
//! What the official clients send and get (reference §1.2): the jQuery client 2.4.3 and the
//! .NET client send `2.1` and get `2.0`; `node-signalr`, `signalr-client` and the Python clients
//! send `1.5` and get `1.5`; the jQuery client accepts only `1.5`, `2.0` and `2.1` back.

use std::cmp::Ordering;
use std::fmt;

/// A .NET `Version`: two to four non-negative components. Absent components compare below
/// `0`, as in .NET (`2.0` < `2.0.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProtocolVersion {
    major: u32,
    minor: u32,
    build: Option<u32>,
    revision: Option<u32>,
}

impl ProtocolVersion {
    /// The lowest version a 2.x server speaks (`ProtocolResolver`'s default minimum).
    pub const MIN: ProtocolVersion = ProtocolVersion::new(1, 2);
    /// The highest version a 2.x server speaks (`ProtocolResolver`'s default maximum, 2.4.0+).
    pub const MAX: ProtocolVersion = ProtocolVersion::new(2, 0);
    /// From this version on, OnConnected runs on `/start` (`_minimumDelayedStartVersion`).
    pub const DELAYED_START: ProtocolVersion = ProtocolVersion::new(1, 4);
    /// What the jQuery client 2.4.3 and the .NET client 2.4.3 send.
    pub const CLIENT_2_1: ProtocolVersion = ProtocolVersion::new(2, 1);

    /// `major.minor`.
    pub const fn new(major: u32, minor: u32) -> Self {
        ProtocolVersion {
            major,
            minor,
            build: None,
            revision: None,
        }
    }

    /// `Version.TryParse`: 2 to 4 components separated by `.`, each an `Int32` with optional
    /// surrounding white space and sign (`NumberStyles.Integer`), none negative.
    pub fn parse(text: &str) -> Option<Self> {
        let parts: Vec<&str> = text.split('.').collect();
        if !(2..=4).contains(&parts.len()) {
            return None;
        }
        let mut numbers = [None; 4];
        for (slot, part) in numbers.iter_mut().zip(&parts) {
            *slot = Some(parse_component(part)?);
        }
        Some(ProtocolVersion {
            major: numbers[0]?,
            minor: numbers[1]?,
            build: numbers[2],
            revision: numbers[3],
        })
    }

    /// `ProtocolResolver.Resolve`: the version the server speaks with a client that sent
    /// `client_protocol` (the raw query value, if any), written into the negotiate response.
    pub fn resolve(client_protocol: Option<&str>) -> Self {
        Self::resolve_between(client_protocol, Self::MIN, Self::MAX)
    }

    /// `ProtocolResolver(min, max).Resolve`: a parsable version clamped to `min..=max`,
    /// anything else `min`.
    pub fn resolve_between(client_protocol: Option<&str>, min: Self, max: Self) -> Self {
        match client_protocol.and_then(Self::parse) {
            Some(v) if v > max => max,
            Some(v) if v < min => min,
            Some(v) => v,
            None => min,
        }
    }

    /// `ProtocolResolver.SupportsDelayedStart`: whether OnConnected waits for `/start`.
    pub fn supports_delayed_start(&self) -> bool {
        *self >= Self::DELAYED_START
    }

    /// Whether the jQuery client 2.4.3 accepts this as the negotiate's `ProtocolVersion`
    /// (`supportedProtocols`, compared as strings).
    pub fn accepted_by_jquery_client(text: &str) -> bool {
        matches!(text, "1.5" | "2.0" | "2.1")
    }

    fn key(&self) -> (u32, u32, i64, i64) {
        let rank = |c: Option<u32>| c.map_or(-1, i64::from);
        (
            self.major,
            self.minor,
            rank(self.build),
            rank(self.revision),
        )
    }
}

fn parse_component(part: &str) -> Option<u32> {
    // .NET's white space for number parsing: U+0009..U+000D and U+0020.
    let trimmed = part.trim_matches(|c: char| c == ' ' || ('\t'..='\r').contains(&c));
    let (negative, digits) = match trimmed.as_bytes().first() {
        Some(b'+') => (false, &trimmed[1..]),
        Some(b'-') => (true, &trimmed[1..]),
        _ => (false, trimmed),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i32 = digits.parse().ok()?;
    match (negative, value) {
        (false, v) => u32::try_from(v).ok(),
        (true, 0) => Some(0),
        (true, _) => None,
    }
}

impl PartialOrd for ProtocolVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ProtocolVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl fmt::Display for ProtocolVersion {
    /// `Version.ToString()`: the components that are defined, joined by `.`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if let Some(build) = self.build {
            write!(f, ".{build}")?;
            if let Some(revision) = self.revision {
                write!(f, ".{revision}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resolver_clamps_to_1_2_through_2_0() {
        // Reference §1.2: 2.1 clients (jQuery, .NET 2.4.3) get 2.0; 1.5 clients get 1.5.
        for (sent, answered) in [
            (Some("2.1"), "2.0"),
            (Some("2.0"), "2.0"),
            (Some("1.5"), "1.5"),
            (Some("1.4"), "1.4"),
            (Some("1.3"), "1.3"),
            (Some("1.0"), "1.2"),
            (Some("9.9"), "2.0"),
            (Some("2.0.0"), "2.0"),
            (Some("1.5.0"), "1.5.0"),
            (None, "1.2"),
            (Some(""), "1.2"),
            (Some("2"), "1.2"),
            (Some("two.one"), "1.2"),
            (Some("1.-5"), "1.2"),
            (Some("1.2.3.4.5"), "1.2"),
            (Some(" 1 . 5 "), "1.5"),
            (Some("+1.5"), "1.5"),
            (Some("99999999999.1"), "1.2"),
        ] {
            assert_eq!(
                ProtocolVersion::resolve(sent).to_string(),
                answered,
                "{sent:?}"
            );
        }
    }

    #[test]
    fn the_servers_own_resolver_facts_hold() {
        // SignalR test/Microsoft.AspNet.SignalR.Tests/Server/ProtocolResolverFacts.cs
        // (ProtocolResolvesCorrectly): min, max, clientProtocol, expected.
        for (min, max, sent, expected) in [
            ("1.0", "1.5", ".8", "1.0"),
            ("1.0", "1.5", "1.0", "1.0"),
            ("1.0", "1.5", "1.2.5", "1.2.5"),
            ("1.0", "1.5", "1.5", "1.5"),
            ("1.0", "1.5", "1.9", "1.5"),
            ("1.0", "1.1", "1.0.5", "1.0.5"),
            ("1.0", "1.1", "", "1.0"),
            ("1.2", "2.0", "1.4", "1.4"),
            ("1.2", "1.4", "2.0", "1.4"),
        ] {
            let v = |s| ProtocolVersion::parse(s).unwrap();
            assert_eq!(
                ProtocolVersion::resolve_between(Some(sent), v(min), v(max)),
                v(expected),
                "{min} {max} {sent}"
            );
        }
    }

    #[test]
    fn delayed_start_begins_at_1_4() {
        assert!(!ProtocolVersion::resolve(Some("1.3")).supports_delayed_start());
        assert!(ProtocolVersion::resolve(Some("1.4")).supports_delayed_start());
        assert!(ProtocolVersion::resolve(Some("2.1")).supports_delayed_start());
        assert!(!ProtocolVersion::resolve(None).supports_delayed_start());
    }

    #[test]
    fn undefined_components_sort_first_as_in_dotnet() {
        let v = |s| ProtocolVersion::parse(s).unwrap();
        assert!(v("2.0") < v("2.0.0"));
        assert!(v("2.0.0") < v("2.0.0.0"));
        assert!(v("1.10") > v("1.9"));
        assert_eq!(v("01.05").to_string(), "1.5");
    }

    #[test]
    fn the_jquery_client_accepts_what_the_resolver_gives_it() {
        let answered = ProtocolVersion::resolve(Some("2.1")).to_string();
        assert!(ProtocolVersion::accepted_by_jquery_client(&answered));
        assert!(!ProtocolVersion::accepted_by_jquery_client("1.4"));
    }
}
