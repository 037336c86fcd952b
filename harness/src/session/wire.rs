//! Names on the wire: what a model op becomes as a contract call, and which step a received
//! payload names.
//!
//! Group names, user names and payloads carry a prefix unique to the run, so many runs can share
//! one server. A payload of step `n` (1-based) is sent as `<prefix><n>|<payload>` and a barrier
//! marker as `<prefix>~<n>.<seq>`, so each received message names the op that sent it (see
//! [`Decoded`]). The empty group name is sent literally: it cannot be prefixed without changing
//! its meaning, which is one reason [`hubspec_model::is_exclusive`] marks a history as needing
//! the server to itself. A connection id the run never connected is a random id, the same one
//! each time the run names it.

use crate::client::Received;
use hubspec_model::{ConnId, Op, Selector, Target};
use serde_json::{json, Value};
use std::collections::HashMap;

/// What a received message is, read from its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// A barrier marker of this run (the whole payload), with the connection it was sent to
    /// (`None`: a marker this run never sent).
    Marker {
        marker: String,
        owner: Option<ConnId>,
    },
    /// A payload of step `.0` (1-based) of this run, without its prefix.
    Payload(usize, String),
    /// Anything else, shown as received.
    Foreign(String),
}

/// The names of one run: its prefix, the ids it made up, the markers it sent.
#[derive(Debug)]
pub(crate) struct Names {
    prefix: String,
    /// Random ids for model ids that were never connected, stable within the run.
    ghost_ids: HashMap<ConnId, String>,
    marker_seq: u64,
    /// Every barrier marker of the run -> the connection it was sent to (bounded by steps ×
    /// connections): a marker seen anywhere else is misrouted, seen again is a duplicate.
    markers: HashMap<String, ConnId>,
}

impl Names {
    /// The names of a run whose prefix is `prefix`.
    pub(crate) fn new(prefix: String) -> Names {
        Names {
            prefix,
            ghost_ids: HashMap::new(),
            marker_seq: 0,
            markers: HashMap::new(),
        }
    }

    /// The names of a new run of `case`: a prefix made of the case and a random part.
    pub(crate) fn fresh(case: &str) -> Names {
        let short = uuid::Uuid::new_v4().simple().to_string();
        Names::new(format!("{case}#{}:", &short[..8]))
    }

    /// A new barrier marker for step `step`, sent by `to` to itself.
    pub(crate) fn marker(&mut self, step: usize, to: ConnId) -> String {
        self.marker_seq += 1;
        let marker = format!("{}~{step}.{}", self.prefix, self.marker_seq);
        self.markers.insert(marker.clone(), to);
        marker
    }

    /// The user name `u` as the run sends it.
    pub(crate) fn user(&self, u: &str) -> String {
        format!("{}{u}", self.prefix)
    }

    fn group(&self, g: &Option<String>) -> Value {
        match g {
            None => Value::Null,
            Some(g) if g.is_empty() => json!(""),
            Some(g) => json!(format!("{}{g}", self.prefix)),
        }
    }

    fn target(&mut self, t: &Target, live_id: &dyn Fn(ConnId) -> Option<String>) -> Value {
        match t {
            Target::Id(c) => match live_id(*c) {
                Some(id) => json!(id),
                None => json!(self
                    .ghost_ids
                    .entry(*c)
                    .or_insert_with(|| uuid::Uuid::new_v4().to_string())),
            },
            Target::Unknown => json!(uuid::Uuid::new_v4().to_string()),
            // JSON null, as a client passing a null string sends it (GRP-NULL-CONNECTION-ID).
            Target::Null => Value::Null,
        }
    }

    fn targets(&mut self, ts: &[Target], live_id: &dyn Fn(ConnId) -> Option<String>) -> Value {
        Value::Array(ts.iter().map(|t| self.target(t, live_id)).collect())
    }

    /// The method and arguments invocation `op` of step `step` (1-based) becomes on the wire;
    /// `live_id` gives the live id of a connected model id.
    ///
    /// Panics if `op` is not an invocation (it has no caller).
    pub(crate) fn invocation(
        &mut self,
        step: usize,
        op: &Op,
        live_id: &dyn Fn(ConnId) -> Option<String>,
    ) -> (&'static str, Vec<Value>) {
        match op {
            Op::AddToGroup { group, .. } => ("AddToGroup", vec![self.group(group)]),
            Op::RemoveFromGroup { group, .. } => ("RemoveFromGroup", vec![self.group(group)]),
            Op::AddConnectionToGroup { target, group, .. } => (
                "AddConnectionToGroup",
                vec![self.target(target, live_id), self.group(group)],
            ),
            Op::RemoveConnectionFromGroup { target, group, .. } => (
                "RemoveConnectionFromGroup",
                vec![self.target(target, live_id), self.group(group)],
            ),
            Op::JoinRoom { room, .. } => ("JoinRoom", vec![self.group(room)]),
            Op::LeaveRoom { room, .. } => ("LeaveRoom", vec![self.group(room)]),
            Op::Send {
                selector, payload, ..
            } => {
                let p = json!(format!("{}{step}|{payload}", self.prefix));
                let args = match selector {
                    Selector::All | Selector::Others | Selector::Caller => vec![p],
                    Selector::AllExcept(ids) | Selector::Connections(ids) => {
                        vec![self.targets(ids, live_id), p]
                    }
                    Selector::Connection(t) => vec![self.target(t, live_id), p],
                    Selector::Group(g) | Selector::OthersInGroup(g) => vec![self.group(g), p],
                    Selector::Groups(gs) => {
                        vec![Value::Array(gs.iter().map(|g| self.group(g)).collect()), p]
                    }
                    Selector::GroupExcept(g, ids) => {
                        vec![self.group(g), self.targets(ids, live_id), p]
                    }
                    Selector::User(u) => vec![json!(self.user(u)), p],
                    Selector::Users(us) => vec![
                        Value::Array(us.iter().map(|u| json!(self.user(u))).collect()),
                        p,
                    ],
                };
                (selector.method(), args)
            }
            _ => unreachable!("only invocations are mapped to methods"),
        }
    }

