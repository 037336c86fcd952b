//! Which rules a mismatch violates, derived from the op and the history before it.
//!
//! A wrong delivery breaks the selector's own rule, but usually because of something earlier
//! in the history: a resume that lost the groups, a new connection that inherited them, a
//! restart that kept them. The heuristics below look for that cause and put its rule first,
//! then the rule of the kind of mismatch, then the selector's rule:
//!
//! 1. **History** (recipient `r`, group `g` of a group selector):
//!    - `r` was resumed earlier → `REC-RESUME-KEEPS-GROUPS`; `r` had its membership changed
//!      while suspended → `REC-SUSPENDED-KEEPS-GROUPS`.
//!    - a `Restart` happened earlier: an unexpected recipient → `RST-WIPES-MEMBERSHIP`;
//!      a missing one whose user joined the room before it → `ROOM-SURVIVE-RESTART`.
//!    - rooms: `r`'s user joined `g` as a room → missing: `ROOM-RESTORE-ON-CONNECT`;
//!      unexpected after the user left it → `ROOM-LEAVE-DELETES`; unexpected and only another
//!      user joined it → `ROOM-PER-USER`.
//!    - unexpected, `r` never joined `g` but an earlier connection of the same user did →
//!      `CON-NEW-NO-GROUPS` (and `REC-RECONNECT-IS-NEW` if that one was dropped).
//!    - the history names a group equal to `g` but for case or surrounding spaces →
//!      `GRP-NAMES-ORDINAL`; `g` is `""` → `GRP-EMPTY-NAME`.
//!    - a duplicate after `r` was added to `g` twice → `GRP-ADD-IDEMPOTENT`.
//!    - unexpected after `r` was removed from `g` → `GRP-DELETE-ON-EMPTY` if that removal
//!      emptied the group, else `GRP-EFFECT-BEFORE-COMPLETION`.
//!    - missing after another member was removed from `g` → `GRP-REMOVE-ONE`; missing and `r`
//!      was added by another connection → `GRP-ADD-BY-ID`; missing and `r` is in several
//!      groups → `GRP-MULTI-MEMBERSHIP`; missing right after `r` was added →
//!      `GRP-EFFECT-BEFORE-COMPLETION`.
//! 2. **Kind**: a duplicate → `SND-EXACTLY-ONCE` (for `Groups`, `SND-GROUPS-FANOUT`); a
//!    reordering or a late message → `SND-FIFO`; an unexpected recipient → `SND-EXACTLY-ONCE`.
//! 3. **Selector**: `SND-GROUP`, `SND-USER`, … (see [`selector_rule`]).
//!
//! At a `Resume` step, wrong replays are `REC-RESUME-REPLAYS` first. Result mismatches have
//! their own table ([`result_rules`]). Protocol findings carry their `PRO-` rule already.

use crate::divergence::DivergenceKind;
use hubspec_model::{ConnId, Hub, Op, Profile, Selector, Spec, Target};

/// The rule of a send selector.
pub fn selector_rule(selector: &Selector) -> &'static str {
    match selector {
        Selector::All => "SND-ALL",
        Selector::AllExcept(_) => "SND-ALL-EXCEPT",
        Selector::Others => "SND-OTHERS",
        Selector::Caller => "SND-CALLER",
        Selector::Connection(_) => "SND-CONNECTION",
        Selector::Connections(_) => "SND-CONNECTIONS",
        Selector::Group(_) => "SND-GROUP",
        Selector::Groups(_) => "SND-GROUPS-FANOUT",
        Selector::GroupExcept(..) => "SND-GROUP-EXCEPT",
        Selector::OthersInGroup(_) => "SND-OTHERS-IN-GROUP",
        Selector::User(_) => "SND-USER",
        Selector::Users(_) => "SND-USERS",
    }
}

fn push(rules: &mut Vec<&'static str>, rule: &'static str) {
    if !rules.contains(&rule) {
        rules.push(rule);
    }
}

