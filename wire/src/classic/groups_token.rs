//! The groups token: the signed list of a connection's groups that a classic client carries
//! (`G` in envelopes, `groupsToken` on connect and reconnect) so that a reconnect rejoins them
//! (reference §4).
//!
//! The 2.x server (`Infrastructure/Connection.cs` `PopulateResponseState`,
//! `PersistentConnection.VerifyGroups`) protects the plaintext
//! `connectionId + ":" + JSON(["Hub.group", …])` with the machine-key protector and purpose
//! `SignalR.Groups.v1.1` (`Infrastructure/Purposes.cs`); on a request it unprotects the token,
//! splits at the first `:`, compares the connection id ignoring case, and parses the array. Any
//! failure means no groups, silently.
//!
//! hubspec keeps the plaintext and the purpose and, as the issue decides, signs instead of
//! protecting (reference §4.5):
//!
//! ```text
//! token = base64url(0x01 ‖ payload) "." base64url(HMAC-SHA256(key, "SignalR.Groups.v1.1" ‖ 0x00 ‖ 0x01 ‖ payload))
//! payload = connectionId ":" JSON array of "Hub.group" names (UTF-8)
//! ```
//!
//! base64url without padding, decoded strictly (a changed character always changes the bytes,
//! or fails); the MAC is checked in constant time (`hmac`'s `verify_slice`) before anything in
//! the payload is looked at. Group names are readable by the client (the 2.x token is
//! encrypted too); they are the client's own groups. Connection ids must not contain `:`
//! (Guids do not). Tokens do not expire, as in 2.x: an authentic token of the same connection
//! is honoured whenever it comes back.

use std::collections::BTreeSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use thiserror::Error;

/// The purpose the 2.x server protects groups tokens with, mixed into hubspec's MAC.
pub const PURPOSE: &str = "SignalR.Groups.v1.1";
/// The format byte that starts the signed body.
const FORMAT_V1: u8 = 1;

type HmacSha256 = Hmac<Sha256>;

/// Why a groups token rejoins nothing. The server answers all of these the same way (the
/// connection proceeds with no rejoined groups); the variants are for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenError {
    /// The token is empty (the 2.x server's "no token": no groups, not a failure; see
    /// [`GroupsToken::groups_to_rejoin`]).
    #[error("The groups token is empty.")]
    Empty,
    /// Not two base64url parts separated by `.`, or not canonical base64url.
    #[error("The groups token is not in the expected format.")]
    Malformed,
    /// The body starts with a format byte this version does not know.
    #[error("The groups token has unknown format {0}.")]
    UnknownFormat(u8),
    /// The MAC does not match: altered, truncated, or signed with another key.
    #[error("The groups token's signature does not match.")]
    BadSignature,
    /// The token was issued to another connection.
    #[error("The groups token belongs to another connection.")]
    OtherConnection,
    /// Authentic, but the payload is not `id:["…",…]` (cannot happen with tokens signed by
    /// [`GroupsToken::sign`]).
    #[error("The groups token's payload is malformed.")]
    BadPayload,
}

/// Signs and verifies groups tokens with a per-server key.
#[derive(Debug, Clone, Copy)]
pub struct GroupsToken;

impl GroupsToken {
    /// The token for `groups` (hub-qualified names, `Hub.group`, see [`qualify`]) of
    /// `connection_id`, signed with `key`. An empty list gives a valid token of `id:[]`.
    pub fn sign<S: AsRef<str>>(key: &[u8], connection_id: &str, groups: &[S]) -> String {
        let names: Vec<&str> = groups.iter().map(AsRef::as_ref).collect();
        let json = serde_json::to_string(&names).expect("strings serialize");
        seal(key, PURPOSE, &format!("{connection_id}:{json}"))
    }

    /// The groups in `token` if it is authentic (signed with `key`) and was issued to
    /// `connection_id` (compared ignoring ASCII case, as the server's `OrdinalIgnoreCase`).
    /// Never panics; every failure is a [`TokenError`].
    pub fn verify(key: &[u8], connection_id: &str, token: &str) -> Result<Vec<String>, TokenError> {
        let payload = open(key, PURPOSE, token)?;
        let (owner, json) = payload.split_once(':').unwrap_or((&payload, ""));
        // The owner is checked before the list is read, as `VerifyGroups` does.
        if !owner.eq_ignore_ascii_case(connection_id) {
            return Err(TokenError::OtherConnection);
        }
        parse_groups(json)
    }

