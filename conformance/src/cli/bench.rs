//! `hubspec bench`: the performance figures in one command, each the median of several runs.
//!
//! - **checker**: generated states/s of `hubspec check` on 3 connections × 2 users × 2 groups,
//!   core-stateful, buffer 1, on 1 and on 2 threads, and the ratio;
//! - **harness**: session ops/s against the reference hub on loopback (each op includes its
//!   barrier), next to the round-trip rate of a raw tokio-tungstenite echo measured the same
//!   way, and their ratio, for each `--connections` count; and the same session with every
//!   connection on MessagePack;
//! - **refhub**: the round-trip p50/p99 of sequential invocations, and group fan-out
//!   deliveries/s to a group of `--receivers` WebSocket clients, all on JSON and half of them
//!   on MessagePack.
//!
//! `hubspec bench resilience` runs cut storms instead ([`hubspec_harness::storm`]): `--cuts`
//! (10,000) random cuts, resets and mid-frame cuts through a fault-injecting proxy among
//! `--storm-connections` stateful connections in groups, each run printing cuts survived,
//! lost / duplicated / out-of-order counts and the median resume time, then the medians over
//! `--runs`.
//!
//! `hubspec bench precision` prints the precision matrix instead
//! ([`hubspec_conformance::precision`]): every refhub fault alone and `--pairs` pairs of
//! faults that break different rules, each row with the rules declared, failing and blocked,
//! precision, recall and (with `--exhaustive`) exhaustive coverage.
//!
//! `hubspec bench crash` kills `hubspec serve --rooms-db` with SIGKILL `--kills` times during
//! room churn ([`hubspec_conformance::crash`]) and prints records lost and corrupted databases.
//!
//! Client and server share the machine, so the network figures are a floor. Build in release:
//! `cargo run --release -p hubspec-conformance --bin hubspec -- bench`.

use super::{fail, Exit};
use clap::Args;
use futures_util::{SinkExt, StreamExt};
use hubspec_check::{check, Bounds, CheckOptions};
use hubspec_conformance::case::finding;
use hubspec_harness::{Session, TargetConfig};
use hubspec_model::{ConnId, Op, Profile, Selector, Spec};
use hubspec_refhub::{RefHub, RefHubConfig};
use hubspec_wire::{HandshakeRequest, HubMessage, HubProtocol};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// What `hubspec bench` measures when told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchOnly {
    /// The precision matrix of the suite over refhub's faults.
    Precision,
    /// Cut storms through a fault-injecting proxy against the reference hub.
    Resilience,
    /// kill -9 of `hubspec serve --rooms-db` during room churn ([`hubspec_conformance::crash`]).
    Crash,
    /// The concurrent part: checker throughput, Unknown and false failures on the correct hub,
    /// time to catch each race fault (`bench_concurrency.rs`).
    Concurrency,
}

/// `hubspec bench` arguments.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Only this figure (`precision`: the precision matrix); all the others when absent.
    #[arg(value_enum, value_name = "ONLY")]
    pub only: Option<BenchOnly>,
    /// Precision matrix: pairs of faults to run besides every fault alone.
    #[arg(long, value_name = "N", default_value_t = 12)]
    pub pairs: usize,
    /// Precision matrix: random histories per target and row.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub cases: u32,
    /// Precision matrix: run the exhaustive part too (slow: minutes per row).
    #[arg(long)]
    pub exhaustive: bool,
    /// Concurrency: histories per run on the correct hub.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub histories: u32,
    /// Crash durability: kill -9 restarts.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub kills: usize,
    /// Crash durability and resilience: the seed (resilience: the first storm's, each run adds
    /// 1). A new one from the clock when absent; printed either way.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Runs per figure; the median is reported.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub runs: usize,
    /// Fan-out group size (WebSocket clients).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub receivers: usize,
    /// Sends per fan-out round.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub sends: usize,
    /// Connections in the harness session, one figure per count (comma-separated).
    #[arg(long, value_name = "N,…", value_delimiter = ',', default_values_t = [4, 100, 1000])]
    pub connections: Vec<u32>,
    /// Sequential invocations for the round-trip percentiles.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub round_trips: usize,
    /// Skip the checker figures.
    #[arg(long)]
    pub no_checker: bool,
    /// Skip the harness and refhub figures.
    #[arg(long)]
    pub no_network: bool,
    /// Resilience: cuts per storm.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub cuts: u64,
    /// Resilience: stateful connections per storm.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub storm_connections: usize,
    /// Resilience: groups per storm.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub storm_groups: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn list(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Median generated states/s on `threads` threads, and the per-run figures.
