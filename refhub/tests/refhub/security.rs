//! Security: what a client that knows another connection's public id can do with it (nothing:
//! a stateful resume takes the connection token, not the id), and what refhub's ids and tokens
//! are made of. `docs/src/security.md` states these guarantees with their sources.

use std::collections::BTreeSet;

use hubspec_wire::{HubMessage, NegotiateReply};
use serde_json::json;

use crate::client::{http, hub_path, negotiate, open, start, status_of, Client};
use crate::reconnect::wait_status;

/// A stateful connection in group "g", dropped (suspended), its public id and token.
async fn suspended_member(hub: &hubspec_refhub::RefHub) -> (String, String) {
    let mut a = Client::connect(hub, None, true).await;
    a.ok("AddToGroup", json!(["g"])).await;
    let (id, token) = (a.id.clone(), a.token.clone().unwrap());
    drop(a);
    wait_status(hub, 1).await;
    (id, token)
}

/// The public id is not the token, and it opens nothing: neither while the connection is live
/// nor while it is suspended. So an attacker who learned it (from `GetConnectionId`, a
/// `SendToConnection` target, a log) cannot resume the connection, receive what was buffered
/// for it, or take over its groups; the holder of the token still can.
#[tokio::test]
async fn knowing_a_connection_id_does_not_resume_it() {
    let hub = start(|_| {}).await;
    let mut live = Client::connect(&hub, None, true).await;
    assert_ne!(live.id, live.token.clone().unwrap());
    assert_eq!(
        status_of(open(&hub, &format!("?id={}", live.id)).await.unwrap_err()),
        404,
        "the id of a live connection"
    );
    live.ok("SendToCaller", json!(["still mine"])).await;
    let (id, token) = suspended_member(&hub).await;
    let mut sender = Client::connect(&hub, None, false).await;
    sender
        .ok("SendToGroup", json!(["g", "for the member only"]))
        .await;
    for query in [
        format!("?id={id}"),
        format!("?id={}", id.to_lowercase()),
        format!("?id={id}&user=x"),
    ] {
        assert_eq!(
            status_of(open(&hub, &query).await.unwrap_err()),
            404,
            "{query}"
        );
    }
    // The group has the suspended member only, and the attacker's attempts changed nothing.
    let groups = hub.model().groups();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups.values().next().unwrap().len(), 1);
    // The token holder resumes and gets what was buffered, once.
    let ws = open(&hub, &format!("?id={token}")).await.expect("resume");
    let mut a = Client::over(ws, id, Some(token));
    assert_eq!(
        a.recv().await,
        Some(HubMessage::Sequence { sequence_id: 1 })
    );
    // Our AddToGroup was its 1 message: the next is 2.
    a.send(&HubMessage::Sequence { sequence_id: 2 }).await;
    a.next_invocation = 10;
    assert_eq!(a.sync().await, vec!["for the member only"]);
    hub.shutdown().await;
}

/// Ids and tokens are 16 bytes from the operating system's random source (`uuid::Uuid::new_v4`,
/// which takes `getrandom`: 122 random bits, the other 6 fixed by the UUID version and
/// variant), in URL-safe base64 without padding: 22 characters, as ASP.NET Core's
/// `MakeNewConnectionId` (128 bits from `RandomNumberGenerator`). This checks the shape and that
/// none repeats or runs in sequence over a few hundred; the source is the argument that they
/// cannot be guessed.
#[tokio::test]
async fn ids_and_tokens_are_22_random_url_safe_characters() {
    let hub = start(|_| {}).await;
    let mut seen = BTreeSet::new();
    let mut first_chars = BTreeSet::new();
    for _ in 0..200 {
        let n = negotiate(&hub, None, true).await;
        for value in [n.connection_id.unwrap(), n.connection_token.unwrap()] {
            assert_eq!(value.len(), 22, "{value}");
            assert!(
                value
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
                "{value}"
            );
            first_chars.insert(value.as_bytes()[0]);
            assert!(seen.insert(value.clone()), "{value} repeated");
        }
    }
    // 400 values from 64 first characters: a counter or a clock would share a prefix.
    assert!(first_chars.len() > 32, "{first_chars:?}");
    hub.shutdown().await;
}

/// A negotiated token opens one connection: once its socket is open, a second socket with the
/// same token is a resume for a stateful connection (which replaces the first: the token is the
/// credential) and 409 for one that is not; a token unknown to the hub is 404.
#[tokio::test]
async fn a_token_is_the_credential_and_only_the_hubs_tokens_open_anything() {
    let hub = start(|_| {}).await;
    let plain = Client::connect(&hub, None, false).await;
    assert_eq!(
        status_of(
            open(&hub, &format!("?id={}", plain.token.clone().unwrap()))
                .await
                .unwrap_err()
        ),
        409
    );
    for forged in ["AAAAAAAAAAAAAAAAAAAAAA", "", "../negotiate"] {
        assert_eq!(
            status_of(open(&hub, &format!("?id={forged}")).await.unwrap_err()),
            404,
            "{forged:?}"
        );
    }
    hub.shutdown().await;
}

/// With `negotiateVersion=0` there is no token: the socket's `id` is the connection id itself
/// (the negotiate protocol's version 0). Asked for stateful reconnect there, refhub grants it,
/// so whoever knows such a connection's id can resume it. Asserted as it is; clients that ask
/// for version 1 (every current client) get a separate token.
#[tokio::test]
async fn with_negotiate_version_0_the_id_is_the_token() {
    let hub = start(|_| {}).await;
    let (status, body) = http(
        &hub.url(),
        "POST",
        &format!(
            "{}/negotiate?negotiateVersion=0&useStatefulReconnect=true",
            hub_path(&hub)
        ),
    )
    .await;
    assert_eq!(status, 200);
    let NegotiateReply::Negotiated(n) = NegotiateReply::parse(&body).unwrap() else {
        panic!("{body}");
    };
    assert_eq!(n.negotiate_version, 0);
    assert!(!body.contains("connectionToken"), "{body}");
    assert!(n.use_stateful_reconnect, "{body}");
    let id = n.connection_id.unwrap();
    let ws = open(&hub, &format!("?id={id}")).await.unwrap();
    let mut a = Client::over(ws, id.clone(), Some(id.clone()));
    a.handshake(2).await;
    a.ok("AddToGroup", json!(["g"])).await;
    drop(a);
    wait_status(&hub, 1).await;
    // Anyone with the id resumes it.
    let ws = open(&hub, &format!("?id={id}"))
        .await
        .expect("resumed by id");
    let mut other = Client::over(ws, id.clone(), None);
    assert!(matches!(
        other.recv().await,
        Some(HubMessage::Sequence { .. })
    ));
    hub.shutdown().await;
}
