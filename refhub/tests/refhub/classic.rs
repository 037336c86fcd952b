//! The classic endpoint (`/signalr`, ASP.NET SignalR 2.x over WebSockets), driven by a
//! small classic client built from `hubspec_wire::classic`: negotiate, connect, start,
//! invocations and their bare results, envelopes, groups tokens, reconnect with rejoin and
//! replay, abort; bad input; classic and core connections in one group.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hubspec_refhub::{Fault, RefHub, CLASSIC_HUB, CLASSIC_PATH};
use hubspec_wire::classic::{
    tamper, ClientState, ClientUrls, HubInvocation, NegotiateResponse, ServerFrame,
    ServerHubMessage,
};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{http, start, status_of, Client, Ws, WAIT};
use crate::reconnect::wait_status;

/// One classic client: the URLs it builds, its socket, the cursor and token it keeps.
struct Classic {
    base: String,
    urls: ClientUrls,
    ws: Ws,
    id: String,
    state: ClientState,
    next_invocation: u64,
    /// `Receive` payloads, in order.
    received: Vec<String>,
}

/// `http://HOST:PORT` of a hub.
fn base(hub: &RefHub) -> String {
    format!("http://{}", hub.local_addr())
}

/// The URLs of a client of the conformance hub (hub name lower-cased, as jQuery sends it).
fn urls(user: Option<&str>) -> ClientUrls {
    let mut urls = ClientUrls::new(CLASSIC_PATH, &[CLASSIC_HUB.to_lowercase()]);
    urls.qs = user.map(|u| format!("user={u}"));
    urls
}

/// Opens a WebSocket at `path_and_query`.
async fn open_ws(
    base: &str,
    path_and_query: &str,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let url = format!("{}{path_and_query}", base.replace("http://", "ws://"));
    match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url)).await {
        Ok(r) => r.map(|(ws, _)| ws),
        Err(_) => panic!("WebSocket connect timed out"),
    }
}

/// `GET /signalr/negotiate`: the connection id and a `ClientUrls` carrying its token.
async fn negotiate(base: &str, user: Option<&str>) -> (String, ClientUrls) {
    let mut urls = urls(user);
    let (status, body) = http(base, "GET", &urls.negotiate()).await;
    assert_eq!(status, 200, "negotiate: {body}");
    let n = NegotiateResponse::parse(&body).unwrap();
    assert_eq!(n.url, CLASSIC_PATH);
    urls.connection_token = Some(n.connection_token.clone());
    (n.connection_id, urls)
}

impl Classic {
    /// Negotiate, connect (the init envelope first), start.
    async fn connect(hub: &RefHub, user: Option<&str>) -> Classic {
        let base = base(hub);
        let (id, urls) = negotiate(&base, user).await;
        let ws = open_ws(&base, &urls.connect(None, 3))
            .await
            .expect("connect");
        let mut c = Classic {
            base,
            urls,
            ws,
            id,
            state: ClientState::default(),
            next_invocation: 0,
            received: Vec::new(),
        };
        match c.frame().await {
            Some(ServerFrame::Envelope(e)) => {
                assert!(e.initialized, "the first frame is the init envelope: {e:?}");
                assert_eq!(e.messages, Some(Vec::new()));
            }
            other => panic!("expected the init envelope, got {other:?}"),
        }
        let (status, body) = http(&c.base, "GET", &c.urls.start()).await;
        assert_eq!(
            (status, body.as_str()),
            (200, "{ \"Response\": \"started\" }")
        );
        c
    }

