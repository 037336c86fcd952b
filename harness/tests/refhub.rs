//! End to end against the reference hub: the model's scenarios, run over the wire, must show
//! no divergence, and the observed transcript must equal the expected one line for line.

use hubspec_harness::restart::BoxFuture;
use hubspec_harness::{HarnessError, Restarter, RunReport, Session, TargetConfig};
use hubspec_model::{scenarios, Capability, ConnId, Op, Profile, Scenario, Selector, Spec};
use hubspec_refhub::{RefHub, RefHubConfig};
use std::sync::Arc;
use std::time::Duration;

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

const DISCONNECT_TIMEOUT: Duration = Duration::from_millis(300);

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
        .partition(|s| hubspec_harness::is_exclusive(&s.ops));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_spread_over_several_node_urls_and_still_match() {
    let (hub, config) = start(Profile::Core).await;
    let mut config = config;
    // Two URLs of the one hub stand for two nodes behind a backplane.
    let other = hub.url().replace("127.0.0.1", "localhost");
    config.urls.push(other.parse().unwrap());
    let ops = vec![
        Op::Connect { user: None },
        Op::Connect {
            user: Some("u".into()),
        },
        Op::Connect { user: None },
        Op::AddToGroup {
            caller: ConnId(2),
            group: Some("g".into()),
        },
        Op::Send {
            caller: ConnId(1),
            selector: Selector::Group(Some("g".into())),
            payload: "m1".into(),
        },
        Op::Send {
            caller: ConnId(3),
            selector: Selector::User("u".into()),
            payload: "m2".into(),
        },
    ];
    let mut session = Session::new(&config, Spec::new(Profile::Core), "nodes", None);
    let report = tokio::time::timeout(Duration::from_secs(30), session.run(&ops))
        .await
        .unwrap()
        .unwrap();
    assert_clean("nodes", &report);
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
        .partition(|(_, ops)| hubspec_harness::is_exclusive(ops));
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
    let check = async {
        let mut missed = Vec::new();
        let all = futures_util::future::join_all(
            hubspec_refhub::Fault::ALL
                .into_iter()
                .map(|f| async move { (f, violated_rules_under(f).await) }),
        )
        .await;
        for (fault, (rules, first)) in all {
            if !fault.breaks().iter().any(|r| rules.contains(r)) {
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
