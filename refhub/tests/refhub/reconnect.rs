//! Stateful reconnect: suspend on a dropped socket, resume with Sequence and replay, expiry,
//! and the core profile's drop.

use std::time::Duration;

use hubspec_model::{Profile, Status};
use hubspec_wire::HubMessage;
use serde_json::json;

use crate::client::{open, start, status_of, Client};

/// Drops the client's socket without a close frame.
fn cut(client: Client) -> (String, String) {
    let token = client.token.clone().unwrap();
    let id = client.id.clone();
    drop(client);
    (id, token)
}

/// Waits until the model shows the connection with this status (or gone for `None`).
pub(crate) async fn wait_status(hub: &hubspec_refhub::RefHub, count_suspended: usize) {
    for _ in 0..100 {
        let n = hub
            .model()
            .conns
            .iter()
            .filter(|c| c.status == Status::Suspended)
            .count();
        if n == count_suspended {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never saw {count_suspended} suspended connection(s)");
}

async fn resume(hub: &hubspec_refhub::RefHub, id: &str, token: &str) -> Client {
    let ws = open(hub, &format!("?id={token}"))
        .await
        .expect("resume upgrade");
    let mut c = Client::over(ws, id.to_owned(), Some(token.to_owned()));
    c.next_invocation = 1000;
    c
}

#[tokio::test]
async fn a_resume_keeps_id_and_groups_and_replays_what_was_sent_meanwhile_once_in_order() {
    let hub = start(|_| {}).await;
    let mut a = Client::connect(&hub, None, true).await;
    let mut b = Client::connect(&hub, None, false).await;
    a.ok("AddToGroup", json!(["g"])).await;
    // Ack the AddToGroup Completion (server message 1), so only newer messages are replayed.
    a.send(&HubMessage::Ack { sequence_id: 1 }).await;
    a.ok("SendToCaller", json!(["before"])).await; // 2 and 3 stay unacked
    let (id, token) = cut(a);
    wait_status(&hub, 1).await;
    b.ok("SendToGroup", json!(["g", "m1"])).await;
    b.ok("SendToConnection", json!([id, "m2"])).await;
    let mut a = resume(&hub, &id, &token).await;
    assert_eq!(
        a.recv().await,
        Some(HubMessage::Sequence { sequence_id: 2 })
    );
    let replayed: Vec<HubMessage> = vec![a.recv().await.unwrap(), a.recv().await.unwrap()];
    assert_eq!(
        replayed[0],
        HubMessage::invocation(None, "Receive", vec![json!("before")])
    );
    assert!(
        matches!(&replayed[1], HubMessage::Completion { invocation_id, .. } if invocation_id == "2")
    );
    // Our own Sequence: we sent two invocations, the next one is 3.
    a.send(&HubMessage::Sequence { sequence_id: 3 }).await;
    let id_now = a
        .invoke("GetConnectionId", json!([]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(id_now, json!(id));
    assert_eq!(a.received, vec!["m1", "m2"]);
    a.received.clear();
    b.ok("SendToGroup", json!(["g", "m3"])).await;
    assert_eq!(a.sync().await, vec!["m3"], "groups kept");
    hub.shutdown().await;
}

#[tokio::test]
async fn a_replayed_client_invocation_is_dropped_as_a_duplicate() {
    let hub = start(|_| {}).await;
    let a = Client::connect(&hub, None, true).await;
    let (id, token) = {
        let mut a = a;
        a.ok("SendToCaller", json!(["x"])).await; // client message 1
        cut(a)
    };
    wait_status(&hub, 1).await;
    let mut a = resume(&hub, &id, &token).await;
    assert!(matches!(a.recv().await, Some(HubMessage::Sequence { .. })));
    // Rewind to 1 and resend message 1: the server has processed it already.
    a.send(&HubMessage::Sequence { sequence_id: 1 }).await;
    a.send(&HubMessage::invocation(
        Some("1"),
        "SendToCaller",
        vec![json!("x")],
    ))
    .await;
    a.send(&HubMessage::invocation(
        Some("2"),
        "SendToCaller",
        vec![json!("y")],
    ))
    .await;
    assert_eq!(a.completion("2").await, Ok(None));
    // Replayed: x and Completion 1 (unacked); then only y is new.
    assert_eq!(a.received, vec!["x", "y"]);
    assert_eq!(
        a.stray.len(),
        1,
        "the replayed Completion 1, and no second one"
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn the_server_acks_what_it_received() {
    let hub = start(|_| {}).await;
    let mut a = Client::connect(&hub, None, true).await;
    a.ok("SendToCaller", json!(["x"])).await;
    let ack = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            let r = a.next_record().await.unwrap();
            if let Ok(m @ HubMessage::Ack { .. }) = HubMessage::parse(&r) {
                return m;
            }
        }
    })
    .await
    .expect("an Ack within the ack interval");
    assert_eq!(ack, HubMessage::Ack { sequence_id: 1 });
    hub.shutdown().await;
}

#[tokio::test]
async fn past_the_disconnect_timeout_the_connection_ends_and_a_resume_gets_404() {
    let hub = start(|c| c.disconnect_timeout = Duration::from_millis(300)).await;
    let mut a = Client::connect(&hub, None, true).await;
    let mut b = Client::connect(&hub, None, false).await;
    a.ok("AddToGroup", json!(["g"])).await;
    let (_id, token) = cut(a);
    wait_status(&hub, 1).await;
    for _ in 0..250 {
        if hub.model().conns.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hub.model().conns.len(), 1, "only b is left");
    assert!(hub.model().groups().is_empty(), "memberships gone");
    assert_eq!(
        status_of(open(&hub, &format!("?id={token}")).await.unwrap_err()),
        404
    );
    b.ok("SendToGroup", json!(["g", "nobody"])).await;
    hub.shutdown().await;
}

#[tokio::test]
async fn a_gracefully_closed_stateful_connection_cannot_be_resumed() {
    let hub = start(|_| {}).await;
    let mut a = Client::connect(&hub, None, true).await;
    let token = a.token.clone().unwrap();
    a.send(&HubMessage::Close {
        error: None,
        allow_reconnect: false,
    })
    .await;
    a.closed().await;
    assert_eq!(
        status_of(open(&hub, &format!("?id={token}")).await.unwrap_err()),
        404
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn a_resume_while_the_old_socket_looks_alive_replaces_it() {
    let hub = start(|_| {}).await;
    let mut old = Client::connect(&hub, None, true).await;
    old.ok("AddToGroup", json!(["g"])).await;
    let (id, token) = (old.id.clone(), old.token.clone().unwrap());
    let mut new = resume(&hub, &id, &token).await;
    assert!(matches!(
        new.recv().await,
        Some(HubMessage::Sequence { sequence_id: 1 })
    ));
    assert!(old.recv().await.is_none(), "the old socket is closed");
    new.send(&HubMessage::Sequence { sequence_id: 2 }).await;
    new.ok("SendToGroup", json!(["g", "still"])).await;
    assert_eq!(new.received, vec!["still"]);
    assert_eq!(new.stray.len(), 1, "the replayed AddToGroup Completion");
    hub.shutdown().await;
}

#[tokio::test]
async fn a_suspended_connection_whose_buffer_overflows_ends() {
    let hub = start(|c| c.replay_buffer_bytes = 300).await;
    let a = Client::connect(&hub, None, true).await;
    let mut b = Client::connect(&hub, None, false).await;
    let (id, token) = cut(a);
    wait_status(&hub, 1).await;
    for i in 0..10 {
        b.ok(
            "SendToConnection",
            json!([id, format!("message number {i}")]),
        )
        .await;
    }
    assert_eq!(hub.model().conns.len(), 1);
    assert_eq!(
        status_of(open(&hub, &format!("?id={token}")).await.unwrap_err()),
        404
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn without_stateful_reconnect_a_dropped_socket_ends_the_connection() {
    for profile in [Profile::Core, Profile::CoreStateful] {
        let hub = start(|c| c.profile = profile).await;
        let mut a = Client::connect(&hub, None, false).await;
        a.ok("AddToGroup", json!(["g"])).await;
        let (_, token) = cut(a);
        for _ in 0..100 {
            if hub.model().conns.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            hub.model().conns.is_empty(),
            "{profile}: the connection ended"
        );
        assert_eq!(
            status_of(open(&hub, &format!("?id={token}")).await.unwrap_err()),
            404
        );
        hub.shutdown().await;
    }
}

#[tokio::test]
async fn ack_and_sequence_are_ignored_without_stateful_reconnect() {
    let hub = start(|_| {}).await;
    let mut a = Client::connect(&hub, None, false).await;
    a.send(&HubMessage::Ack { sequence_id: 5 }).await;
    a.send(&HubMessage::Sequence { sequence_id: 99 }).await;
    a.ok("SendToCaller", json!(["fine"])).await;
    assert_eq!(a.received, vec!["fine"]);
    hub.shutdown().await;
}

/// A `Sequence` past what the server has received is the exception .NET's
/// `MessageBuffer.ShouldProcessMessage` throws in the dispatch loop
/// (`throw new InvalidOperationException("Sequence ID greater than amount of messages we've
/// received.")`, src/SignalR/common/Shared/MessageBuffer.cs@1e0bf1c78ade1e23400977d1e3315af6acb51838):
/// a Close with that error and allowReconnect (`SendCloseAsync(connection, exception,
/// connection.AllowReconnect)`, HubConnectionHandler.cs@bf884ebc758a8ca4e6d99efdeba223dcf0e38d6c),
/// and the connection ends rather than waiting for a resume.
#[tokio::test]
async fn a_sequence_past_what_was_received_closes_with_an_error_and_allow_reconnect() {
    let hub = start(|_| {}).await;
    let mut a = Client::connect(&hub, None, true).await;
    let token = a.token.clone().unwrap();
    a.ok("AddToGroup", json!(["g"])).await;
    a.send(&HubMessage::Sequence { sequence_id: 99 }).await;
    assert_eq!(
        a.closed().await,
        Some(HubMessage::Close {
            error: Some("Connection closed with an error. InvalidOperationException: Sequence ID greater than amount of messages we've received.".into()),
            allow_reconnect: true,
        })
    );
    assert!(hub.model().conns.is_empty(), "ended, not suspended");
    assert_eq!(
        status_of(open(&hub, &format!("?id={token}")).await.unwrap_err()),
        404
    );
    hub.shutdown().await;
}
