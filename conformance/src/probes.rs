//! Probes for the `PRO-` rules: the wire-protocol facts the rest of the suite relies on,
//! checked with a bare client rather than through a model history.

use crate::report::Finding;
use crate::target::Target;
use hubspec_harness::restart::BoxFuture;
use hubspec_harness::{Client, ClientError, ClientOptions, DivergenceKind, TargetConfig};
use hubspec_model::{Profile, Rule};
use hubspec_wire::{CompletionResult, HubProtocol};
use std::time::Duration;

/// What a probe found wrong: what the rule expects, what the target did instead, and the
/// rule the failure itself breaks when that is another than the probe's (a call that never
/// completes is `PRO-RESPONSIVE`, whichever rule's probe made it): kept typed, so that
/// another rule's root cause blocks the probe's rule rather than failing it.
#[derive(Debug)]
pub struct Mismatch {
    /// What the rule expects.
    pub expected: String,
    /// What the target did.
    pub observed: String,
    /// The rule the failure breaks when another than the probe's.
    pub rule: Option<&'static str>,
}

impl Mismatch {
    /// A mismatch of the probe's own rule.
    fn own(expected: impl Into<String>, observed: impl Into<String>) -> Mismatch {
        Mismatch {
            expected: expected.into(),
            observed: observed.into(),
            rule: None,
        }
    }
}

/// A probe: it drives a connected client and says what went wrong, if anything.
type Probe = for<'a> fn(&'a mut Client) -> BoxFuture<'a, Result<(), Mismatch>>;

/// Every `PRO-` rule with its probe: the one list, so a rule has a probe exactly when it is
/// here. Every `PRO-` rule of the catalog must be (the tidy test checks); a probe missing at
/// run time is a bug of ours and panics ([`probe_for`]), never a finding against the target.
pub const PROBES: &[(&str, Probe)] = &[
    ("PRO-NEGOTIATE", |c| Box::pin(negotiated(c))),
    ("PRO-HANDSHAKE", |c| Box::pin(invocations(c))),
    ("PRO-TEXT-FRAMES", |c| Box::pin(invocations(c))),
    ("PRO-WELL-FORMED", |c| Box::pin(invocations(c))),
    ("PRO-COMPLETION", |c| Box::pin(invocations(c))),
    ("PRO-UNKNOWN-METHOD", |c| Box::pin(unknown_method(c))),
    ("PRO-PING", |c| Box::pin(pings(c))),
    ("PRO-CLOSE", |c| Box::pin(close(c))),
    ("PRO-SEQUENCE", |c| Box::pin(sequence(c))),
    ("PRO-RESPONSIVE", |c| Box::pin(responsive(c))),
    // [msgpack] Run on a MessagePack client (see `probe`).
    ("PRO-MSGPACK-FRAMING", |c| Box::pin(invocations(c))),
    ("PRO-MSGPACK-WELL-FORMED", |c| Box::pin(invocations(c))),
];

/// The rules [`PROBES`] has a probe for.
pub fn probed() -> impl Iterator<Item = &'static str> {
    PROBES.iter().map(|(id, _)| *id)
}

/// The probe of `id`. Panics when there is none: the suite only probes `PRO-` rules, and
/// every one has a probe, so a missing one is our bug.
fn probe_for(id: &str) -> Probe {
    match PROBES.iter().find(|(probed, _)| *probed == id) {
        Some((_, probe)) => *probe,
        None => panic!(
            "no probe is defined for a rule the suite probes: a bug in hubspec, not in the \
             target. rule={id}, probed={:?}",
            probed().collect::<Vec<_>>()
        ),
    }
}

/// Whether the probe for `rule` can run against `target` (a [`Target`] or just its
/// [`TargetConfig`]), or why not.
pub fn applicable<'a>(rule: &Rule, target: impl Into<&'a TargetConfig>) -> Result<(), String> {
    let target: &TargetConfig = target.into();
    match rule.id {
        "PRO-NEGOTIATE" if target.skip_negotiation => {
            Err("the target is configured with skip_negotiation".into())
        }
        "PRO-SEQUENCE" if target.profile != Profile::CoreStateful => {
            Err("stated for profile core-stateful only".into())
        }
        id if is_msgpack_rule(id) && !target.protocols.contains(&HubProtocol::MessagePack) => {
            Err("the target does not declare the messagepack protocol".into())
        }
        _ => Ok(()),
    }
}

