//! The rooms capability (records in SQLite) and restart, in process and of the process.

use std::time::Duration;

use serde_json::json;

use crate::client::{open, start, status_of, Client, SocketEnd};

#[tokio::test]
async fn a_new_connection_of_the_user_is_back_in_its_rooms_before_its_first_invocation() {
    let hub = start(|_| {}).await;
    let mut a = Client::connect(&hub, Some("u"), false).await;
    let mut other = Client::connect(&hub, None, false).await;
    a.ok("JoinRoom", json!(["r"])).await;
    a.ok("JoinRoom", json!(["s"])).await;
    a.ok("LeaveRoom", json!(["s"])).await;
    let mut a2 = Client::connect(&hub, Some("u"), false).await;
    let mut v = Client::connect(&hub, Some("v"), false).await;
    // No invocation from a2 yet: the send must already reach it.
    other.ok("SendToGroup", json!(["r", "room"])).await;
    other.ok("SendToGroup", json!(["s", "left"])).await;
    assert_eq!(a2.sync().await, vec!["room"]);
    assert_eq!(a.sync().await, vec!["room"]);
    assert_eq!(v.sync().await, Vec::<String>::new(), "records are per user");
    hub.shutdown().await;
}

#[tokio::test]
async fn rooms_need_a_user() {
    let hub = start(|_| {}).await;
    let mut a = Client::connect(&hub, None, false).await;
    let err = a.invoke("JoinRoom", json!(["r"])).await.unwrap_err();
    assert!(
        err.contains("HubException: This connection has no user"),
        "{err}"
    );
    let err = a.invoke("JoinRoom", json!([null])).await.unwrap_err();
    assert!(err.ends_with("(Parameter 'groupName')"), "{err}");
    hub.shutdown().await;
}

#[tokio::test]
async fn an_in_process_restart_ends_every_connection_and_keeps_rooms_records() {
    let hub = start(|_| {}).await;
    let mut a = Client::connect(&hub, Some("u"), true).await;
    let mut b = Client::connect(&hub, Some("w"), false).await;
    a.ok("JoinRoom", json!(["r"])).await;
    b.ok("AddToGroup", json!(["g"])).await;
    let token = a.token.clone().unwrap();
    hub.restart().await;
    // As ASP.NET Core's shutdown: no hub Close message and no close frame, the socket is
    // dropped (see `close_all` in refhub/src/lib.rs for the sources).
    assert_eq!(a.closed().await, None, "no Close message");
    assert_eq!(a.ended, Some(SocketEnd::Dropped), "no close frame");
    assert_eq!(b.closed().await, None, "no Close message");
    assert_eq!(b.ended, Some(SocketEnd::Dropped), "no close frame");
    assert!(hub.model().conns.is_empty());
    assert_eq!(
        status_of(open(&hub, &format!("?id={token}")).await.unwrap_err()),
        404
    );
    let mut a = Client::connect(&hub, Some("u"), false).await;
    let mut b = Client::connect(&hub, Some("w"), false).await;
    b.ok("SendToGroup", json!(["g", "gone"])).await;
    b.ok("SendToGroup", json!(["r", "room"])).await;
    assert_eq!(
        b.sync().await,
        Vec::<String>::new(),
        "no membership survived"
    );
    assert_eq!(a.sync().await, vec!["room"], "rooms restored");
    hub.shutdown().await;
}

#[tokio::test]
async fn rooms_records_survive_a_process_restart_on_the_same_port_and_database() {
    let dir = std::env::temp_dir().join(format!("refhub-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("rooms.db");
    let _ = std::fs::remove_file(&db);
    let hub = start(|c| c.rooms_db = Some(db.clone())).await;
    let addr = hub.local_addr();
    let mut a = Client::connect(&hub, Some("u"), false).await;
    a.ok("JoinRoom", json!(["r"])).await;
    hub.shutdown().await;
    drop(a);
    let mut again = None;
    for _ in 0..50 {
        let db = db.clone();
        match hubspec_refhub::RefHub::start(hubspec_refhub::RefHubConfig {
            listen: addr,
            rooms_db: Some(db),
            ..Default::default()
        })
        .await
        {
            Ok(hub) => {
                again = Some(hub);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let hub = again.expect("the same port can be bound again");
    assert_eq!(hub.local_addr(), addr);
    let mut a = Client::connect(&hub, Some("u"), false).await;
    let mut b = Client::connect(&hub, None, false).await;
    b.ok("SendToGroup", json!(["r", "back"])).await;
    assert_eq!(a.sync().await, vec!["back"]);
    hub.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
