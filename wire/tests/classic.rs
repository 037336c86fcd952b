//! The classic protocol end to end, sans I/O: a scripted server and client built only from
//! `hubspec_wire::classic`, through negotiate, connect, start, a group join, a dropped socket,
//! a reconnect with the groups token and cursor (the missed message arrives once), and the
//! bad-token cases; then properties over arbitrary input (nothing panics, what is written is
//! read back).
//!
//! The flow is the one the official jQuery client 2.4.3 was observed to run against a classic
//! server (`../shared/reference/classic-protocol.md` §1.4, §5.4, §7).

use hubspec_wire::classic::negotiate::START_RESPONSE;
use hubspec_wire::classic::query::{encode_uri_component, parse_connection_data};
use hubspec_wire::classic::replay::DEFAULT_CAPACITY;
use hubspec_wire::classic::{
    groups_token::qualify, split_by_hub, tamper, ClassicQuery, ClientHubInvocation, ClientState,
    ClientUrls, ConnectionToken, Envelope, GroupSet, GroupsToken, HubInvocation, HubResponse,
    NegotiateResponse, ProtocolVersion, ReplayBuffer, RequestKind, ServerFrame, ServerHubMessage,
    ServerTimeouts, TokenError, Transport,
};
use proptest::prelude::*;
use serde_json::json;

const KEY: &[u8] = b"refhub's per-server key for tests";
const HUB: &str = "ChatHub";

/// The server side of one classic connection, as refhub would hold it.
struct Server {
    connection_id: String,
    groups: GroupSet,
    log: ReplayBuffer<String>,
}

/// What the server makes of a `/connect` or `/reconnect` URL.
struct Accepted {
    kind: RequestKind,
    rejoined: Vec<String>,
    token_failure: Option<TokenError>,
    frames: Vec<String>,
}

impl Server {
    fn negotiate(&mut self, url: &str) -> String {
        let (path, query) = url.split_once('?').unwrap();
        let path = path.trim_start_matches("http://127.0.0.1:5000");
        assert_eq!(
            RequestKind::split(path),
            Some(("/signalr", RequestKind::Negotiate))
        );
        let query = ClassicQuery::parse(query);
        assert_eq!(query.hubs().unwrap(), ["chathub"]);
        let token = ConnectionToken::sign(KEY, &self.connection_id, "");
        NegotiateResponse::new(
            path,
            self.connection_id.clone(),
            token,
            query.client_protocol().as_deref(),
            &ServerTimeouts::default(),
        )
        .to_json()
    }

    fn accept(&mut self, url: &str) -> Accepted {
        let (path, query) = url.split_once('?').unwrap();
        let (_, kind) = RequestKind::split(path).unwrap();
        let query = ClassicQuery::parse(query);
        assert_eq!(query.transport(), Ok(Transport::WebSockets));
        let token = query.connection_token().unwrap();
        let id = ConnectionToken::verify(KEY, &token, "").unwrap();
        assert_eq!(id, self.connection_id);
        // Hub names resolve case-insensitively to the server's name.
        let hubs: Vec<&str> = query
            .hubs()
            .unwrap()
            .iter()
            .map(|h| {
                assert!(h.eq_ignore_ascii_case(HUB));
                HUB
            })
            .collect();
        let (groups, token_failure) =
            GroupsToken::groups_to_rejoin(KEY, &id, query.groups_token().as_deref());
        let rejoined: Vec<String> = split_by_hub(&groups, &hubs)
            .into_iter()
            .flat_map(|(hub, names)| names.into_iter().map(move |g| qualify(&hub, &g)))
            .collect();
        self.groups = GroupSet::new(rejoined.clone());
        let frames = match kind {
            RequestKind::Connect => vec![Envelope::init(self.log.cursor()).to_json()],
            RequestKind::Reconnect => {
                let replay = self
                    .log
                    .replay(query.message_id().as_deref())
                    .unwrap_or_else(|_| self.log.nothing());
                assert_eq!(replay.missed, 0);
                if replay.items.is_empty() {
                    vec![]
                } else {
                    vec![Envelope::with_messages(replay.cursor, replay.items).to_json()]
                }
            }
            other => panic!("not a transport request: {other:?}"),
        };
        Accepted {
            kind,
            rejoined,
            token_failure,
            frames,
        }
    }

    /// A client invocation: `join(group)` adds to the group; the reply goes out bare, the new
    /// token on the next envelope.
    fn receive(&mut self, frame: &str) -> Vec<String> {
        let call = HubInvocation::parse(frame).unwrap();
        assert!(call.hub.eq_ignore_ascii_case(HUB));
        let id = call.id.clone().unwrap();
        match call.method.to_ascii_lowercase().as_str() {
            "join" => {
                let group = call.args[0].as_str().unwrap();
                self.groups.add(&qualify(HUB, group));
                let mut envelope = Envelope::with_messages(self.log.cursor(), vec![]);
                envelope.groups_token = self.groups.token_if_changed(KEY, &self.connection_id);
                vec![HubResponse::result(id, None).to_json(), envelope.to_json()]
            }
            _ => vec![HubResponse::generic_error(id, &call.hub, &call.method).to_json()],
        }
    }

