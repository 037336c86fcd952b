//! End to end against the reference hub: the model's scenarios, run over the wire, must show
//! no divergence, and the observed transcript must equal the expected one line for line.

use hubspec_harness::restart::BoxFuture;
use hubspec_harness::{HarnessError, Restarter, RunReport, Session, TargetConfig};
use hubspec_model::{scenarios, Capability, ConnId, Op, Profile, Scenario, Selector, Spec};
use hubspec_refhub::{RefHub, RefHubConfig};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// Restarts the embedded hub in process.
struct InProcess(Arc<RefHub>);

impl Restarter for InProcess {
    fn restart(&self) -> BoxFuture<'_, Result<(), HarnessError>> {
        Box::pin(async move {
            self.0.restart().await;
            Ok(())
        })
    }
}

// Long enough that a resume three ops after its drop is still in time on two busy cores.
const DISCONNECT_TIMEOUT: Duration = Duration::from_millis(1000);

async fn start(profile: Profile) -> (Arc<RefHub>, TargetConfig) {
    let hub = RefHub::start(RefHubConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        profile,
        disconnect_timeout: DISCONNECT_TIMEOUT,
        ..Default::default()
    })
    .await
    .expect("refhub starts");
    let mut caps = vec![Capability::Rooms, Capability::Restart];
    if profile == Profile::CoreStateful {
        caps.push(Capability::StatefulReconnect);
    }
    let mut config = TargetConfig::for_url(&hub.url())
        .unwrap()
        .with_capabilities(caps)
        .with_profile(profile);
    config.timeouts.disconnect_timeout = DISCONNECT_TIMEOUT;
    config.timeouts.barrier = Duration::from_secs(3);
    config.timeouts.invocation = Duration::from_secs(3);
    (Arc::new(hub), config)
}

fn applicable(profile: Profile) -> Vec<Scenario> {
    scenarios()
        .into_iter()
        .filter(|s| s.rule().applies_to(profile))
        .filter(|s| s.rule().area != hubspec_model::Area::Protocol)
        .collect()
}

fn assert_clean(key: &str, report: &RunReport) {
    let text: Vec<String> = report.divergences.iter().map(|d| d.to_string()).collect();
    assert!(
        report.divergences.is_empty(),
        "{key}: {} divergences:\n{}",
        text.len(),
        text.join("\n")
    );
    assert_eq!(
        report.observed.to_string(),
        report.expected.to_string(),
        "{key}: transcripts differ"
    );
    assert!(report.passed(), "{key}");
    // The reference hub's error texts name their kind: none is read as unstated.
    assert!(
        report.results_as_read.is_empty(),
        "{key}: {:?}",
        report.results_as_read
    );
}