    /// The next frame (keep-alives included), with the cursor and token taken in and the
    /// envelope's `Receive` payloads recorded; `None` when the socket ends.
    async fn frame(&mut self) -> Option<ServerFrame> {
        loop {
            let next = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a classic frame in time");
            let text = match next {
                Some(Ok(Message::Text(t))) => t.to_string(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                _ => return None,
            };
            let frame = ServerFrame::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            self.state.apply(&frame);
            if let ServerFrame::Envelope(e) = &frame {
                for m in e.hub_messages().unwrap() {
                    match m {
                        ServerHubMessage::Invocation(i) => {
                            assert_eq!(i.hub, CLASSIC_HUB);
                            assert_eq!(i.method, "Receive");
                            self.received.push(i.args[0].as_str().unwrap().to_owned());
                        }
                        other => panic!("unexpected message {other:?}"),
                    }
                }
            }
            return Some(frame);
        }
    }

    async fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    /// Calls `method` and waits for its result.
    async fn invoke(&mut self, method: &str, args: Value) -> Result<Option<Value>, String> {
        let id = self.next_invocation;
        self.next_invocation += 1;
        let args = args.as_array().unwrap().clone();
        let call = HubInvocation::new(CLASSIC_HUB.to_lowercase(), method, args, id);
        self.send_raw(&call.to_json()).await;
        self.result(&id.to_string()).await
    }

    /// Waits for the bare result of call `id`.
    async fn result(&mut self, id: &str) -> Result<Option<Value>, String> {
        loop {
            match self.frame().await {
                Some(ServerFrame::Response(r)) if r.id.as_deref() == Some(id) => {
                    return match r.error {
                        Some(e) => Err(e),
                        None => Ok(r.result),
                    };
                }
                Some(ServerFrame::Response(r)) => panic!("a result for another call: {r:?}"),
                Some(_) => {}
                None => panic!("the socket ended before the result of {id}"),
            }
        }
    }

    async fn ok(&mut self, method: &str, args: Value) {
        if let Err(e) = self.invoke(method, args).await {
            panic!("{method} failed: {e}");
        }
    }

    /// Every payload received up to now (a `SendToCaller` barrier).
    async fn sync(&mut self) -> Vec<String> {
        self.ok("SendToCaller", json!(["__sync"])).await;
        // The barrier's envelope precedes its result on this socket.
        let mut got = std::mem::take(&mut self.received);
        assert_eq!(got.pop().as_deref(), Some("__sync"));
        got
    }

    /// Drops the socket without a close frame; the connection stays for a reconnect.
    fn cut(self) -> (String, ClientUrls, ClientState, String) {
        (self.id, self.urls, self.state, self.base)
    }

    /// `/signalr/reconnect` with the token and cursor held.
    async fn reconnect(id: String, urls: ClientUrls, state: ClientState, base: String) -> Classic {
        let url = urls.reconnect(
            state.groups_token.as_deref(),
            state.message_id.as_deref(),
            5,
        );
        let ws = open_ws(&base, &url).await.expect("reconnect");
        Classic {
            base,
            urls,
            ws,
            id,
            state,
            // Ids start again at 0 after a reconnect, as the jQuery client's.
            next_invocation: 0,
            received: Vec::new(),
        }
    }
}

#[tokio::test]
async fn negotiate_answers_as_a_2x_server_to_the_jquery_client() {
    let hub = start(|c| c.disconnect_timeout = Duration::from_secs(30)).await;
    let base = base(&hub);
    let (status, body) = http(&base, "GET", &urls(None).negotiate()).await;
    assert_eq!(status, 200);
    let n = NegotiateResponse::parse(&body).unwrap();
    assert_eq!(n.protocol_version, "2.0", "a 2.1 client is answered 2.0");
    assert_eq!(n.disconnect_timeout, 30.0);
    assert_eq!(n.keep_alive_timeout, Some(20.0));
    assert!(n.try_web_sockets);
    assert!(uuid_like(&n.connection_id), "{}", n.connection_id);
    let mut old = urls(None);
    old.client_protocol = "1.5".into();
    let (_, body) = http(&base, "GET", &old.negotiate()).await;
    assert_eq!(
        NegotiateResponse::parse(&body).unwrap().protocol_version,
        "1.5"
    );
    let (status, body) = http(&base, "GET", &format!("{CLASSIC_PATH}/ping")).await;
    assert_eq!((status, body.as_str()), (200, "{ \"Response\": \"pong\" }"));
}

fn uuid_like(id: &str) -> bool {
    id.len() == 36 && id.split('-').map(str::len).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
}

#[tokio::test]
async fn invocations_get_bare_results_and_errors_and_sends_come_in_envelopes() {
    let hub = start(|_| {}).await;
    let mut a = Classic::connect(&hub, None).await;
    let id = a.invoke("GetConnectionId", json!([])).await.unwrap();
    assert_eq!(id, Some(json!(a.id)));
    a.ok("SendToCaller", json!(["hello"])).await;
    assert_eq!(std::mem::take(&mut a.received), ["hello"]);
    // Method names are matched ignoring case; an unknown one is an error result.
    assert_eq!(a.invoke("sendtocaller", json!(["x"])).await, Ok(None));
    let error = a.invoke("Nope", json!([])).await.unwrap_err();
    assert!(error.contains("Method does not exist"), "{error}");
    let error = a.invoke("AddToGroup", json!([null])).await.unwrap_err();
    assert!(error.contains("ArgumentNullException"), "{error}");
    // SND-CLASSIC-EMPTY-NAME: a classic send to "" is refused (a core caller's is not).
    for method in ["SendToGroup", "SendToOthersInGroup"] {
        let error = a.invoke(method, json!(["", "p"])).await.unwrap_err();
        assert!(
            error.contains("Cannot send to an empty group name."),
            "{error}"
        );
    }
    assert_eq!(a.sync().await, ["x"]);
}

#[tokio::test]
async fn a_join_sends_a_new_groups_token_and_classic_and_core_share_groups() {
    let hub = start(|_| {}).await;
    let mut a = Classic::connect(&hub, None).await;
    let mut core = Client::connect(&hub, None, false).await;
    assert_eq!(a.state.groups_token, None);
    a.ok("AddToGroup", json!(["g"])).await;
    a.sync().await;
    let first = a
        .state
        .groups_token
        .clone()
        .expect("a token after the join");
    core.ok("AddToGroup", json!(["g"])).await;
    core.ok("SendToGroup", json!(["g", "from core"])).await;
    a.ok("SendToGroup", json!(["g", "from classic"])).await;
    assert_eq!(a.sync().await, ["from core", "from classic"]);
    assert_eq!(core.sync().await, ["from core", "from classic"]);
    // A core caller adds the classic connection to another group by id.
    core.ok("AddConnectionToGroup", json!([a.id, "h"])).await;
    a.sync().await;
    assert_ne!(
        a.state.groups_token.as_ref(),
        Some(&first),
        "a new token for a new group"
    );
}

#[tokio::test]
async fn a_reconnect_keeps_the_id_rejoins_the_token_groups_and_replays_once_in_order() {
    let hub = start(|_| {}).await;
    let mut a = Classic::connect(&hub, None).await;
    let mut b = Classic::connect(&hub, None).await;
    a.ok("AddToGroup", json!(["g"])).await;
    b.ok("SendToGroup", json!(["g", "before"])).await;
    assert_eq!(a.sync().await, ["before"]);
    let (id, urls, state, base) = a.cut();
    wait_status(&hub, 1).await;
    b.ok("SendToGroup", json!(["g", "m1"])).await;
    b.ok("SendToConnection", json!([id, "m2"])).await;
    let mut a = Classic::reconnect(id.clone(), urls, state, base).await;
    assert_eq!(
        a.invoke("GetConnectionId", json!([])).await.unwrap(),
        Some(json!(id))
    );
    assert_eq!(a.sync().await, ["m1", "m2"], "replayed once, in order");
    b.ok("SendToGroup", json!(["g", "after"])).await;
    assert_eq!(a.sync().await, ["after"], "still in the group");
}

#[tokio::test]
async fn an_altered_or_foreign_token_rejoins_nothing_and_the_reconnect_proceeds() {
    let hub = start(|_| {}).await;
    let mut a = Classic::connect(&hub, None).await;
    let mut b = Classic::connect(&hub, None).await;
    a.ok("AddToGroup", json!(["g"])).await;
    b.ok("AddToGroup", json!(["g"])).await;
    a.sync().await;
    b.sync().await;
    let b_token = b.state.groups_token.clone().unwrap();
    let (id, urls, mut state, base) = a.cut();
    wait_status(&hub, 1).await;
    b.ok("SendToGroup", json!(["g", "m"])).await;
    state.groups_token = state.groups_token.as_deref().map(tamper);
    let mut a = Classic::reconnect(id, urls, state, base).await;
    assert_eq!(
        a.sync().await,
        ["m"],
        "replayed: sent while away, to a member then"
    );
    b.ok("SendToGroup", json!(["g", "n"])).await;
    assert_eq!(
        a.sync().await,
        Vec::<String>::new(),
        "REC-CLASSIC-ALTERED-TOKEN"
    );
    // B's token presented by A: another connection's, rejoins nothing.
    a.ok("AddToGroup", json!(["h"])).await;
    a.sync().await;
    let (id, urls, mut state, base) = a.cut();
    wait_status(&hub, 1).await;
    state.groups_token = Some(b_token);
    let mut a = Classic::reconnect(id, urls, state, base).await;
    b.ok("SendToGroup", json!(["g", "o"])).await;
    b.ok("SendToGroup", json!(["h", "p"])).await;
    assert_eq!(a.sync().await, Vec::<String>::new());
}

#[tokio::test]
async fn an_authentic_older_token_rejoins_its_own_groups() {
    let hub = start(|_| {}).await;
    let mut a = Classic::connect(&hub, None).await;
    let mut b = Classic::connect(&hub, None).await;
    a.ok("AddToGroup", json!(["g"])).await;
    a.sync().await;
    let old = a.state.groups_token.clone().unwrap();
    a.ok("AddToGroup", json!(["h"])).await;
    a.sync().await;
    let (id, urls, mut state, base) = a.cut();
    wait_status(&hub, 1).await;
    state.groups_token = Some(old);
    let mut a = Classic::reconnect(id, urls, state, base).await;
    b.ok("SendToGroup", json!(["g", "in g"])).await;
    b.ok("SendToGroup", json!(["h", "in h"])).await;
    assert_eq!(a.sync().await, ["in g"]);
}

#[tokio::test]
async fn abort_ends_the_connection_and_a_reconnect_after_it_is_refused() {
    let hub = start(|c| c.classic_ack_timeout = Duration::from_millis(200)).await;
    let mut a = Classic::connect(&hub, None).await;
    let mut b = Classic::connect(&hub, None).await;
    a.ok("AddToGroup", json!(["g"])).await;
    let (status, body) = http(&a.base, "POST", &a.urls.abort()).await;
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(a.frame().await, None, "the socket is closed");
    assert_eq!(hub.model().conns.len(), 1);
    let (id, urls, state, base) = a.cut();
    let url = urls.reconnect(
        state.groups_token.as_deref(),
        state.message_id.as_deref(),
        0,
    );
    assert_eq!(status_of(open_ws(&base, &url).await.unwrap_err()), 404);
    let error = b
        .invoke("AddConnectionToGroup", json!([id, "g"]))
        .await
        .unwrap_err();
    assert!(error.contains("A task was canceled."), "{error}");
}

#[tokio::test]
async fn a_suspended_connection_ends_after_the_disconnect_timeout() {
    let hub = start(|c| c.disconnect_timeout = Duration::from_millis(300)).await;
    let a = Classic::connect(&hub, None).await;
    let (id, urls, state, base) = a.cut();
    wait_status(&hub, 1).await;
    wait_status(&hub, 0).await;
    assert!(hub.model().conns.is_empty());
    let url = urls.reconnect(
        state.groups_token.as_deref(),
        state.message_id.as_deref(),
        0,
    );
    assert_eq!(
        status_of(open_ws(&base, &url).await.unwrap_err()),
        404,
        "{id}"
    );
}

#[tokio::test]
async fn an_add_of_an_id_not_live_completes_as_cancelled_after_the_ack_timeout() {
    let hub = start(|c| c.classic_ack_timeout = Duration::from_millis(300)).await;
    let mut a = Classic::connect(&hub, None).await;
    let began = std::time::Instant::now();
    let error = a
        .invoke("AddConnectionToGroup", json!(["no-such-id", "g"]))
        .await
        .unwrap_err();
    assert!(began.elapsed() >= Duration::from_millis(300));
    assert!(error.contains("A task was canceled."), "{error}");
    let error = a
        .invoke("RemoveConnectionFromGroup", json!(["no-such-id", "g"]))
        .await
        .unwrap_err();
    assert!(error.contains("A task was canceled."), "{error}");
    // A core caller's add of an unknown id is the core profile's silent no-op.
    let mut core = Client::connect(&hub, None, false).await;
    core.ok("AddConnectionToGroup", json!(["no-such-id", "g"]))
        .await;
}

#[tokio::test]
async fn bad_requests_get_the_2x_errors_and_nothing_else_is_affected() {
    let hub = start(|_| {}).await;
    let mut a = Classic::connect(&hub, Some("alice")).await;
    let base = base(&hub);
    let ok = a.urls.clone();
    let get = |url: String| {
        let base = base.clone();
        async move { http(&base, "GET", &url).await }
    };
    // connectionData naming another hub, or malformed.
    let mut other = ok.clone();
    other.connection_data = Some(r#"[{"name":"nohub"}]"#.into());
    let (status, body) = get(other.negotiate()).await;
    assert_eq!(
        (status, body.as_str()),
        (400, "'nohub' Hub could not be resolved.")
    );
    other.connection_data = Some("not json".into());
    assert_eq!(get(other.start()).await.0, 400);
    // Transport: absent or unknown, or not webSockets.
    let (status, body) = get(format!("{CLASSIC_PATH}/start?connectionToken=x")).await;
    assert_eq!(
        (status, body.as_str()),
        (400, "Protocol error: Unknown transport.")
    );
    let mut lp = ok.clone();
    lp.transport = hubspec_wire::classic::Transport::LongPolling;
    assert_eq!(get(lp.start()).await.0, 400);
    // Connection tokens: missing, garbage, another user's.
    let mut bad = ok.clone();
    bad.connection_token = None;
    let (status, body) = get(bad.start()).await;
    assert_eq!(
        (status, body.as_str()),
        (400, "Protocol error: Missing connection token.")
    );
    bad.connection_token = Some("garbage".into());
    let (status, body) = get(bad.start()).await;
    assert_eq!(
        (status, body.as_str()),
        (400, "The ConnectionId is in the incorrect format.")
    );
    bad.connection_token = ok.connection_token.as_deref().map(tamper);
    assert_eq!(
        status_of(open_ws(&base, &bad.connect(None, 0)).await.unwrap_err()),
        400
    );
    let mut bob = ok.clone();
    bob.qs = Some("user=bob".into());
    let (status, body) = get(bob.start()).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.starts_with("Unrecognized user identity."), "{body}");
    // Not an upgrade; the other transports' requests.
    assert_eq!(get(ok.connect(None, 0)).await.0, 400);
    assert_eq!(http(&base, "POST", &ok.send()).await.0, 400);
    // Garbage frames: an error result when the frame has an id, nothing otherwise.
    a.send_raw("not json").await;
    a.send_raw("[1,2]").await;
    a.ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    a.send_raw(r#"{"I":"7","M":3}"#).await;
    let error = a.result("7").await.unwrap_err();
    assert!(!error.is_empty());
    a.send_raw(r#"{"H":"nohub","M":"SendToCaller","A":["x"],"I":8}"#)
        .await;
    assert_eq!(
        a.result("8").await,
        Err("'nohub' Hub could not be resolved.".into())
    );
    // Still connected, still working.
    a.ok("SendToCaller", json!(["fine"])).await;
    assert_eq!(a.sync().await, ["fine"]);
    assert_eq!(hub.model().conns.len(), 1);
}

/// `target/peers/classic` with `npm ci` done once per lock file: Microsoft's jQuery client
/// (npm `signalr` 2.4.3), `jquery` and `jsdom`, pinned by
/// `refhub/tests/peers/classic/package-lock.json`.
fn classic_peer_dir() -> &'static std::path::PathBuf {
    use crate::peers::{mark_installed, require_tool, run, sources, stage, work_dir};
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        require_tool("node", "--version", "Node.js 18 or newer");
        require_tool("npm", "--version", "npm, which comes with Node.js");
        let from = sources().join("classic");
        let to = work_dir().join("classic");
        let files = ["package.json", "package-lock.json", "peer.js"];
        let stale = stage(&from, &to, &files, "package-lock.json");
        if stale || !to.join("node_modules/signalr").is_dir() {
            let mut npm = std::process::Command::new("npm");
            npm.args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&to);
            if let Err(e) = run(npm, crate::peers::INSTALL_TIMEOUT) {
                panic!("npm ci of the pinned jQuery SignalR client failed: {e}");
            }
            mark_installed(&from, &to, "package-lock.json");
        }
        to
    })
}

