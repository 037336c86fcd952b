//! Misbehaving servers: each protocol fault a target can commit is a divergence with its `PRO-`
//! rule and the raw frames involved, never a panic or a hang of ours.
//!
//! The fake hub below speaks just enough of the contract for a session (handshake,
//! `GetConnectionId`, `SendToConnection`, `SendToCaller`, `AddToGroup`) and commits one fault.
//! Sessions reach it with `skip_negotiation`, so it needs no HTTP beyond the WebSocket upgrade.
//! The listener and the record loop are `common`'s; [`Faulty`] says only how it answers.

mod common;

use common::{all, receive, Call, Fake, Kill, Listener, Socket, Then, Ws, HANDSHAKE_OK};
use futures_util::SinkExt;
use hubspec_harness::{DivergenceKind, RunReport, Session, TargetConfig};
use hubspec_model::{ConnId, Op, Selector, Spec};
use hubspec_wire::{CompletionResult, HubMessage};
use serde_json::{json, Value};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Every message in a binary frame.
    BinaryFrames,
    /// No Completion for `AddToGroup`.
    OmitCompletion,
    /// Two Completions for `AddToGroup`.
    DuplicateCompletion,
    /// A record that is not JSON after `SendToCaller`'s message.
    MalformedRecord,
    /// On `AddToGroup`, closes the socket with no Close message.
    CloseWithoutCloseMessage,
    /// On a client Ping, drops the connection.
    DropsOnPing,
    /// After `GetConnectionId`, reads and answers nothing more.
    Hang,
    /// On `AddToGroup`, the whole server goes away (listener and sockets).
    DiesMidCase,
    /// Refuses the handshake.
    RefusesHandshake,
    /// Answers a client Close by closing the socket without its own Close message.
    NoCloseReply,
    /// Completes `SendToCaller` first and writes its message only after the next invocation
    /// (so after the barrier marker that follows it).
    LateDelivery,
    /// Sends a `Receive` no op asked for along with `SendToCaller`'s message.
    JunkMessage,
    /// Refuses `AddToGroup(null)` for the wrong reason: the empty-name error of `Groups`.
    WrongErrorKind,
    /// Refuses `AddToGroup(null)` with a method ASP.NET Core would call unknown.
    UnknownMethodError,
    /// Refuses `AddToGroup(null)` with ASP.NET Core's generic text (no detailed errors).
    GenericError,
    /// On `SendToCaller`, streams text that never contains a record separator.
    Unterminated,
    /// `SendToCaller` completes without delivering.
    LoseDelivery,
    /// `SendToCaller` delivers twice at once.
    DuplicateDelivery,
    /// `SendToCaller` delivers at once and a second copy after the next invocation.
    DuplicateLate,
    /// `SendToConnection` to oneself completes but never delivers the marker.
    DropMarker,
    /// `SendToConnection` to oneself delivers the marker twice.
    DuplicateMarker,
    /// `SendToConnection` to oneself delivers to another connection when there is one.
    MisrouteMarker,
    /// On `AddToGroup`, closes with the Close error of a client timeout, as if pings never came.
    TimeoutClose,
    /// `SendToConnection` to oneself delivers the marker, then completes with an error.
    MarkerThenError,
}

/// Each fake connection's outgoing queue, by connection id, for sends across connections.
type Peers =
    Arc<std::sync::Mutex<std::collections::HashMap<String, mpsc::UnboundedSender<Message>>>>;

/// Starts a fake hub that commits `fault`; returns its URL.
async fn start(fault: Fault) -> String {
    let listener = Listener::bind().await;
    let url = format!("ws://{}/hub", listener.addr);
    let ids = Arc::new(AtomicU32::new(0));
    let peers = Peers::default();
    listener.serve(move |tcp, kill| {
        let n = ids.fetch_add(1, Ordering::Relaxed) + 1;
        let fake = Faulty {
            fault,
            id: format!("conn-{n}"),
            peers: peers.clone(),
            kill,
            held: None,
        };
        serve(tcp, fake)
    });
    url
}

