//! Benchmark (not a test): group fan-out throughput and invocation round trip, on loopback.
//!
//! ```text
//! cargo run --release -p hubspec-refhub --example bench [-- RECEIVERS SENDS ROUNDS]
//! ```
//!
//! - Fan-out: RECEIVERS (default 1,000) WebSocket clients join one group; one client sends
//!   SENDS (default 200) `SendToGroup` invocations back to back; a round lasts from the first
//!   send until every receiver has every message. Reported: deliveries/s per round and the
//!   median over ROUNDS (default 5).
//! - Round trip: one client invokes `SendToCaller` 10,000 times, one at a time, and times
//!   each from sending the Invocation to reading its Completion. Reported: p50 and p99.
//!
//! Client and server share the machine (and its cores), so the figures are a floor.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hubspec_model::Profile;
use hubspec_refhub::{RefHub, RefHubConfig};
use hubspec_wire::{HandshakeRequest, HubMessage};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let hello = HandshakeRequest::json(1).to_json() + "\u{1e}";
    ws.send(Message::text(hello)).await.expect("handshake");
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.as_str().starts_with("{}") => break,
            Some(Ok(_)) => {}
            other => panic!("handshake failed: {other:?}"),
        }
    }
    ws
}

/// Sends an invocation with an id and waits for its Completion (skipping everything else).
async fn call(ws: &mut Ws, id: &str, target: &str, args: Vec<serde_json::Value>) {
    let m = HubMessage::invocation(Some(id), target, args).to_wire();
    ws.send(Message::text(m)).await.expect("send");
    let needle = format!("\"type\":3,\"invocationId\":\"{id}\"");
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.as_str().contains(&needle) => return,
            Some(Ok(_)) => {}
            other => panic!("connection ended: {other:?}"),
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let receivers = args.first().copied().unwrap_or(1000);
    let sends = args.get(1).copied().unwrap_or(200);
    let rounds = args.get(2).copied().unwrap_or(5);
    let hub = RefHub::start(RefHubConfig {
        profile: Profile::Core,
        max_queued_messages: 1_000_000,
        ..RefHubConfig::default()
    })
    .await
    .expect("refhub starts");
    let url = format!("ws://{}/hub", hub.local_addr());

    // Fan-out.
    let counted = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..receivers {
        let mut ws = connect(&url).await;
        call(
            &mut ws,
            &format!("j{i}"),
            "AddToGroup",
            vec![json!("bench")],
        )
        .await;
        let counted = counted.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Text(t) = m {
                    let n = t.as_str().matches("\"Receive\"").count() as u64;
                    counted.fetch_add(n, Ordering::Relaxed);
                }
            }
        }));
    }
    let mut sender = connect(&url).await;
    let mut rates = Vec::new();
    for round in 0..rounds {
        let before = counted.load(Ordering::Relaxed);
        let want = before + (receivers * sends) as u64;
        let started = Instant::now();
        for s in 0..sends {
            let m = HubMessage::invocation(
                None,
                "SendToGroup",
                vec![json!("bench"), json!(format!("r{round}m{s}"))],
            );
            sender.send(Message::text(m.to_wire())).await.expect("send");
        }
        while counted.load(Ordering::Relaxed) < want {
            if started.elapsed() > Duration::from_secs(120) {
                panic!("round {round} did not finish");
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        let secs = started.elapsed().as_secs_f64();
        let rate = (receivers * sends) as f64 / secs;
        println!(
            "fan-out round {round}: {} deliveries in {secs:.3} s = {rate:.0} deliveries/s",
            receivers * sends
        );
        rates.push(rate);
    }
    println!(
        "fan-out to a group of {receivers}: median {:.0} deliveries/s over {rounds} rounds",
        median(rates)
    );
    for t in tasks {
        t.abort();
    }

    // Round trip.
    let mut ws = connect(&url).await;
    for i in 0..500 {
        call(
            &mut ws,
            &format!("w{i}"),
            "SendToCaller",
            vec![json!("warm")],
        )
        .await;
    }
    let mut micros = Vec::with_capacity(10_000);
    for i in 0..10_000 {
        let started = Instant::now();
        call(
            &mut ws,
            &format!("t{i}"),
            "SendToCaller",
            vec![json!("ping")],
        )
        .await;
        micros.push(started.elapsed().as_secs_f64() * 1e6);
    }
    micros.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let p = |q: f64| micros[((micros.len() as f64 - 1.0) * q) as usize];
    println!(
        "invocation round trip (SendToCaller, 10,000 sequential): p50 {:.0} µs, p99 {:.0} µs",
        p(0.50),
        p(0.99)
    );
    hub.shutdown().await;
}