/// The options for a probe's client: the target's own ([`ClientOptions::for_target`], so a
/// probe honours the configured trusted roots, record cap and timeouts like every session),
/// on its first node.
pub(crate) fn options(target: &Target, label: &str, stateful: bool) -> ClientOptions {
    let mut o = ClientOptions::for_target(&target.config, 0);
    o.stateful = stateful;
    o.label = label.into();
    o
}

fn fail(
    target: &Target,
    rule: &'static str,
    expected: &str,
    observed: String,
    frames: Vec<String>,
) -> Finding {
    Finding {
        case: format!("probe {rule}"),
        rules: vec![rule],
        kind: DivergenceKind::Protocol,
        step: 0,
        op: None,
        op_kind: None,
        expected: expected.into(),
        observed,
        transcript: String::new(),
        expected_transcript: String::new(),
        replay: target.run_command(rule),
        frames,
    }
}

fn client_error(
    target: &Target,
    rule: &'static str,
    what: &str,
    e: &ClientError,
    frames: Vec<String>,
) -> Finding {
    let named = e.rule().unwrap_or(rule);
    let mut f = fail(target, rule, what, e.to_string(), frames);
    if named != rule {
        f.rules.push(named);
    }
    f
}

/// Whether `id` is a rule of the MessagePack encoding, probed on a MessagePack client.
fn is_msgpack_rule(id: &str) -> bool {
    id.starts_with("PRO-MSGPACK-")
}

/// Run the probe for `rule`: `None` when the target behaves, the finding otherwise.
pub async fn probe(rule: &'static Rule, target: &Target) -> Option<Finding> {
    let id = rule.id;
    let run = probe_for(id);
    let stateful = id == "PRO-SEQUENCE";
    let mut opts = options(target, "p1", stateful);
    if is_msgpack_rule(id) {
        opts.protocol = HubProtocol::MessagePack;
    }
    let mut client = match Client::connect_with_frames(opts).await {
        Ok(c) => c,
        Err((e, frames)) => {
            let frames = frames.iter().map(|f| f.to_string()).collect();
            return Some(client_error(
                target,
                id,
                "negotiate, WebSocket and handshake succeed",
                &e,
                frames,
            ));
        }
    };
    let result = run(&mut client).await;
    let frames: Vec<String> = client.frames().iter().map(|f| f.to_string()).collect();
    let findings = client.take_findings();
    client.shutdown().await;
    // A check that failed on a connection whose negotiate or handshake already broke its own
    // rule (read past, e.g. no token, so no stateful reconnect) is that rule's doing first.
    let setup = findings
        .iter()
        .map(|f| f.rule)
        .find(|r| *r != id && matches!(*r, "PRO-NEGOTIATE" | "PRO-HANDSHAKE"));
    let own_seen = findings.iter().any(|f| f.rule == id);
    match result {
        Err(m) => {
            let rules = mismatch_rules(id, &m, own_seen, setup);
            let mut f = fail(target, id, &m.expected, m.observed, frames);
            f.rules = rules;
            Some(f)
        }
        Ok(()) => findings
            .into_iter()
            .find(|f| f.rule == id)
            .map(|f| fail(target, id, "no protocol finding", f.detail, frames)),
    }
}

/// The rules a failed probe of `id` blames, the first decides: a failure of another rule (a
/// call that timed out) is that rule's doing first, unless the client saw `id` itself broken
/// on the way (`own_seen`); a connection whose negotiate or handshake broke its rule
/// (`setup`) is that rule's doing before anything.
fn mismatch_rules(
    id: &'static str,
    m: &Mismatch,
    own_seen: bool,
    setup: Option<&'static str>,
) -> Vec<&'static str> {
    let mut rules = vec![id];
    if let Some(rule) = m.rule.filter(|r| *r != id && !own_seen) {
        rules.insert(0, rule);
    }
    if let Some(rule) = setup {
        rules.retain(|r| *r != rule);
        rules.insert(0, rule);
    }
    rules
}

/// `r`, or a mismatch of the rule the client error breaks.
fn ok<T>(what: &str, r: Result<T, ClientError>) -> Result<T, Mismatch> {
    r.map_err(|e| Mismatch {
        expected: what.to_string(),
        observed: e.to_string(),
        rule: e.rule(),
    })
}

/// `r`, or a mismatch of the probe's own rule: the call that is the probe's subject.
fn own<T>(what: &str, r: Result<T, ClientError>) -> Result<T, Mismatch> {
    r.map_err(|e| Mismatch::own(what, e.to_string()))
}