async fn serve(tcp: tokio::net::TcpStream, mut fake: Faulty) {
    let Some(socket) = Socket::accept(tcp).await else {
        return;
    };
    fake.peers
        .lock()
        .unwrap()
        .insert(fake.id.clone(), socket.outbox());
    socket.serve(&mut fake).await;
}

/// One connection of the fake hub: it answers as a hub would but for its fault.
struct Faulty {
    fault: Fault,
    id: String,
    peers: Peers,
    kill: Kill,
    /// A delivery held back until the next invocation (`LateDelivery`, `DuplicateLate`).
    held: Option<Message>,
}

impl Fake for Faulty {
    fn frame(&self, text: String) -> Message {
        if self.fault == Fault::BinaryFrames {
            Message::binary(text.into_bytes())
        } else {
            Message::text(text)
        }
    }

    async fn handshake(&mut self, ws: &mut Ws) -> Then {
        if self.fault != Fault::RefusesHandshake {
            let _ = ws.send(self.frame(HANDSHAKE_OK.into())).await;
            return Then::Next;
        }
        let refusal = "{\"error\":\"The protocol 'json' is not supported.\"}\u{1e}";
        let _ = ws.send(self.frame(refusal.into())).await;
        let _ = ws.close(None).await;
        Then::End
    }

    fn heard(&mut self, message: &HubMessage) -> ControlFlow<Then> {
        if self.fault == Fault::DropsOnPing && matches!(message, HubMessage::Ping) {
            return ControlFlow::Break(Then::End);
        }
        ControlFlow::Continue(())
    }

    fn answers_close(&self) -> bool {
        self.fault != Fault::NoCloseReply
    }

    async fn invoke(&mut self, ws: &mut Ws, call: Call) -> Then {
        if call.target != "SendToCaller" {
            if let Some(m) = self.held.take() {
                // After the invocation that follows, i.e. after the barrier's marker.
                let _ = ws.send(complete_now(&call, &self.id)).await;
                let _ = ws.send(m).await;
                return Then::Next;
            }
        }
        let first = call.arguments.first();
        match call.target.as_str() {
            "GetConnectionId" => {
                let id = CompletionResult::Result(json!(self.id));
                self.send(ws, &call.completion(id)).await;
                if self.fault == Fault::Hang {
                    return Then::Deaf;
                }
                Then::Next
            }
            "SendToConnection" if first == Some(&json!(self.id)) => self.marker(ws, &call).await,
            "SendToConnection" => {
                self.send(ws, &call.completion(CompletionResult::Void))
                    .await;
                Then::Next
            }
            "SendToCaller" => self.send_to_caller(ws, &call).await,
            "AddToGroup" if first == Some(&Value::Null) => {
                let text = match self.fault {
                    Fault::WrongErrorKind => "An unexpected error occurred invoking 'AddToGroup' on the server. InvalidOperationException: Cannot send to an empty group name.".to_string(),
                    Fault::UnknownMethodError => "Unknown hub method 'AddToGroup'".to_string(),
                    Fault::GenericError => "An unexpected error occurred invoking 'AddToGroup' on the server.".to_string(),
                    _ => "An unexpected error occurred invoking 'AddToGroup' on the server. ArgumentNullException: Value cannot be null. (Parameter 'groupName')".to_string(),
                };
                let error = CompletionResult::Error(text);
                self.send(ws, &call.completion(error)).await;
                Then::Next
            }
            "AddToGroup" => self.add_to_group(ws, &call).await,
            other => {
                let error = CompletionResult::Error(format!("Unknown hub method '{other}'"));
                self.send(ws, &call.completion(error)).await;
                Then::Next
            }
        }
    }
}

