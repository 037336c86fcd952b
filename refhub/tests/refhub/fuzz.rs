//! Fuzzing what a peer reaches over the network: refhub's HTTP paths (negotiate, the WebSocket
//! upgrade, the classic `/signalr/*` requests), its WebSocket endpoint (handshake, then
//! records of either protocol) and the classic socket (hub invocations after a real negotiate,
//! connect and start), with seeded mutations of real requests and sessions (the
//! mutator is wire's, `wire/tests/fuzz/mutate.rs`). The parsers themselves are fuzzed in
//! `wire/tests/fuzz/`; this is the server around them: routing, query and header handling,
//! the connection's state machine.
//!
//! Fails when code of refhub or wire panics (a panic hook counts panics located in their
//! sources: a handler's panic only drops its connection, so it would go unseen), when the hub
//! answers anything with a 5xx, when a request or a session is neither answered nor closed
//! within [`WAIT`], and when the hub does not serve a normal client afterwards.
//! `HUBSPEC_FUZZ_SEED` and `HUBSPEC_FUZZ_RUNS` as in wire's run.

#[path = "../../../wire/tests/fuzz/mutate.rs"]
mod mutate;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hubspec_refhub::RefHub;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{http, start, Client, WAIT};
use mutate::{env_u64, mutate, Rng};

/// Panics whose location is in refhub's or wire's sources, and the last one's message.
static HUB_PANICS: AtomicUsize = AtomicUsize::new(0);
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

/// Counts panics in the hub's code, then lets the default hook print as usual. Installed once
/// for the binary; other tests' panics (their assertions) are not in those sources.
fn count_hub_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let file = info.location().map(|l| l.file()).unwrap_or("");
            if file.contains("refhub/src") || file.contains("wire/src") {
                HUB_PANICS.fetch_add(1, Ordering::SeqCst);
                *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = info.to_string();
            }
            previous(info);
        }));
    });
}

/// A small hub: small limits, so that the oversize paths are reached.
async fn hub() -> RefHub {
    start(|c| {
        c.max_message_bytes = 4096;
        c.max_group_name_bytes = 64;
    })
    .await
}

fn host(hub: &RefHub) -> String {
    hub.local_addr().to_string()
}

/// The hub serves a normal client: connect, join, send, receive.
async fn still_serves(hub: &RefHub) {
    let mut c = Client::connect(hub, Some("after"), false).await;
    c.ok("AddToGroup", json!(["g"])).await;
    c.ok("SendToGroup", json!(["g", "still here"])).await;
    assert_eq!(c.sync().await, vec!["still here"]);
}

fn assert_no_hub_panic(what: &str, seed: u64) {
    let panics = HUB_PANICS.load(Ordering::SeqCst);
    assert_eq!(
        panics,
        0,
        "{what}: the hub's code panicked (HUBSPEC_FUZZ_SEED={seed}); last: {}",
        LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner())
    );
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

const CONNECTION_DATA: &str = "%5B%7B%22name%22%3A%22chathub%22%7D%5D";

/// Real request lines and bodies: (method, path and query, body).
fn http_corpus() -> Vec<(&'static str, String, String)> {
    let cd = CONNECTION_DATA;
    let classic = format!("transport=webSockets&clientProtocol=2.1&connectionData={cd}");
    vec![
        ("POST", "/hub/negotiate?negotiateVersion=1&useStatefulReconnect=true&user=u".into(), String::new()),
        ("POST", "/hub/negotiate?negotiateVersion=0".into(), String::new()),
        ("GET", "/hub?id=abc&user=u".into(), String::new()),
        ("GET", format!("/signalr/negotiate?clientProtocol=2.1&connectionData={cd}&_=1"), String::new()),
        ("GET", format!("/signalr/start?{classic}&connectionToken=tok"), String::new()),
        ("GET", format!("/signalr/abort?{classic}&connectionToken=tok"), String::new()),
        ("POST", format!("/signalr/abort?{classic}&connectionToken=tok"), String::new()),
        ("GET", format!("/signalr/connect?{classic}&connectionToken=tok&tid=1"), String::new()),
        ("GET", format!("/signalr/reconnect?{classic}&connectionToken=tok&messageId=d-1-2&groupsToken=g.s"), String::new()),
        ("GET", format!("/signalr/ping?_=1&connectionData={cd}"), String::new()),
        (
            "POST",
            format!("/signalr/send?{classic}&connectionToken=tok"),
            "data=%7B%22H%22%3A%22chathub%22%2C%22M%22%3A%22send%22%2C%22A%22%3A%5B%22hi%22%5D%2C%22I%22%3A0%7D".into(),
        ),
        ("GET", "/".into(), String::new()),
    ]
}