    /// A message to a group the connection is in: logged, and sent if the socket is up.
    fn send_to_group(&mut self, group: &str, text: &str) -> String {
        assert!(self.groups.contains(&qualify(HUB, group)));
        let message = ClientHubInvocation::new(HUB, "addMessage", vec![json!(text)]).to_json();
        let cursor = self.log.push(message.clone());
        Envelope::with_messages(cursor, vec![message]).to_json()
    }
}

/// The client side: what it keeps, and the messages its handlers got.
#[derive(Default)]
struct Client {
    state: ClientState,
    received: Vec<String>,
    initialized: bool,
}

impl Client {
    fn take(&mut self, frame: &str) {
        let frame = ServerFrame::parse(frame).unwrap();
        self.state.apply(&frame);
        if let ServerFrame::Envelope(envelope) = &frame {
            self.initialized |= envelope.initialized && envelope.messages.is_some();
            for message in envelope.hub_messages().unwrap() {
                if let ServerHubMessage::Invocation(call) = message {
                    self.received
                        .push(call.args[0].as_str().unwrap().to_owned());
                }
            }
        }
    }
}

#[test]
fn a_reconnect_rejoins_the_tokens_groups_and_replays_the_missed_message_once() {
    let mut server = Server {
        connection_id: "3f2a5c3e-8d1b-4c0f-9f7e-2a6b1d4e5f60".into(),
        groups: GroupSet::default(),
        log: ReplayBuffer::new("8F1AB453", DEFAULT_CAPACITY),
    };
    let mut urls = ClientUrls::new("http://127.0.0.1:5000/signalr", &[HUB]);
    let mut client = Client::default();

    // negotiate: the jQuery client (2.1) gets 2.0, which it accepts.
    let body = server.negotiate(&urls.negotiate());
    let negotiated = NegotiateResponse::parse(&body).unwrap();
    assert_eq!(negotiated.url, "/signalr");
    assert!(ProtocolVersion::accepted_by_jquery_client(
        &negotiated.protocol_version
    ));
    urls.connection_token = Some(negotiated.connection_token);

    // connect: S:1, then /start.
    let accepted = server.accept(&urls.connect(client.state.groups_token.as_deref(), 4));
    assert_eq!(
        (accepted.kind, accepted.token_failure),
        (RequestKind::Connect, None)
    );
    for frame in &accepted.frames {
        client.take(frame);
    }
    assert!(client.initialized);
    assert!(urls
        .start()
        .contains("/signalr/start?transport=webSockets&clientProtocol=2.1"));
    assert_eq!(
        hubspec_wire::classic::negotiate::parse_response_word(START_RESPONSE).as_deref(),
        Ok("started")
    );

    // join g1: a bare result, then an envelope with the token.
    let replies =
        server.receive(&HubInvocation::new("chathub", "join", vec![json!("g1")], 0).to_json());
    assert_eq!(replies[0], r#"{"I":"0"}"#);
    for frame in &replies {
        client.take(frame);
    }
    let token = client
        .state
        .groups_token
        .clone()
        .expect("a G after the join");
    assert_eq!(
        GroupsToken::verify(KEY, &server.connection_id, &token),
        Ok(vec!["ChatHub.g1".into()])
    );

    client.take(&server.send_to_group("g1", "before"));
    // The socket drops; a message to g1 arrives while the client is away.
    let _lost_frame = server.send_to_group("g1", "while away");

    // reconnect with the token and cursor: same id, g1 rejoined, the missed message replayed.
    let url = urls.reconnect(
        client.state.groups_token.as_deref(),
        client.state.message_id.as_deref(),
        7,
    );
    assert!(url.contains("/signalr/reconnect?transport=webSockets&groupsToken="));
    let accepted = server.accept(&url);
    assert_eq!(accepted.kind, RequestKind::Reconnect);
    assert_eq!(
        (accepted.rejoined.as_slice(), accepted.token_failure),
        (&["ChatHub.g1".to_string()][..], None)
    );
    for frame in &accepted.frames {
        client.take(frame);
    }
    assert_eq!(client.received, ["before", "while away"]);
    // No G after a reconnect until the groups change.
    assert_eq!(
        server.groups.token_if_changed(KEY, &server.connection_id),
        None
    );

    // A second reconnect from the same cursor replays nothing more.
    let again = server.accept(&urls.reconnect(Some(&token), client.state.message_id.as_deref(), 1));
    assert!(again.frames.is_empty());

    // An altered token, or one of another connection, rejoins nothing; the connection goes on.
    let altered = tamper(&token);
    let foreign = GroupsToken::sign(KEY, "another-connection", &["ChatHub.g1"]);
    for (bad, failure) in [
        (altered.as_str(), TokenError::BadSignature),
        (foreign.as_str(), TokenError::OtherConnection),
    ] {
        let accepted =
            server.accept(&urls.reconnect(Some(bad), client.state.message_id.as_deref(), 2));
        assert!(accepted.rejoined.is_empty());
        assert_eq!(accepted.token_failure, Some(failure));
    }

    // A genuinely new connection (after stop()) presents no token and no cursor.
    client.state.clear();
    let fresh = server.accept(&urls.connect(client.state.groups_token.as_deref(), 0));
    assert!(fresh.rejoined.is_empty() && fresh.token_failure.is_none());
}

#[test]
fn an_unknown_method_gets_the_generic_error() {
    let mut server = Server {
        connection_id: "c".into(),
        groups: GroupSet::default(),
        log: ReplayBuffer::new("1", 4),
    };
    let replies = server.receive(r#"{"H":"chathub","M":"Nope","A":[],"I":3}"#);
    assert_eq!(
        replies,
        [r#"{"I":"3","E":"There was an error invoking Hub method 'chathub.Nope'."}"#]
    );
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[{}\\[\\]\":,0-9a-zA-Z .|_-]{0,40}",
        Just(String::new()),
    ]
}

proptest! {
    #[test]
    fn parsers_never_panic(input in text()) {
        let _ = ServerFrame::parse(&input);
        let _ = HubInvocation::parse(&input);
        let _ = HubResponse::parse(&input);
        let _ = ServerHubMessage::parse(&input);
        let _ = NegotiateResponse::parse(&input);
        let _ = parse_connection_data(&input);
        let _ = GroupsToken::verify(KEY, "c", &input);
        let _ = ConnectionToken::verify(KEY, &input, "");
        let _ = ProtocolVersion::resolve(Some(&input));
        let _ = RequestKind::split(&input);
        let query = ClassicQuery::parse(&input);
        let _ = (query.transport(), query.connection_token(), query.hubs(), query.protocol_version());
        let mut log = ReplayBuffer::new("E", 3);
        log.push(1);
        let _ = log.replay(Some(&input));
    }

    #[test]
    fn groups_tokens_round_trip(
        id in "[0-9a-f-]{1,36}",
        groups in proptest::collection::vec(any::<String>(), 0..6),
    ) {
        let token = GroupsToken::sign(KEY, &id, &groups);
        prop_assert_eq!(GroupsToken::verify(KEY, &id, &token), Ok(groups.clone()));
        prop_assert_eq!(GroupsToken::verify(KEY, &format!("{id}0"), &token), Err(TokenError::OtherConnection));
    }

    #[test]
    fn envelopes_round_trip(
        cursor in proptest::option::of(any::<String>()),
        token in proptest::option::of(any::<String>()),
        initialized in any::<bool>(),
        reconnect in any::<bool>(),
        args in proptest::collection::vec(any::<String>(), 0..3),
    ) {
        let message = ClientHubInvocation::new(HUB, "m", args.into_iter().map(serde_json::Value::from).collect()).to_json();
        let envelope = Envelope { cursor, groups_token: token, initialized, reconnect, messages: Some(vec![message]), ..Envelope::default() };
        let text = envelope.to_json();
        prop_assert_eq!(ServerFrame::parse(&text), Ok(ServerFrame::Envelope(envelope)));
    }

    #[test]
    fn invocations_round_trip(hub in any::<String>(), method in any::<String>(), arg in any::<String>(), id in 0u64..1_000_000) {
        let call = HubInvocation::new(hub, method, vec![json!(arg)], id);
        prop_assert_eq!(HubInvocation::parse(&call.to_json()), Ok(call));
    }

    #[test]
    fn query_values_survive_encode_uri_component(value in any::<String>()) {
        let query = ClassicQuery::parse(&format!("groupsToken={}&messageId=x", encode_uri_component(&value)));
        prop_assert_eq!(query.groups_token(), Some(value).filter(|v| !v.is_empty()));
    }

    #[test]
    fn replay_gives_every_later_entry_held_and_counts_the_rest(
        capacity in 0usize..8,
        pushed in 0u64..30,
        seen in 0u64..30,
    ) {
        let mut log = ReplayBuffer::new("AB", capacity);
        for i in 1..=pushed {
            log.push(i);
        }
        match log.replay(Some(&format!("d-AB-{seen:X}"))) {
            Ok(replay) => {
                prop_assert!(seen <= pushed);
                let expected: Vec<u64> = (seen + 1..=pushed).filter(|i| pushed - i < capacity as u64).collect();
                prop_assert_eq!(replay.missed + expected.len() as u64, pushed - seen);
                prop_assert_eq!(replay.items, expected);
            }
            Err(_) => prop_assert!(seen > pushed),
        }
    }
}
