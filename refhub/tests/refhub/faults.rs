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
        other => unreachable!("{other} has a test of its own"),
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
        other => unreachable!("{other} has a test of its own"),
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
        other => unreachable!("{other} has a test of its own"),
    }
}

/// The faults [`scenario`] covers, each checked against the model's own run of it; the
/// others have a test each below.
const MODEL_CHECKED: [Fault; 14] = [
    Fault::StickyGroups,
    Fault::NoRejoinOnResume,
    Fault::OthersInGroupIncludesCaller,
    Fault::GroupExceptIgnoresList,
    Fault::AllExceptIgnoresList,
    Fault::CaseInsensitiveGroups,
    Fault::DoubleAddDeliversTwice,
    Fault::RemoveDropsGroup,
    Fault::BufferLostOnResume,
    Fault::MembershipsSurviveRestart,
    Fault::RoomsNotRestored,
    Fault::GroupsFanoutOpposite,
    Fault::UserSendMissesOne,
    Fault::LateMembership,
];

#[tokio::test]
async fn every_fault_shows_its_wrong_behaviour_and_the_correct_hub_matches_the_model() {
    for fault in MODEL_CHECKED {
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

// ----- one test per fault not in `MODEL_CHECKED` -----
//
// Each runs one short scenario over the wire on the correct hub and on the hub with the fault,
// and pins what each shows: the correct hub does what the rule says, the faulty one shows the
// specific wrong behaviour its fault names.

/// `scenario`'s observation on the correct hub and on the hub with `fault`, both configured
/// by `tweak`.
async fn both<T>(
    fault: Fault,
    tweak: impl Fn(&mut hubspec_refhub::RefHubConfig),
    scenario: impl AsyncFn(&RefHub) -> T,
) -> (T, T) {
    let correct = start(&tweak).await;
    let right = scenario(&correct).await;
    correct.shutdown().await;
    let faulty = start(|c| {
        tweak(c);
        c.faults.insert(fault);
    })
    .await;
    let wrong = scenario(&faulty).await;
    faulty.shutdown().await;
    (right, wrong)
}

fn plain(_: &mut hubspec_refhub::RefHubConfig) {}

/// Whether invoking `method` with `args` completes without an error.
async fn succeeds(client: &mut Client, method: &str, args: serde_json::Value) -> bool {
    client.invoke(method, args).await.is_ok()
}

/// Closes a client gracefully and waits for the server's answer.
async fn close(mut client: Client) {
    client
        .send(&HubMessage::Close {
            error: None,
            allow_reconnect: false,
        })
        .await;
    client.closed().await;
}

/// Waits (bounded) until the model holds `n` connections.
async fn wait_conns(hub: &RefHub, n: usize) {
    for _ in 0..250 {
        if hub.model().conns.len() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the model never held {n} connections");
}

/// Whether a WebSocket at `?id=token` is accepted (the status when it is not).
async fn socket_at(hub: &RefHub, token: &str) -> Result<(), u16> {
    open(hub, &format!("?id={token}"))
        .await
        .map(drop)
        .map_err(crate::client::status_of)
}

#[tokio::test]
async fn unjoined_group_send_fails() {
    let (right, wrong) = both(
        Fault::UnjoinedGroupSendFails,
        plain,
        async |hub: &RefHub| {
            let mut b = Client::connect(hub, None, false).await;
            let never = succeeds(&mut b, "SendToGroup", json!(["nobody", "p"])).await;
            b.ok("AddToGroup", json!(["left"])).await;
            b.ok("RemoveFromGroup", json!(["left"])).await;
            let emptied = succeeds(&mut b, "SendToGroup", json!(["left", "p"])).await;
            (never, emptied)
        },
    )
    .await;
    assert_eq!(right, (true, true));
    assert_eq!(wrong, (false, true), "only a name never joined fails");
}

#[tokio::test]
async fn emptied_group_keeps_member() {
    let (right, wrong) = both(
        Fault::EmptiedGroupKeepsMember,
        plain,
        async |hub: &RefHub| {
            let mut a = Client::connect(hub, None, false).await;
            let mut b = Client::connect(hub, None, false).await;
            let mut c = Client::connect(hub, None, false).await;
            a.ok("AddToGroup", json!(["g"])).await;
            a.ok("RemoveFromGroup", json!(["g"])).await;
            c.ok("AddToGroup", json!(["g"])).await;
            b.ok("SendToGroup", json!(["g", "p"])).await;
            a.sync().await
        },
    )
    .await;
    assert_eq!(right, Vec::<String>::new());
    assert_eq!(
        wrong,
        vec!["p"],
        "the member that emptied the group is back"
    );
}

#[tokio::test]
async fn remove_nonmember_fails() {
    let (right, wrong) = both(Fault::RemoveNonmemberFails, plain, async |hub: &RefHub| {
        let mut a = Client::connect(hub, None, false).await;
        succeeds(&mut a, "RemoveFromGroup", json!(["g"])).await
    })
    .await;
    assert_eq!((right, wrong), (true, false));
}

#[tokio::test]
async fn empty_name_refused() {
    let (right, wrong) = both(Fault::EmptyNameRefused, plain, async |hub: &RefHub| {
        let mut a = Client::connect(hub, None, false).await;
        succeeds(&mut a, "AddToGroup", json!([""])).await
    })
    .await;
    assert_eq!((right, wrong), (true, false));
}

#[tokio::test]
async fn null_name_accepted() {
    let (right, wrong) = both(Fault::NullNameAccepted, plain, async |hub: &RefHub| {
        let mut a = Client::connect(hub, None, false).await;
        succeeds(&mut a, "AddToGroup", json!([null])).await
    })
    .await;
    assert_eq!((right, wrong), (false, true));
}

#[tokio::test]
async fn null_connection_id_ignored() {
    let (right, wrong) = both(
        Fault::NullConnectionIdIgnored,
        plain,
        async |hub: &RefHub| {
            let mut a = Client::connect(hub, None, false).await;
            succeeds(&mut a, "AddConnectionToGroup", json!([null, "g"])).await
        },
    )
    .await;
    assert_eq!((right, wrong), (false, true));
}

#[tokio::test]
async fn one_group_per_connection() {
    let (right, wrong) = both(Fault::OneGroupPerConnection, plain, async |hub: &RefHub| {
        let mut a = Client::connect(hub, None, false).await;
        let mut b = Client::connect(hub, None, false).await;
        a.ok("AddToGroup", json!(["x"])).await;
        a.ok("AddToGroup", json!(["y"])).await;
        b.ok("SendToGroup", json!(["x", "p"])).await;
        a.sync().await
    })
    .await;
    assert_eq!(right, vec!["p"]);
    assert_eq!(wrong, Vec::<String>::new(), "joining y left x");
}

#[tokio::test]
async fn unknown_id_fails() {
    let (right, wrong) = both(Fault::UnknownIdFails, plain, async |hub: &RefHub| {
        let mut a = Client::connect(hub, None, false).await;
        succeeds(&mut a, "AddConnectionToGroup", json!(["no-such-id", "g"])).await
    })
    .await;
    assert_eq!((right, wrong), (true, false));
}

#[tokio::test]
async fn closed_id_fails() {
    let (right, wrong) = both(Fault::ClosedIdFails, plain, async |hub: &RefHub| {
        let mut a = Client::connect(hub, None, false).await;
        let c = Client::connect(hub, None, false).await;
        let id = c.id.clone();
        close(c).await;
        let closed = succeeds(&mut a, "AddConnectionToGroup", json!([id, "g"])).await;
        let unknown = succeeds(&mut a, "AddConnectionToGroup", json!(["no-such-id", "g"])).await;
        (closed, unknown)
    })
    .await;
    assert_eq!(right, (true, true));
    assert_eq!(wrong, (false, true), "only the ended connection's id fails");
}

#[tokio::test]
async fn add_by_id_ignored() {
    let (right, wrong) = both(Fault::AddByIdIgnored, plain, async |hub: &RefHub| {
        let mut a = Client::connect(hub, None, false).await;
        let mut b = Client::connect(hub, None, false).await;
        b.ok("AddConnectionToGroup", json!([a.id, "g"])).await;
        b.ok("SendToGroup", json!(["g", "p"])).await;
        a.sync().await
    })
    .await;
    assert_eq!(right, vec!["p"]);
    assert_eq!(wrong, Vec::<String>::new());
}

#[tokio::test]
async fn ended_member_breaks_group_send() {
    let (right, wrong) = both(
        Fault::EndedMemberBreaksGroupSend,
        plain,
        async |hub: &RefHub| {
            let mut b = Client::connect(hub, None, false).await;
            let mut c = Client::connect(hub, None, false).await;
            c.ok("AddToGroup", json!(["g"])).await;
            close(c).await;
            succeeds(&mut b, "SendToGroup", json!(["g", "p"])).await
        },
    )
    .await;
    assert_eq!((right, wrong), (true, false));
}

#[tokio::test]
async fn ids_reused() {
    let (right, wrong) = both(Fault::IdsReused, plain, async |hub: &RefHub| {
        let c = Client::connect(hub, None, false).await;
        let old = c.id.clone();
        close(c).await;
        let d = Client::connect(hub, None, false).await;
        d.id == old
    })
    .await;
    assert_eq!((right, wrong), (false, true));
}

#[tokio::test]
async fn core_drop_rejoins() {
    let core = |c: &mut hubspec_refhub::RefHubConfig| c.profile = hubspec_model::Profile::Core;
    let (right, wrong) = both(Fault::CoreDropRejoins, core, async |hub: &RefHub| {
        let mut b = Client::connect(hub, None, false).await;
        let mut a = Client::connect(hub, Some("u"), false).await;
        a.ok("AddToGroup", json!(["g"])).await;
        drop(a);
        wait_conns(hub, 1).await;
        let mut a2 = Client::connect(hub, Some("u"), false).await;
        b.ok("SendToGroup", json!(["g", "p"])).await;
        a2.sync().await
    })
    .await;
    assert_eq!(right, Vec::<String>::new());
    assert_eq!(
        wrong,
        vec!["p"],
        "the reconnect is back in the lost one's group"
    );
}

#[tokio::test]
async fn suspended_ignores_membership() {
    let (right, wrong) = both(
        Fault::SuspendedIgnoresMembership,
        plain,
        async |hub: &RefHub| {
            let mut b = Client::connect(hub, None, false).await;
            let a = Client::connect(hub, None, true).await;
            let id = a.id.clone();
            let meanwhile = ("AddConnectionToGroup", json!([id, "g"]));
            let mut a = cut_and_resume(hub, a, &mut b, meanwhile).await;
            b.ok("SendToGroup", json!(["g", "p"])).await;
            a.sync().await
        },
    )
    .await;
    assert_eq!(right, vec!["p"]);
    assert_eq!(wrong, Vec::<String>::new());
}

#[tokio::test]
async fn expire_never() {
    let timeout = Duration::from_millis(200);
    let quick = move |c: &mut hubspec_refhub::RefHubConfig| c.disconnect_timeout = timeout;
    let (right, wrong) = both(Fault::ExpireNever, quick, async |hub: &RefHub| {
        let a = Client::connect(hub, None, true).await;
        let token = a.token.clone().unwrap();
        drop(a);
        wait_suspended(hub).await;
        // Ended at once past the timeout on the correct hub; the faulty hub is given ten times
        // as long.
        let deadline = tokio::time::Instant::now() + timeout * 10;
        while !hub.model().conns.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        socket_at(hub, &token).await
    })
    .await;
    assert_eq!(right, Err(404));
    assert_eq!(wrong, Ok(()), "the expired connection is still resumable");
}

#[tokio::test]
async fn graceful_close_resumable() {
    let (right, wrong) = both(
        Fault::GracefulCloseResumable,
        plain,
        async |hub: &RefHub| {
            let a = Client::connect(hub, None, true).await;
            let token = a.token.clone().unwrap();
            close(a).await;
            socket_at(hub, &token).await
        },
    )
    .await;
    assert_eq!(right, Err(404));
    assert_eq!(wrong, Ok(()));
}

#[tokio::test]
async fn send_all_skips_caller() {
    let (right, wrong) = both(Fault::SendAllSkipsCaller, plain, async |hub: &RefHub| {
        let mut a = Client::connect(hub, None, false).await;
        a.ok("SendToAll", json!(["p"])).await;
        a.sync().await
    })
    .await;
    assert_eq!(right, vec!["p"]);
    assert_eq!(wrong, Vec::<String>::new());
}

#[tokio::test]
async fn others_includes_caller() {
    let (right, wrong) = both(Fault::OthersIncludesCaller, plain, async |hub: &RefHub| {
        let mut a = Client::connect(hub, None, false).await;
        a.ok("SendToOthers", json!(["p"])).await;
        a.sync().await
    })
    .await;
    assert_eq!(right, Vec::<String>::new());
    assert_eq!(wrong, vec!["p"]);
}

#[tokio::test]
async fn caller_send_to_others() {
    let (right, wrong) = both(Fault::CallerSendToOthers, plain, async |hub: &RefHub| {
        let mut a = Client::connect(hub, None, false).await;
        let mut b = Client::connect(hub, None, false).await;
        a.ok("SendToCaller", json!(["p"])).await;
        // Not `sync`: its barrier is a SendToCaller too.
        a.ok("GetConnectionId", json!([])).await;
        b.ok("GetConnectionId", json!([])).await;
        (
            std::mem::take(&mut a.received),
            std::mem::take(&mut b.received),
        )
    })
    .await;
    assert_eq!(right, (vec!["p".to_owned()], vec![]));
    assert_eq!(wrong, (vec![], vec!["p".to_owned()]));
}

#[tokio::test]
async fn connection_send_to_unknown_fails() {
    let (right, wrong) = both(
        Fault::ConnectionSendToUnknownFails,
        plain,
        async |hub: &RefHub| {
            let mut a = Client::connect(hub, None, false).await;
            succeeds(&mut a, "SendToConnection", json!(["no-such-id", "p"])).await
        },
    )
    .await;
    assert_eq!((right, wrong), (true, false));
}

#[tokio::test]
async fn connections_duplicates() {
    let (right, wrong) = both(Fault::ConnectionsDuplicates, plain, async |hub: &RefHub| {
        let mut a = Client::connect(hub, None, false).await;
        let mut b = Client::connect(hub, None, false).await;
        b.ok("SendToConnections", json!([[a.id, a.id], "p"])).await;
        a.sync().await
    })
    .await;
    assert_eq!(right, vec!["p"]);
    assert_eq!(wrong, vec!["p", "p"]);
}

#[tokio::test]
async fn others_in_group_twice() {
    let (right, wrong) = both(Fault::OthersInGroupTwice, plain, async |hub: &RefHub| {
        let mut a = Client::connect(hub, None, false).await;
        let mut b = Client::connect(hub, None, false).await;
        a.ok("AddToGroup", json!(["g"])).await;
        b.ok("AddToGroup", json!(["g"])).await;
        b.ok("SendToOthersInGroup", json!(["g", "p"])).await;
        (a.sync().await, b.sync().await)
    })
    .await;
    assert_eq!(right, (vec!["p".to_owned()], vec![]));
    assert_eq!(wrong, (vec!["p".to_owned(), "p".to_owned()], vec![]));
}

#[tokio::test]
async fn group_send_skips_caller() {
    let (right, wrong) = both(Fault::GroupSendSkipsCaller, plain, async |hub: &RefHub| {
        let mut a = Client::connect(hub, None, false).await;
        a.ok("AddToGroup", json!(["g"])).await;
        a.ok("SendToGroup", json!(["g", "p"])).await;
        a.sync().await
    })
    .await;
    assert_eq!(right, vec!["p"]);
    assert_eq!(wrong, Vec::<String>::new());
}

#[tokio::test]
async fn groups_empty_name_skipped() {
    let (right, wrong) = both(
        Fault::GroupsEmptyNameSkipped,
        plain,
        async |hub: &RefHub| {
            let mut a = Client::connect(hub, None, false).await;
            let mut b = Client::connect(hub, None, false).await;
            a.ok("AddToGroup", json!(["y"])).await;
            let ok = succeeds(&mut b, "SendToGroups", json!([["x", "", "y"], "p"])).await;
            (ok, a.sync().await)
        },
    )
    .await;
    assert_eq!(right, (false, vec![]), "fails at \"\", before y");
    assert_eq!(wrong, (true, vec!["p".to_owned()]));
}

#[tokio::test]
async fn fifo_swapped() {
    let (right, wrong) = both(Fault::FifoSwapped, plain, async |hub: &RefHub| {
        let mut a = Client::connect(hub, None, false).await;
        let mut b = Client::connect(hub, None, false).await;
        b.ok("SendToAll", json!(["1"])).await;
        b.ok("SendToConnection", json!([a.id, "2"])).await;
        let caller = b.sync().await;
        (a.sync().await, caller)
    })
    .await;
    let caller = vec!["1".to_owned()];
    assert_eq!(
        right,
        (vec!["1".to_owned(), "2".to_owned()], caller.clone())
    );
    assert_eq!(
        wrong,
        (vec!["2".to_owned(), "1".to_owned()], caller),
        "the caller's own copy is not held"
    );
}

#[tokio::test]
async fn restart_keeps_tokens() {
    let (right, wrong) = both(Fault::RestartKeepsTokens, plain, async |hub: &RefHub| {
        let a = Client::connect(hub, None, true).await;
        let token = a.token.clone().unwrap();
        hub.restart().await;
        drop(a);
        socket_at(hub, &token).await
    })
    .await;
    assert_eq!(right, Err(404));
    assert_eq!(wrong, Ok(()));
}

#[tokio::test]
async fn leave_room_keeps_record() {
    let (right, wrong) = both(Fault::LeaveRoomKeepsRecord, plain, async |hub: &RefHub| {
        let mut b = Client::connect(hub, None, false).await;
        let mut a = Client::connect(hub, Some("u"), false).await;
        a.ok("JoinRoom", json!(["r"])).await;
        a.ok("LeaveRoom", json!(["r"])).await;
        let mut a2 = Client::connect(hub, Some("u"), false).await;
        b.ok("SendToGroup", json!(["r", "p"])).await;
        (a.sync().await, a2.sync().await)
    })
    .await;
    assert_eq!(right, (vec![], vec![]));
    assert_eq!(
        wrong,
        (vec![], vec!["p".to_owned()]),
        "restored to the room it left"
    );
}

#[tokio::test]
async fn rooms_any_user() {
    let (right, wrong) = both(Fault::RoomsAnyUser, plain, async |hub: &RefHub| {
        let mut b = Client::connect(hub, None, false).await;
        let mut a = Client::connect(hub, Some("u"), false).await;
        a.ok("JoinRoom", json!(["r"])).await;
        let mut v = Client::connect(hub, Some("v"), false).await;
        b.ok("SendToGroup", json!(["r", "p"])).await;
        v.sync().await
    })
    .await;
    assert_eq!(right, Vec::<String>::new());
    assert_eq!(wrong, vec!["p"], "v is restored to u's room");
}

#[tokio::test]
async fn rooms_without_user() {
    let (right, wrong) = both(Fault::RoomsWithoutUser, plain, async |hub: &RefHub| {
        let mut a = Client::connect(hub, None, false).await;
        succeeds(&mut a, "JoinRoom", json!(["r"])).await
    })
    .await;
    assert_eq!((right, wrong), (false, true));
}

#[tokio::test]
async fn negotiate_missing_token() {
    let (right, wrong) = both(Fault::NegotiateMissingToken, plain, async |hub: &RefHub| {
        let path = format!(
            "{}/negotiate?negotiateVersion=1",
            crate::client::hub_path(hub)
        );
        let (status, body) = crate::client::http(&hub.url(), "POST", &path).await;
        assert_eq!(status, 200);
        body.contains("\"connectionToken\"")
    })
    .await;
    assert_eq!((right, wrong), (true, false));
}

/// The first frame after a handshake, as (binary?, text).
async fn first_frame(hub: &RefHub) -> (bool, String) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let mut ws = open(hub, "").await.unwrap();
    let request = hubspec_wire::HandshakeRequest::json(1).to_json() + "\u{1e}";
    ws.send(Message::text(request)).await.unwrap();
    let frame = tokio::time::timeout(crate::client::WAIT, ws.next())
        .await
        .expect("a frame")
        .expect("a frame")
        .expect("a frame");
    match frame {
        Message::Text(t) => (false, t.as_str().to_owned()),
        Message::Binary(b) => (true, String::from_utf8_lossy(&b).into_owned()),
        other => panic!("unexpected frame {other:?}"),
    }
}

#[tokio::test]
async fn handshake_without_separator() {
    let (right, wrong) = both(Fault::HandshakeWithoutSeparator, plain, first_frame).await;
    assert_eq!(right, (false, "{}\u{1e}".to_owned()));
    assert_eq!(wrong, (false, "{}{\"type\":6}\u{1e}".to_owned()));
}

#[tokio::test]
async fn binary_frames() {
    let (right, wrong) = both(Fault::BinaryFrames, plain, first_frame).await;
    assert_eq!(right, (false, "{}\u{1e}".to_owned()));
    assert_eq!(wrong, (true, "{}\u{1e}".to_owned()));
}

#[tokio::test]
async fn receive_not_json() {
    let (right, wrong) = both(Fault::ReceiveNotJson, plain, async |hub: &RefHub| {
        let mut a = Client::connect(hub, None, false).await;
        let mut b = Client::connect(hub, None, false).await;
        b.ok("SendToConnection", json!([a.id, "p"])).await;
        let record = a.next_record().await.expect("the Receive");
        serde_json::from_str::<serde_json::Value>(&record).is_ok()
    })
    .await;
    assert_eq!((right, wrong), (true, false));
}

#[tokio::test]
async fn completion_twice() {
    let (right, wrong) = both(Fault::CompletionTwice, plain, async |hub: &RefHub| {
        let mut a = Client::connect(hub, None, false).await;
        a.ok("GetConnectionId", json!([])).await;
        a.ok("SendToOthers", json!(["-"])).await;
        let after_successes = a.stray.len();
        assert!(a.invoke("AddToGroup", json!([null])).await.is_err());
        a.ok("SendToOthers", json!(["-"])).await;
        (after_successes, a.stray.len())
    })
    .await;
    // A second Completion is seen while waiting for the next invocation's.
    assert_eq!(right, (0, 0));
    assert_eq!(wrong, (0, 1), "only the error Completion comes twice");
}

/// Sends an invocation of `method` that nobody waits for, then waits for a second one: the
/// Completions that answered the first.
async fn unawaited(hub: &RefHub, method: &str) -> usize {
    let mut a = Client::connect(hub, None, false).await;
    a.next_invocation = 1;
    a.send(&HubMessage::invocation(Some("1"), method, vec![]))
        .await;
    a.ok("SendToOthers", json!(["-"])).await;
    a.stray.len()
}

#[tokio::test]
async fn unknown_method_ignored() {
    let (right, wrong) = both(Fault::UnknownMethodIgnored, plain, async |hub: &RefHub| {
        unawaited(hub, "NoSuchMethod").await
    })
    .await;
    assert_eq!((right, wrong), (1, 0));
}

#[tokio::test]
async fn get_connection_id_hangs() {
    let (right, wrong) = both(Fault::GetConnectionIdHangs, plain, async |hub: &RefHub| {
        let mut a = Client::connect(hub, None, false).await;
        // Outside any group it is answered, on both hubs.
        a.ok("GetConnectionId", json!([])).await;
        a.ok("AddToGroup", json!(["g"])).await;
        a.send(&HubMessage::invocation(
            Some("100"),
            "GetConnectionId",
            vec![],
        ))
        .await;
        a.ok("SendToOthers", json!(["-"])).await;
        a.stray.len()
    })
    .await;
    assert_eq!((right, wrong), (1, 0));
}

#[tokio::test]
async fn ping_flood_closes() {
    let (right, wrong) = both(Fault::PingFloodCloses, plain, async |hub: &RefHub| {
        let mut a = Client::connect(hub, None, false).await;
        a.send(&HubMessage::Ping).await;
        a.ok("GetConnectionId", json!([])).await;
        // A second Ping at once: the faulty hub takes it for a flood.
        a.send(&HubMessage::Ping).await;
        a.send(&HubMessage::invocation(
            Some("9"),
            "GetConnectionId",
            vec![],
        ))
        .await;
        matches!(a.recv().await, Some(HubMessage::Completion { .. }))
    })
    .await;
    assert_eq!((right, wrong), (true, false));
}

#[tokio::test]
async fn close_without_message() {
    let (right, wrong) = both(Fault::CloseWithoutMessage, plain, async |hub: &RefHub| {
        let mut a = Client::connect(hub, None, false).await;
        a.send(&HubMessage::Close {
            error: None,
            allow_reconnect: false,
        })
        .await;
        a.closed().await.is_some()
    })
    .await;
    assert_eq!((right, wrong), (true, false));
}

#[tokio::test]
async fn sequence_missing_on_resume() {
    let (right, wrong) = both(
        Fault::SequenceMissingOnResume,
        plain,
        async |hub: &RefHub| {
            let mut b = Client::connect(hub, None, false).await;
            let a = Client::connect(hub, None, true).await;
            let (id, token) = (a.id.clone(), a.token.clone().unwrap());
            drop(a);
            wait_suspended(hub).await;
            b.ok("SendToConnection", json!([id, "p"])).await;
            let ws = open(hub, &format!("?id={token}")).await.unwrap();
            let mut a = Client::over(ws, id, Some(token));
            matches!(a.recv().await, Some(HubMessage::Sequence { .. }))
        },
    )
    .await;
    assert_eq!((right, wrong), (true, false));
}

// [timing]
#[tokio::test]
async fn send_completes_before_queue() {
    let (right, wrong) = both(
        Fault::SendCompletesBeforeQueue,
        plain,
        async |hub: &RefHub| {
            let mut a = Client::connect(hub, None, false).await;
            let mut b = Client::connect(hub, None, false).await;
            b.ok("SendToOthers", json!(["p"])).await;
            let id = a.id.clone();
            b.ok("SendToConnection", json!([id, "q"])).await;
            let by_completion = a.sync().await;
            // Past the fault's delay (2 s): the copy was late, not lost.
            tokio::time::sleep(Duration::from_millis(2500)).await;
            (by_completion, a.sync().await)
        },
    )
    .await;
    assert_eq!(right, (vec!["p".to_owned(), "q".to_owned()], vec![]));
    assert_eq!(
        wrong,
        (vec!["q".to_owned()], vec!["p".to_owned()]),
        "the direct message overtakes the SendToOthers that completed before it"
    );
}

#[tokio::test]
async fn rooms_in_memory() {
    let (right, wrong) = both(Fault::RoomsInMemory, plain, async |hub: &RefHub| {
        let mut a = Client::connect(hub, Some("u"), false).await;
        a.ok("JoinRoom", json!(["r"])).await;
        hub.restart().await;
        let mut a2 = Client::connect(hub, Some("u"), false).await;
        let mut b = Client::connect(hub, None, false).await;
        b.ok("SendToGroup", json!(["r", "p"])).await;
        a2.sync().await
    })
    .await;
    assert_eq!(right, vec!["p"]);
    assert_eq!(wrong, Vec::<String>::new(), "the restart forgot the room");
}

#[tokio::test]
async fn core_drop_resumable() {
    let core = |c: &mut hubspec_refhub::RefHubConfig| c.profile = hubspec_model::Profile::Core;
    let (right, wrong) = both(Fault::CoreDropResumable, core, async |hub: &RefHub| {
        let a = Client::connect(hub, None, false).await;
        let token = a.token.clone().unwrap();
        drop(a);
        wait_conns(hub, 0).await;
        socket_at(hub, &token).await
    })
    .await;
    assert_eq!(right, Err(404));
    assert_eq!(wrong, Ok(()));
}
