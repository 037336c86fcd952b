//! Every fault is observable through the contract: one short scenario per fault, run on the
//! correct hub (which must observe what the model computes for the same operations) and on
//! the faulty hub (which must show the wrong behaviour the fault names).

use std::time::Duration;

use hubspec_model::{ConnId, Hub, Mode, Op, OpResult, Selector, Status, Target};
use hubspec_refhub::{Fault, RefHub};
use hubspec_wire::HubMessage;
use serde_json::json;

use crate::client::{open, start, Client};

async fn wait_suspended(hub: &RefHub) {
    for _ in 0..100 {
        if hub
            .model()
            .conns
            .iter()
            .any(|c| c.status == Status::Suspended)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the connection was never suspended");
}

/// Cuts a stateful client and resumes it; `meanwhile` runs while it is suspended.
async fn cut_and_resume(
    hub: &RefHub,
    a: Client,
    b: &mut Client,
    meanwhile: (&str, serde_json::Value),
) -> Client {
    let (id, token) = (a.id.clone(), a.token.clone().unwrap());
    // Every message `a` sent was an invocation through `invoke`: the next one is this.
    let next = a.next_invocation as i64 + 1;
    drop(a);
    wait_suspended(hub).await;
    b.ok(meanwhile.0, meanwhile.1).await;
    let ws = open(hub, &format!("?id={token}")).await.unwrap();
    let mut a = Client::over(ws, id, Some(token));
    a.next_invocation = 1000;
    assert!(matches!(a.recv().await, Some(HubMessage::Sequence { .. })));
    a.send(&HubMessage::Sequence { sequence_id: next }).await;
    a
}

/// Runs the fault's scenario on `hub`; returns what the observing client received.
async fn scenario(fault: Fault, hub: &RefHub) -> Vec<String> {
    let mut b = Client::connect(hub, Some("bob"), false).await;
    match fault {
        Fault::StickyGroups => {
            let mut a = Client::connect(hub, Some("u"), false).await;
            a.ok("AddToGroup", json!(["g"])).await;
            a.send(&HubMessage::Close {
                error: None,
                allow_reconnect: false,
            })
            .await;
            a.closed().await;
            let mut a2 = Client::connect(hub, Some("u"), false).await;
            b.ok("SendToGroup", json!(["g", "p"])).await;
            a2.sync().await
        }
        Fault::NoRejoinOnResume => {
            let mut a = Client::connect(hub, None, true).await;
            a.ok("AddToGroup", json!(["g"])).await;
            let mut a = cut_and_resume(hub, a, &mut b, ("SendToCaller", json!(["-"]))).await;
            b.ok("SendToGroup", json!(["g", "p"])).await;
            a.sync().await
        }
        Fault::OthersInGroupIncludesCaller => {
            let mut a = Client::connect(hub, None, false).await;
            a.ok("AddToGroup", json!(["g"])).await;
            a.ok("SendToOthersInGroup", json!(["g", "p"])).await;
            a.sync().await
        }
        Fault::GroupExceptIgnoresList => {
            let mut a = Client::connect(hub, None, false).await;
            a.ok("AddToGroup", json!(["g"])).await;
            b.ok("SendToGroupExcept", json!(["g", [a.id], "p"])).await;
            a.sync().await
        }
        Fault::AllExceptIgnoresList => {
            let mut a = Client::connect(hub, None, false).await;
            b.ok("SendToAllExcept", json!([[a.id], "p"])).await;
            a.sync().await
        }
        Fault::CaseInsensitiveGroups => {
            let mut a = Client::connect(hub, None, false).await;
            a.ok("AddToGroup", json!(["Chat"])).await;
            b.ok("SendToGroup", json!(["chat", "p"])).await;
            a.sync().await
        }
        Fault::DoubleAddDeliversTwice => {
            let mut a = Client::connect(hub, None, false).await;
            a.ok("AddToGroup", json!(["g"])).await;
            a.ok("AddToGroup", json!(["g"])).await;
            b.ok("SendToGroup", json!(["g", "p"])).await;
            a.sync().await
        }
        Fault::RemoveDropsGroup => {
            let mut a = Client::connect(hub, None, false).await;
            let mut c = Client::connect(hub, None, false).await;
            a.ok("AddToGroup", json!(["g"])).await;
            c.ok("AddToGroup", json!(["g"])).await;
            a.ok("RemoveFromGroup", json!(["g"])).await;
            b.ok("SendToGroup", json!(["g", "p"])).await;
            c.sync().await
        }
        Fault::BufferLostOnResume => {
            let a = Client::connect(hub, None, true).await;
            let id = a.id.clone();
            let mut a =
                cut_and_resume(hub, a, &mut b, ("SendToConnection", json!([id, "p"]))).await;
            a.sync().await
        }
        Fault::MembershipsSurviveRestart => {
            let mut a = Client::connect(hub, Some("u"), false).await;
            a.ok("AddToGroup", json!(["g"])).await;
            hub.restart().await;
            let mut a2 = Client::connect(hub, Some("u"), false).await;
            let mut b = Client::connect(hub, None, false).await;
            b.ok("SendToGroup", json!(["g", "p"])).await;
            a2.sync().await
        }
        Fault::RoomsNotRestored => {
            let mut a = Client::connect(hub, Some("u"), false).await;
            a.ok("JoinRoom", json!(["r"])).await;
            let mut a2 = Client::connect(hub, Some("u"), false).await;
            b.ok("SendToGroup", json!(["r", "p"])).await;
            a.sync().await;
            a2.sync().await
        }
        Fault::GroupsFanoutOpposite => {
            let mut a = Client::connect(hub, None, false).await;
            a.ok("AddToGroup", json!(["x"])).await;
            a.ok("AddToGroup", json!(["y"])).await;
            b.ok("SendToGroups", json!([["x", "y"], "p"])).await;
            a.sync().await
        }
        Fault::UserSendMissesOne => {
            let mut a = Client::connect(hub, Some("u"), false).await;
            let mut a2 = Client::connect(hub, Some("u"), false).await;
            b.ok("SendToUser", json!(["u", "p"])).await;
            b.ok("SendToUsers", json!([["u"], "q"])).await;
            let mut got = a.sync().await;
            got.extend(a2.sync().await);
            got
        }
        Fault::LateMembership => {
            let mut a = Client::connect(hub, None, false).await;
            a.ok("AddToGroup", json!(["g"])).await;
            b.ok("SendToGroup", json!(["g", "p"])).await;
            a.sync().await
        }
    }
}

/// The model run through the same operations as a [`scenario`]: what each connection
/// receives (now or replayed), as the reference for the correct hub.
struct Model {
    hub: Hub,
    spec: hubspec_model::Spec,
    received: std::collections::BTreeMap<ConnId, Vec<String>>,
}

impl Model {
    fn new() -> Model {
        Model {
            hub: Hub::new(),
            spec: hubspec_refhub::RefHubConfig::default().spec(),
            received: Default::default(),
        }
    }

    fn op(&mut self, op: Op) -> OpResult {
        let outcome = self.hub.apply(&self.spec, &op).expect("a valid operation");
        for d in outcome.deliveries {
            if d.mode != Mode::Buffered {
                self.received.entry(d.to).or_default().push(d.payload);
            }
        }
        outcome.result
    }

    fn connect(&mut self, user: Option<&str>) -> ConnId {
        match self.op(Op::Connect {
            user: user.map(str::to_owned),
        }) {
            OpResult::Connected(id) => id,
            other => panic!("connect gave {other:?}"),
        }
    }

    fn send(&mut self, caller: ConnId, selector: Selector, payload: &str) {
        self.op(Op::Send {
            caller,
            selector,
            payload: payload.to_owned(),
        });
    }

    fn add(&mut self, caller: ConnId, group: &str) {
        self.op(Op::AddToGroup {
            caller,
            group: Some(group.to_owned()),
        });
    }

    fn got(&self, conn: ConnId) -> Vec<String> {
        self.received.get(&conn).cloned().unwrap_or_default()
    }
}

fn g(name: &str) -> Option<String> {
    Some(name.to_owned())
}

/// What the model says the observing client of `fault`'s scenario receives.
fn expected(fault: Fault) -> Vec<String> {
    let mut m = Model::new();
    let b = m.connect(Some("bob"));
    match fault {
        Fault::StickyGroups => {
            let a = m.connect(Some("u"));
            m.add(a, "g");
            m.op(Op::Disconnect { conn: a });
            let a2 = m.connect(Some("u"));
            m.send(b, Selector::Group(g("g")), "p");
            m.got(a2)
        }
        Fault::NoRejoinOnResume => {
            let a = m.connect(None);
            m.add(a, "g");
            m.op(Op::Drop { conn: a });
            m.send(b, Selector::Caller, "-");
            m.op(Op::Resume {
                conn: a,
                altered_token: false,
            });
            m.send(b, Selector::Group(g("g")), "p");
            m.got(a)
        }
        Fault::OthersInGroupIncludesCaller => {
            let a = m.connect(None);
            m.add(a, "g");
            m.send(a, Selector::OthersInGroup(g("g")), "p");
            m.got(a)
        }
        Fault::GroupExceptIgnoresList => {
            let a = m.connect(None);
            m.add(a, "g");
            m.send(b, Selector::GroupExcept(g("g"), vec![Target::Id(a)]), "p");
            m.got(a)
        }
        Fault::AllExceptIgnoresList => {
            let a = m.connect(None);
            m.send(b, Selector::AllExcept(vec![Target::Id(a)]), "p");
            m.got(a)
        }
        Fault::CaseInsensitiveGroups => {
            let a = m.connect(None);
            m.add(a, "Chat");
            m.send(b, Selector::Group(g("chat")), "p");
            m.got(a)
        }
        Fault::DoubleAddDeliversTwice => {
            let a = m.connect(None);
            m.add(a, "g");
            m.add(a, "g");
            m.send(b, Selector::Group(g("g")), "p");
            m.got(a)
        }
        Fault::RemoveDropsGroup => {
            let a = m.connect(None);
            let c = m.connect(None);
            m.add(a, "g");
            m.add(c, "g");
            m.op(Op::RemoveFromGroup {
                caller: a,
                group: g("g"),
            });
            m.send(b, Selector::Group(g("g")), "p");
            m.got(c)
        }
        Fault::BufferLostOnResume => {
            let a = m.connect(None);
            m.op(Op::Drop { conn: a });
            m.send(b, Selector::Connection(Target::Id(a)), "p");
            m.op(Op::Resume {
                conn: a,
                altered_token: false,
            });
            m.got(a)
        }
        Fault::MembershipsSurviveRestart => {
            let a = m.connect(Some("u"));
            m.add(a, "g");
            m.op(Op::Restart);
            let a2 = m.connect(Some("u"));
            let b2 = m.connect(None);
            m.send(b2, Selector::Group(g("g")), "p");
            m.got(a2)
        }
        Fault::RoomsNotRestored => {
            let a = m.connect(Some("u"));
            m.op(Op::JoinRoom {
                caller: a,
                room: g("r"),
            });
            let a2 = m.connect(Some("u"));
            m.send(b, Selector::Group(g("r")), "p");
            m.got(a2)
        }
        Fault::GroupsFanoutOpposite => {
            let a = m.connect(None);
            m.add(a, "x");
            m.add(a, "y");
            m.send(b, Selector::Groups(vec![g("x"), g("y")]), "p");
            m.got(a)
        }
        Fault::UserSendMissesOne => {
            let a = m.connect(Some("u"));
            let a2 = m.connect(Some("u"));
            m.send(b, Selector::User("u".to_owned()), "p");
            m.send(b, Selector::Users(vec!["u".to_owned()]), "q");
            let mut got = m.got(a);
            got.extend(m.got(a2));
            got
        }
        Fault::LateMembership => {
            let a = m.connect(None);
            m.add(a, "g");
            m.send(b, Selector::Group(g("g")), "p");
            m.got(a)
        }
    }
}

/// What the observing client of `fault`'s scenario receives from the faulty hub: the wrong
/// behaviour the fault names.
fn wrong(fault: Fault) -> Vec<&'static str> {
    match fault {
        // The new connection is back in the ended connection's group.
        Fault::StickyGroups => vec!["p"],
        // The resumed connection lost its group.
        Fault::NoRejoinOnResume => vec![],
        // The caller hears its own SendToOthersInGroup.
        Fault::OthersInGroupIncludesCaller => vec!["p"],
        // The excluded member gets the send.
        Fault::GroupExceptIgnoresList | Fault::AllExceptIgnoresList => vec!["p"],
        // "chat" reaches the member of "Chat".
        Fault::CaseInsensitiveGroups => vec!["p"],
        // One send, two copies.
        Fault::DoubleAddDeliversTwice => vec!["p", "p"],
        // The other member was removed too.
        Fault::RemoveDropsGroup => vec![],
        // Nothing replayed.
        Fault::BufferLostOnResume => vec![],
        // The user's new connection is back in the group after the restart.
        Fault::MembershipsSurviveRestart => vec!["p"],
        // The user's new connection is not in its room.
        Fault::RoomsNotRestored => vec![],
        // Once instead of once per group (the correct hub fans out per group).
        Fault::GroupsFanoutOpposite => vec!["p"],
        // The user's newest connection misses both sends.
        Fault::UserSendMissesOne => vec!["p", "q"],
        // The send right after AddToGroup's Completion misses the new member.
        Fault::LateMembership => vec![],
    }
}