    /// The connection id and groups in `token` if it is authentic, whichever connection it
    /// was issued to. Only [`GroupsToken::verify`] is a server's check; this is its first
    /// half, for tests and for a fault that skips the second.
    pub fn open_any_owner(key: &[u8], token: &str) -> Result<(String, Vec<String>), TokenError> {
        let payload = open(key, PURPOSE, token)?;
        let (owner, json) = payload.split_once(':').unwrap_or((&payload, ""));
        Ok((owner.to_owned(), parse_groups(json)?))
    }

    /// `VerifyGroups`: what a request with `token` rejoins. No token (absent or empty) rejoins
    /// nothing without a failure; a bad token rejoins nothing and says why.
    pub fn groups_to_rejoin(
        key: &[u8],
        connection_id: &str,
        token: Option<&str>,
    ) -> (Vec<String>, Option<TokenError>) {
        match token.filter(|t| !t.is_empty()) {
            None => (Vec::new(), None),
            Some(token) => match Self::verify(key, connection_id, token) {
                Ok(groups) => (groups, None),
                Err(e) => (Vec::new(), Some(e)),
            },
        }
    }
}

/// The token payload's group list, a JSON array of strings.
fn parse_groups(json: &str) -> Result<Vec<String>, TokenError> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::String(name) => Ok(name),
                _ => Err(TokenError::BadPayload),
            })
            .collect(),
        _ => Err(TokenError::BadPayload),
    }
}

/// HMAC-SHA256 keyed with `key`, fed with `purpose`, a 0 byte and `body`.
fn mac(key: &[u8], purpose: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(purpose.as_bytes());
    mac.update(&[0]);
    mac.update(body);
    mac
}

/// `base64url(0x01 ‖ payload) "." base64url(MAC(key, purpose ‖ 0x00 ‖ 0x01 ‖ payload))`.
pub(super) fn seal(key: &[u8], purpose: &str, payload: &str) -> String {
    let mut body = Vec::with_capacity(1 + payload.len());
    body.push(FORMAT_V1);
    body.extend_from_slice(payload.as_bytes());
    let tag = mac(key, purpose, &body).finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&body),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

/// The payload of a token [`seal`]ed with `key` and `purpose`: the MAC is checked (in
/// constant time) before the format byte and the payload are looked at.
pub(super) fn open(key: &[u8], purpose: &str, token: &str) -> Result<String, TokenError> {
    if token.is_empty() {
        return Err(TokenError::Empty);
    }
    let (body, tag) = token.split_once('.').ok_or(TokenError::Malformed)?;
    let body = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| TokenError::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| TokenError::Malformed)?;
    mac(key, purpose, &body)
        .verify_slice(&tag)
        .map_err(|_| TokenError::BadSignature)?;
    let (&format, payload) = body.split_first().ok_or(TokenError::Malformed)?;
    if format != FORMAT_V1 {
        return Err(TokenError::UnknownFormat(format));
    }
    String::from_utf8(payload.to_vec()).map_err(|_| TokenError::BadPayload)
}

/// A copy of `token` with one byte of its signed body changed (the last payload byte's lowest
/// bit), still well-formed base64url, so that only the MAC check can refuse it: what a test
/// client presents to check that an altered token rejoins nothing. A text that does not
/// decode gets an `A` appended.
pub fn tamper(token: &str) -> String {
    let altered = token.split_once('.').and_then(|(body, tag)| {
        let mut body = URL_SAFE_NO_PAD.decode(body).ok()?;
        *body.last_mut()? ^= 1;
        Some(format!("{}.{tag}", URL_SAFE_NO_PAD.encode(body)))
    });
    altered.unwrap_or_else(|| format!("{token}A"))
}

/// The name a hub group has in the token: `Hub.group` (`GroupManager.CreateQualifiedName`
/// without the `hg-` topic prefix).
pub fn qualify(hub: &str, group: &str) -> String {
    format!("{hub}.{group}")
}

/// `HubDispatcher.OnRejoiningGroups`' split: for each hub of this request's `connectionData`
/// (in order), the token's groups that start with `Hub.` (ignoring ASCII case), without that
/// prefix. Groups of other hubs are dropped. What is then rejoined is the verification hook's
/// answer for each hub (by default, everything).
pub fn split_by_hub<H: AsRef<str>>(groups: &[String], hubs: &[H]) -> Vec<(String, Vec<String>)> {
    hubs.iter()
        .map(|hub| {
            let prefix = format!("{}.", hub.as_ref());
            let names = groups
                .iter()
                .filter_map(|g| {
                    let head = g.get(..prefix.len())?;
                    head.eq_ignore_ascii_case(&prefix)
                        .then(|| g[prefix.len()..].to_owned())
                })
                .collect();
            (hub.as_ref().to_owned(), names)
        })
        .collect()
}