fn checker_rate(threads: usize, runs: usize) -> (f64, Vec<f64>, usize) {
    let bounds = Bounds {
        connections: 3,
        users: 2,
        groups: 2,
        buffer: 1,
        ..Bounds::default()
    };
    let options = CheckOptions {
        threads,
        ..CheckOptions::default()
    };
    let mut rates = Vec::new();
    let mut unique = 0;
    for _ in 0..runs {
        let report = check(Spec::new(Profile::CoreStateful), bounds, options);
        unique = report.unique;
        rates.push(report.states_per_sec());
    }
    (median(rates.clone()), rates, unique)
}

/// Round trips per second of one client against a tokio-tungstenite echo server.
async fn echo_rate(round_trips: usize) -> Result<f64, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = tokio::spawn(async move {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let _ = tcp.set_nodelay(true);
        let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
            return;
        };
        while let Some(Ok(m)) = ws.next().await {
            if m.is_text() && ws.send(m).await.is_err() {
                break;
            }
        }
    });
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    for i in 0..round_trips {
        ws.send(Message::text(format!("{{\"type\":1,\"n\":{i}}}\u{1e}")))
            .await
            .map_err(|e| e.to_string())?;
        match ws.next().await {
            Some(Ok(_)) => {}
            other => return Err(format!("echo ended: {other:?}")),
        }
    }
    let rate = round_trips as f64 / started.elapsed().as_secs_f64();
    let _ = ws.close(None).await;
    server.abort();
    Ok(rate)
}

/// `n` connects, half of them in a group, then `sends` sends rotating over SendToGroup,
/// SendToConnection and SendToCaller.
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

/// Session ops/s over the sends of [`history`], one figure per run.
async fn session_rates(
    url: &str,
    n: u32,
    runs: usize,
    protocol: HubProtocol,
) -> Result<Vec<f64>, String> {
    let mut config = TargetConfig::for_url(url)
        .map_err(|e| e.to_string())?
        .with_protocols([protocol]);
    config.timeouts.barrier = Duration::from_secs(30);
    config.timeouts.invocation = Duration::from_secs(30);
    config.timeouts.connect = Duration::from_secs(30);
    // Every op waits for a barrier on each of the `n` connections: keep the op count of the
    // larger sessions down so that one run stays in seconds.
    let sends = (30_000 / n.max(1) as usize).clamp(30, 300);
    let ops = history(n, sends);
    let first_send = ops.len() - sends;
    let mut rates = Vec::new();
    for run in 0..runs {
        let mut session = Session::new(
            &config,
            Spec::new(Profile::Core),
            &format!("bench-{n}-{run}"),
            None,
        );
        let report = session.run(&ops).await.map_err(|e| e.to_string())?;
        session.close().await;
        if !report.passed() {
            return Err(format!(
                "the bench session diverged: {}",
                report
                    .divergences
                    .first()
                    .map(
                        |d| finding("bench", d, &report.expected, "(none: a bench session)")
                            .to_string()
                    )
                    .unwrap_or_default()
            ));
        }
        let measured: Duration = report.timings[first_send..].iter().sum();
        rates.push(sends as f64 / measured.as_secs_f64());
    }
    Ok(rates)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str, protocol: HubProtocol) -> Result<Ws, String> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| e.to_string())?;
    let hello = HandshakeRequest::for_protocol(protocol, 1).to_json() + "\u{1e}";
    ws.send(Message::text(hello))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) if t.as_str().starts_with("{}") => return Ok(ws),
            Ok(Some(Ok(_))) => {}
            other => return Err(format!("handshake failed: {other:?}")),
        }
    }
}

/// The frame of one message in `protocol`.
fn frame_of(protocol: HubProtocol, message: &HubMessage) -> Message {
    match protocol {
        HubProtocol::Json => Message::text(message.to_wire()),
        HubProtocol::MessagePack => Message::binary(protocol.encode(message)),
    }
}

async fn call(
    ws: &mut Ws,
    protocol: HubProtocol,
    id: &str,
    target: &str,
    args: Vec<serde_json::Value>,
) -> Result<(), String> {
    let m = HubMessage::invocation(Some(id), target, args);
    ws.send(frame_of(protocol, &m))
        .await
        .map_err(|e| e.to_string())?;
    let needle = format!("\"type\":3,\"invocationId\":\"{id}\"");
    // refhub writes whole messages per frame, so each binary frame is read on its own.
    let completes = |bytes: &[u8]| {
        let mut reader = protocol.reader(None);
        reader.push(bytes);
        std::iter::from_fn(|| reader.next_payload().ok().flatten()).any(|p| {
            matches!(protocol.parse(&p), Ok(HubMessage::Completion { invocation_id, .. }) if invocation_id == id)
        })
    };
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) if t.as_str().contains(&needle) => return Ok(()),
            Ok(Some(Ok(Message::Binary(b)))) if completes(&b) => return Ok(()),
            Ok(Some(Ok(_))) => {}
            other => return Err(format!("no Completion for {target}: {other:?}")),
        }
    }
}

