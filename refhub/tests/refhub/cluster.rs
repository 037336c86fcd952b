//! Two refhub nodes on one real `redis-server` (started per test on a free loopback port) serve
//! one hub: sends, group membership by id and a lost backplane subscription across nodes
//! (issue 14; ASP.NET Core's `ScaleoutHubLifetimeManagerTests` name the cases).
//!
//! Cross-node barrier: a node publishes in issue order on one connection and a node handles
//! what it receives in Redis' order, so once a marker sent from node X to client c arrives,
//! every earlier publication of X has reached c.

use std::time::{Duration, Instant};

use hubspec_refhub::backplane::{BackplaneConfig, DEFAULT_HUB_NAME};
use hubspec_refhub::redis_server::RedisServer;
use hubspec_refhub::RefHub;
use hubspec_wire::backplane::Channels;
use hubspec_wire::HubMessage;
use serde_json::json;

use crate::client::{start, Client, WAIT};

struct Cluster {
    redis: RedisServer,
    a: RefHub,
    b: RefHub,
}

impl Cluster {
    async fn start() -> Cluster {
        let redis = RedisServer::start().expect("a real redis-server (see .ci/run)");
        let node = |name: &str| BackplaneConfig::new(redis.url(), name);
        let (node_a, node_b) = (node("node-a"), node("node-b"));
        let a = start(|c| c.backplane = Some(node_a)).await;
        let b = start(|c| c.backplane = Some(node_b)).await;
        Cluster { redis, a, b }
    }

    async fn redis(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(self.redis.url()).expect("redis URL");
        client
            .get_multiplexed_async_connection()
            .await
            .expect("connect to redis")
    }

