//! The connection token: what negotiate hands out as `ConnectionToken` and every later request
//! carries as `connectionToken` (reference §1.1).
//!
//! The 2.x server (`PersistentConnection.ProcessNegotiationRequest`, `TryGetConnectionId`)
//! protects `connectionId + ":" + userName` (the authenticated user's name, or empty) with
//! purpose `SignalR.ConnectionToken`; a token that does not unprotect is a 400 `The
//! ConnectionId is in the incorrect format.`, a token of another user (compared ignoring case)
//! a 403 `Unrecognized user identity.  The user identity cannot change during an active
//! SignalR connection.`; a missing one is the 400 of
//! [`ClassicError::MissingConnectionToken`](super::ClassicError::MissingConnectionToken).
//!
//! hubspec signs the same plaintext in the same format as the groups token (see
//! [`groups_token`](super::groups_token)) under this purpose, so neither token can stand in for
//! the other even with one key (reference §4.5).

use thiserror::Error;

use super::groups_token::{open, seal};

/// The purpose the 2.x server protects connection tokens with (`Purposes.ConnectionToken`).
pub const PURPOSE: &str = "SignalR.ConnectionToken";

/// A connection token the server refuses, with the 2.x server's text and status.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConnectionTokenError {
    /// Not a token this server signed (any [`TokenError`](super::TokenError)): 400.
    #[error("The ConnectionId is in the incorrect format.")]
    IncorrectFormat,
    /// Signed for another user: 403.
    #[error("Unrecognized user identity.  The user identity cannot change during an active SignalR connection.")]
    UnrecognizedUser,
}

impl ConnectionTokenError {
    /// The HTTP status the 2.x server answers with.
    pub fn status(&self) -> u16 {
        match self {
            ConnectionTokenError::IncorrectFormat => 400,
            ConnectionTokenError::UnrecognizedUser => 403,
        }
    }
}

/// Signs and reads connection tokens with a per-server key.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionToken;

impl ConnectionToken {
    /// The token for `connection_id` and `user` (`""` when anonymous).
    pub fn sign(key: &[u8], connection_id: &str, user: &str) -> String {
        seal(key, PURPOSE, &format!("{connection_id}:{user}"))
    }

    /// `TryGetConnectionId`: the connection id in `token`, if this server signed it for
    /// `user` (the request's user, `""` when anonymous; compared ignoring ASCII case).
    pub fn verify(key: &[u8], token: &str, user: &str) -> Result<String, ConnectionTokenError> {
        let payload =
            open(key, PURPOSE, token).map_err(|_| ConnectionTokenError::IncorrectFormat)?;
        if payload.is_empty() {
            return Err(ConnectionTokenError::IncorrectFormat);
        }
        let (connection_id, token_user) = payload.split_once(':').unwrap_or((&payload, ""));
        if !token_user.eq_ignore_ascii_case(user) {
            return Err(ConnectionTokenError::UnrecognizedUser);
        }
        Ok(connection_id.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classic::GroupsToken;

    const KEY: &[u8] = b"per-server key";

    #[test]
    fn a_token_names_its_connection_for_its_user_only() {
        let token = ConnectionToken::sign(KEY, "c-1", "Alice");
        assert_eq!(
            ConnectionToken::verify(KEY, &token, "alice").as_deref(),
            Ok("c-1")
        );
        let error = ConnectionToken::verify(KEY, &token, "bob").unwrap_err();
        assert_eq!((error.status(), error.to_string().as_str()), (403, "Unrecognized user identity.  The user identity cannot change during an active SignalR connection."));
        let anonymous = ConnectionToken::sign(KEY, "c-2", "");
        assert_eq!(
            ConnectionToken::verify(KEY, &anonymous, "").as_deref(),
            Ok("c-2")
        );
        assert_eq!(
            ConnectionToken::verify(KEY, &anonymous, "alice"),
            Err(ConnectionTokenError::UnrecognizedUser)
        );
    }

    #[test]
    fn foreign_altered_and_groups_tokens_are_400() {
        let token = ConnectionToken::sign(KEY, "c-1", "");
        let mut altered = token.clone();
        altered.replace_range(2..3, if &token[2..3] == "A" { "B" } else { "A" });
        let groups = GroupsToken::sign(KEY, "c-1", &[] as &[&str]);
        for bad in [
            altered.as_str(),
            &ConnectionToken::sign(b"other key", "c-1", ""),
            &groups,
            "",
            "c-1:",
            "tok:30744cb6",
        ] {
            let error = ConnectionToken::verify(KEY, bad, "").unwrap_err();
            assert_eq!(
                (error.status(), error.to_string().as_str()),
                (400, "The ConnectionId is in the incorrect format."),
                "{bad}"
            );
        }
        // And a connection token is no groups token.
        assert!(GroupsToken::verify(KEY, "c-1", &token).is_err());
    }
}