impl Faulty {
    /// `SendToConnection` to oneself: the barrier's marker.
    async fn marker(&mut self, ws: &mut Ws, call: &Call) -> Then {
        let marker = self.encode(&receive(&call.arguments[1]));
        match self.fault {
            Fault::DropMarker => {}
            Fault::MarkerThenError => {
                let _ = ws.send(marker).await;
                let error =
                    "An unexpected error occurred invoking 'SendToConnection' on the server.";
                let error = CompletionResult::Error(error.into());
                self.send(ws, &call.completion(error)).await;
                return Then::Next;
            }
            Fault::DuplicateMarker => {
                let _ = ws.send(marker.clone()).await;
                let _ = ws.send(marker).await;
            }
            Fault::MisrouteMarker => {
                let other = self
                    .peers
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|(k, _)| **k != self.id)
                    .map(|(_, tx)| tx.clone());
                match other {
                    Some(tx) => {
                        let _ = tx.send(marker);
                    }
                    None => {
                        let _ = ws.send(marker).await;
                    }
                }
            }
            _ => {
                let _ = ws.send(marker).await;
            }
        }
        self.send(ws, &call.completion(CompletionResult::Void))
            .await;
        Then::Next
    }

    async fn send_to_caller(&mut self, ws: &mut Ws, call: &Call) -> Then {
        let payload = &call.arguments[0];
        let void = call.completion(CompletionResult::Void);
        match self.fault {
            Fault::LateDelivery => {
                self.held = Some(self.encode(&receive(payload)));
                self.send(ws, &void).await;
            }
            Fault::DuplicateLate => {
                self.send(ws, &receive(payload)).await;
                self.held = Some(self.encode(&receive(payload)));
                self.send(ws, &void).await;
            }
            Fault::LoseDelivery => self.send(ws, &void).await,
            Fault::Unterminated => {
                // 2 MiB of text and never a record separator.
                let chunk = "x".repeat(64 * 1024);
                for _ in 0..32 {
                    if ws.send(Message::text(chunk.clone())).await.is_err() {
                        return Then::End;
                    }
                }
            }
            fault => {
                self.send(ws, &receive(payload)).await;
                if fault == Fault::DuplicateDelivery {
                    self.send(ws, &receive(payload)).await;
                }
                if fault == Fault::JunkMessage {
                    self.send(ws, &receive(&json!("junk"))).await;
                }
                if fault == Fault::MalformedRecord {
                    let bad = self.frame("{\"type\":1,\"target\u{1e}".into());
                    let _ = ws.send(bad).await;
                }
                self.send(ws, &void).await;
            }
        }
        Then::Next
    }

    async fn add_to_group(&mut self, ws: &mut Ws, call: &Call) -> Then {
        let void = call.completion(CompletionResult::Void);
        match self.fault {
            Fault::OmitCompletion => {}
            Fault::DuplicateCompletion => {
                self.send(ws, &void).await;
                self.send(ws, &void).await;
            }
            Fault::CloseWithoutCloseMessage => {
                let _ = ws.close(None).await;
                return Then::End;
            }
            Fault::DiesMidCase => {
                self.kill.now();
                return Then::End;
            }
            Fault::TimeoutClose => {
                let close = HubMessage::Close {
                    error: Some(
                        "Server timeout elapsed without receiving a message from the client."
                            .into(),
                    ),
                    allow_reconnect: false,
                };
                self.send(ws, &close).await;
                let _ = ws.close(None).await;
                return Then::End;
            }
            _ => self.send(ws, &void).await,
        }
        Then::Next
    }
}

/// For [`Fault::LateDelivery`]: answers the invocation that releases the held message the way
/// the plain fake would (only `SendToConnection` to oneself and `AddToGroup` occur there).
fn complete_now(call: &Call, id: &str) -> Message {
    let mut text = String::new();
    if call.target == "SendToConnection" && call.arguments.first() == Some(&json!(id)) {
        text.push_str(&receive(&call.arguments[1]).to_wire());
    }
    text.push_str(&call.completion(CompletionResult::Void).to_wire());
    Message::text(text)
}