    /// What `received` is: a marker, a payload of a step of this run, or foreign.
    pub(crate) fn decode(&self, received: &Received) -> Decoded {
        let Some(p) = received.payload() else {
            return Decoded::Foreign(format!("{}({:?})", received.target, received.arguments));
        };
        let Some(rest) = p.strip_prefix(self.prefix.as_str()) else {
            return Decoded::Foreign(p.to_string());
        };
        if rest.starts_with('~') {
            return Decoded::Marker {
                marker: p.to_string(),
                owner: self.markers.get(p).copied(),
            };
        }
        match rest.split_once('|') {
            // Steps are numbered from 1: a mangled `<prefix>0|…` is sent by no op (and must
            // not index step 0 - 1).
            Some((step, payload)) => match step.parse::<usize>() {
                Ok(step) if step >= 1 => Decoded::Payload(step, payload.to_string()),
                _ => Decoded::Foreign(p.to_string()),
            },
            None => Decoded::Foreign(p.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(payload: &str) -> Received {
        Received {
            target: "Receive".into(),
            arguments: vec![json!(payload)],
        }
    }

    fn no_live_ids(_: ConnId) -> Option<String> {
        None
    }

    #[test]
    fn a_send_carries_its_step_in_the_payload_and_decodes_back_to_it() {
        let mut names = Names::new("case#1:".into());
        let op = Op::Send {
            caller: ConnId(1),
            selector: Selector::Group(Some("g".into())),
            payload: "m1".into(),
        };
        let (method, args) = names.invocation(3, &op, &no_live_ids);
        assert_eq!(method, "SendToGroup");
        assert_eq!(args, vec![json!("case#1:g"), json!("case#1:3|m1")]);
        assert_eq!(
            names.decode(&receive("case#1:3|m1")),
            Decoded::Payload(3, "m1".into())
        );
    }

    #[test]
    fn the_empty_and_the_null_group_name_are_sent_as_they_are() {
        let mut names = Names::new("p:".into());
        let add = |group: Option<&str>| Op::AddToGroup {
            caller: ConnId(1),
            group: group.map(str::to_string),
        };
        assert_eq!(
            names.invocation(1, &add(Some("")), &no_live_ids).1,
            vec![json!("")]
        );
        assert_eq!(
            names.invocation(1, &add(None), &no_live_ids).1,
            vec![Value::Null]
        );
    }

    #[test]
    fn a_connected_id_is_its_live_id_and_a_never_connected_one_a_stable_random_id() {
        let mut names = Names::new("p:".into());
        let live = |c: ConnId| (c == ConnId(1)).then(|| "live-1".to_string());
        let to = |c: u32| Op::AddConnectionToGroup {
            caller: ConnId(1),
            target: Target::Id(ConnId(c)),
            group: Some("g".into()),
        };
        assert_eq!(names.invocation(1, &to(1), &live).1[0], json!("live-1"));
        let ghost = names.invocation(1, &to(7), &live).1[0].clone();
        assert_eq!(names.invocation(2, &to(7), &live).1[0], ghost);
        assert_ne!(ghost, json!("live-1"));
        assert_eq!(
            names
                .invocation(
                    1,
                    &Op::Send {
                        caller: ConnId(1),
                        selector: Selector::Connection(Target::Null),
                        payload: "m".into(),
                    },
                    &live
                )
                .1[0],
            Value::Null
        );
    }

    #[test]
    fn a_marker_decodes_to_the_connection_it_was_sent_to() {
        let mut names = Names::new("p:".into());
        let marker = names.marker(2, ConnId(1));
        assert_eq!(
            names.decode(&receive(&marker)),
            Decoded::Marker {
                marker: marker.clone(),
                owner: Some(ConnId(1))
            }
        );
        assert_eq!(
            names.decode(&receive("p:~9.9")),
            Decoded::Marker {
                marker: "p:~9.9".into(),
                owner: None
            }
        );
    }

    #[test]
    fn what_names_no_step_of_this_run_is_foreign() {
        let names = Names::new("p:".into());
        for payload in ["other:1|m", "p:0|m", "p:x|m", "p:m"] {
            assert_eq!(
                names.decode(&receive(payload)),
                Decoded::Foreign(payload.into()),
                "{payload}"
            );
        }
        let not_receive = Received {
            target: "Other".into(),
            arguments: vec![json!(1)],
        };
        assert!(
            matches!(names.decode(&not_receive), Decoded::Foreign(f) if f.starts_with("Other("))
        );
    }
}