/// A connection's group set, with the server's rule for when a new token is due
/// (`Infrastructure/DiffSet.cs`, `Connection.PopulateResponseState`): a token goes out on the
/// next envelope only if groups were added or removed since the last one, and adding then
/// removing the same group cancels out. A set seeded by a rejoin has no change pending, so no
/// `G` is sent after a reconnect until the groups change. Names are kept sorted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupSet {
    items: BTreeSet<String>,
    added: BTreeSet<String>,
    removed: BTreeSet<String>,
}

impl GroupSet {
    /// A set holding `groups` (the rejoined ones), with no change pending.
    pub fn new<I: IntoIterator<Item = String>>(groups: I) -> Self {
        GroupSet {
            items: groups.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Adds `group`; false if it was already there.
    pub fn add(&mut self, group: &str) -> bool {
        if !self.items.insert(group.to_owned()) {
            return false;
        }
        if !self.removed.remove(group) {
            self.added.insert(group.to_owned());
        }
        true
    }

    /// Removes `group`; false if it was not there.
    pub fn remove(&mut self, group: &str) -> bool {
        if !self.items.remove(group) {
            return false;
        }
        if !self.added.remove(group) {
            self.removed.insert(group.to_owned());
        }
        true
    }

    /// Whether `group` is in the set.
    pub fn contains(&self, group: &str) -> bool {
        self.items.contains(group)
    }

    /// The groups, sorted.
    pub fn snapshot(&self) -> Vec<String> {
        self.items.iter().cloned().collect()
    }

    /// `DetectChanges`: whether anything changed since the last call, and forget the changes.
    pub fn detect_changes(&mut self) -> bool {
        let any = !self.added.is_empty() || !self.removed.is_empty();
        self.added.clear();
        self.removed.clear();
        any
    }

    /// The `G` for the next envelope: a new token if the set changed since the last call,
    /// else `None`.
    pub fn token_if_changed(&mut self, key: &[u8], connection_id: &str) -> Option<String> {
        self.detect_changes()
            .then(|| GroupsToken::sign(key, connection_id, &self.snapshot()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"hubspec test key, 32 bytes long!";
    const ID: &str = "3f2a5c3e-8d1b-4c0f-9f7e-2a6b1d4e5f60";

    #[test]
    fn a_token_round_trips() {
        let groups = ["ChatHub.g1", "ChatHub.room 2", "Other.é|,:\"x"];
        let token = GroupsToken::sign(KEY, ID, &groups);
        assert_eq!(
            GroupsToken::verify(KEY, ID, &token),
            Ok(groups.map(String::from).to_vec())
        );
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "URL-safe: {token}"
        );
    }

    #[test]
    fn an_empty_set_is_a_token_too() {
        let token = GroupsToken::sign::<&str>(KEY, ID, &[]);
        assert_eq!(GroupsToken::verify(KEY, ID, &token), Ok(vec![]));
    }

    #[test]
    fn the_connection_id_is_compared_ignoring_case() {
        let token = GroupsToken::sign(KEY, ID, &["H.g"]);
        assert_eq!(
            GroupsToken::verify(KEY, &ID.to_uppercase(), &token),
            Ok(vec!["H.g".to_string()])
        );
    }

    #[test]
    fn any_altered_character_is_refused() {
        let token = GroupsToken::sign(KEY, ID, &["ChatHub.g1"]);
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/%";
        for (i, original) in token.char_indices() {
            for replacement in alphabet.chars().filter(|c| *c != original) {
                let mut altered = token.clone();
                altered.replace_range(i..i + 1, &replacement.to_string());
                assert!(
                    GroupsToken::verify(KEY, ID, &altered).is_err(),
                    "position {i}: {original} -> {replacement}"
                );
            }
        }
        // Truncated, extended, emptied, or cut at the dot.
        for altered in [
            &token[..token.len() - 1],
            &format!("{token}A"),
            "",
            token.split('.').next().unwrap(),
            ".",
        ] {
            assert!(
                GroupsToken::verify(KEY, ID, altered).is_err(),
                "{altered:?}"
            );
        }
    }

    #[test]
    fn any_altered_byte_of_the_signed_body_or_mac_is_refused() {
        let token = GroupsToken::sign(KEY, ID, &["ChatHub.g1"]);
        let (body, tag) = token.split_once('.').unwrap();
        let (body, tag) = (
            URL_SAFE_NO_PAD.decode(body).unwrap(),
            URL_SAFE_NO_PAD.decode(tag).unwrap(),
        );
        for (part, bytes) in [(0, &body), (1, &tag)] {
            for i in 0..bytes.len() {
                for flip in [0x01u8, 0x80, 0xFF] {
                    let mut altered = bytes.clone();
                    altered[i] ^= flip;
                    let (b, t) = if part == 0 {
                        (&altered, &tag)
                    } else {
                        (&body, &altered)
                    };
                    let altered = format!(
                        "{}.{}",
                        URL_SAFE_NO_PAD.encode(b),
                        URL_SAFE_NO_PAD.encode(t)
                    );
                    assert_eq!(
                        GroupsToken::verify(KEY, ID, &altered),
                        Err(TokenError::BadSignature),
                        "part {part}, byte {i}, flip {flip:#x}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_tampered_token_fails_only_the_mac() {
        let token = GroupsToken::sign(KEY, ID, &["ChatHub.g1"]);
        let altered = tamper(&token);
        assert_ne!(altered, token);
        assert_eq!(
            GroupsToken::verify(KEY, ID, &altered),
            Err(TokenError::BadSignature)
        );
        assert_eq!(tamper("x"), "xA");
        assert_eq!(tamper(".AA"), ".AAA");
    }

    #[test]
    fn a_token_of_another_connection_or_key_is_refused() {
        let token = GroupsToken::sign(KEY, "another-connection", &["ChatHub.g1"]);
        assert_eq!(
            GroupsToken::verify(KEY, ID, &token),
            Err(TokenError::OtherConnection)
        );
        let token = GroupsToken::sign(b"another key", ID, &["ChatHub.g1"]);
        assert_eq!(
            GroupsToken::verify(KEY, ID, &token),
            Err(TokenError::BadSignature)
        );
        // A connection id that is a prefix of the owner's is still another connection.
        let token = GroupsToken::sign(KEY, &format!("{ID}x"), &["g"]);
        assert_eq!(
            GroupsToken::verify(KEY, ID, &token),
            Err(TokenError::OtherConnection)
        );
    }

    #[test]
    fn open_any_owner_checks_the_signature_but_not_the_owner() {
        let token = GroupsToken::sign(KEY, ID, &["Hub.a"]);
        assert_eq!(
            GroupsToken::open_any_owner(KEY, &token),
            Ok((ID.to_owned(), vec!["Hub.a".to_owned()]))
        );
        assert_eq!(
            GroupsToken::verify(KEY, "another-id", &token),
            Err(TokenError::OtherConnection)
        );
        assert_eq!(
            GroupsToken::open_any_owner(b"another key", &token),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn each_failure_has_its_error() {
        // Authentic bodies that are not what sign() writes.
        let forge = |body: &[u8]| {
            let tag = mac(KEY, PURPOSE, body).finalize().into_bytes();
            format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(body),
                URL_SAFE_NO_PAD.encode(tag)
            )
        };
        let cases: [(&[u8], TokenError); 6] = [
            (b"\x02id:[]", TokenError::UnknownFormat(2)),
            (b"", TokenError::Malformed),
            (b"\x01no-colon", TokenError::OtherConnection),
            (b"\x01id:{}", TokenError::BadPayload),
            (b"\x01id:[1]", TokenError::BadPayload),
            (b"\x01id:\xff", TokenError::BadPayload),
        ];
        for (body, expected) in cases {
            assert_eq!(
                GroupsToken::verify(KEY, "id", &forge(body)),
                Err(expected),
                "{body:?}"
            );
        }
        assert_eq!(
            GroupsToken::verify(KEY, "id", &forge(b"\x01id:")),
            Err(TokenError::BadPayload)
        );
        assert_eq!(
            GroupsToken::verify(KEY, "id", "a.b="),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            GroupsToken::verify(KEY, "id", "!!.AA"),
            Err(TokenError::Malformed)
        );
        assert_eq!(GroupsToken::verify(KEY, "id", ""), Err(TokenError::Empty));
    }

    #[test]
    fn no_token_rejoins_nothing_without_a_failure() {
        assert_eq!(GroupsToken::groups_to_rejoin(KEY, ID, None), (vec![], None));
        assert_eq!(
            GroupsToken::groups_to_rejoin(KEY, ID, Some("")),
            (vec![], None)
        );
        assert_eq!(
            GroupsToken::groups_to_rejoin(KEY, ID, Some("garbage")),
            (vec![], Some(TokenError::Malformed))
        );
        let token = GroupsToken::sign(KEY, ID, &["H.g"]);
        assert_eq!(
            GroupsToken::groups_to_rejoin(KEY, ID, Some(&token)),
            (vec!["H.g".to_string()], None)
        );
    }

    #[test]
    fn rejoin_splits_by_the_requests_hubs() {
        // HubFacts.RejoiningGroupsOnlyReceivesGroupsBelongingToHub (reference §4.4): each hub
        // sees only its own groups; hubs absent from connectionData lose theirs.
        let groups: Vec<String> = [
            "ChatHub.g1",
            "chathub.g2",
            "Other.g3",
            "ChatHubX.g4",
            "ChatHub.",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            split_by_hub(&groups, &["ChatHub"]),
            vec![(
                "ChatHub".to_string(),
                vec!["g1".to_string(), "g2".to_string(), String::new()]
            )]
        );
        assert_eq!(
            split_by_hub(&groups, &["Third"]),
            vec![("Third".to_string(), vec![])]
        );
        assert_eq!(qualify("ChatHub", "room.1"), "ChatHub.room.1");
        assert_eq!(
            split_by_hub(&[qualify("ChatHub", "room.1")], &["ChatHub"])[0].1,
            ["room.1"]
        );
    }

    #[test]
    fn the_servers_diff_set_facts_hold() {
        // SignalR test/Microsoft.AspNet.SignalR.Tests/Server/DiffSetFacts.cs, restated: a seed,
        // operations (+ add, - remove), whether DetectChanges reports a change, the snapshot.
        let set = |items: &[&str]| GroupSet::new(items.iter().map(|s| s.to_string()));
        type Case<'a> = (&'a [&'a str], &'a [(char, &'a str)], bool, &'a [&'a str]);
        let cases: [Case; 6] = [
            (
                &["0", "10", "20"],
                &[('+', "0"), ('+', "10"), ('+', "20")],
                false,
                &["0", "10", "20"],
            ),
            (
                &["0", "10", "20"],
                &[('+', "50"), ('+', "10"), ('+', "30"), ('-', "10")],
                true,
                &["0", "20", "30", "50"],
            ),
            (&[], &[('+', "1"), ('-', "1")], false, &[]),
            (&["1"], &[('-', "1"), ('+', "1")], false, &["1"]),
            (&[], &[('+', "1"), ('-', "1"), ('+', "5")], true, &["5"]),
            (&["1"], &[('-', "1")], true, &[]),
        ];
        for (seed, ops, changed, after) in cases {
            let mut groups = set(seed);
            for (op, item) in ops {
                if *op == '+' {
                    groups.add(item);
                } else {
                    groups.remove(item);
                }
            }
            assert_eq!(groups.detect_changes(), changed, "{seed:?} {ops:?}");
            assert_eq!(groups.snapshot(), after, "{seed:?} {ops:?}");
            assert!(
                !groups.detect_changes(),
                "changes are forgotten once detected"
            );
        }
    }

    #[test]
    fn a_token_is_due_only_when_the_set_changed() {
        let mut set = GroupSet::new(vec!["H.a".to_string()]);
        assert_eq!(
            set.token_if_changed(KEY, ID),
            None,
            "a rejoined set sends no G"
        );
        assert!(set.add("H.b"));
        assert!(!set.add("H.b"));
        let token = set.token_if_changed(KEY, ID).expect("changed");
        assert_eq!(
            GroupsToken::verify(KEY, ID, &token),
            Ok(vec!["H.a".into(), "H.b".into()])
        );
        assert_eq!(set.token_if_changed(KEY, ID), None);
        assert!(
            set.add("H.c") && set.remove("H.c"),
            "add then remove cancels out"
        );
        assert!(!set.detect_changes());
        assert!(!set.remove("H.zz"));
        assert!(set.remove("H.a") && set.remove("H.b"));
        let token = set.token_if_changed(KEY, ID).expect("emptied");
        assert_eq!(GroupsToken::verify(KEY, ID, &token), Ok(vec![]));
        assert!(!set.contains("H.a"));
    }
}