/// The groups a send selector addresses by name ([`Selector::group_names`]).
fn selector_groups(selector: &Selector) -> Vec<&str> {
    selector.group_names().map(String::as_str).collect()
}

/// [`Op::membership_change`] as a tuple to match on: (target, group, `true` for an add).
fn membership_change(op: &Op) -> Option<(Target, &str, bool)> {
    op.membership_change()
        .map(|c| (c.target, c.group.as_str(), c.add))
}

/// Every group name the history touches.
fn names_in(op: &Op) -> Vec<&str> {
    let mut out = Vec::new();
    if let Some((_, g, _)) = membership_change(op) {
        out.push(g);
    }
    if let Op::Send { selector, .. } = op {
        out.extend(selector_groups(selector));
    }
    out
}

/// The model's state before step `index` (0-based) of `ops`; `None` if the history is invalid.
fn state_before(spec: &Spec, ops: &[Op], index: usize) -> Option<Hub> {
    let mut hub = Hub::new();
    for op in &ops[..index] {
        hub.apply(spec, op).ok()?;
    }
    Some(hub)
}

/// The user each connection was opened with, in connect order.
fn users(ops: &[Op]) -> Vec<(ConnId, Option<String>)> {
    let mut out = Vec::new();
    let mut n = 0;
    for op in ops {
        if let Op::Connect { user } = op {
            n += 1;
            out.push((ConnId(n), user.clone()));
        }
    }
    out
}

fn user_of(ops: &[Op], conn: ConnId) -> Option<String> {
    users(ops)
        .into_iter()
        .find(|(c, _)| *c == conn)
        .and_then(|(_, u)| u)
}

/// The rules a wrong delivery to `recipient` at step `index` (0-based) violates.
///
/// `origin` is the step whose send the message belongs to, when it differs from `index`
/// (a late message, a replay at a resume).
pub fn delivery_rules(
    spec: &Spec,
    ops: &[Op],
    index: usize,
    kind: DivergenceKind,
    recipient: ConnId,
    origin: Option<usize>,
) -> Vec<&'static str> {
    let mut rules = Vec::new();
    let send_index = origin.unwrap_or(index);
    let op = &ops[index];
    if let Op::Resume { .. } = op {
        push(&mut rules, "REC-RESUME-REPLAYS");
    }
    let history = &ops[..send_index];
    if let Some(Op::Send { selector, .. }) = ops.get(send_index) {
        history_rules(spec, ops, send_index, kind, recipient, selector, &mut rules);
        if matches!(op, Op::Resume { .. }) && !selector_groups(selector).is_empty() {
            push(&mut rules, "REC-SUSPENDED-KEEPS-GROUPS");
        }
        match kind {
            DivergenceKind::Duplicate if matches!(selector, Selector::Groups(_)) => {
                push(&mut rules, "SND-GROUPS-FANOUT")
            }
            DivergenceKind::Duplicate | DivergenceKind::Unexpected => {
                push(&mut rules, "SND-EXACTLY-ONCE")
            }
            DivergenceKind::Reordered | DivergenceKind::Late => push(&mut rules, "SND-FIFO"),
            _ => {}
        }
        push(&mut rules, selector_rule(selector));
        // A null inside an id list must match nobody.
        if let Selector::AllExcept(ids)
        | Selector::Connections(ids)
        | Selector::GroupExcept(_, ids) = selector
        {
            if ids.contains(&Target::Null) {
                push(&mut rules, "GRP-NULL-CONNECTION-ID");
            }
        }
    } else {
        // A message at a step that sends nothing (or one no op sent).
        let _ = history;
        match kind {
            DivergenceKind::Reordered | DivergenceKind::Late => push(&mut rules, "SND-FIFO"),
            _ => push(&mut rules, "SND-EXACTLY-ONCE"),
        }
    }
    rules
}