fn request(method: &str, target: &[u8], body: &[u8], host: &str) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target);
    out.extend_from_slice(
        format!(
            " HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body);
    out
}

/// Sends `raw`, half-closes, and reads until the hub closes: the status, if it answered.
async fn exchange(host: &str, raw: &[u8]) -> Result<Option<u16>, String> {
    let work = async {
        let mut tcp = TcpStream::connect(host).await.map_err(|e| e.to_string())?;
        // A hub that closes before reading it all may reset the write; what it answered counts.
        let _ = tcp.write_all(raw).await;
        let _ = tcp.shutdown().await;
        let mut answer = Vec::new();
        let _ = tcp.read_to_end(&mut answer).await;
        let text = String::from_utf8_lossy(&answer);
        Ok(text
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok()))
    };
    tokio::time::timeout(WAIT, work)
        .await
        .map_err(|_| format!("no answer or close within {WAIT:?}"))?
}

#[tokio::test]
async fn refhub_http_paths_survive_mutated_requests() {
    count_hub_panics();
    let hub = hub().await;
    let host = host(&hub);
    let seed = env_u64("HUBSPEC_FUZZ_SEED", 0x5eed_f00d);
    let runs = env_u64("HUBSPEC_FUZZ_RUNS", 600);
    let mut rng = Rng(seed | 1);
    let corpus = http_corpus();
    let targets: Vec<Vec<u8>> = corpus
        .iter()
        .map(|(_, t, _)| t.clone().into_bytes())
        .collect();
    let bodies: Vec<Vec<u8>> = corpus
        .iter()
        .map(|(_, _, b)| b.clone().into_bytes())
        .collect();
    let raws: Vec<Vec<u8>> = corpus
        .iter()
        .map(|(m, t, b)| request(m, t.as_bytes(), b.as_bytes(), &host))
        .collect();
    let started = Instant::now();
    let mut answered = std::collections::BTreeMap::<Option<u16>, u64>::new();
    for i in 0..corpus.len() as u64 + runs {
        let raw = match (corpus.get(i as usize), rng.below(4)) {
            (Some(_), _) => raws[i as usize].clone(),
            // A whole request mutated: the framing itself.
            (None, 0) => mutate(&mut rng, &raws),
            // A valid request around a mutated path and query, or a mutated body.
            (None, k) => {
                let pick = rng.below(corpus.len());
                let method = if rng.below(2) == 0 {
                    corpus[pick].0
                } else {
                    "GET"
                };
                let target = if k == 1 {
                    corpus[pick].1.clone().into_bytes()
                } else {
                    mutate(&mut rng, &targets)
                };
                let body = if k == 3 {
                    mutate(&mut rng, &bodies)
                } else {
                    bodies[pick].clone()
                };
                request(method, &target, &body, &host)
            }
        };
        let status = exchange(&host, &raw).await.unwrap_or_else(|e| {
            panic!(
                "request {i} (HUBSPEC_FUZZ_SEED={seed}): {e}: {:?}",
                String::from_utf8_lossy(&raw)
            )
        });
        assert!(
            status.is_none_or(|s| s < 500),
            "request {i} got {status:?} (HUBSPEC_FUZZ_SEED={seed}): {:?}",
            String::from_utf8_lossy(&raw)
        );
        *answered.entry(status).or_default() += 1;
    }
    println!(
        "refhub HTTP: {} requests in {:.2} s, statuses {answered:?} (HUBSPEC_FUZZ_SEED={seed})",
        corpus.len() as u64 + runs,
        started.elapsed().as_secs_f64()
    );
    assert_no_hub_panic("HTTP", seed);
    still_serves(&hub).await;
    hub.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// WebSocket
// ---------------------------------------------------------------------------------------------

/// Real sessions: the handshake record and what follows it, JSON in one text frame each.
fn json_sessions() -> Vec<Vec<u8>> {
    let hs = "{\"protocol\":\"json\",\"version\":1}\u{1e}";
    [
        "{\"type\":1,\"invocationId\":\"1\",\"target\":\"AddToGroup\",\"arguments\":[\"g\"]}\u{1e}",
        "{\"type\":1,\"invocationId\":\"2\",\"target\":\"SendToGroup\",\"arguments\":[\"g\",\"x\"]}\u{1e}",
        "{\"type\":1,\"target\":\"SendToAll\",\"arguments\":[\"x\"]}\u{1e}{\"type\":6}\u{1e}",
        "{\"type\":1,\"invocationId\":\"3\",\"target\":\"SendToUsers\",\"arguments\":[[\"a\",null],\"x\"]}\u{1e}",
        "{\"type\":1,\"invocationId\":\"4\",\"target\":\"JoinRoom\",\"arguments\":[\"r\"]}\u{1e}",
        "{\"type\":1,\"invocationId\":\"5\",\"target\":\"AddConnectionToGroup\",\"arguments\":[\"id\",\"g\"]}\u{1e}",
        "{\"type\":4,\"invocationId\":\"6\",\"target\":\"GetConnectionId\",\"arguments\":[]}\u{1e}",
        "{\"type\":5,\"invocationId\":\"6\"}\u{1e}{\"type\":8,\"sequenceId\":1}\u{1e}{\"type\":9,\"sequenceId\":1}\u{1e}",
        "{\"type\":3,\"invocationId\":\"7\",\"result\":1}\u{1e}{\"type\":7,\"error\":\"bye\"}\u{1e}",
    ]
    .iter()
    .map(|rest| format!("{hs}{rest}").into_bytes())
    .chain([b"{\"protocol\":\"json\",\"version\":2}\x1e{\"type\":6}\x1e".to_vec()])
    .collect()
}

/// MessagePack sessions: the (text) handshake record, then a binary frame of messages.
fn msgpack_frames() -> Vec<Vec<u8>> {
    use hubspec_wire::HubMessage;
    [
        HubMessage::invocation(Some("1"), "AddToGroup", vec![json!("g")]),
        HubMessage::invocation(
            Some("2"),
            "SendToGroups",
            vec![json!(["g", "h"]), json!("x")],
        ),
        HubMessage::invocation(None, "SendToCaller", vec![json!("x")]),
        HubMessage::Ping,
    ]
    .iter()
    .map(HubMessage::to_msgpack_wire)
    .collect()
}

/// A text frame, or a binary one when the bytes are not UTF-8.
fn frame(bytes: &[u8]) -> Message {
    match std::str::from_utf8(bytes) {
        Ok(t) => Message::text(t.to_owned()),
        Err(_) => Message::binary(bytes.to_vec()),
    }
}

/// One session on the core endpoint: `text` (and, for MessagePack, `binary`) sent on a new
/// socket; see [`drive`].
async fn session(host: &str, text: &[u8], binary: Option<&[u8]>) -> Result<Ended, String> {
    let url = format!("ws://{host}/hub");
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .map_err(|_| format!("no WebSocket within {WAIT:?}"))?
        .map_err(|e| e.to_string())?;
    let mut frames = vec![frame(text)];
    frames.extend(binary.map(|b| Message::binary(b.to_vec())));
    drive(ws, frames).await
}

/// How a session ended.
#[derive(Default)]
struct Ended {
    /// Sessions the hub closed.
    closed: u64,
    /// Sessions the hub sent something on.
    answered: u64,
}

/// Sends `frames`, then reads until the hub closes or is quiet for a moment (a well-formed
/// session is answered, not closed), then closes.
async fn drive(mut ws: crate::client::Ws, frames: Vec<Message>) -> Result<Ended, String> {
    let work = async {
        for f in frames {
            // The hub may close first: sending can then fail, which is fine.
            let _ = ws.send(f).await;
        }
        // Our close frame comes after the data, so the hub reads all of it either way.
        let mut ended = Ended::default();
        loop {
            match tokio::time::timeout(Duration::from_millis(5), ws.next()).await {
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => {
                    ended.closed = 1;
                    break;
                }
                Ok(Some(Ok(_))) => ended.answered = 1,
                Err(_) => break,
            }
        }
        let _ = ws.close(None).await;
        ended
    };
    tokio::time::timeout(WAIT, work)
        .await
        .map_err(|_| format!("the session did not end within {WAIT:?}"))
}

#[tokio::test]
async fn refhub_websocket_endpoint_survives_mutated_sessions() {
    count_hub_panics();
    let hub = hub().await;
    let host = host(&hub);
    let seed = env_u64("HUBSPEC_FUZZ_SEED", 0x5eed_f00d);
    let runs = env_u64("HUBSPEC_FUZZ_RUNS", 600) / 2;
    let mut rng = Rng(seed.rotate_left(17) | 1);
    let json = json_sessions();
    let frames = msgpack_frames();
    let msgpack_hs = b"{\"protocol\":\"messagepack\",\"version\":1}\x1e".to_vec();
    let started = Instant::now();
    let mut total = Ended::default();
    for i in 0..runs {
        let (text, binary) = match rng.below(3) {
            0 => (msgpack_hs.clone(), Some(mutate(&mut rng, &frames))),
            _ => (mutate(&mut rng, &json), None),
        };
        let ended = session(&host, &text, binary.as_deref())
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "session {i} (HUBSPEC_FUZZ_SEED={seed}): {e}: {:?} then {binary:?}",
                    String::from_utf8_lossy(&text)
                )
            });
        total.closed += ended.closed;
        total.answered += ended.answered;
    }
    println!(
        "refhub WebSocket: {runs} sessions in {:.2} s, {} answered, {} closed by the hub \
         (HUBSPEC_FUZZ_SEED={seed})",
        started.elapsed().as_secs_f64(),
        total.answered,
        total.closed
    );
    assert_no_hub_panic("WebSocket", seed);
    still_serves(&hub).await;
    hub.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// The classic socket