fn ops() -> Vec<Op> {
    vec![
        Op::Connect { user: None },
        Op::Send {
            caller: ConnId(1),
            selector: Selector::Caller,
            payload: "m1".into(),
        },
        Op::AddToGroup {
            caller: ConnId(1),
            group: Some("g".into()),
        },
        Op::Send {
            caller: ConnId(1),
            selector: Selector::Caller,
            payload: "m2".into(),
        },
        Op::Disconnect { conn: ConnId(1) },
    ]
}

async fn run_against(fault: Fault) -> RunReport {
    run_ops_against(fault, &ops()).await
}

async fn run_ops_against(fault: Fault, ops: &[Op]) -> RunReport {
    let url = start(fault).await;
    let mut config = TargetConfig::for_url(&url).unwrap();
    config.skip_negotiation = true;
    config.timeouts.connect = Duration::from_millis(1000);
    config.timeouts.invocation = Duration::from_millis(400);
    config.timeouts.barrier = Duration::from_millis(1000);
    let mut session = Session::new(&config, Spec::default(), &format!("{fault:?}"), None);
    tokio::time::timeout(Duration::from_secs(20), session.run(ops))
        .await
        .expect("a misbehaving server never hangs the harness")
        .expect("the history is valid")
}

/// The report has a divergence naming `rule` first (or among its rules when `first` is false),
/// with raw frames attached; returns its text.
async fn assert_finding(fault: Fault, rule: &str) -> String {
    let report = run_against(fault).await;
    let d = report
        .divergences
        .iter()
        .find(|d| d.violates(rule))
        .unwrap_or_else(|| panic!("{fault:?}: no {rule} divergence in:\n{}", all(&report)));
    assert!(!d.frames.is_empty(), "{fault:?}: no frames attached:\n{d}");
    assert!(d.to_string().starts_with('['), "{d}");
    assert!(!report.passed());
    println!("{d}");
    d.to_string()
}

#[tokio::test]
async fn json_in_binary_frames_is_pro_text_frames() {
    let text = assert_finding(Fault::BinaryFrames, "PRO-TEXT-FRAMES").await;
    assert!(
        text.contains("BINARY"),
        "the binary frame is shown:\n{text}"
    );
    // Tolerant observation: the deviation is recorded, and the history is judged on what the
    // frames carried, which is what the model says.
    let report = run_against(Fault::BinaryFrames).await;
    assert!(
        report.divergences.iter().all(|d| d.tolerated),
        "{}",
        all(&report)
    );
    assert_eq!(report.observed.to_string(), report.expected.to_string());
}

#[tokio::test]
async fn an_omitted_completion_is_pro_completion() {
    let text = assert_finding(Fault::OmitCompletion, "PRO-COMPLETION").await;
    assert!(text.contains("AddToGroup"), "{text}");
}

#[tokio::test]
async fn a_duplicated_completion_is_pro_completion() {
    let text = assert_finding(Fault::DuplicateCompletion, "PRO-COMPLETION").await;
    assert!(text.contains("second Completion"), "{text}");
}

#[tokio::test]
async fn a_malformed_record_is_pro_well_formed() {
    let text = assert_finding(Fault::MalformedRecord, "PRO-WELL-FORMED").await;
    assert!(
        text.contains("\\\"target"),
        "the bad record is quoted:\n{text}"
    );
}

#[tokio::test]
async fn a_close_without_a_close_message_is_pro_close() {
    assert_finding(Fault::CloseWithoutCloseMessage, "PRO-CLOSE").await;
}

#[tokio::test]
async fn a_close_not_answered_with_a_close_is_pro_close() {
    let report = run_against(Fault::NoCloseReply).await;
    let d = report
        .divergences
        .iter()
        .find(|d| d.violates("PRO-CLOSE"))
        .expect("PRO-CLOSE");
    assert_eq!(d.step, 5, "{d}");
    assert!(d.observed.contains("without answering our Close"), "{d}");
    assert!(!d.frames.is_empty());
}

