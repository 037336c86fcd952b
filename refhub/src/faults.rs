//! Named faults ("mutants"): realistic bugs the reference hub can be told to have, so that the
//! conformance suite can prove it catches each one.
//!
//! Every fault is off by default and each is observable through the contract: it changes what
//! some client receives or when. A fault is written as a change to the operations refhub gives
//! the model (a different selector, an extra remove, a late apply) or to the wire (a replay
//! buffer dropped), never as a second implementation of group semantics.
//!
//! **Every** fault's behaviour lives in this file: [`FaultState`]'s hooks are what the rest of
//! refhub calls, and each is a no-op for the correct hub. A hook returns operations for the
//! model to apply, or rewrites a selector, a list of deliveries or what goes on the wire; none
//! decides who is in a group or who receives a send.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use hubspec_model::{ConnId, Delivery, GroupsFanout, Hub, Op, Selector, Spec, Target, Text};
use hubspec_wire::{HubMessage, MessageBuffer};

use crate::dispatch::{Call, Name};

/// One injectable bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// A new connection of a user is put back in the groups the user's earlier connections
    /// were in when they ended.
    StickyGroups,
    /// A stateful resume keeps the connection id and buffered messages but loses its groups.
    NoRejoinOnResume,
    /// `SendToOthersInGroup` also reaches the caller.
    OthersInGroupIncludesCaller,
    /// `SendToGroupExcept` ignores its exclusion list.
    GroupExceptIgnoresList,
    /// `SendToAllExcept` ignores its exclusion list.
    AllExceptIgnoresList,
    /// Group names are folded to lower case before use.
    CaseInsensitiveGroups,
    /// Adding a connection to a group it is already in makes group sends reach it twice.
    DoubleAddDeliversTwice,
    /// Removing one member from a group removes every member.
    RemoveDropsGroup,
    /// A stateful resume replays nothing: messages buffered while suspended are lost.
    BufferLostOnResume,
    /// Memberships of a user's connections survive a restart and come back on the user's next
    /// connection.
    MembershipsSurviveRestart,
    /// Rooms records are kept but a new connection is not put back in its rooms.
    RoomsNotRestored,
    /// `SendToGroups` fans out the opposite way to the configured `groups_fanout`.
    GroupsFanoutOpposite,
    /// `SendToUser` and `SendToUsers` skip the newest connection of each user.
    UserSendMissesOne,
    /// A membership change takes effect a short moment after its Completion was written.
    LateMembership,
}

impl Fault {
    /// Every fault, in a stable order.
    pub const ALL: [Fault; 14] = [
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

    /// The fault's name on the command line (`--fault NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Fault::StickyGroups => "sticky-groups",
            Fault::NoRejoinOnResume => "no-rejoin-on-resume",
            Fault::OthersInGroupIncludesCaller => "others-in-group-includes-caller",
            Fault::GroupExceptIgnoresList => "group-except-ignores-list",
            Fault::AllExceptIgnoresList => "all-except-ignores-list",
            Fault::CaseInsensitiveGroups => "case-insensitive-groups",
            Fault::DoubleAddDeliversTwice => "double-add-delivers-twice",
            Fault::RemoveDropsGroup => "remove-drops-group",
            Fault::BufferLostOnResume => "buffer-lost-on-resume",
            Fault::MembershipsSurviveRestart => "memberships-survive-restart",
            Fault::RoomsNotRestored => "rooms-not-restored",
            Fault::GroupsFanoutOpposite => "groups-fanout-opposite",
            Fault::UserSendMissesOne => "user-send-misses-one",
            Fault::LateMembership => "late-membership",
        }
    }

    /// One line saying what the bug does.
    pub fn description(self) -> &'static str {
        match self {
            Fault::StickyGroups => {
                "a new connection of a user rejoins the groups the user's ended connections were in"
            }
            Fault::NoRejoinOnResume => {
                "a stateful resume keeps the id and the buffered messages but drops every group"
            }
            Fault::OthersInGroupIncludesCaller => "SendToOthersInGroup also reaches the caller",
            Fault::GroupExceptIgnoresList => "SendToGroupExcept ignores its excluded ids",
            Fault::AllExceptIgnoresList => "SendToAllExcept ignores its excluded ids",
            Fault::CaseInsensitiveGroups => "group names are compared case-insensitively",
            Fault::DoubleAddDeliversTwice => {
                "adding a member twice makes each group send reach it twice"
            }
            Fault::RemoveDropsGroup => "removing one member empties the whole group",
            Fault::BufferLostOnResume => {
                "a stateful resume replays nothing: messages sent while suspended are lost"
            }
            Fault::MembershipsSurviveRestart => {
                "after a restart a user's next connection is back in the user's groups"
            }
            Fault::RoomsNotRestored => "a new connection is not put back in its user's rooms",
            Fault::GroupsFanoutOpposite => {
                "SendToGroups fans out opposite to the configured groups_fanout"
            }
            Fault::UserSendMissesOne => "SendToUser/SendToUsers skip each user's newest connection",
            Fault::LateMembership => {
                "a membership change takes effect shortly after its Completion is written"
            }
        }
    }

    /// The rule IDs (`hubspec_model::RULES`) this fault violates.
    pub fn breaks(self) -> &'static [&'static str] {
        match self {
            Fault::StickyGroups => &["CON-NEW-NO-GROUPS", "REC-RECONNECT-IS-NEW"],
            Fault::NoRejoinOnResume => &["REC-RESUME-KEEPS-GROUPS"],
            Fault::OthersInGroupIncludesCaller => &["SND-OTHERS-IN-GROUP"],
            Fault::GroupExceptIgnoresList => &["SND-GROUP-EXCEPT"],
            Fault::AllExceptIgnoresList => &["SND-ALL-EXCEPT"],
            Fault::CaseInsensitiveGroups => &["GRP-NAMES-ORDINAL"],
            Fault::DoubleAddDeliversTwice => &["GRP-ADD-IDEMPOTENT", "SND-EXACTLY-ONCE"],
            Fault::RemoveDropsGroup => &["GRP-REMOVE-ONE"],
            Fault::BufferLostOnResume => &["REC-RESUME-REPLAYS"],
            Fault::MembershipsSurviveRestart => &["RST-WIPES-MEMBERSHIP"],
            Fault::RoomsNotRestored => &["ROOM-RESTORE-ON-CONNECT", "ROOM-SURVIVE-RESTART"],
            Fault::GroupsFanoutOpposite => &["SND-GROUPS-FANOUT"],
            Fault::UserSendMissesOne => &["SND-USER", "SND-USERS"],
            Fault::LateMembership => &["GRP-EFFECT-BEFORE-COMPLETION"],
        }
    }
}