async fn run_all(profile: Profile) {
    let (hub, config) = start(profile).await;
    let restarter: Arc<dyn Restarter> = Arc::new(InProcess(hub.clone()));
    let spec = Spec::new(profile);
    let all = applicable(profile);
    assert!(all.len() > 20, "{} scenarios", all.len());
    // Exclusive cases one at a time; the others all at once on the same server, which is what
    // the prefixes are for.
    let (exclusive, shared): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|s| hubspec_model::is_exclusive(&s.ops));
    for s in &exclusive {
        let mut session = Session::new(&config, spec, &s.key(), Some(restarter.clone()));
        let report = session.run(&s.ops).await.unwrap();
        assert!(report.exclusive);
        assert_clean(&s.key(), &report);
    }
    let runs = shared.iter().map(|s| {
        let (config, restarter) = (config.clone(), restarter.clone());
        async move {
            let mut session = Session::new(&config, spec, &s.key(), Some(restarter));
            (s.key(), session.run(&s.ops).await.unwrap())
        }
    });
    for (key, report) in futures_util::future::join_all(runs).await {
        assert!(!report.exclusive, "{key}");
        assert_clean(&key, &report);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_core_scenario_runs_over_the_wire_without_divergence() {
    tokio::time::timeout(Duration::from_secs(120), run_all(Profile::Core))
        .await
        .expect("bounded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_core_stateful_scenario_runs_over_the_wire_without_divergence() {
    tokio::time::timeout(Duration::from_secs(120), run_all(Profile::CoreStateful))
        .await
        .expect("bounded");
}

/// A loopback TCP proxy in front of `upstream`, standing for one node of a cluster; it counts
/// the TCP connections it accepted. With `tls`, it terminates TLS with that configuration.
async fn proxy(
    upstream: std::net::SocketAddr,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let tls = tls.clone();
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = server.set_nodelay(true);
                let _ = client.set_nodelay(true);
                match tls {
                    None => {
                        let mut client = client;
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                    Some(config) => {
                        let acceptor = tokio_rustls::TlsAcceptor::from(config);
                        if let Ok(mut client) = acceptor.accept(client).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// Two nodes of one logical hub: two proxies in front of one refhub. Connections are spread
/// round-robin (c1, c3 on node 1; c2, c4 on node 2), and sends cross nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_spread_over_several_node_urls_and_still_match() {
    let (hub, config) = start(Profile::Core).await;
    let (a, a_count) = proxy(hub.local_addr(), None).await;
    let (b, b_count) = proxy(hub.local_addr(), None).await;
    let mut config = config;
    config.urls = vec![
        format!("http://{a}/hub").parse().unwrap(),
        format!("http://{b}/hub").parse().unwrap(),
    ];
    let g = || Some("g".to_string());
    let ops = vec![
        Op::Connect { user: None },
        Op::Connect {
            user: Some("u".into()),
        },
        Op::Connect { user: None },
        Op::Connect {
            user: Some("u".into()),
        },
        // Members on both nodes, added from the other node.
        Op::AddConnectionToGroup {
            caller: ConnId(1),
            target: hubspec_model::Target::Id(ConnId(2)),
            group: g(),
        },
        Op::AddToGroup {
            caller: ConnId(3),
            group: g(),
        },
        Op::Send {
            caller: ConnId(4),
            selector: Selector::Group(g()),
            payload: "m1".into(),
        },
        Op::Send {
            caller: ConnId(3),
            selector: Selector::OthersInGroup(g()),
            payload: "m2".into(),
        },
        Op::RemoveConnectionFromGroup {
            caller: ConnId(4),
            target: hubspec_model::Target::Id(ConnId(3)),
            group: g(),
        },
        Op::Send {
            caller: ConnId(1),
            selector: Selector::Group(g()),
            payload: "m3".into(),
        },
        Op::Send {
            caller: ConnId(1),
            selector: Selector::User("u".into()),
            payload: "m4".into(),
        },
    ];
    let mut session = Session::new(&config, Spec::new(Profile::Core), "nodes", None);
    let report = tokio::time::timeout(Duration::from_secs(30), session.run(&ops))
        .await
        .unwrap()
        .unwrap();
    assert_clean("nodes", &report);
    // Each node served its two connections (negotiate and WebSocket: two TCP connections each).
    assert!(a_count.load(Ordering::SeqCst) >= 4, "node 1: {a_count:?}");
    assert!(b_count.load(Ordering::SeqCst) >= 4, "node 2: {b_count:?}");
    // The group send from node 2 reached members on both nodes, as observed.
    let step7 = &report.observed.steps[6].outcome.deliveries;
    let to: Vec<ConnId> = step7.iter().map(|d| d.to).collect();
    assert_eq!(to, vec![ConnId(2), ConnId(3)], "{}", report.observed);
}

/// A self-signed certificate for 127.0.0.1, as a PEM file and a TLS server configuration.
fn self_signed(
    dir: &std::path::Path,
) -> (std::path::PathBuf, Arc<tokio_rustls::rustls::ServerConfig>) {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("a certificate");
    let pem = dir.join("ca.pem");
    std::fs::write(&pem, key.cert.pem()).unwrap();
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![key.cert.der().clone()], der)
    .unwrap();
    (pem, Arc::new(config))
}

/// https negotiate and wss through a TLS-terminating proxy whose certificate is trusted only
/// through `ca_file`; without it the target cannot be reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_runs_over_wss_to_a_self_signed_target_given_its_ca_file() {
    let dir = std::env::temp_dir().join(format!("hubspec-tls-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    let (pem, tls) = self_signed(&dir);
    let (hub, _) = start(Profile::CoreStateful).await;
    let (addr, accepted) = proxy(hub.local_addr(), Some(tls)).await;
    let url = format!("https://{addr}/hub");
    let config = TargetConfig::from_vars(|name| match name {
        "HUBSPEC_URL" => Some(url.clone()),
        "HUBSPEC_CA_FILE" => Some(pem.display().to_string()),
        "HUBSPEC_PROFILE" => Some("core-stateful".into()),
        "HUBSPEC_CAPABILITIES" => Some("stateful-reconnect".into()),
        "HUBSPEC_DISCONNECT_TIMEOUT_MS" => Some(DISCONNECT_TIMEOUT.as_millis().to_string()),
        _ => None,
    })
    .unwrap()
    .unwrap();
    assert_eq!(config.ca_file.as_deref(), Some(pem.as_path()));
    let spec = Spec::new(Profile::CoreStateful);
    let ops = vec![
        Op::Connect { user: None },
        Op::Connect { user: None },
        Op::AddToGroup {
            caller: ConnId(1),
            group: Some("g".into()),
        },
        Op::Drop { conn: ConnId(1) },
        Op::Send {
            caller: ConnId(2),
            selector: Selector::Group(Some("g".into())),
            payload: "m1".into(),
        },
        Op::Resume {
            conn: ConnId(1),
            altered_token: false,
        },
    ];
    let mut session = Session::new(&config, spec, "wss", None);
    let report = tokio::time::timeout(Duration::from_secs(30), session.run(&ops))
        .await
        .unwrap()
        .unwrap();
    assert_clean("wss", &report);
    assert!(accepted.load(Ordering::SeqCst) >= 4, "{accepted:?}");

    // The same target without the CA file: the certificate is not trusted.
    let mut untrusted = config.clone();
    untrusted.ca_file = None;
    let mut session = Session::new(&untrusted, spec, "wss-untrusted", None);
    let report = tokio::time::timeout(Duration::from_secs(30), session.run(&ops))
        .await
        .unwrap()
        .unwrap();
    let d = report.divergences.first().expect("cannot connect");
    assert_eq!(d.step, 1, "{d}");
    assert!(d.observed.contains("TLS"), "{d}");
    std::fs::remove_dir_all(dir).unwrap();
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

#[tokio::test]
async fn a_history_that_needs_an_undeclared_capability_is_not_applicable() {
    let config = TargetConfig::for_url("http://127.0.0.1:9/hub").unwrap();
    let mut session = Session::new(&config, Spec::default(), "na", None);
    let err = session.run(&[Op::Restart]).await.unwrap_err();
    assert!(
        matches!(err, HarnessError::NotApplicable("restart")),
        "{err}"
    );
    let ops = vec![
        Op::Connect { user: None },
        Op::JoinRoom {
            caller: ConnId(1),
            room: Some("r".into()),
        },
    ];
    let err = session.run(&ops).await.unwrap_err();
    assert!(matches!(err, HarnessError::NotApplicable("rooms")), "{err}");
    let err = session
        .run(&[Op::Disconnect { conn: ConnId(1) }])
        .await
        .unwrap_err();
    assert!(matches!(err, HarnessError::InvalidHistory(_)), "{err}");
}

async fn violated_rules_under(fault: hubspec_refhub::Fault) -> (Vec<&'static str>, String) {
    let profile = Profile::CoreStateful;
    let hub = RefHub::start(RefHubConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        profile,
        disconnect_timeout: DISCONNECT_TIMEOUT,
        faults: [fault].into_iter().collect(),
        ..Default::default()
    })
    .await
    .unwrap();
    let hub = Arc::new(hub);
    let mut config = TargetConfig::for_url(&hub.url())
        .unwrap()
        .with_capabilities(Capability::ALL)
        .with_profile(profile);
    config.timeouts.disconnect_timeout = DISCONNECT_TIMEOUT;
    config.timeouts.barrier = Duration::from_secs(3);
    let restarter: Arc<dyn Restarter> = Arc::new(InProcess(hub.clone()));
    let spec = Spec::new(profile);
    let mut histories: Vec<(String, Vec<Op>)> = applicable(profile)
        .into_iter()
        .map(|s| (s.key(), s.ops))
        .collect();
    // The scenarios' restart case is anonymous; a user's memberships surviving a restart
    // shows only with a user.
    histories.push((
        "extra/restart-with-user".into(),
        vec![
            Op::Connect {
                user: Some("alice".into()),
            },
            Op::AddToGroup {
                caller: ConnId(1),
                group: Some("g".into()),
            },
            Op::Restart,
            Op::Connect {
                user: Some("alice".into()),
            },
            Op::Connect { user: None },
            Op::Send {
                caller: ConnId(3),
                selector: Selector::Group(Some("g".into())),
                payload: "m1".into(),
            },
        ],
    ));
    let (exclusive, shared): (Vec<_>, Vec<_>) = histories
        .into_iter()
        .partition(|(_, ops)| hubspec_model::is_exclusive(ops));
    let mut reports = Vec::new();
    for (key, ops) in &exclusive {
        let mut session = Session::new(&config, spec, key, Some(restarter.clone()));
        reports.push((key.clone(), session.run(ops).await.unwrap()));
    }
    let runs = shared.iter().map(|(key, ops)| {
        let (config, restarter) = (config.clone(), restarter.clone());
        async move {
            let mut session = Session::new(&config, spec, key, Some(restarter));
            (key.clone(), session.run(ops).await.unwrap())
        }
    });
    reports.extend(futures_util::future::join_all(runs).await);
    let mut rules = Vec::new();
    let mut first = String::new();
    // An id reused across sessions is kept in the ledger, not in a run's divergences.
    if let Some(r) = config.issued.reused().0.first() {
        rules.push("CON-IDS-UNIQUE");
        first = format!("{} reused by {} after {}", r.id, r.again, r.first);
    }
    for (key, report) in reports {
        for d in &report.divergences {
            if first.is_empty() {
                first = format!("{key}: {d}");
            }
            for r in &d.rules {
                if !rules.contains(r) {
                    rules.push(*r);
                }
            }
        }
    }
    (rules, first)
}

/// Every named fault of the reference hub is caught, and blamed on a rule the fault breaks:
/// the harness's observation and its blame heuristics together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refhub_fault_is_caught_and_blamed_on_a_rule_it_breaks() {
    use futures_util::stream::{self, StreamExt};
    // The faults a session under core-stateful can show: not those of a rule stated only for
    // core (REC-CORE-DROP-ENDS), nor those of the protocol rules the suite checks with probes
    // (conformance's mutants part hunts every fault, each under its profile, with probes).
    let observable = |f: &hubspec_refhub::Fault| {
        f.breaks().iter().all(|id| {
            hubspec_model::rule(id).is_some_and(|r| {
                r.applies_to(Profile::CoreStateful) && r.area != hubspec_model::Area::Protocol
            })
        })
    };
    let check = async {
        let mut missed = Vec::new();
        // Four hubs at a time: all fifty at once overload two cores until negotiated
        // connections expire before their upgrade.
        let all: Vec<_> = stream::iter(hubspec_refhub::Fault::ALL.into_iter().filter(observable))
            .map(|f| async move { (f, violated_rules_under(f).await) })
            .buffer_unordered(4)
            .collect()
            .await;
        for (fault, (rules, first)) in all {
            // FIXME(CON-IDS-UNIQUE): an id the hub reuses shows at the Connect step only
            // when the connection that held it has ended by then; otherwise the reused id
            // shows as a copy to the wrong connection, blamed on SND-EXACTLY-ONCE.
            let known: &[&str] = match fault {
                hubspec_refhub::Fault::IdsReused => &["SND-EXACTLY-ONCE"],
                // FIXME(SND-DELIVERED-BEFORE-COMPLETION): the copies go out 2 s after the
                // Completion, after these short histories end, so a session alone sees them
                // lost (SND-OTHERS); the suite's diagnosis reruns the history with a pause
                // after the send and finds them late (conformance/src/diagnosis.rs).
                hubspec_refhub::Fault::SendCompletesBeforeQueue => &["SND-OTHERS"],
                _ => &[],
            };
            if !fault
                .breaks()
                .iter()
                .chain(known)
                .any(|r| rules.contains(r))
            {
                missed.push(format!(
                    "{fault}: breaks {:?}, blamed {rules:?}; first: {first}",
                    fault.breaks()
                ));
            }
        }
        assert!(missed.is_empty(), "{}", missed.join("\n\n"));
    };
    tokio::time::timeout(Duration::from_secs(240), check)
        .await
        .expect("bounded");
}

/// An id the target gives a second time is caught even when the connection that first had it
/// belonged to another session: sessions of one configuration share one ledger of issued ids,
/// which keeps the reuse (the suite reports it once, as CON-IDS-UNIQUE) without spoiling the
/// run that saw it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_reused_across_sessions_is_kept_in_the_ledger() {
    let check = async {
        let hub = RefHub::start(RefHubConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            faults: [hubspec_refhub::Fault::IdsReused].into_iter().collect(),
            ..Default::default()
        })
        .await
        .unwrap();
        let config = TargetConfig::for_url(&hub.url()).unwrap();
        let spec = config.spec();
        let ended = vec![
            Op::Connect { user: None },
            Op::Disconnect { conn: ConnId(1) },
        ];
        let mut first = Session::new(&config, spec, "ids-first", None);
        let report = first.run(&ended).await.unwrap();
        assert!(report.divergences.is_empty(), "{:?}", report.divergences);
        first.close().await;
        // The hub hands the ended connection's id to the next connection: another session's.
        let mut second = Session::new(&config, spec, "ids-second", None);
        let report = second.run(&[Op::Connect { user: None }]).await.unwrap();
        assert!(report.divergences.is_empty(), "{:?}", report.divergences);
        second.close().await;
        let (reused, all) = config.issued.reused();
        assert_eq!(all, 1, "{reused:?}");
        assert_eq!(
            (reused[0].first.as_str(), reused[0].again.as_str()),
            ("ids-first", "ids-second")
        );
        // A correct hub under the same sessions: nothing reused.
        let hub = RefHub::start(RefHubConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Default::default()
        })
        .await
        .unwrap();
        let config = TargetConfig::for_url(&hub.url()).unwrap();
        for key in ["ids-first", "ids-second"] {
            let mut session = Session::new(&config, spec, key, None);
            let report = session.run(&ended).await.unwrap();
            assert!(report.divergences.is_empty(), "{:?}", report.divergences);
            session.close().await;
        }
        assert_eq!(config.issued.len(), 2);
        assert_eq!(config.issued.reused().1, 0);
    };
    tokio::time::timeout(Duration::from_secs(60), check)
        .await
        .expect("bounded");
}

/// A resume the target refuses because the harness came after its disconnect timeout (a
/// loaded machine between two steps) is the harness's lateness: the run says so in
/// `too_slow`, so the caller reruns it instead of blaming the target. A refusal the model
/// expects is never taken for lateness.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_refused_after_our_own_delay_is_too_slow_not_a_verdict() {
    let check = async {
        let (hub, config) = start(Profile::CoreStateful).await;
        let spec = config.spec();
        let late = DISCONNECT_TIMEOUT * 2;
        let ops = vec![
            Op::Connect { user: None },
            Op::Drop { conn: ConnId(1) },
            Op::Resume {
                conn: ConnId(1),
                altered_token: false,
            },
        ];
        let mut session = Session::new(&config, spec, "too-slow", None);
        session.settle_before(2, late);
        let report = session.run(&ops).await.unwrap();
        let why = report.too_slow.expect("the late resume is flagged");
        assert!(why.starts_with("step 3:"), "{why}");
        assert!(
            !report.divergences.is_empty(),
            "the refusal itself is still observed"
        );
        // In time, the same history passes and nothing is flagged.
        let mut session = Session::new(&config, spec, "in-time", None);
        let report = session.run(&ops).await.unwrap();
        assert_clean("in-time", &report);
        assert_eq!(report.too_slow, None);
        // A resume after a restart is refused by the model too: lateness plays no part.
        let ops = vec![
            Op::Connect { user: None },
            Op::Drop { conn: ConnId(1) },
            Op::Restart,
            Op::Resume {
                conn: ConnId(1),
                altered_token: false,
            },
        ];
        let restarter = Arc::new(InProcess(hub.clone()));
        let mut session = Session::new(&config, spec, "refused", Some(restarter));
        session.settle_before(3, late);
        let report = session.run(&ops).await.unwrap();
        assert_clean("refused", &report);
        assert_eq!(report.too_slow, None);
    };
    tokio::time::timeout(Duration::from_secs(60), check)
        .await
        .expect("bounded");
}