#[tokio::test]
async fn a_server_that_drops_the_connection_on_a_ping_is_pro_ping() {
    assert_finding(Fault::DropsOnPing, "PRO-PING").await;
}

#[tokio::test]
async fn a_server_that_hangs_is_pro_responsive_within_the_timeout() {
    let started = std::time::Instant::now();
    let text = assert_finding(Fault::Hang, "PRO-RESPONSIVE").await;
    assert!(started.elapsed() < Duration::from_secs(10), "{text}");
}

#[tokio::test]
async fn a_server_that_dies_mid_case_is_reported_not_a_hang() {
    let report = run_against(Fault::DiesMidCase).await;
    let d = report
        .divergences
        .iter()
        .find(|d| d.violates("PRO-RESPONSIVE"))
        .unwrap_or_else(|| panic!("{}", all(&report)));
    assert_eq!(d.kind, DivergenceKind::Protocol);
    assert!(d.observed.contains("died"), "{d}");
    assert!(!d.frames.is_empty());
    assert_eq!(
        report.observed.steps.len(),
        2,
        "the run stops at the step that failed"
    );
}

#[tokio::test]
async fn a_refused_handshake_is_pro_handshake() {
    assert_finding(Fault::RefusesHandshake, "PRO-HANDSHAKE").await;
}

#[tokio::test]
async fn a_message_after_its_barrier_is_late_and_blamed_on_the_send_timing() {
    let report = run_against(Fault::LateDelivery).await;
    let d = report
        .divergences
        .iter()
        .find(|d| d.kind == DivergenceKind::Late)
        .unwrap_or_else(|| panic!("no late divergence: {:?}", report.divergences));
    assert_eq!(d.step, 2, "reported at the step that sent it:\n{d}");
    assert_eq!(
        d.rules[..2],
        ["SND-DELIVERED-BEFORE-COMPLETION", "SND-FIFO"],
        "{d}"
    );
    assert!(d.observed.contains("after the barrier of step 2"), "{d}");
    assert!(
        !report
            .divergences
            .iter()
            .any(|d| d.kind == DivergenceKind::Lost && d.step == 2),
        "the lost report of step 2 became a late one"
    );
}

#[tokio::test]
async fn a_message_no_op_sent_is_unexpected() {
    let report = run_against(Fault::JunkMessage).await;
    let d = report
        .divergences
        .iter()
        .find(|d| d.kind == DivergenceKind::Unexpected)
        .unwrap_or_else(|| panic!("no unexpected divergence: {:?}", report.divergences));
    assert_eq!(d.rules, vec!["SND-EXACTLY-ONCE"]);
    assert!(d.observed.contains("junk"), "{d}");
    assert!(!d.frames.is_empty());
}

/// `AddToGroup(null)`: the model says error null-group-name.
fn null_group_ops() -> Vec<Op> {
    vec![
        Op::Connect { user: None },
        Op::AddToGroup {
            caller: ConnId(1),
            group: None,
        },
    ]
}

#[tokio::test]
async fn an_error_for_the_wrong_reason_is_a_result_divergence() {
    for fault in [Fault::WrongErrorKind, Fault::UnknownMethodError] {
        let report = run_ops_against(fault, &null_group_ops()).await;
        let d = report
            .divergences
            .iter()
            .find(|d| d.kind == DivergenceKind::Result)
            .unwrap_or_else(|| panic!("{fault:?}: no result divergence: {:?}", report.divergences));
        assert_eq!(d.step, 2, "{d}");
        assert_eq!(d.rules, vec!["GRP-NULL-NAME"], "{d}");
        assert_eq!(d.expected, "error null-group-name", "{d}");
        let read = match fault {
            Fault::WrongErrorKind => "error empty-group-name",
            _ => "error (unknown hub method)",
        };
        assert!(d.observed.starts_with(read), "{d}");
        assert!(
            d.transcript
                .to_string()
                .contains(&format!("AddToGroup(null) -> {read}")),
            "{d}"
        );
        assert!(!report.passed());
    }
}