/// The faults a hub runs with, and the bookkeeping some of them need (empty when no fault is
/// on). Its hooks are called by `state`; each does nothing unless its fault is on.
#[derive(Default)]
pub(crate) struct FaultState {
    on: BTreeSet<Fault>,
    /// `sticky-groups`: user → groups their ended connections were in.
    sticky: BTreeMap<String, BTreeSet<String>>,
    /// `memberships-survive-restart`: user → groups their connections were in at a restart.
    survived: BTreeMap<String, BTreeSet<String>>,
    /// `double-add-delivers-twice`: (connection, group) added while already a member. An entry
    /// counts only while the connection is still in the group ([`FaultState::doubled`]
    /// checks), so a leave the bookkeeping did not see (a removal another fault makes) cannot
    /// leave it doubled after a later single add.
    doubled: BTreeSet<(ConnId, String)>,
}

/// What an invocation's membership change was before the model applied it.
pub(crate) struct Before {
    /// (connection, group, add?) the operation is about, when it names a connection id.
    about: Option<(ConnId, String, bool)>,
    /// Whether that connection was in that group.
    was_member: bool,
}

impl FaultState {
    /// The bookkeeping for a hub with the faults `on`.
    pub(crate) fn new(on: BTreeSet<Fault>) -> FaultState {
        FaultState {
            on,
            ..FaultState::default()
        }
    }

    /// Whether `fault` is on.
    pub(crate) fn has(&self, fault: Fault) -> bool {
        self.on.contains(&fault)
    }

    /// The spec operations are judged by: `groups-fanout-opposite` flips the fan-out.
    pub(crate) fn spec(&self, mut spec: Spec) -> Spec {
        if self.has(Fault::GroupsFanoutOpposite) {
            spec.groups_fanout = match spec.groups_fanout {
                GroupsFanout::PerGroup => GroupsFanout::Once,
                GroupsFanout::Once => GroupsFanout::PerGroup,
            };
        }
        spec
    }

    /// A group or room name as the client sent it, as refhub uses it: `case-insensitive-groups`
    /// folds it to lower case.
    pub(crate) fn fold(&self, name: Name) -> Name {
        if self.has(Fault::CaseInsensitiveGroups) {
            name.map(|n| n.to_lowercase())
        } else {
            name
        }
    }