/// How many `Receive` invocations one frame holds (a cheap count: the name in the bytes).
fn receives_in(message: &Message) -> u64 {
    let bytes: &[u8] = match message {
        Message::Text(t) => t.as_bytes(),
        Message::Binary(b) => b,
        _ => return 0,
    };
    let needle: &[u8] = match message {
        Message::Text(_) => b"\"Receive\"",
        _ => b"\xa7Receive",
    };
    bytes.windows(needle.len()).filter(|w| *w == needle).count() as u64
}

/// The 50th and 99th percentile, in µs, of `n` sequential `SendToCaller` invocations (each
/// waits for its delivery and its Completion).
async fn round_trip_percentiles(url: &str, n: usize) -> Result<(f64, f64), String> {
    let mut ws = connect(url, HubProtocol::Json).await?;
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        call(
            &mut ws,
            HubProtocol::Json,
            &format!("r{i}"),
            "SendToCaller",
            vec![json!("x")],
        )
        .await?;
        samples.push(started.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    Ok((at(0.50), at(0.99)))
}

/// Fan-out deliveries/s to one group of `receivers`, one figure per round; with `mixed`, every
/// second receiver speaks MessagePack.
async fn fanout_rates(
    receivers: usize,
    sends: usize,
    rounds: usize,
    mixed: bool,
) -> Result<Vec<f64>, String> {
    let hub = RefHub::start(RefHubConfig {
        listen: "127.0.0.1:0".parse().expect("a socket address"),
        profile: Profile::Core,
        max_queued_messages: 1_000_000,
        ..RefHubConfig::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let url = format!("ws://{}/hub", hub.local_addr());
    let counted = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let result = async {
        for i in 0..receivers {
            let protocol = if mixed && i % 2 == 1 {
                HubProtocol::MessagePack
            } else {
                HubProtocol::Json
            };
            let mut ws = connect(&url, protocol).await?;
            call(
                &mut ws,
                protocol,
                &format!("j{i}"),
                "AddToGroup",
                vec![json!("bench")],
            )
            .await?;
            let counted = counted.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(Ok(m)) = ws.next().await {
                    counted.fetch_add(receives_in(&m), Ordering::Relaxed);
                }
            }));
        }
        let mut sender = connect(&url, HubProtocol::Json).await?;
        let mut rates = Vec::new();
        for round in 0..rounds {
            let want = counted.load(Ordering::Relaxed) + (receivers * sends) as u64;
            let started = Instant::now();
            for s in 0..sends {
                let m = HubMessage::invocation(
                    None,
                    "SendToGroup",
                    vec![json!("bench"), json!(format!("r{round}m{s}"))],
                );
                sender
                    .send(Message::text(m.to_wire()))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            while counted.load(Ordering::Relaxed) < want {
                if started.elapsed() > Duration::from_secs(60) {
                    return Err(format!("fan-out round {round} did not finish in 60 s"));
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            rates.push((receivers * sends) as f64 / started.elapsed().as_secs_f64());
        }
        Ok(rates)
    }
    .await;
    for t in tasks {
        t.abort();
    }
    hub.shutdown().await;
    result
}

async fn network(args: &BenchArgs) -> Result<(), String> {
    let mut echoes = Vec::new();
    for _ in 0..args.runs {
        echoes.push(echo_rate(20_000).await?);
    }
    let echo = median(echoes.clone());
    println!(
        "{:<48} median {echo:>12.0}   runs [{}]",
        "harness   raw WebSocket echo round trips/s",
        list(&echoes)
    );
    let hub = RefHub::start(RefHubConfig {
        listen: "127.0.0.1:0".parse().expect("a socket address"),
        profile: Profile::Core,
        ..RefHubConfig::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let result = async {
        for &n in &args.connections {
            let rates = session_rates(&hub.url(), n, args.runs, HubProtocol::Json).await?;
            let ops = median(rates.clone());
            println!(
                "{:<48} median {ops:>12.1}   runs [{}]",
                format!("harness   session ops/s, {n} connections"),
                list(&rates)
            );
            let packed = session_rates(&hub.url(), n, args.runs, HubProtocol::MessagePack).await?;
            println!(
                "{:<48} median {:>12.1}   runs [{}]",
                format!("harness   session ops/s, {n} MessagePack conns"),
                median(packed.clone()),
                list(&packed)
            );
            println!(
                "{:<48}        {:>12.4}   (an op costs ≥ {} round trips: the send and its barrier)",
                format!("harness   ops/s ÷ echo round trips/s, {n} conns"),
                ops / echo,
                n + 1
            );
        }
        let (p50, p99) =
            round_trip_percentiles(&format!("ws://{}/hub", hub.local_addr()), args.round_trips)
                .await?;
        println!(
            "{:<48} p50 {:>9.0} µs   p99 {:>9.0} µs   ({} sequential SendToCaller)",
            "refhub    invocation round trip", p50, p99, args.round_trips
        );
        Ok::<(), String>(())
    }
    .await;
    hub.shutdown().await;
    result?;
    for mixed in [false, true] {
        let fan = fanout_rates(args.receivers, args.sends, args.runs, mixed).await?;
        let how = if mixed { ", half MessagePack" } else { "" };
        println!(
            "{:<48} median {:>12.0}   runs [{}]",
            format!(
                "refhub    fan-out deliveries/s, group of {}{how}",
                args.receivers
            ),
            median(fan.clone()),
            list(&fan)
        );
    }
    Ok(())
}

/// Runs `hubspec bench`.
pub fn bench(args: BenchArgs) -> Exit {
    let started = Instant::now();
    let runs = args.runs.max(1);
    if cfg!(debug_assertions) {
        eprintln!(
            "hubspec bench: this is a debug build; the figures are not representative. Use \
             cargo run --release -p hubspec-conformance --bin hubspec -- bench"
        );
    }
    if args.only == Some(BenchOnly::Precision) {
        return precision_matrix(&args);
    }
    if args.only == Some(BenchOnly::Resilience) {
        return resilience(&args);
    }
    if args.only == Some(BenchOnly::Crash) {
        return crash_durability(&args);
    }
    if args.only == Some(BenchOnly::Concurrency) {
        return super::bench_concurrency::concurrency(&args);
    }
    println!("hubspec bench: medians of {runs} runs");
    if !args.no_checker {
        let (one, one_runs, unique) = checker_rate(1, runs);
        let (two, two_runs, _) = checker_rate(2, runs);
        println!(
            "{:<48} median {one:>12.0}   runs [{}]   (3×2×2 core-stateful buffer 1, {unique} unique states)",
            "checker   generated states/s, 1 thread",
            list(&one_runs)
        );
        println!(
            "{:<48} median {two:>12.0}   runs [{}]",
            "checker   generated states/s, 2 threads",
            list(&two_runs)
        );
        println!(
            "{:<48}        {:>12.2}",
            "checker   2 threads ÷ 1 thread",
            two / one
        );
    }
    if !args.no_network {
        let rt = match tokio::runtime::Runtime::new() {
            Ok(rt) => rt,
            Err(e) => return fail(Exit::Usage, format!("cannot start the runtime: {e}")),
        };
        if let Err(e) = rt.block_on(network(&BenchArgs { runs, ..args })) {
            return fail(Exit::Failure, e);
        }
    }
    println!("total {:.1} s", started.elapsed().as_secs_f64());
    Exit::Success
}

/// `hubspec bench precision`: one row per fault alone, then `--pairs` pairs; a summary line
/// counts the rows that meet the bar.
/// `hubspec bench crash`: `--kills` kill -9 restarts of this very binary's `serve`; fails
/// when a record was lost, a database corrupted or a first connection not restored.
fn crash_durability(args: &BenchArgs) -> Exit {
    use hubspec_conformance::crash::{clock_seed, crash_cycles, CrashOptions};
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return fail(Exit::Usage, format!("cannot find the hubspec binary: {e}")),
    };
    let seed = args.seed.unwrap_or_else(clock_seed);
    let dir = std::env::temp_dir().join(format!("hubspec-bench-crash-{}", std::process::id()));
    println!("hubspec bench crash: {} kills, --seed {seed}", args.kills);
    let result = crash_cycles(&CrashOptions::new(exe, dir.clone(), args.kills, seed));
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(report) if report.is_clean() => {
            println!("{report}");
            Exit::Success
        }
        Ok(report) => fail(Exit::Failure, report.to_string()),
        Err(e) => fail(Exit::Failure, format!("--seed {seed}: {e}")),
    }
}

fn precision_matrix(args: &BenchArgs) -> Exit {
    use hubspec_conformance::precision::{row, sample_pairs};
    use hubspec_conformance::Part;
    use hubspec_refhub::Fault;
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(Exit::Usage, format!("cannot start the runtime: {e}")),
    };
    let mut parts = vec![Part::Scenarios, Part::Properties];
    if args.exhaustive {
        parts.push(Part::Exhaustive);
    }
    let started = Instant::now();
    let mut rows: Vec<Vec<Fault>> = Fault::ALL.iter().map(|f| vec![*f]).collect();
    rows.extend(sample_pairs(args.pairs).into_iter().map(|p| p.to_vec()));
    println!(
        "hubspec bench precision: parts {parts:?}, {} random histories per target; profiles core and core-stateful",
        args.cases
    );
    println!(
        "{:<44} {:>6} {:>6} {:>6} {:>7}  bar",
        "faults", "prec.", "recall", "blocked", "covered"
    );
    let (mut met, mut total) = (0, 0);
    for faults in rows {
        match rt.block_on(row(&faults, &parts, args.cases)) {
            Ok(r) => {
                total += 1;
                met += usize::from(r.meets_bar());
                println!("{r}");
            }
            Err(e) => return fail(Exit::Failure, format!("{faults:?}: {e}")),
        }
    }
    println!(
        "{met} of {total} rows meet the bar (precision and recall 100 %, at most 5 % of the others blocked); {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Exit::Success
}

/// `hubspec bench resilience`: `--runs` cut storms of `--cuts` cuts against an in-process
/// refhub (disconnect timeout 5 s), one line per run, then the totals and medians. Fails
/// unless every run is clean (nothing lost, duplicated or out of order, no connection failed,
/// every abandoned connection ended).
fn resilience(args: &BenchArgs) -> Exit {
    use hubspec_harness::storm::{self, StormConfig};
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(Exit::Usage, format!("cannot start the runtime: {e}")),
    };
    let seed = args
        .seed
        .unwrap_or_else(hubspec_conformance::crash::clock_seed);
    let disconnect_timeout = Duration::from_secs(5);
    println!(
        "hubspec bench resilience: {} runs of {} cuts, {} stateful connections in {} groups, seeds from {seed} (--seed {seed} replays the choices)",
        args.runs.max(1),
        args.cuts,
        args.storm_connections,
        args.storm_groups
    );
    let mut reports = Vec::new();
    for run in 0..args.runs.max(1) as u64 {
        let config = StormConfig {
            connections: args.storm_connections,
            groups: args.storm_groups,
            cuts: args.cuts,
            seed: seed.wrapping_add(run),
            abandoned: 4.min(args.storm_connections.saturating_sub(1)),
            disconnect_timeout,
            pause_max: Duration::from_millis(6),
            invocation_timeout: Duration::from_secs(20),
        };
        let report = rt.block_on(async {
            let hub = RefHub::start(RefHubConfig {
                disconnect_timeout,
                ..RefHubConfig::default()
            })
            .await
            .map_err(|e| e.to_string())?;
            let report = storm::run(&hub.url(), config)
                .await
                .map_err(|e| e.to_string());
            hub.shutdown().await;
            report
        });
        match report {
            Ok(report) => {
                println!("{report}");
                reports.push(report);
            }
            Err(e) => return fail(Exit::Failure, e),
        }
    }
    let sum =
        |f: fn(&hubspec_harness::storm::StormReport) -> u64| -> u64 { reports.iter().map(f).sum() };
    let rate: Vec<f64> = reports
        .iter()
        .map(|r| r.cuts as f64 / r.elapsed.as_secs_f64())
        .collect();
    println!(
        "cuts survived {} (resumes {}), {} sent, {} delivered: {} lost, {} duplicated, {} out of order, {} resumes refused after a rewind, {} connections failed",
        sum(|r| r.cuts),
        sum(|r| r.resumes),
        sum(|r| r.sent),
        sum(|r| r.delivered),
        sum(|r| r.lost),
        sum(|r| r.duplicated),
        sum(|r| r.out_of_order),
        sum(|r| r.rewinds_refused),
        sum(|r| r.failures.len() as u64),
    );
    println!(
        "median resume {:.1} ms (per run [{}]); median {:.0} cuts/s",
        median(reports.iter().map(|r| r.median_resume_ms()).collect()),
        reports
            .iter()
            .map(|r| format!("{:.1}", r.median_resume_ms()))
            .collect::<Vec<_>>()
            .join(", "),
        median(rate),
    );
    if reports.iter().all(|r| r.is_clean()) {
        Exit::Success
    } else {
        Exit::Failure
    }
}