#[tokio::test]
async fn a_right_error_with_detailed_text_passes_as_its_kind() {
    let report = run_ops_against(Fault::OmitCompletion, &null_group_ops()).await;
    assert!(report.passed(), "{:?}", report.divergences);
    assert!(report.results_as_read.is_empty());
    assert_eq!(
        report.observed_text().to_string(),
        report.expected.to_string()
    );
}

#[tokio::test]
async fn a_generic_error_text_is_an_error_of_unstated_kind_and_accepted() {
    let report = run_ops_against(Fault::GenericError, &null_group_ops()).await;
    assert!(report.passed(), "{:?}", report.divergences);
    let text = report.observed_text().to_string();
    assert!(
        text.contains(" 2. c1: AddToGroup(null) -> error (kind not stated)"),
        "{text}"
    );
    assert_eq!(
        report.results_as_read.get(&2).map(String::as_str),
        Some("error (kind not stated)")
    );
}

/// The divergences of `report` of `kind`, shown in full when the assertion fails.
fn of_kind(report: &RunReport, kind: DivergenceKind) -> Vec<&hubspec_harness::Divergence> {
    report
        .divergences
        .iter()
        .filter(|d| d.kind == kind)
        .collect()
}

#[tokio::test]
async fn a_stream_without_record_separators_is_pro_well_formed_within_the_cap() {
    let text = assert_finding(Fault::Unterminated, "PRO-WELL-FORMED").await;
    assert!(text.contains("without a record separator"), "{text}");
    let report = run_against(Fault::Unterminated).await;
    assert_eq!(report.observed.steps.len(), 1, "the run stops at step 2");
}

#[tokio::test]
async fn a_lost_delivery_is_lost_and_blamed_on_the_selector() {
    let report = run_against(Fault::LoseDelivery).await;
    let lost = of_kind(&report, DivergenceKind::Lost);
    assert_eq!(lost.len(), 2, "{}", all(&report));
    assert_eq!(lost[0].step, 2);
    assert_eq!(lost[0].rules, vec!["SND-CALLER"], "{}", lost[0]);
    assert_eq!(lost[0].expected, "c1 <= \"m1\"");
    assert_eq!(lost[0].observed, "c1 receives nothing");
}

#[tokio::test]
async fn a_doubled_delivery_is_a_duplicate() {
    let report = run_against(Fault::DuplicateDelivery).await;
    let dups = of_kind(&report, DivergenceKind::Duplicate);
    assert_eq!(dups.len(), 2, "{}", all(&report));
    assert_eq!(dups[0].step, 2);
    assert_eq!(dups[0].rules, vec!["SND-EXACTLY-ONCE", "SND-CALLER"]);
    assert_eq!(dups[0].observed, "c1 <= \"m1\", \"m1\"");
}

#[tokio::test]
async fn a_second_copy_after_the_barrier_is_a_duplicate_not_late() {
    let report = run_against(Fault::DuplicateLate).await;
    assert!(
        of_kind(&report, DivergenceKind::Late).is_empty(),
        "{}",
        all(&report)
    );
    let dups = of_kind(&report, DivergenceKind::Duplicate);
    // m1's copy is caught by step 3's barrier, m2's when c1 disconnects at step 5.
    assert_eq!(dups.len(), 2, "{}", all(&report));
    assert_eq!((dups[0].step, dups[1].step), (3, 5), "{}", all(&report));
    for d in dups {
        assert_eq!(d.rules, vec!["SND-EXACTLY-ONCE", "SND-CALLER"], "{d}");
    }
}