    /// Operations to apply right after the model connected `id` (already in its rooms):
    /// `rooms-not-restored` takes it out of them, `sticky-groups` and
    /// `memberships-survive-restart` put it in its user's old groups.
    pub(crate) fn on_connect(&self, hub: &Hub, id: ConnId) -> Vec<Op<Text>> {
        let mut ops = Vec::new();
        if self.has(Fault::RoomsNotRestored) {
            ops.extend(
                groups_of(hub, id)
                    .into_iter()
                    .map(|group| Op::RemoveFromGroup {
                        caller: id,
                        group: Some(group),
                    }),
            );
        }
        let Some(user) = hub.conn(id).and_then(|c| c.user.as_ref()) else {
            return ops;
        };
        let mut extra: BTreeSet<String> = BTreeSet::new();
        if self.has(Fault::StickyGroups) {
            extra.extend(self.sticky.get(user).into_iter().flatten().cloned());
        }
        if self.has(Fault::MembershipsSurviveRestart) {
            extra.extend(self.survived.get(user).into_iter().flatten().cloned());
        }
        ops.extend(extra.into_iter().map(|group| Op::AddToGroup {
            caller: id,
            group: Some(group),
        }));
        ops
    }

    /// Called before the model ends `id`: `sticky-groups` remembers its groups for its user.
    pub(crate) fn on_end(&mut self, hub: &Hub, id: ConnId) {
        if self.has(Fault::StickyGroups) {
            if let Some(user) = hub.conn(id).and_then(|c| c.user.clone()) {
                let groups = groups_of(hub, id);
                self.sticky.entry(user).or_default().extend(groups);
            }
        }
        self.doubled.retain(|(c, _)| *c != id);
    }

    /// The `Sequence` and the records a resume writes: the replay buffer's, or with
    /// `buffer-lost-on-resume` nothing (the buffer is acked away and the Sequence names the
    /// next message).
    pub(crate) fn replay(&self, buffer: &mut MessageBuffer) -> (HubMessage, Vec<String>) {
        if !self.has(Fault::BufferLostOnResume) {
            return buffer.resend();
        }
        let next = buffer.total_sent();
        buffer.on_ack(next);
        let _ = buffer.resend();
        (
            HubMessage::Sequence {
                sequence_id: next + 1,
            },
            Vec::new(),
        )
    }

    /// Operations to apply once the model resumed `id`: `no-rejoin-on-resume` removes it from
    /// every group.
    pub(crate) fn on_resume(&self, hub: &Hub, id: ConnId) -> Vec<Op<Text>> {
        if !self.has(Fault::NoRejoinOnResume) {
            return Vec::new();
        }
        groups_of(hub, id)
            .into_iter()
            .map(|group| Op::RemoveFromGroup {
                caller: id,
                group: Some(group),
            })
            .collect()
    }

    /// Called before the model's `Restart`: `memberships-survive-restart` remembers each
    /// user's groups.
    pub(crate) fn on_restart(&mut self, hub: &Hub) {
        if self.has(Fault::MembershipsSurviveRestart) {
            for c in &hub.conns {
                if let Some(user) = &c.user {
                    self.survived
                        .entry(user.clone())
                        .or_default()
                        .extend(c.groups.iter().cloned());
                }
            }
        }
        self.doubled.clear();
    }

    /// `late-membership`: whether the operation of `call` is applied only after its Completion
    /// (a membership change the model would perform).
    pub(crate) fn defers(&self, hub: &Hub, call: &Call, op: &Op<Text>) -> bool {
        if !self.has(Fault::LateMembership) || !call.is_membership() {
            return false;
        }
        match op {
            Op::AddToGroup { group, .. }
            | Op::RemoveFromGroup { group, .. }
            | Op::AddConnectionToGroup { group, .. }
            | Op::RemoveConnectionFromGroup { group, .. } => group.is_some(),
            Op::JoinRoom { caller, room } | Op::LeaveRoom { caller, room } => {
                room.is_some() && hub.conn(*caller).is_some_and(|c| c.user.is_some())
            }
            _ => false,
        }
    }

    /// The selector a send is given to the model with: the client's, or the faulty one.
    pub(crate) fn rewrite_selector(&self, hub: &Hub, selector: Selector<Text>) -> Selector<Text> {
        match selector {
            Selector::AllExcept(_) if self.has(Fault::AllExceptIgnoresList) => Selector::All,
            Selector::GroupExcept(g, _) if self.has(Fault::GroupExceptIgnoresList) => {
                Selector::Group(g)
            }
            Selector::OthersInGroup(g) if self.has(Fault::OthersInGroupIncludesCaller) => {
                Selector::Group(g)
            }
            Selector::User(u) if self.has(Fault::UserSendMissesOne) => users_but_newest(hub, &[u]),
            Selector::Users(us) if self.has(Fault::UserSendMissesOne) => users_but_newest(hub, &us),
            other => other,
        }
    }