/// The official classic client (jQuery, under jsdom) joins a group, loses its socket (cut
/// by a proxy, no close frame), reconnects on its own with its groups token and cursor: the
/// same id, still in the group, the message sent while it was away received exactly once.
/// Then `stop()`'s `/abort` ends both connections.
#[tokio::test]
async fn the_official_jquery_client_reconnects_with_its_groups_token_and_cursor() {
    let hub = start(|_| {}).await;
    let dir = classic_peer_dir().clone();
    let origin = base(&hub);
    let result = tokio::task::spawn_blocking(move || {
        let mut c = std::process::Command::new("node");
        c.arg("peer.js")
            .arg(&origin)
            .arg("reconnect")
            .current_dir(&dir);
        crate::peers::run(c, crate::peers::RUN_TIMEOUT)
    })
    .await
    .expect("node runner");
    match result {
        Ok(out) => assert!(out.contains("ok reconnect"), "{out}"),
        Err(e) => panic!("{e}"),
    }
    for _ in 0..100 {
        if hub.model().conns.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        hub.model().conns.is_empty(),
        "stop() aborts: {:?}",
        hub.model().conns
    );
    hub.shutdown().await;
}

/// A hub with `fault` (or none), and A (in group `g`) and B (in group `h`) connected, each
/// holding a groups token.
async fn two_in_groups(fault: Option<Fault>) -> (RefHub, Classic, Classic) {
    let hub = start(|c| c.faults.extend(fault)).await;
    let mut a = Classic::connect(&hub, None).await;
    let mut b = Classic::connect(&hub, None).await;
    a.ok("AddToGroup", json!(["g"])).await;
    b.ok("AddToGroup", json!(["h"])).await;
    a.sync().await;
    b.sync().await;
    (hub, a, b)
}