#[allow(clippy::too_many_arguments)]
fn history_rules(
    spec: &Spec,
    ops: &[Op],
    index: usize,
    kind: DivergenceKind,
    r: ConnId,
    selector: &Selector,
    rules: &mut Vec<&'static str>,
) {
    let history = &ops[..index];
    let groups = selector_groups(selector);
    let missing = kind == DivergenceKind::Lost;
    let extra = matches!(kind, DivergenceKind::Unexpected | DivergenceKind::Duplicate);
    let r_user = user_of(ops, r);
    // Reconnect.
    let resumed = history
        .iter()
        .any(|op| matches!(op, Op::Resume { conn, .. } if *conn == r));
    if !groups.is_empty() && resumed && spec.profile != Profile::Core {
        push(rules, "REC-RESUME-KEEPS-GROUPS");
    }
    if !groups.is_empty() && spec.profile != Profile::Core {
        // A membership change while r was suspended.
        let mut suspended = false;
        for op in history {
            match op {
                Op::Drop { conn } if *conn == r => suspended = true,
                Op::Resume { conn, .. } if *conn == r => suspended = false,
                other => {
                    if let Some((Target::Id(t), g, _)) = membership_change(other) {
                        if suspended && t == r && groups.contains(&g) {
                            push(rules, "REC-SUSPENDED-KEEPS-GROUPS");
                        }
                    }
                }
            }
        }
    }
    // Restart.
    if let Some(restart) = history.iter().rposition(|op| matches!(op, Op::Restart)) {
        if extra {
            push(rules, "RST-WIPES-MEMBERSHIP");
        }
        if missing {
            let joined_before = history[..restart].iter().any(|op| match op {
                Op::JoinRoom {
                    caller,
                    room: Some(g),
                } => groups.contains(&g.as_str()) && user_of(ops, *caller) == r_user,
                _ => false,
            });
            if joined_before && r_user.is_some() {
                push(rules, "ROOM-SURVIVE-RESTART");
            }
        }
    }
    // Rooms.
    let room_ops: Vec<(ConnId, &str, bool)> = history
        .iter()
        .filter_map(|op| match op {
            Op::JoinRoom {
                caller,
                room: Some(g),
            } => Some((*caller, g.as_str(), true)),
            Op::LeaveRoom {
                caller,
                room: Some(g),
            } => Some((*caller, g.as_str(), false)),
            _ => None,
        })
        .filter(|(_, g, _)| groups.contains(g))
        .collect();
    if !room_ops.is_empty() {
        let same_user = |c: &ConnId| r_user.is_some() && user_of(ops, *c) == r_user;
        let mine: Vec<_> = room_ops.iter().filter(|(c, _, _)| same_user(c)).collect();
        if missing && mine.last().is_some_and(|(_, _, join)| *join) {
            push(rules, "ROOM-RESTORE-ON-CONNECT");
        }
        if extra && mine.last().is_some_and(|(_, _, join)| !*join) {
            push(rules, "ROOM-LEAVE-DELETES");
        }
        if extra && mine.is_empty() {
            push(rules, "ROOM-PER-USER");
        }
    }
    // A new connection of a user whose earlier connection was in the group.
    let r_joined = history.iter().any(|op| {
        matches!(membership_change(op), Some((Target::Id(t), g, true)) if t == r && groups.contains(&g))
    });
    if extra && !r_joined && r_user.is_some() {
        for (c, u) in users(ops) {
            if c == r || c.0 > r.0 || u != r_user {
                continue;
            }
            let was_member = history.iter().any(|op| {
                matches!(membership_change(op), Some((Target::Id(t), g, true)) if t == c && groups.contains(&g))
            });
            if was_member {
                push(rules, "CON-NEW-NO-GROUPS");
                let dropped = history
                    .iter()
                    .any(|op| matches!(op, Op::Drop { conn } if *conn == c));
                if dropped && spec.profile == Profile::Core {
                    push(rules, "REC-RECONNECT-IS-NEW");
                }
            }
        }
    }
    // Names.
    for g in &groups {
        if g.is_empty() {
            push(rules, "GRP-EMPTY-NAME");
        }
        let near = history
            .iter()
            .flat_map(names_in)
            .any(|h| h != *g && (h.eq_ignore_ascii_case(g) || h.trim() == g.trim()));
        if near {
            push(rules, "GRP-NAMES-ORDINAL");
        }
    }
    // Membership history of r in the addressed groups.
    let changes: Vec<(usize, Target, &str, bool)> = history
        .iter()
        .enumerate()
        .filter_map(|(i, op)| membership_change(op).map(|(t, g, add)| (i, t, g, add)))
        .filter(|(_, _, g, _)| groups.contains(g))
        .collect();
    // Per addressed group: `r`'s adds since its last removal there, and the step of its last
    // change there when that was a removal. A `Groups` send addresses several groups, and the
    // history of one must not explain a copy that another delivered.
    let per_group: Vec<(&str, usize, Option<usize>)> = groups
        .iter()
        .map(|g| {
            let mut adds = 0;
            let mut removed_at = None;
            for (i, _, _, add) in changes
                .iter()
                .filter(|(_, t, h, _)| h == g && *t == Target::Id(r))
            {
                if *add {
                    adds += 1;
                    removed_at = None;
                } else {
                    adds = 0;
                    removed_at = Some(*i);
                }
            }
            (*g, adds, removed_at)
        })
        .collect();
    let double_added =
        kind == DivergenceKind::Duplicate && per_group.iter().any(|(_, adds, _)| *adds >= 2);
    if double_added {
        push(rules, "GRP-ADD-IDEMPOTENT");
    }
    if extra && !double_added {
        for (g, _, removed_at) in &per_group {
            let Some(i) = removed_at else { continue };
            let emptied = state_before(spec, ops, i + 1)
                .map(|hub| hub.members(&g.to_string()).next().is_none())
                .unwrap_or(false);
            push(
                rules,
                if emptied {
                    "GRP-DELETE-ON-EMPTY"
                } else {
                    "GRP-EFFECT-BEFORE-COMPLETION"
                },
            );
        }
    }
    if missing {
        if changes
            .iter()
            .any(|(_, t, _, add)| !*add && *t != Target::Id(r))
        {
            push(rules, "GRP-REMOVE-ONE");
        }
        let by_other = history.iter().any(|op| {
            matches!(op, Op::AddConnectionToGroup { caller, target: Target::Id(t), group: Some(g) }
                if *t == r && *caller != r && groups.contains(&g.as_str()))
        });
        if by_other {
            push(rules, "GRP-ADD-BY-ID");
        }
        if let Some(hub) = state_before(spec, ops, index) {
            if hub.conn(r).is_some_and(|c| c.groups.len() > 1) {
                push(rules, "GRP-MULTI-MEMBERSHIP");
            }
        }
        if index > 0 {
            if let Some((Target::Id(t), g, true)) = membership_change(&ops[index - 1]) {
                if t == r && groups.contains(&g) {
                    push(rules, "GRP-EFFECT-BEFORE-COMPLETION");
                }
            }
        }
    }
}