#[tokio::test]
async fn a_marker_that_never_comes_breaks_the_barrier() {
    let report = run_against(Fault::DropMarker).await;
    let broken = of_kind(&report, DivergenceKind::BrokenBarrier);
    assert_eq!(broken.len(), 1, "{}", all(&report));
    assert_eq!(broken[0].step, 1);
    assert_eq!(broken[0].rules, vec!["SND-CONNECTION", "PRO-RESPONSIVE"]);
    assert!(broken[0].observed.contains("timed out"), "{}", broken[0]);
}

/// The timeout names the configured barrier bound (`run_ops_against` sets 1000 ms), not the
/// time left when the wait ended, which is 0 ms.
#[tokio::test]
async fn a_marker_that_never_comes_names_the_configured_barrier_bound() {
    let report = run_against(Fault::DropMarker).await;
    let broken = of_kind(&report, DivergenceKind::BrokenBarrier);
    assert_eq!(broken.len(), 1, "{}", all(&report));
    assert!(
        broken[0]
            .observed
            .contains("timed out after 1000 ms waiting for the barrier marker"),
        "{}",
        broken[0]
    );
}

#[tokio::test]
async fn a_second_copy_of_a_marker_is_a_duplicate() {
    let report = run_against(Fault::DuplicateMarker).await;
    let dups = of_kind(&report, DivergenceKind::Duplicate);
    assert!(!dups.is_empty(), "{}", all(&report));
    assert_eq!(dups[0].step, 2, "{}", dups[0]);
    assert_eq!(dups[0].rules, vec!["SND-EXACTLY-ONCE", "SND-CONNECTION"]);
    assert!(
        dups[0].observed.contains("a second copy of its marker"),
        "{}",
        dups[0]
    );
}

#[tokio::test]
async fn a_marker_delivered_to_another_connection_breaks_the_barrier_and_says_so() {
    let ops = vec![Op::Connect { user: None }, Op::Connect { user: None }];
    let report = run_ops_against(Fault::MisrouteMarker, &ops).await;
    let misrouted: Vec<_> = of_kind(&report, DivergenceKind::BrokenBarrier)
        .into_iter()
        .filter(|d| d.rules == vec!["SND-CONNECTION"])
        .collect();
    assert_eq!(misrouted.len(), 2, "{}", all(&report));
    assert!(
        misrouted
            .iter()
            .any(|d| d.observed.contains("the marker c1 sent to itself")),
        "{}",
        all(&report)
    );
    assert!(misrouted.iter().all(|d| d.step == 2));
}

#[tokio::test]
async fn a_late_message_caught_when_its_connection_disconnects_is_late() {
    // m2 arrives after step 4's barrier; step 5 disconnects c1 and must still look at it.
    let report = run_against(Fault::LateDelivery).await;
    assert!(
        of_kind(&report, DivergenceKind::Lost).is_empty(),
        "{}",
        all(&report)
    );
    let late = of_kind(&report, DivergenceKind::Late);
    assert_eq!(late.len(), 2, "{}", all(&report));
    assert_eq!((late[0].step, late[1].step), (2, 4));
    assert!(late[1].observed.contains("during step 5"), "{}", late[1]);
}

#[tokio::test]
async fn a_close_for_a_client_timeout_is_pro_ping() {
    let text = assert_finding(Fault::TimeoutClose, "PRO-PING").await;
    assert!(text.contains("Server timeout elapsed"), "{text}");
}

#[tokio::test]
async fn a_marker_whose_send_then_fails_breaks_the_barrier_once() {
    let report = run_against(Fault::MarkerThenError).await;
    assert_eq!(report.divergences.len(), 1, "{}", all(&report));
    let d = &report.divergences[0];
    assert_eq!(d.kind, DivergenceKind::BrokenBarrier, "{d}");
    assert_eq!(
        (d.step, d.rules.clone()),
        (1, vec!["SND-CONNECTION"]),
        "{d}"
    );
}