// ---------------------------------------------------------------------------------------------

/// What a classic client sends on its socket: hub invocations of the conformance hub.
fn classic_calls() -> Vec<Vec<u8>> {
    use hubspec_refhub::CLASSIC_HUB;
    use hubspec_wire::classic::HubInvocation;
    let hub = CLASSIC_HUB.to_lowercase();
    [
        ("AddToGroup", vec![json!("g")]),
        ("SendToGroup", vec![json!("g"), json!("x")]),
        ("SendToCaller", vec![json!("x")]),
        ("AddConnectionToGroup", vec![json!("id"), json!("g")]),
        ("SendToGroups", vec![json!(["g", "h"]), json!("x")]),
        ("JoinRoom", vec![json!("r")]),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (method, args))| {
        let mut call = HubInvocation::new(hub.clone(), method, args, i as u64);
        call.state = Some([("k".to_owned(), json!("v"))].into_iter().collect());
        call.to_json().into_bytes()
    })
    .collect()
}

#[tokio::test]
async fn refhub_classic_socket_survives_mutated_invocations() {
    use hubspec_refhub::{CLASSIC_HUB, CLASSIC_PATH};
    use hubspec_wire::classic::{ClientUrls, NegotiateResponse};
    count_hub_panics();
    let hub = hub().await;
    let base = format!("http://{}", host(&hub));
    let seed = env_u64("HUBSPEC_FUZZ_SEED", 0x5eed_f00d);
    let runs = env_u64("HUBSPEC_FUZZ_RUNS", 600) / 4;
    let mut rng = Rng(seed.rotate_left(33) | 1);
    let calls = classic_calls();
    let started = Instant::now();
    let mut total = Ended::default();
    for i in 0..runs {
        let mut urls = ClientUrls::new(CLASSIC_PATH, &[CLASSIC_HUB.to_lowercase()]);
        urls.qs = Some("user=u".into());
        let (status, body) = http(&base, "GET", &urls.negotiate()).await;
        assert_eq!(status, 200, "negotiate: {body}");
        urls.connection_token = Some(NegotiateResponse::parse(&body).unwrap().connection_token);
        let url = format!(
            "{}{}",
            base.replace("http://", "ws://"),
            urls.connect(None, 3)
        );
        let (mut ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect in time")
            .expect("connect");
        // The init envelope first, so that what is answered below answers the invocation.
        let init = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("the init envelope");
        assert!(matches!(init, Some(Ok(Message::Text(_)))), "{init:?}");
        let _ = http(&base, "GET", &urls.start()).await;
        let text = mutate(&mut rng, &calls);
        let ended = drive(ws, vec![frame(&text)]).await.unwrap_or_else(|e| {
            panic!(
                "classic session {i} (HUBSPEC_FUZZ_SEED={seed}): {e}: {:?}",
                String::from_utf8_lossy(&text)
            )
        });
        total.closed += ended.closed;
        total.answered += ended.answered;
    }
    println!(
        "refhub classic socket: {runs} sessions in {:.2} s, {} answered, {} closed by the hub \
         (HUBSPEC_FUZZ_SEED={seed})",
        started.elapsed().as_secs_f64(),
        total.answered,
        total.closed
    );
    assert_no_hub_panic("classic socket", seed);
    still_serves(&hub).await;
    hub.shutdown().await;
}