/// Cuts A's socket, lets `away` run while it is suspended, and reconnects it presenting
/// `token` (its own when `None`).
async fn cut_and_reconnect(hub: &RefHub, a: Classic, token: Option<String>) -> Classic {
    let (id, urls, mut state, base) = a.cut();
    wait_status(hub, 1).await;
    if let Some(token) = token {
        state.groups_token = Some(token);
    }
    Classic::reconnect(id, urls, state, base).await
}

/// Whether a send from `b` to `group` reaches `a`.
async fn reaches(a: &mut Classic, b: &mut Classic, group: &str) -> bool {
    b.ok("SendToGroup", json!([group, "probe"])).await;
    a.sync().await == ["probe"]
}

#[tokio::test]
async fn fault_classic_token_unverified_breaks_rec_classic_altered_token() {
    let (hub, a, mut b) = two_in_groups(Some(Fault::ClassicTokenUnverified)).await;
    let altered = tamper(a.state.groups_token.as_deref().unwrap());
    let mut a = cut_and_reconnect(&hub, a, Some(altered)).await;
    // REC-CLASSIC-ALTERED-TOKEN would have A in no group.
    assert!(reaches(&mut a, &mut b, "g").await);
}

#[tokio::test]
async fn fault_classic_no_rejoin_breaks_rec_classic_rejoin() {
    let (hub, a, mut b) = two_in_groups(Some(Fault::ClassicNoRejoin)).await;
    let mut a = cut_and_reconnect(&hub, a, None).await;
    // REC-CLASSIC-REJOIN would have A back in g.
    assert!(!reaches(&mut a, &mut b, "g").await);
}