async fn negotiated(client: &mut Client) -> Result<(), Mismatch> {
    match client.negotiated() {
        Some(n) if !n.connection_id.as_deref().unwrap_or("").is_empty() => Ok(()),
        other => Err(Mismatch::own(
            "a v1 negotiate response with a connectionId",
            format!("{other:?}"),
        )),
    }
}

/// A few invocations of every shape; the client checks frames, records and completions as
/// they come and reports any finding.
async fn invocations(client: &mut Client) -> Result<(), Mismatch> {
    for _ in 0..3 {
        ok("GetConnectionId completes", client.connection_id().await)?;
    }
    let id = ok("GetConnectionId completes", client.connection_id().await)?;
    ok(
        "AddToGroup completes",
        client
            .invoke("AddToGroup", vec!["hubspec-probe".into()])
            .await,
    )?;
    ok(
        "SendToConnection completes",
        client
            .invoke("SendToConnection", vec![id.into(), "probe".into()])
            .await,
    )?;
    Ok(())
}

/// [`invocations`], then each call again from the group member the connection now is: every
/// call completes, whatever state the connection is in.
async fn responsive(client: &mut Client) -> Result<(), Mismatch> {
    invocations(client).await?;
    let id = own(
        "GetConnectionId completes for a group member",
        client.connection_id().await,
    )?;
    own(
        "SendToConnection completes for a group member",
        client
            .invoke("SendToConnection", vec![id.into(), "probe".into()])
            .await,
    )?;
    Ok(())
}

async fn unknown_method(client: &mut Client) -> Result<(), Mismatch> {
    match own(
        "a Completion",
        client.invoke("NoSuchHubspecMethod", vec![]).await,
    )? {
        CompletionResult::Error(_) => {}
        other => {
            return Err(Mismatch::own(
                "a Completion with an error",
                format!("{other:?}"),
            ))
        }
    }
    own("the connection stays usable", client.connection_id().await).map(|_| ())
}

async fn pings(client: &mut Client) -> Result<(), Mismatch> {
    client
        .send_raw("{\"type\":6}\u{1e}")
        .await
        .map_err(|e| Mismatch::own("the Ping is accepted", e.to_string()))?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    client
        .send_raw("{\"type\":6}\u{1e}")
        .await
        .map_err(|e| Mismatch::own("the Ping is accepted", e.to_string()))?;
    own(
        "the connection stays open after Pings",
        client.connection_id().await,
    )
    .map(|_| ())
}

async fn close(client: &mut Client) -> Result<(), Mismatch> {
    own(
        "a client Close is answered with a Close",
        client.close().await,
    )?;
    match client.server_close() {
        Some(_) => Ok(()),
        None => Err(Mismatch::own(
            "a Close from the server",
            "the socket closed without one",
        )),
    }
}