    /// Notes what an invocation's operation is about before the model applies it.
    pub(crate) fn before_invocation(&self, hub: &Hub, op: &Op<Text>) -> Before {
        let about: Option<(ConnId, String, bool)> =
            op.membership_change().and_then(|c| match c.target {
                Target::Id(t) => Some((t, c.group.clone(), c.add)),
                _ => None,
            });
        let was_member = about
            .as_ref()
            .is_some_and(|(c, g, _)| is_member(hub, *c, g));
        Before { about, was_member }
    }

    /// The deliveries to write for an invocation the model has applied:
    /// `double-add-delivers-twice` copies some.
    pub(crate) fn rewrite_deliveries(
        &mut self,
        hub: &Hub,
        op: &Op<Text>,
        before: &Before,
        deliveries: Vec<Delivery<Text>>,
    ) -> Vec<Delivery<Text>> {
        if !self.has(Fault::DoubleAddDeliversTwice) {
            return deliveries;
        }
        if let Some((c, g, add)) = &before.about {
            // Only an add to a group the connection is already in doubles; a first add (or a
            // remove) leaves it single, whatever an earlier membership did.
            if *add && before.was_member {
                self.doubled.insert((*c, g.clone()));
            } else {
                self.doubled.remove(&(*c, g.clone()));
            }
        }
        match op {
            Op::Send { selector, .. } => self.doubled(hub, selector, deliveries),
            _ => deliveries,
        }
    }

    /// Operations to apply after an invocation's deliveries are written: `remove-drops-group`
    /// removes every other member of the group a member was removed from.
    pub(crate) fn after_invocation(&self, hub: &Hub, before: &Before) -> Vec<Op<Text>> {
        match (&before.about, before.was_member) {
            (Some((c, g, false)), true) if self.has(Fault::RemoveDropsGroup) => hub
                .members(g)
                .map(|other| Op::RemoveConnectionFromGroup {
                    caller: *c,
                    target: Target::Id(other),
                    group: Some(g.clone()),
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// `double-add-delivers-twice`: a second copy for each recipient that was added twice to a
    /// group the selector names and is still in it. Only deliveries the model made are copied,
    /// so the fault never reaches a connection the send does not (another session's above all).
    fn doubled(
        &self,
        hub: &Hub,
        selector: &Selector<Text>,
        deliveries: Vec<Delivery<Text>>,
    ) -> Vec<Delivery<Text>> {
        let groups: Vec<&String> = selector.group_names().collect();
        if groups.is_empty() {
            return deliveries;
        }
        let mut out = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            let twice = groups
                .iter()
                .any(|g| self.doubled.contains(&(d.to, (*g).clone())) && is_member(hub, d.to, g));
            if twice {
                out.push(d.clone());
            }
            out.push(d);
        }
        out
    }
}

/// The groups `id` is in.
fn groups_of(hub: &Hub, id: ConnId) -> Vec<String> {
    hub.conn(id)
        .map(|c| c.groups.iter().cloned().collect())
        .unwrap_or_default()
}

fn is_member(hub: &Hub, id: ConnId, group: &str) -> bool {
    hub.conn(id)
        .is_some_and(|c| c.groups.iter().any(|g| g == group))
}

/// `user-send-misses-one`: the users' connections, each user's newest left out.
fn users_but_newest(hub: &Hub, users: &[String]) -> Selector<Text> {
    let mut newest: BTreeMap<&str, ConnId> = BTreeMap::new();
    for c in &hub.conns {
        if let Some(u) = c.user.as_deref() {
            if users.iter().any(|x| x == u) {
                newest.insert(u, c.id);
            }
        }
    }
    let skip: BTreeSet<ConnId> = newest.into_values().collect();
    Selector::Connections(
        hub.conns
            .iter()
            .filter(|c| {
                c.user
                    .as_deref()
                    .is_some_and(|u| users.iter().any(|x| x == u))
            })
            .filter(|c| !skip.contains(&c.id))
            .map(|c| Target::Id(c.id))
            .collect(),
    )
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fault::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
                format!(
                    "unknown fault '{s}' (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_fault_round_trips_through_its_name() {
        let mut names = BTreeSet::new();
        for f in Fault::ALL {
            assert_eq!(f.name().parse::<Fault>(), Ok(f));
            assert!(names.insert(f.name()), "duplicate name {}", f.name());
            assert!(!f.description().is_empty());
        }
        assert!("no-such-fault".parse::<Fault>().is_err());
    }

    #[test]
    fn every_fault_breaks_only_rules_that_exist() {
        for f in Fault::ALL {
            assert!(!f.breaks().is_empty(), "{f} breaks no rule");
            for id in f.breaks() {
                assert!(
                    hubspec_model::rule(id).is_some(),
                    "{f} names unknown rule {id}"
                );
            }
        }
    }
}