#[tokio::test]
async fn fault_classic_no_replay_breaks_rec_resume_replays() {
    let (hub, a, mut b) = two_in_groups(Some(Fault::ClassicNoReplay)).await;
    let (id, urls, state, base) = a.cut();
    wait_status(&hub, 1).await;
    b.ok("SendToGroup", json!(["g", "missed"])).await;
    let mut a = Classic::reconnect(id, urls, state, base).await;
    // REC-RESUME-REPLAYS would give A "missed"; it is still in g.
    assert_eq!(a.sync().await, Vec::<String>::new());
    assert!(reaches(&mut a, &mut b, "g").await);
}

#[tokio::test]
async fn fault_classic_foreign_token_breaks_rec_classic_altered_token() {
    let (hub, a, mut b) = two_in_groups(Some(Fault::ClassicForeignToken)).await;
    let foreign = b.state.groups_token.clone().unwrap();
    let mut a = cut_and_reconnect(&hub, a, Some(foreign)).await;
    // A token issued to B rejoins nothing for A; with the fault A is in B's group h.
    assert!(reaches(&mut a, &mut b, "h").await);
    assert!(!reaches(&mut a, &mut b, "g").await);
}

/// The same reconnects on the correct hub: each fault above is what makes the difference.
#[tokio::test]
async fn without_a_fault_the_same_reconnects_keep_the_classic_rules() {
    let (hub, a, mut b) = two_in_groups(None).await;
    let own = a.state.groups_token.clone().unwrap();
    let foreign = b.state.groups_token.clone().unwrap();
    let mut a = cut_and_reconnect(&hub, a, None).await;
    assert!(reaches(&mut a, &mut b, "g").await, "own token: rejoined");
    let mut a = cut_and_reconnect(&hub, a, Some(tamper(&own))).await;
    assert!(
        !reaches(&mut a, &mut b, "g").await,
        "altered token: nothing"
    );
    a.ok("AddToGroup", json!(["g"])).await;
    a.sync().await;
    let mut a = cut_and_reconnect(&hub, a, Some(foreign)).await;
    assert!(
        !reaches(&mut a, &mut b, "h").await,
        "foreign token: nothing"
    );
    assert!(!reaches(&mut a, &mut b, "g").await);
}