async fn sequence(client: &mut Client) -> Result<(), Mismatch> {
    let id = ok("GetConnectionId completes", client.connection_id().await)?;
    client.drop_transport().await;
    own(
        "the resume succeeds with a Sequence first",
        client.resume().await,
    )?;
    let again = own(
        "GetConnectionId completes after the resume",
        client.connection_id().await,
    )?;
    if again == id {
        Ok(())
    } else {
        Err(Mismatch::own(
            "the same connection id after the resume",
            format!("{id} became {again}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    /// A probe's client gets every configured setting, not a hand-picked few: a wss target
    /// needs its `ca_file`, a target with long records its `limits.max_record_bytes`.
    #[test]
    fn probe_options_carry_the_whole_target_config() {
        let mut config = TargetConfig::for_url("wss://127.0.0.1:5001/hub").unwrap();
        config
            .urls
            .push("wss://127.0.0.1:5002/hub".parse().unwrap());
        config.ca_file = Some(PathBuf::from("/certs/dev-ca.pem"));
        config.max_record_bytes = 4096;
        config.skip_negotiation = true;
        config.timeouts.connect = Duration::from_millis(1234);
        config.timeouts.invocation = Duration::from_millis(2345);
        config.timeouts.ping_interval = Duration::from_millis(3456);
        let target = Target::from_config(config.clone());
        let o = options(&target, "p1", true);
        assert_eq!(o.url, config.urls[0]);
        assert_eq!(o.ca_file, config.ca_file);
        assert_eq!(o.max_record_bytes, 4096);
        assert!(o.skip_negotiation && o.stateful);
        assert_eq!(o.connect_timeout, Duration::from_millis(1234));
        assert_eq!(o.invocation_timeout, Duration::from_millis(2345));
        assert_eq!(o.ping_interval, Duration::from_millis(3456));
        assert_eq!(o.label, "p1");
        for node in 0..2 {
            let n = target.node_options(node);
            assert_eq!(n.url, config.urls[node]);
            assert_eq!(
                (n.ca_file, n.max_record_bytes),
                (config.ca_file.clone(), 4096)
            );
        }
    }

    /// A call that never completes in another rule's probe is PRO-RESPONSIVE's root cause:
    /// the probe's rule is blocked by it, not failed, unless the client saw that rule broken.
    #[test]
    fn a_timeout_in_a_probe_blames_responsiveness_first() {
        let timeout = ClientError::timeout("a Completion", Duration::from_secs(5));
        let m = ok::<()>("GetConnectionId completes", Err(timeout)).unwrap_err();
        assert_eq!(m.rule, Some("PRO-RESPONSIVE"));
        assert_eq!(
            mismatch_rules("PRO-WELL-FORMED", &m, false, None),
            vec!["PRO-RESPONSIVE", "PRO-WELL-FORMED"]
        );
        assert_eq!(
            mismatch_rules("PRO-WELL-FORMED", &m, true, None),
            vec!["PRO-WELL-FORMED"]
        );
        assert_eq!(
            mismatch_rules("PRO-SEQUENCE", &m, false, Some("PRO-NEGOTIATE")),
            vec!["PRO-NEGOTIATE", "PRO-RESPONSIVE", "PRO-SEQUENCE"]
        );
        let m = own::<()>(
            "a Completion",
            Err(ClientError::timeout("x", Duration::ZERO)),
        )
        .unwrap_err();
        assert_eq!(
            mismatch_rules("PRO-UNKNOWN-METHOD", &m, false, None),
            vec!["PRO-UNKNOWN-METHOD"]
        );
    }

    /// A hub whose group members' GetConnectionId hangs breaks PRO-RESPONSIVE's probe and no
    /// other's: the other probes make every kind of call, none waits on a group member's id.
    #[tokio::test]
    async fn a_group_members_hanging_call_fails_only_the_responsiveness_probe() {
        let mut target = Target::embedded(
            Profile::Core,
            BTreeSet::from([hubspec_refhub::Fault::GetConnectionIdHangs]),
        )
        .await
        .unwrap();
        target.config.timeouts.invocation = Duration::from_millis(300);
        let responsive = hubspec_model::rule("PRO-RESPONSIVE").unwrap();
        let f = probe(responsive, &target).await.expect("the hang is found");
        assert_eq!(f.rules, vec!["PRO-RESPONSIVE"]);
        for id in ["PRO-WELL-FORMED", "PRO-COMPLETION", "PRO-MSGPACK-FRAMING"] {
            let rule = hubspec_model::rule(id).unwrap();
            assert_eq!(probe(rule, &target).await, None, "{id}");
        }
        target.shutdown().await;
    }

    /// A rule without a probe is our bug: it panics, naming the rule, rather than becoming a
    /// finding that blames the target.
    #[test]
    #[should_panic(expected = "a bug in hubspec, not in the target. rule=GRP-ADD-IDEMPOTENT")]
    fn a_missing_probe_is_our_bug_not_a_finding() {
        probe_for("GRP-ADD-IDEMPOTENT");
    }

    /// The record cap reaches the wire: with a cap below the size of a Completion, the
    /// reference hub's well-formed records are too long for the probe's reader, so the probe
    /// of `PRO-WELL-FORMED` fails (with the default cap it passes, see the suite's tests).
    #[tokio::test]
    async fn a_probe_reads_records_with_the_configured_cap() {
        let mut target = Target::embedded(Profile::Core, BTreeSet::new())
            .await
            .unwrap();
        let rule = hubspec_model::rule("PRO-WELL-FORMED").unwrap();
        assert_eq!(probe(rule, &target).await, None);
        target.config.max_record_bytes = 24;
        let finding = probe(rule, &target)
            .await
            .expect("a record longer than the configured cap is a finding");
        assert!(finding.rules.contains(&"PRO-WELL-FORMED"), "{finding:?}");
        target.shutdown().await;
    }
}
