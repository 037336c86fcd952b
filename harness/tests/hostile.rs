//! Hostile servers that send what cannot be read: each ends as a finding of a `PRO-` rule that
//! names what arrived, within its timeout, and never as a rule of the hub's semantics.
//!
//! - A server that completes the handshake and then sends only garbage: the first invocation
//!   fails with `PRO-WELL-FORMED`, quoting the garbage (escaped, bounded), not with a bare
//!   timeout that reads as an unreachable target.
//! - A server that answers `GetConnectionId` and then sends malformed JSON: every divergence
//!   of a history blames `PRO-WELL-FORMED` first, so the suite records one `PRO-WELL-FORMED`
//!   root cause and leaves the other rules blocked, never failed.
//!
//! The server is `common`'s loopback listener and record loop; [`Hostile`] says only what it
//! answers. Sessions reach it with `skip_negotiation`, and every wait is bounded.

mod common;

use common::{all, Call, Fake, Listener, Socket, Then, Ws, HANDSHAKE_OK};
use futures_util::SinkExt;
use hubspec_harness::{Client, ClientError, ClientOptions, Session, TargetConfig};
use hubspec_model::{ConnId, Op, Selector, Spec};
use hubspec_wire::{CompletionResult, HubMessage};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// What no JSON reader can take: control bytes, a quote that never closes, a separator.
const GARBAGE: &str = "\u{1}\u{7f}<html>{\"type\":3,\"invocationId\":\"oops\u{1e}";

/// A malformed hub record: JSON with its brackets in the wrong order, which no repair reads.
fn malformed(message: &HubMessage) -> String {
    let record = message.to_wire();
    format!("]{}", record.trim_start_matches('{'))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hostility {
    /// After the handshake, only [`GARBAGE`], in answer to everything.
    GarbageAfterHandshake,
    /// `GetConnectionId` answered well; every other Completion and message is malformed.
    MalformedAfterConnectionId,
}

struct Hostile {
    hostility: Hostility,
}

impl Fake for Hostile {
    async fn handshake(&mut self, ws: &mut Ws) -> Then {
        let _ = ws.send(Message::text(HANDSHAKE_OK)).await;
        if self.hostility == Hostility::GarbageAfterHandshake {
            let _ = ws.send(Message::text(GARBAGE)).await;
        }
        Then::Next
    }

    async fn invoke(&mut self, ws: &mut Ws, call: Call) -> Then {
        let answer = match (self.hostility, call.target.as_str()) {
            (Hostility::GarbageAfterHandshake, _) => GARBAGE.to_string(),
            (Hostility::MalformedAfterConnectionId, "GetConnectionId") => call
                .completion(CompletionResult::Result("conn-1".into()))
                .to_wire(),
            (Hostility::MalformedAfterConnectionId, "SendToConnection") => {
                // The marker, then the Completion, both malformed.
                let marker = common::receive(&call.arguments[1]);
                let done = call.completion(CompletionResult::Void);
                format!("{}{}", malformed(&marker), malformed(&done))
            }
            (Hostility::MalformedAfterConnectionId, _) => {
                malformed(&call.completion(CompletionResult::Void))
            }
        };
        let _ = ws.send(Message::text(answer)).await;
        Then::Next
    }
}

/// Starts a hostile hub on loopback; returns its URL.
async fn start(hostility: Hostility) -> String {
    let listener = Listener::bind().await;
    let url = format!("ws://{}/hub", listener.addr);
    listener.serve(move |tcp, _kill| async move {
        let Some(socket) = Socket::accept(tcp).await else {
            return;
        };
        socket.serve(&mut Hostile { hostility }).await;
    });
    url
}

fn config(url: &str) -> TargetConfig {
    let mut config = TargetConfig::for_url(url).unwrap();
    config.skip_negotiation = true;
    config.timeouts.connect = Duration::from_millis(1000);
    config.timeouts.invocation = Duration::from_millis(400);
    config.timeouts.barrier = Duration::from_millis(1000);
    config
}

#[tokio::test]
async fn garbage_after_the_handshake_is_pro_well_formed_naming_the_garbage() {
    let url = start(Hostility::GarbageAfterHandshake).await;
    let config = config(&url);
    let mut opts = ClientOptions::for_target(&config, 0);
    opts.label = "c1".into();
    let bounded = Duration::from_secs(10);
    let mut client = tokio::time::timeout(bounded, Client::connect(opts))
        .await
        .expect("bounded")
        .expect("the handshake itself is fine");
    let err = tokio::time::timeout(bounded, client.connection_id())
        .await
        .expect("bounded")
        .expect_err("no Completion can be read");
    client.shutdown().await;
    let ClientError::Protocol { rule, detail } = &err else {
        panic!("a protocol finding, not a bare timeout: {err}");
    };
    assert_eq!(*rule, "PRO-WELL-FORMED", "{err}");
    assert!(detail.contains("GetConnectionId"), "{detail}");
    // The garbage is named, escaped: its control bytes as escapes, its text as sent.
    assert!(
        detail.contains(r#"\u{1}\u{7f}<html>"#),
        "what came is quoted: {detail}"
    );
    assert!(detail.len() < 400, "bounded: {detail}");
}

#[tokio::test]
async fn malformed_json_after_get_connection_id_blames_pro_well_formed_not_the_groups() {
    let url = start(Hostility::MalformedAfterConnectionId).await;
    let group = || Some("g".to_string());
    let ops = vec![
        Op::Connect { user: None },
        Op::AddToGroup {
            caller: ConnId(1),
            group: group(),
        },
        Op::Send {
            caller: ConnId(1),
            selector: Selector::Group(group()),
            payload: "m".into(),
        },
    ];
    let mut session = Session::new(&config(&url), Spec::default(), "hostile", None);
    let report = tokio::time::timeout(Duration::from_secs(20), session.run(&ops))
        .await
        .expect("a hostile server never hangs the harness")
        .expect("the history is valid");
    session.close().await;
    assert!(!report.passed());
    let judged: Vec<_> = report.divergences.iter().filter(|d| !d.tolerated).collect();
    assert!(!judged.is_empty(), "{}", all(&report));
    for d in &judged {
        assert_eq!(
            d.rules.first(),
            Some(&"PRO-WELL-FORMED"),
            "what could not be read is blamed on PRO-WELL-FORMED, not on a rule of the hub:\n{}",
            all(&report)
        );
    }
    println!("{}", all(&report));
    let first = judged[0];
    assert_eq!(
        first.step, 1,
        "the connect's barrier is where it shows:\n{first}"
    );
    assert!(
        first.observed.contains("]\\\"type\\\":3"),
        "the malformed record is named:\n{first}"
    );
}
