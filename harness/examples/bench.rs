//! Session throughput against the reference hub on loopback, next to the raw WebSocket
//! round-trip rate of a tokio-tungstenite echo measured the same way.
//!
//! `cargo run --release -p hubspec-harness --example bench [-- 4 100 1000]`
//!
//! A session op includes its barrier: one `SendToConnection` marker round trip on every
//! connected client. The figure is ops/s over the sends that follow the connects (medians of
//! three runs), so with N connections an op costs at least N + 1 round trips.

use futures_util::{SinkExt, StreamExt};
use hubspec_harness::{Session, TargetConfig};
use hubspec_model::{ConnId, Op, Profile, Selector, Spec};
use hubspec_refhub::{RefHub, RefHubConfig};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const RUNS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Round trips per second of one client against an echo server, sequentially.
async fn echo_rate(round_trips: usize) -> f64 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let _ = tcp.set_nodelay(true);
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        while let Some(Ok(m)) = ws.next().await {
            if m.is_text() && ws.send(m).await.is_err() {
                break;
            }
        }
    });
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .unwrap();
    let started = Instant::now();
    for i in 0..round_trips {
        ws.send(Message::text(format!("{{\"type\":1,\"n\":{i}}}\u{1e}")))
            .await
            .unwrap();
        ws.next().await.unwrap().unwrap();
    }
    let rate = round_trips as f64 / started.elapsed().as_secs_f64();
    let _ = ws.close(None).await;
    server.abort();
    rate
}

/// A history of `n` connects, half of them in a group, then `sends` sends rotating over
/// SendToGroup, SendToConnection and SendToCaller.
fn history(n: u32, sends: usize) -> Vec<Op> {
    let mut ops: Vec<Op> = (0..n).map(|_| Op::Connect { user: None }).collect();
    for c in (1..=n).step_by(2) {
        ops.push(Op::AddToGroup {
            caller: ConnId(c),
            group: Some("g".into()),
        });
    }
    for i in 0..sends {
        let caller = ConnId(1 + (i as u32 % n));
        let selector = match i % 3 {
            0 => Selector::Group(Some("g".into())),
            1 => Selector::Connection(ConnId(1 + ((i as u32 + 1) % n)).into()),
            _ => Selector::Caller,
        };
        ops.push(Op::Send {
            caller,
            selector,
            payload: format!("m{i}"),
        });
    }
    ops
}

#[tokio::main]
async fn main() {
    let sizes: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![4, 100, 1000]
    } else {
        sizes
    };
    let mut echoes = Vec::new();
    for _ in 0..RUNS {
        echoes.push(echo_rate(20_000).await);
    }
    let echo = median(echoes);
    println!("raw tokio-tungstenite echo round trips/s (median of {RUNS}): {echo:.0}");
    let hub = RefHub::start(RefHubConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        profile: Profile::Core,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut config = TargetConfig::for_url(&hub.url()).unwrap();
    config.timeouts.barrier = Duration::from_secs(30);
    config.timeouts.invocation = Duration::from_secs(30);
    config.timeouts.connect = Duration::from_secs(30);
    println!("connections | session ops/s | ops/s / echo rt/s | barrier rt/s | setup s");
    for n in sizes {
        let sends = if n >= 1000 { 30 } else { 300 };
        let ops = history(n, sends);
        let first_send = ops.len() - sends;
        let mut rates = Vec::new();
        let mut setups = Vec::new();
        for run in 0..RUNS {
            let mut session = Session::new(
                &config,
                Spec::new(Profile::Core),
                &format!("bench-{n}-{run}"),
                None,
            );
            let report = session.run(&ops).await.unwrap();
            assert!(
                report.passed(),
                "{}",
                report
                    .divergences
                    .first()
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            );
            let measured: Duration = report.timings[first_send..].iter().sum();
            let setup: Duration = report.timings[..first_send].iter().sum();
            rates.push(sends as f64 / measured.as_secs_f64());
            setups.push(setup.as_secs_f64());
        }
        let rate = median(rates);
        println!(
            "{n:>11} | {rate:>13.1} | {:>17.5} | {:>12.0} | {:>7.1}",
            rate / echo,
            rate * (n as f64 + 1.0),
            median(setups)
        );
    }
    hub.shutdown().await;
}