#[tokio::test]
async fn every_fault_shows_its_wrong_behaviour_and_the_correct_hub_matches_the_model() {
    for fault in Fault::ALL {
        let model = expected(fault);
        let correct = start(|_| {}).await;
        let observed = scenario(fault, &correct).await;
        correct.shutdown().await;
        assert_eq!(
            observed, model,
            "{fault}: the correct hub differs from the model"
        );
        let faulty = start(|c| {
            c.faults.insert(fault);
        })
        .await;
        let observed = scenario(fault, &faulty).await;
        faulty.shutdown().await;
        assert_eq!(
            observed,
            wrong(fault),
            "fault {fault} ({}) does not show its wrong behaviour",
            fault.description()
        );
        assert_ne!(
            observed, model,
            "{fault}: the wrong behaviour is the model's"
        );
    }
}

#[tokio::test]
async fn late_membership_takes_effect_shortly_after_the_completion() {
    let hub = start(|c| {
        c.faults.insert(Fault::LateMembership);
    })
    .await;
    let mut a = Client::connect(&hub, None, false).await;
    let mut b = Client::connect(&hub, None, false).await;
    a.ok("AddToGroup", json!(["g"])).await;
    b.ok("SendToGroup", json!(["g", "early"])).await;
    assert_eq!(
        a.sync().await,
        Vec::<String>::new(),
        "the add is not yet in effect"
    );
    // The add lands a while later: poll (bounded) rather than guess how long the machine takes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut tries = 0;
    loop {
        tries += 1;
        b.ok("SendToGroup", json!(["g", format!("late{tries}")]))
            .await;
        let got = a.sync().await;
        if !got.is_empty() {
            assert_eq!(got, vec![format!("late{tries}")]);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the late add never took effect"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    hub.shutdown().await;
}

/// One "session" of the double-add regression: its own group name, a member added twice, a
/// member added once, a sender; returns what each member received.
async fn double_add_session(hub: &RefHub, tag: &str) -> (Vec<String>, Vec<String>) {
    let group = format!("{tag}/g");
    let mut twice = Client::connect(hub, None, false).await;
    let mut once = Client::connect(hub, None, false).await;
    let mut sender = Client::connect(hub, None, false).await;
    twice.ok("AddToGroup", json!([group])).await;
    twice.ok("AddToGroup", json!([group])).await;
    once.ok("AddToGroup", json!([group])).await;
    for i in 0..5 {
        sender
            .ok("SendToGroup", json!([group, format!("{tag}:{i}")]))
            .await;
    }
    (twice.sync().await, once.sync().await)
}

/// `double-add-delivers-twice` perturbs only what it names: the connection added twice gets
/// two copies of its own group's sends, and sessions sharing the hub in parallel never see
/// each other's messages.
#[tokio::test]
async fn double_add_perturbs_only_its_own_connection_and_group() {
    let hub = start(|c| {
        c.faults.insert(Fault::DoubleAddDeliversTwice);
    })
    .await;
    let tags: Vec<String> = (0..4).map(|i| format!("s{i}")).collect();
    let results =
        futures_util::future::join_all(tags.iter().map(|t| double_add_session(&hub, t))).await;
    hub.shutdown().await;
    for (tag, (twice, once)) in tags.iter().zip(results) {
        let sent: Vec<String> = (0..5).map(|i| format!("{tag}:{i}")).collect();
        let doubled: Vec<String> = sent.iter().flat_map(|p| [p.clone(), p.clone()]).collect();
        assert_eq!(twice, doubled, "{tag}: the member added twice");
        assert_eq!(once, sent, "{tag}: the member added once");
    }
}

/// A double add is undone when the connection leaves the group, however it leaves: here a
/// `remove-drops-group` removal the double-add bookkeeping does not see. A later single add
/// must not bring the second copy back.
#[tokio::test]
async fn a_double_add_ends_when_the_connection_leaves_the_group() {
    let hub = start(|c| {
        c.faults.insert(Fault::DoubleAddDeliversTwice);
        c.faults.insert(Fault::RemoveDropsGroup);
    })
    .await;
    let mut a = Client::connect(&hub, None, false).await;
    let mut c = Client::connect(&hub, None, false).await;
    let mut b = Client::connect(&hub, None, false).await;
    a.ok("AddToGroup", json!(["g"])).await;
    a.ok("AddToGroup", json!(["g"])).await;
    c.ok("AddToGroup", json!(["g"])).await;
    // remove-drops-group: c's leave removes a too.
    c.ok("RemoveFromGroup", json!(["g"])).await;
    b.ok("SendToGroup", json!(["g", "gone"])).await;
    a.ok("AddToGroup", json!(["g"])).await;
    b.ok("SendToGroup", json!(["g", "p"])).await;
    assert_eq!(a.sync().await, vec!["p"]);
    hub.shutdown().await;
}