#[tokio::test]
async fn fault_classic_unknown_id_succeeds_breaks_grp_classic_unknown_id_cancelled() {
    let hub = start(|c| {
        c.faults.insert(Fault::ClassicUnknownIdSucceeds);
        c.classic_ack_timeout = Duration::from_secs(30);
    })
    .await;
    let mut a = Classic::connect(&hub, None).await;
    // GRP-CLASSIC-UNKNOWN-ID-CANCELLED would cancel it after 30 s; the result is at once.
    let result = a
        .invoke("AddConnectionToGroup", json!(["no-such-id", "g"]))
        .await;
    assert_eq!(result, Ok(None));
}

#[tokio::test]
async fn fault_classic_empty_name_accepted_breaks_snd_classic_empty_name() {
    let hub = start(|c| {
        c.faults.insert(Fault::ClassicEmptyNameAccepted);
    })
    .await;
    let mut a = Classic::connect(&hub, None).await;
    // SND-CLASSIC-EMPTY-NAME would refuse it.
    assert_eq!(a.invoke("SendToGroup", json!(["", "p"])).await, Ok(None));
    assert_eq!(
        a.invoke("SendToOthersInGroup", json!(["", "p"])).await,
        Ok(None)
    );
}

#[tokio::test]
async fn the_core_hub_cannot_take_the_classic_path() {
    let config = hubspec_refhub::RefHubConfig {
        path: CLASSIC_PATH.to_owned(),
        ..Default::default()
    };
    let error = RefHub::start(config).await.unwrap_err();
    assert!(error.to_string().contains("classic endpoint"), "{error}");
}
