//! Every contract method, end to end, with the recipients ASP.NET Core's
//! `DefaultHubLifetimeManager` would choose.

use serde_json::json;

use crate::client::{start, Client};

/// Three clients: a and b are user "alice", c is user "bob".
async fn trio(hub: &hubspec_refhub::RefHub) -> (Client, Client, Client) {
    let a = Client::connect(hub, Some("alice"), false).await;
    let b = Client::connect(hub, Some("alice"), false).await;
    let c = Client::connect(hub, Some("bob"), false).await;
    (a, b, c)
}

async fn received(clients: &mut [&mut Client]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for c in clients.iter_mut() {
        out.push(c.sync().await);
    }
    out
}

#[tokio::test]
async fn group_sends_reach_exactly_the_members() {
    let hub = start(|_| {}).await;
    let (mut a, mut b, mut c) = trio(&hub).await;
    a.ok("AddToGroup", json!(["g"])).await;
    a.ok("AddConnectionToGroup", json!([b.id, "g"])).await;
    a.ok("AddToGroup", json!(["g"])).await; // idempotent
    c.ok("SendToGroup", json!(["g", "1"])).await;
    c.ok("SendToGroup", json!(["G", "case"])).await;
    c.ok("SendToGroup", json!(["nobody", "x"])).await;
    c.ok("SendToGroupExcept", json!(["g", [a.id, "unknown-id"], "2"]))
        .await;
    a.ok("SendToOthersInGroup", json!(["g", "3"])).await;
    c.ok("SendToOthersInGroup", json!(["g", "4"])).await;
    assert_eq!(
        received(&mut [&mut a, &mut b, &mut c]).await,
        vec![vec!["1", "4"], vec!["1", "2", "3", "4"], vec![]]
    );
    b.ok("RemoveFromGroup", json!(["g"])).await;
    b.ok("RemoveFromGroup", json!(["g"])).await; // not a member: no-op
    c.ok("RemoveConnectionFromGroup", json!(["unknown-id", "g"]))
        .await;
    c.ok("SendToGroup", json!(["g", "5"])).await;
    assert_eq!(
        received(&mut [&mut a, &mut b, &mut c]).await,
        vec![vec!["5"], vec![], vec![]]
    );
    c.ok("RemoveConnectionFromGroup", json!([a.id, "g"])).await;
    c.ok("SendToGroup", json!(["g", "6"])).await;
    assert_eq!(
        received(&mut [&mut a, &mut b, &mut c]).await,
        vec![Vec::<String>::new(), vec![], vec![]]
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn groups_send_fans_out_per_group_and_refuses_an_empty_name() {
    let hub = start(|_| {}).await;
    let (mut a, mut b, mut c) = trio(&hub).await;
    a.ok("AddToGroup", json!(["x"])).await;
    a.ok("AddToGroup", json!(["y"])).await;
    b.ok("AddToGroup", json!(["y"])).await;
    c.ok("SendToGroups", json!([["x", "y"], "p"])).await;
    assert_eq!(
        received(&mut [&mut a, &mut b, &mut c]).await,
        vec![vec!["p", "p"], vec!["p"], vec![]]
    );
    let err = c
        .invoke("SendToGroups", json!([["x", "", "y"], "q"]))
        .await
        .unwrap_err();
    assert!(
        err.ends_with("InvalidOperationException: Cannot send to an empty group name."),
        "{err}"
    );
    assert_eq!(
        received(&mut [&mut a, &mut b, &mut c]).await,
        vec![vec!["q"], vec![], vec![]]
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn groups_send_once_variant_sends_one_copy() {
    let hub = start(|c| c.groups_fanout = hubspec_model::GroupsFanout::Once).await;
    let (mut a, _b, mut c) = trio(&hub).await;
    a.ok("AddToGroup", json!(["x"])).await;
    a.ok("AddToGroup", json!(["y"])).await;
    c.ok("SendToGroups", json!([["x", "y"], "p"])).await;
    assert_eq!(a.sync().await, vec!["p"]);
    hub.shutdown().await;
}

#[tokio::test]
async fn connection_and_broadcast_sends_reach_the_right_connections() {
    let hub = start(|_| {}).await;
    let (mut a, mut b, mut c) = trio(&hub).await;
    a.ok("SendToAll", json!(["all"])).await;
    a.ok("SendToAllExcept", json!([[b.id, null], "except"]))
        .await;
    a.ok("SendToOthers", json!(["others"])).await;
    a.ok("SendToCaller", json!(["caller"])).await;
    a.ok("SendToConnection", json!([c.id, "conn"])).await;
    a.ok("SendToConnection", json!(["unknown", "lost"])).await;
    a.ok("SendToConnections", json!([[b.id, b.id, c.id], "conns"]))
        .await;
    assert_eq!(
        received(&mut [&mut a, &mut b, &mut c]).await,
        vec![
            vec!["all", "except", "caller"],
            vec!["all", "others", "conns"],
            vec!["all", "except", "others", "conn", "conns"],
        ]
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn user_sends_reach_every_connection_of_the_user() {
    let hub = start(|_| {}).await;
    let (mut a, mut b, mut c) = trio(&hub).await;
    c.ok("SendToUser", json!(["alice", "u1"])).await;
    c.ok("SendToUser", json!(["ALICE", "nobody"])).await;
    a.ok("SendToUsers", json!([["bob", "alice", "alice"], "u2"]))
        .await;
    assert_eq!(
        received(&mut [&mut a, &mut b, &mut c]).await,
        vec![vec!["u1", "u2"], vec!["u1", "u2"], vec!["u2"]]
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn a_null_group_name_is_refused_and_changes_nothing() {
    let hub = start(|_| {}).await;
    let mut a = Client::connect(&hub, None, false).await;
    for (method, args) in [
        ("AddToGroup", json!([null])),
        ("RemoveFromGroup", json!([null])),
        ("SendToGroup", json!([null, "p"])),
        ("SendToGroupExcept", json!([null, [], "p"])),
        ("SendToOthersInGroup", json!([null, "p"])),
        ("AddConnectionToGroup", json!([a.id, null])),
    ] {
        let err = a.invoke(method, args).await.unwrap_err();
        assert_eq!(
            err,
            format!("An unexpected error occurred invoking '{method}' on the server. ArgumentNullException: Value cannot be null. (Parameter 'groupName')")
        );
    }
    assert!(hub.model().groups().is_empty());
    hub.shutdown().await;
}

#[tokio::test]
async fn the_servers_groups_are_the_models() {
    let hub = start(|_| {}).await;
    let (mut a, b, _c) = trio(&hub).await;
    a.ok("AddToGroup", json!(["g"])).await;
    a.ok("AddConnectionToGroup", json!([b.id, "h"])).await;
    let groups = hub.model().groups();
    let names: Vec<&String> = groups.keys().collect();
    assert_eq!(names, ["g", "h"]);
    hub.shutdown().await;
}