/// The rules a wrong result at step `index` (0-based) violates.
pub fn result_rules(spec: &Spec, ops: &[Op], index: usize) -> Vec<&'static str> {
    let mut rules = Vec::new();
    let op = &ops[index];
    let history = &ops[..index];
    match op {
        Op::Connect { .. } => push(&mut rules, "CON-IDS-UNIQUE"),
        Op::Resume { conn, .. } => {
            // What happened to the connection last decides why a resume must be refused.
            let last = history.iter().rev().find(|o| match o {
                Op::Disconnect { conn: c }
                | Op::Drop { conn: c }
                | Op::Expire { conn: c }
                | Op::Resume { conn: c, .. } => c == conn,
                Op::Restart => true,
                _ => false,
            });
            match last {
                Some(Op::Restart) => push(&mut rules, "RST-NO-RESUME"),
                Some(Op::Disconnect { .. }) => push(&mut rules, "REC-GRACEFUL-NO-RESUME"),
                Some(Op::Expire { .. }) => push(&mut rules, "REC-EXPIRE-ENDS"),
                Some(Op::Drop { .. }) if spec.profile == Profile::Core => {
                    push(&mut rules, "REC-CORE-DROP-ENDS")
                }
                _ => {}
            }
            push(&mut rules, "REC-RESUME-KEEPS-GROUPS");
        }
        Op::Expire { .. } => push(&mut rules, "REC-EXPIRE-ENDS"),
        Op::JoinRoom { room: None, .. } | Op::LeaveRoom { room: None, .. } => {
            push(&mut rules, "GRP-NULL-NAME")
        }
        // The id is checked before the name, so a null id is what a wrong result breaks.
        Op::AddConnectionToGroup {
            target: Target::Null,
            ..
        }
        | Op::RemoveConnectionFromGroup {
            target: Target::Null,
            ..
        } => push(&mut rules, "GRP-NULL-CONNECTION-ID"),
        Op::JoinRoom { .. } | Op::LeaveRoom { .. } => push(&mut rules, "ROOM-NEEDS-USER"),
        Op::Send { selector, .. } => {
            match selector {
                Selector::Groups(gs)
                    if gs.iter().any(|g| g.as_deref().is_none_or(str::is_empty)) =>
                {
                    push(&mut rules, "SND-GROUPS-EMPTY-NAME")
                }
                Selector::Group(None)
                | Selector::GroupExcept(None, _)
                | Selector::OthersInGroup(None) => push(&mut rules, "GRP-NULL-NAME"),
                Selector::Connection(Target::Null) => push(&mut rules, "GRP-NULL-CONNECTION-ID"),
                _ => {}
            }
            push(&mut rules, selector_rule(selector));
        }
        other => match membership_change(other) {
            None => push(&mut rules, "GRP-NULL-NAME"),
            Some((target, g, _)) => {
                if g.is_empty() {
                    push(&mut rules, "GRP-EMPTY-NAME");
                }
                match target {
                    Target::Unknown => push(&mut rules, "GRP-UNKNOWN-ID"),
                    Target::Null => push(&mut rules, "GRP-NULL-CONNECTION-ID"),
                    Target::Id(t) => {
                        let live =
                            state_before(spec, ops, index).is_some_and(|hub| hub.conn(t).is_some());
                        if !live {
                            push(&mut rules, "GRP-CLOSED-ID");
                        } else if matches!(
                            other,
                            Op::RemoveFromGroup { .. } | Op::RemoveConnectionFromGroup { .. }
                        ) {
                            push(&mut rules, "GRP-REMOVE-NONMEMBER");
                        }
                    }
                }
                push(&mut rules, "GRP-EFFECT-BEFORE-COMPLETION");
            }
        },
    }
    if rules.is_empty() {
        push(&mut rules, "GRP-EFFECT-BEFORE-COMPLETION");
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use hubspec_model::Spec;
    use DivergenceKind::*;

    fn g(s: &str) -> Option<String> {
        Some(s.to_string())
    }
    fn c(n: u32) -> ConnId {
        ConnId(n)
    }
    fn connect(user: Option<&str>) -> Op {
        Op::Connect {
            user: user.map(str::to_string),
        }
    }
    fn add(n: u32, group: &str) -> Op {
        Op::AddToGroup {
            caller: c(n),
            group: g(group),
        }
    }
    fn to_group(n: u32, group: &str) -> Op {
        Op::Send {
            caller: c(n),
            selector: Selector::Group(g(group)),
            payload: "m".into(),
        }
    }

    #[test]
    fn a_duplicate_after_a_double_add_blames_idempotence_first() {
        let ops = vec![
            connect(None),
            connect(None),
            add(1, "g"),
            add(1, "g"),
            to_group(2, "g"),
        ];
        let rules = delivery_rules(&Spec::default(), &ops, 4, Duplicate, c(1), None);
        assert_eq!(
            rules,
            vec!["GRP-ADD-IDEMPOTENT", "SND-EXACTLY-ONCE", "SND-GROUP"]
        );
    }

    /// A `Groups` send addresses several groups: a copy from a group the connection was added
    /// to twice is not explained by its removal from another listed group, nor is the
    /// double add missed because a removal elsewhere came after it.
    #[test]
    fn a_groups_duplicate_is_blamed_on_the_group_that_was_added_twice() {
        let ops = vec![
            connect(None),
            add(1, "a"),
            add(1, "a"),
            add(1, "b"),
            Op::RemoveFromGroup {
                caller: c(1),
                group: g("b"),
            },
            Op::Send {
                caller: c(1),
                selector: Selector::Groups(vec![g("a"), g("b")]),
                payload: "m".into(),
            },
        ];
        let rules = delivery_rules(&Spec::default(), &ops, 5, Duplicate, c(1), None);
        assert_eq!(rules, vec!["GRP-ADD-IDEMPOTENT", "SND-GROUPS-FANOUT"]);
    }

    /// An unexpected copy after the connection left one listed group is blamed on that group's
    /// removal.
    #[test]
    fn a_groups_copy_after_leaving_one_group_blames_the_removal() {
        let ops = vec![
            connect(None),
            connect(None),
            add(1, "a"),
            add(2, "b"),
            add(1, "b"),
            Op::RemoveFromGroup {
                caller: c(1),
                group: g("b"),
            },
            Op::Send {
                caller: c(2),
                selector: Selector::Groups(vec![g("a"), g("b")]),
                payload: "m".into(),
            },
        ];
        let rules = delivery_rules(&Spec::default(), &ops, 6, Duplicate, c(1), None);
        assert_eq!(
            rules,
            vec!["GRP-EFFECT-BEFORE-COMPLETION", "SND-GROUPS-FANOUT"]
        );
    }

    #[test]
    fn a_new_connection_receiving_its_users_old_groups_blames_con_new_no_groups() {
        let ops = vec![
            connect(Some("alice")),
            add(1, "g"),
            connect(Some("alice")),
            to_group(2, "g"),
        ];
        let rules = delivery_rules(&Spec::default(), &ops, 3, Unexpected, c(2), None);
        assert_eq!(rules[0], "CON-NEW-NO-GROUPS");
        assert!(rules.contains(&"SND-GROUP"));
    }

    #[test]
    fn a_resumed_connection_missing_a_group_send_blames_resume_keeps_groups() {
        let spec = Spec::new(Profile::CoreStateful);
        let ops = vec![
            connect(None),
            connect(None),
            add(1, "g"),
            Op::Drop { conn: c(1) },
            Op::Resume {
                conn: c(1),
                altered_token: false,
            },
            to_group(2, "g"),
        ];
        let rules = delivery_rules(&spec, &ops, 5, Lost, c(1), None);
        assert_eq!(rules, vec!["REC-RESUME-KEEPS-GROUPS", "SND-GROUP"]);
    }

    #[test]
    fn a_wrong_replay_at_a_resume_blames_resume_replays_first() {
        let spec = Spec::new(Profile::CoreStateful);
        let ops = vec![
            connect(None),
            connect(None),
            add(1, "g"),
            Op::Drop { conn: c(1) },
            to_group(2, "g"),
            Op::Resume {
                conn: c(1),
                altered_token: false,
            },
        ];
        let rules = delivery_rules(&spec, &ops, 5, Lost, c(1), Some(4));
        assert_eq!(
            rules,
            vec![
                "REC-RESUME-REPLAYS",
                "REC-SUSPENDED-KEEPS-GROUPS",
                "SND-GROUP"
            ]
        );
    }

    #[test]
    fn membership_surviving_a_restart_blames_the_restart_rule() {
        let ops = vec![
            connect(None),
            add(1, "g"),
            Op::Restart,
            connect(None),
            connect(None),
            to_group(3, "g"),
        ];
        // c3 is not in g, but imagine the server kept an id-reusing membership.
        let rules = delivery_rules(&Spec::default(), &ops, 5, Unexpected, c(2), None);
        assert_eq!(rules[0], "RST-WIPES-MEMBERSHIP");
    }

    #[test]
    fn case_variant_names_blame_ordinal_names() {
        let ops = vec![
            connect(None),
            connect(None),
            add(1, "Chat"),
            to_group(2, "chat"),
        ];
        let rules = delivery_rules(&Spec::default(), &ops, 3, Unexpected, c(1), None);
        assert_eq!(
            rules,
            vec!["GRP-NAMES-ORDINAL", "SND-EXACTLY-ONCE", "SND-GROUP"]
        );
    }

    #[test]
    fn removals_blame_delete_on_empty_or_remove_one() {
        let ops = vec![
            connect(None),
            connect(None),
            add(1, "g"),
            Op::RemoveFromGroup {
                caller: c(1),
                group: g("g"),
            },
            to_group(2, "g"),
        ];
        let rules = delivery_rules(&Spec::default(), &ops, 4, Unexpected, c(1), None);
        assert_eq!(rules[0], "GRP-DELETE-ON-EMPTY");

        let ops = vec![
            connect(None),
            connect(None),
            connect(None),
            add(1, "g"),
            add(2, "g"),
            Op::RemoveFromGroup {
                caller: c(1),
                group: g("g"),
            },
            to_group(3, "g"),
        ];
        let rules = delivery_rules(&Spec::default(), &ops, 6, Lost, c(2), None);
        assert_eq!(rules[0], "GRP-REMOVE-ONE");
    }

    #[test]
    fn rooms_history_blames_room_rules() {
        let ops = vec![
            connect(Some("alice")),
            Op::JoinRoom {
                caller: c(1),
                room: g("lobby"),
            },
            Op::Disconnect { conn: c(1) },
            connect(Some("alice")),
            connect(None),
            to_group(3, "lobby"),
        ];
        let rules = delivery_rules(&Spec::default(), &ops, 5, Lost, c(2), None);
        assert_eq!(rules[0], "ROOM-RESTORE-ON-CONNECT");
    }

    #[test]
    fn reordering_and_late_messages_blame_fifo() {
        let ops = vec![connect(None), to_group(1, "g")];
        assert_eq!(
            delivery_rules(&Spec::default(), &ops, 1, Reordered, c(1), None),
            vec!["SND-FIFO", "SND-GROUP"]
        );
        assert_eq!(
            delivery_rules(&Spec::default(), &ops, 1, Late, c(1), None),
            vec!["SND-FIFO", "SND-GROUP"]
        );
    }

    #[test]
    fn result_mismatches_have_their_own_table() {
        let spec = Spec::new(Profile::CoreStateful);
        let ops = vec![
            connect(None),
            Op::Disconnect { conn: c(1) },
            Op::Resume {
                conn: c(1),
                altered_token: false,
            },
        ];
        assert_eq!(result_rules(&spec, &ops, 2)[0], "REC-GRACEFUL-NO-RESUME");
        let ops = vec![
            connect(None),
            Op::AddToGroup {
                caller: c(1),
                group: None,
            },
        ];
        assert_eq!(result_rules(&spec, &ops, 1), vec!["GRP-NULL-NAME"]);
        let ops = vec![
            connect(None),
            Op::Send {
                caller: c(1),
                selector: Selector::Groups(vec![g("a"), g("")]),
                payload: "m".into(),
            },
        ];
        assert_eq!(
            result_rules(&spec, &ops, 1),
            vec!["SND-GROUPS-EMPTY-NAME", "SND-GROUPS-FANOUT"]
        );
        let ops = vec![connect(None), connect(None)];
        assert_eq!(result_rules(&spec, &ops, 1), vec!["CON-IDS-UNIQUE"]);
        let ops = vec![
            connect(None),
            Op::AddConnectionToGroup {
                caller: c(1),
                target: Target::Null,
                group: None,
            },
        ];
        assert_eq!(result_rules(&spec, &ops, 1), vec!["GRP-NULL-CONNECTION-ID"]);
    }
}