    /// Waits (bounded) until some node has subscribed to `client`'s connection channel: a
    /// node subscribes just after the handshake, and a remote add by id needs it.
    async fn ready(&self, client: &Client) {
        let channel = Channels::new(DEFAULT_HUB_NAME).connection(&client.id);
        let mut redis = self.redis().await;
        let started = Instant::now();
        loop {
            let (_, n): (String, usize) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(&channel)
                .query_async(&mut redis)
                .await
                .expect("PUBSUB NUMSUB");
            if n > 0 {
                return;
            }
            assert!(started.elapsed() < WAIT, "{channel} never subscribed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn shutdown(self) {
        self.a.shutdown().await;
        self.b.shutdown().await;
        drop(self.redis);
    }
}

/// The payloads `to` received before the marker `mark` (each frame read within [`WAIT`]).
async fn until(to: &mut Client, mark: &str) -> Vec<String> {
    loop {
        if let Some(at) = to.received.iter().position(|p| p == mark) {
            let mut got: Vec<String> = to.received.drain(..=at).collect();
            got.pop();
            return got;
        }
        match to.recv().await {
            Some(HubMessage::Invocation {
                target, arguments, ..
            }) if target == "Receive" => {
                to.received.push(arguments[0].as_str().unwrap().to_owned())
            }
            other => panic!("waiting for {mark}, got {other:?}"),
        }
    }
}

/// Sends a marker from `from` to `to` and returns what `to` received before it: every earlier
/// publication of `from`'s node has then reached `to`.
async fn barrier(from: &mut Client, to: &mut Client, mark: &str) -> Vec<String> {
    from.ok("SendToConnection", json!([to.id, mark])).await;
    until(to, mark).await
}

#[tokio::test]
async fn a_group_spread_over_two_nodes_receives_each_send_once_in_order() {
    let cluster = Cluster::start().await;
    let mut a1 = Client::connect(&cluster.a, None, false).await;
    let mut a2 = Client::connect(&cluster.a, None, false).await;
    let mut b1 = Client::connect(&cluster.b, None, false).await;
    let mut s = Client::connect(&cluster.b, None, false).await;
    for c in [&mut a1, &mut a2, &mut b1] {
        c.ok("AddToGroup", json!(["g"])).await;
    }
    for p in ["1", "2", "3"] {
        s.ok("SendToGroup", json!(["g", p])).await;
    }
    for (c, mark) in [(&mut a1, "m1"), (&mut a2, "m2"), (&mut b1, "m3")] {
        assert_eq!(barrier(&mut s, c, mark).await, ["1", "2", "3"], "{mark}");
    }
    // A member on node A sends: its own node delivers at once, node B from Redis; the echo
    // of its own publication is not delivered again.
    a1.ok("SendToGroup", json!(["g", "4"])).await;
    assert_eq!(a1.sync().await, ["4"]);
    assert_eq!(barrier(&mut a1, &mut a2, "m4").await, ["4"]);
    assert_eq!(barrier(&mut a1, &mut b1, "m5").await, ["4"]);
    assert_eq!(barrier(&mut a1, &mut s, "m6").await, Vec::<String>::new());
    // Node B published these markers after it had "4", so Redis brought node A the echo of
    // "4" before them: node A's members got no second copy.
    assert_eq!(barrier(&mut b1, &mut a1, "m7").await, Vec::<String>::new());
    assert_eq!(barrier(&mut b1, &mut a2, "m8").await, Vec::<String>::new());
    cluster.shutdown().await;
}

#[tokio::test]
async fn an_add_by_id_on_another_node_is_effective_when_it_completes() {
    let cluster = Cluster::start().await;
    let mut a1 = Client::connect(&cluster.a, None, false).await;
    let mut b1 = Client::connect(&cluster.b, None, false).await;
    cluster.ready(&a1).await;
    b1.ok("AddConnectionToGroup", json!([a1.id, "g"])).await;
    let groups = cluster.a.model().groups();
    assert_eq!(
        groups.keys().collect::<Vec<_>>(),
        ["g"],
        "the owner's model"
    );
    assert!(
        cluster.b.model().groups().is_empty(),
        "b1's node holds no member"
    );
    b1.ok("SendToGroup", json!(["g", "x"])).await;
    assert_eq!(barrier(&mut b1, &mut a1, "m1").await, ["x"]);
    b1.ok("RemoveConnectionFromGroup", json!([a1.id, "g"]))
        .await;
    b1.ok("SendToGroup", json!(["g", "y"])).await;
    assert_eq!(barrier(&mut b1, &mut a1, "m2").await, Vec::<String>::new());
    // An id no node holds: at once, a no-op (the model's unknown id), not a 30 s ack wait.
    let asked = Instant::now();
    b1.ok("AddConnectionToGroup", json!(["nobody", "g"])).await;
    b1.ok("RemoveConnectionFromGroup", json!(["nobody", "g"]))
        .await;
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    assert!(cluster.a.model().groups().is_empty());
    cluster.shutdown().await;
}

#[tokio::test]
async fn connection_except_and_others_sends_cross_nodes() {
    let cluster = Cluster::start().await;
    let mut a1 = Client::connect(&cluster.a, None, false).await;
    let mut a2 = Client::connect(&cluster.a, None, false).await;
    let mut b1 = Client::connect(&cluster.b, None, false).await;
    for c in [&mut a1, &mut a2, &mut b1] {
        c.ok("AddToGroup", json!(["g"])).await;
    }
    cluster.ready(&a1).await;
    b1.ok("SendToConnection", json!([a1.id, "conn"])).await;
    b1.ok("SendToGroupExcept", json!(["g", [a1.id], "except"]))
        .await;
    b1.ok("SendToAll", json!(["all"])).await;
    assert_eq!(barrier(&mut b1, &mut a1, "m1").await, ["conn", "all"]);
    assert_eq!(barrier(&mut b1, &mut a2, "m2").await, ["except", "all"]);
    assert_eq!(b1.sync().await, ["except", "all"]);
    a1.ok("SendToOthersInGroup", json!(["g", "others-in-g"]))
        .await;
    a1.ok("SendToOthers", json!(["others"])).await;
    assert_eq!(a1.sync().await, Vec::<String>::new());
    assert_eq!(
        barrier(&mut a1, &mut a2, "m3").await,
        ["others-in-g", "others"]
    );
    assert_eq!(
        barrier(&mut a1, &mut b1, "m4").await,
        ["others-in-g", "others"]
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_lost_subscription_closes_every_local_client_with_allow_reconnect() {
    let cluster = Cluster::start().await;
    let mut a1 = Client::connect(&cluster.a, None, false).await;
    let mut b1 = Client::connect(&cluster.b, None, false).await;
    let mut redis = cluster.redis().await;
    let _: redis::Value = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut redis)
        .await
        .expect("CLIENT KILL TYPE pubsub");
    for c in [&mut a1, &mut b1] {
        match c.closed().await {
            Some(HubMessage::Close {
                error: None,
                allow_reconnect: true,
            }) => {}
            other => panic!("expected Close with allowReconnect, got {other:?}"),
        }
    }
    // The nodes subscribe again: a new client is reached across nodes.
    let mut a3 = Client::connect(&cluster.a, None, false).await;
    let mut b3 = Client::connect(&cluster.b, None, false).await;
    cluster.ready(&a3).await;
    b3.ok("SendToAll", json!(["after"])).await;
    assert_eq!(barrier(&mut b3, &mut a3, "m1").await, ["after"]);
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_node_without_redis_fails_to_start_with_the_reason() {
    let redis = RedisServer::start().expect("a real redis-server (see .ci/run)");
    let url = redis.url();
    drop(redis);
    let config = hubspec_refhub::RefHubConfig {
        backplane: Some(BackplaneConfig::new(url.clone(), "n")),
        ..Default::default()
    };
    let error = RefHub::start(config).await.expect_err("no Redis there");
    assert!(error.to_string().contains(&url), "{error}");
}

/// A `hubspec-refhub` process, killed and waited on drop.
struct Process(std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_joins_the_cluster_with_redis_and_node_name() {
    use std::io::BufRead as _;
    let cluster = Cluster::start().await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hubspec-refhub"))
        .args(["--listen", "127.0.0.1:0", "--redis", &cluster.redis.url()])
        .args(["--node-name", "node-bin"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run hubspec-refhub");
    let stdout = child.stdout.take().unwrap();
    let _process = Process(child);
    let read = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map(|_| line)
    });
    let url = tokio::time::timeout(WAIT, read)
        .await
        .expect("the node prints its URL")
        .unwrap()
        .unwrap();
    let mut c = Client::connect(&crate::client::Url(url.trim().to_owned()), None, false).await;
    cluster.ready(&c).await;
    let mut redis = cluster.redis().await;
    let acks: Vec<String> = redis::cmd("PUBSUB")
        .arg("CHANNELS")
        .arg("*:internal:ack:node-bin")
        .query_async(&mut redis)
        .await
        .expect("PUBSUB CHANNELS");
    assert_eq!(acks, [format!("{DEFAULT_HUB_NAME}:internal:ack:node-bin")]);
    let mut b1 = Client::connect(&cluster.b, None, false).await;
    b1.ok("SendToAll", json!(["hello"])).await;
    assert_eq!(barrier(&mut b1, &mut c, "m1").await, ["hello"]);
    cluster.shutdown().await;
}
