//! Every fault is observable through the contract: one short scenario per fault whose
//! observation differs between the correct hub and the faulty one.

use std::time::Duration;

use hubspec_model::Status;
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

#[tokio::test]
async fn every_fault_is_observable_through_the_contract() {
    for fault in Fault::ALL {
        let correct = start(|_| {}).await;
        let expected = scenario(fault, &correct).await;
        correct.shutdown().await;
        let faulty = start(|c| {
            c.faults.insert(fault);
        })
        .await;
        let observed = scenario(fault, &faulty).await;
        faulty.shutdown().await;
        assert_ne!(
            observed,
            expected,
            "fault {fault} ({}) is not observable: both hubs delivered {expected:?}",
            fault.description()
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
    tokio::time::sleep(Duration::from_millis(600)).await;
    b.ok("SendToGroup", json!(["g", "late"])).await;
    assert_eq!(a.sync().await, vec!["late"]);
    hub.shutdown().await;
}
