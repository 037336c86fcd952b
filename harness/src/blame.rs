//! Which rules a mismatch violates, derived from the op and the history before it.
//!
//! A wrong delivery breaks the selector's own rule, but usually because of something earlier
//! in the history: a resume that lost the groups, a new connection that inherited them, a
//! restart that kept them. The heuristics look for that cause and put its rule first, then the
//! rule of the kind of mismatch, then the selector's rule. The history heuristics are a table,
//! `HISTORY_RULES`: one row per rule, with the predicate that says when it is to blame, in the
//! order the rules are listed:
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
//!    reordering → `SND-FIFO`; an unexpected recipient → `SND-EXACTLY-ONCE`. A late message
//!    (after its step's barrier) skips the history: it reached the right connection, only
//!    after the barrier's marker → `SND-DELIVERED-BEFORE-COMPLETION`, then `SND-FIFO`.
//! 3. **Selector**: `SND-GROUP`, `SND-USER`, … (see [`selector_rule`]).
//!
//! At a `Resume` step, wrong replays are `REC-RESUME-REPLAYS` first. Result mismatches have
//! their own table ([`result_rules`]). Protocol findings carry their `PRO-` rule already.
//!
//! One file (about 530 lines of code, 290 of tests): the history table, its context and the
//! result table are read together to see why a rule comes first, and the tests pin that order
//! for the same histories; split, each half would need the other's context to be understood.

use crate::divergence::DivergenceKind;
use hubspec_model::{ConnId, Hub, MembershipChange, Op, Profile, Selector, Spec, Target};

/// The rule of a send whose message is queued after its Completion: it arrives after the
/// barrier that follows its step (the send half of the contract's timing rule).
pub const LATE_DELIVERY: &str = "SND-DELIVERED-BEFORE-COMPLETION";

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
    let Some(Op::Send {
        selector, caller, ..
    }) = ops.get(send_index)
    else {
        // A message at a step that sends nothing (or one no op sent).
        match kind {
            DivergenceKind::Late => {
                push(&mut rules, LATE_DELIVERY);
                push(&mut rules, "SND-FIFO");
            }
            DivergenceKind::Reordered => push(&mut rules, "SND-FIFO"),
            _ => push(&mut rules, "SND-EXACTLY-ONCE"),
        }
        return rules;
    };
    // A copy that came after its step's barrier was sent to the right connection: no
    // membership explains it, only when it was queued. The barrier's marker, sent after the
    // Completion, overtook it.
    if kind == DivergenceKind::Late {
        push(&mut rules, LATE_DELIVERY);
        push(&mut rules, "SND-FIFO");
        push(&mut rules, selector_rule(selector));
        return rules;
    }
    let ctx = Ctx::new(spec, ops, send_index, kind, recipient, selector);
    // A copy to a connection the selector itself leaves out (the caller of `Others` and
    // `OthersInGroup`, a listed id of `AllExcept` and `GroupExcept`): the selector decides,
    // whatever the history did to the recipient's groups. So does a second copy to an id
    // `Clients(ids)` lists twice (SND-CONNECTIONS: once, however often it is listed).
    // A selector that names no group: no membership can explain a copy to a connection it
    // does not name, so the selector's rule decides that too.
    if (ctx.extra() && excluded_by(selector, *caller, recipient))
        || (kind == DivergenceKind::Duplicate && listed_twice(selector, recipient))
        || (kind == DivergenceKind::Unexpected && selector.group_args().is_empty())
    {
        push(&mut rules, selector_rule(selector));
    }
    // A `Groups` send to a member of several of the listed groups: how many copies it gets is
    // the fan-out's to decide, not its memberships'.
    if matches!(selector, Selector::Groups(_))
        && matches!(kind, DivergenceKind::Lost | DivergenceKind::Duplicate)
        && ctx.member_of_addressed() > 1
    {
        push(&mut rules, "SND-GROUPS-FANOUT");
    }
    let mut explained = None;
    for (rule, to_blame) in HISTORY_RULES {
        if to_blame(&ctx) {
            push(&mut rules, rule);
            explained = explained.or(Some(*rule));
        }
    }
    // A copy a resume does not replay because the history left the recipient out of the
    // send's group (an add that never took, a change while suspended ignored): the replay was
    // right to skip it, and the history's rule decides.
    if let (Op::Resume { .. }, DivergenceKind::Lost, Some(rule)) = (op, kind, explained) {
        rules.retain(|r| *r != rule);
        rules.insert(0, rule);
    }
    if matches!(op, Op::Resume { .. }) && !ctx.groups.is_empty() {
        push(&mut rules, "REC-SUSPENDED-KEEPS-GROUPS");
    }
    match kind {
        DivergenceKind::Duplicate if matches!(selector, Selector::Groups(_)) => {
            push(&mut rules, "SND-GROUPS-FANOUT")
        }
        DivergenceKind::Duplicate | DivergenceKind::Unexpected => {
            push(&mut rules, "SND-EXACTLY-ONCE")
        }
        DivergenceKind::Reordered => push(&mut rules, "SND-FIFO"),
        _ => {}
    }
    push(&mut rules, selector_rule(selector));
    // A null inside an id list must match nobody.
    if let Selector::AllExcept(ids) | Selector::Connections(ids) | Selector::GroupExcept(_, ids) =
        selector
    {
        if ids.contains(&Target::Null) {
            push(&mut rules, "GRP-NULL-CONNECTION-ID");
        }
    }
    rules
}

/// Whether `selector`, sent by `caller`, leaves `recipient` out by its own definition.
fn excluded_by(selector: &Selector, caller: ConnId, recipient: ConnId) -> bool {
    match selector {
        Selector::Others | Selector::OthersInGroup(_) => recipient == caller,
        Selector::AllExcept(ids) | Selector::GroupExcept(_, ids) => {
            ids.contains(&Target::Id(recipient))
        }
        _ => false,
    }
}

/// Whether `selector` lists `recipient` by id more than once.
fn listed_twice(selector: &Selector, recipient: ConnId) -> bool {
    match selector {
        Selector::Connections(ids) => {
            ids.iter().filter(|t| **t == Target::Id(recipient)).count() > 1
        }
        _ => false,
    }
}

/// What a history rule sees: a wrong delivery (`kind`) to `r` of the send at step `index`
/// (0-based) of `ops`.
struct Ctx<'a> {
    spec: &'a Spec,
    ops: &'a [Op],
    index: usize,
    kind: DivergenceKind,
    r: ConnId,
    /// The groups the send addresses by name.
    groups: Vec<&'a str>,
    /// The user `r` was opened with.
    r_user: Option<String>,
    /// Per addressed group: `r`'s adds since its last removal there, and the step of its last
    /// change there when that was a removal. A `Groups` send addresses several groups, and the
    /// history of one must not explain a copy that another delivered.
    per_group: Vec<(&'a str, usize, Option<usize>)>,
}

impl<'a> Ctx<'a> {
    fn new(
        spec: &'a Spec,
        ops: &'a [Op],
        index: usize,
        kind: DivergenceKind,
        r: ConnId,
        selector: &'a Selector,
    ) -> Ctx<'a> {
        let groups: Vec<&str> = selector.group_names().map(String::as_str).collect();
        let per_group = groups
            .iter()
            .map(|g| {
                let mut adds = 0;
                let mut removed_at = None;
                for (i, op) in ops[..index].iter().enumerate() {
                    let Some(change) = op.membership_change() else {
                        continue;
                    };
                    if change.group != g || change.target != Target::Id(r) {
                        continue;
                    }
                    if change.add {
                        adds += 1;
                        removed_at = None;
                    } else {
                        adds = 0;
                        removed_at = Some(i);
                    }
                }
                (*g, adds, removed_at)
            })
            .collect();
        Ctx {
            spec,
            ops,
            index,
            kind,
            r,
            groups,
            r_user: user_of(ops, r),
            per_group,
        }
    }

    /// The ops before the send.
    fn history(&self) -> &'a [Op] {
        &self.ops[..self.index]
    }

    /// An expected message did not come.
    fn missing(&self) -> bool {
        self.kind == DivergenceKind::Lost
    }

    /// A message came that should not have (or one copy too many).
    fn extra(&self) -> bool {
        matches!(
            self.kind,
            DivergenceKind::Unexpected | DivergenceKind::Duplicate
        )
    }

    fn addresses(&self, g: &str) -> bool {
        self.groups.contains(&g)
    }

    /// A drop suspends and a resume keeps the groups: the send addresses groups, under a
    /// profile that resumes.
    fn resumable_groups(&self) -> bool {
        !self.groups.is_empty() && self.spec.profile != Profile::Core
    }

    /// `op` adds connection `c` to an addressed group.
    fn adds_to_addressed(&self, op: &Op, c: ConnId) -> bool {
        op.membership_change()
            .is_some_and(|m| m.add && m.target == Target::Id(c) && self.addresses(m.group))
    }

    /// Whether `r`'s user is set and is `c`'s too.
    fn same_user(&self, c: ConnId) -> bool {
        self.r_user.is_some() && user_of(self.ops, c) == self.r_user
    }

    /// Room joins (`true`) and leaves of the addressed groups, by connection.
    fn room_ops(&self) -> Vec<(ConnId, bool)> {
        self.history()
            .iter()
            .filter_map(|op| match op {
                Op::JoinRoom {
                    caller,
                    room: Some(g),
                } if self.addresses(g) => Some((*caller, true)),
                Op::LeaveRoom {
                    caller,
                    room: Some(g),
                } if self.addresses(g) => Some((*caller, false)),
                _ => None,
            })
            .collect()
    }

    /// Whether the last room op of `r`'s user on an addressed group was a join (`true`) or a
    /// leave (`false`).
    fn last_room_op_of_user(&self) -> Option<bool> {
        self.room_ops()
            .into_iter()
            .rev()
            .find(|(c, _)| self.same_user(*c))
            .map(|(_, join)| join)
    }

    /// Earlier connections of `r`'s user (`r` itself never joined an addressed group) that
    /// were added to one.
    fn users_earlier_members(&self) -> Vec<ConnId> {
        let history = self.history();
        let r_joined = history.iter().any(|op| self.adds_to_addressed(op, self.r));
        if r_joined || self.r_user.is_none() {
            return Vec::new();
        }
        users(self.ops)
            .into_iter()
            .filter(|(c, u)| *c != self.r && c.0 <= self.r.0 && *u == self.r_user)
            .map(|(c, _)| c)
            .filter(|c| history.iter().any(|op| self.adds_to_addressed(op, *c)))
            .collect()
    }

    /// In how many of the addressed groups the model has `r` just before the send.
    fn member_of_addressed(&self) -> usize {
        state_before(self.spec, self.ops, self.index).map_or(0, |hub| {
            self.groups
                .iter()
                .filter(|g| {
                    hub.conn(self.r)
                        .is_some_and(|m| m.groups.contains(&g.to_string()))
                })
                .count()
        })
    }

    /// `r` was added to an addressed group twice in a row (a duplicate).
    fn double_added(&self) -> bool {
        self.kind == DivergenceKind::Duplicate && self.per_group.iter().any(|(_, n, _)| *n >= 2)
    }

    /// Whether each removal of `r` from an addressed group (its last change there) emptied
    /// the group, for an extra copy not explained by a double add.
    fn removals_emptied(&self) -> Vec<bool> {
        if !self.extra() || self.double_added() {
            return Vec::new();
        }
        self.per_group
            .iter()
            .filter_map(|(g, _, removed_at)| {
                let i = (*removed_at)?;
                let emptied = state_before(self.spec, self.ops, i + 1)
                    .is_some_and(|hub| hub.members(&g.to_string()).next().is_none());
                Some(emptied)
            })
            .collect()
    }
}

/// When a history rule is to blame for a wrong delivery.
type Blame = fn(&Ctx) -> bool;

/// The history heuristics, in the order their rules are listed (most specific first): each
/// row is a rule and when the history before the send makes it the cause.
const HISTORY_RULES: &[(&str, Blame)] = &[
    // `r` was resumed before the send, which addresses groups.
    ("REC-RESUME-KEEPS-GROUPS", |c| {
        c.resumable_groups()
            && c.history()
                .iter()
                .any(|op| matches!(op, Op::Resume { conn, .. } if *conn == c.r))
    }),
    // `r`'s membership in an addressed group changed while it was suspended.
    ("REC-SUSPENDED-KEEPS-GROUPS", |c| {
        let mut suspended = false;
        let mut changed = false;
        for op in c.history() {
            match op {
                Op::Drop { conn } if *conn == c.r => suspended = true,
                Op::Resume { conn, .. } if *conn == c.r => suspended = false,
                other => {
                    changed |= suspended
                        && other
                            .membership_change()
                            .is_some_and(|m| m.target == Target::Id(c.r) && c.addresses(m.group));
                }
            }
        }
        c.resumable_groups() && changed
    }),
    // An extra copy after a restart: the restart kept a membership.
    ("RST-WIPES-MEMBERSHIP", |c| {
        c.extra() && c.history().iter().any(|op| matches!(op, Op::Restart))
    }),
    // A missing copy after a restart, to a user that joined the room before it.
    ("ROOM-SURVIVE-RESTART", |c| {
        let Some(restart) = c.history().iter().rposition(|op| matches!(op, Op::Restart)) else {
            return false;
        };
        c.missing()
            && c.history()[..restart].iter().any(|op| {
                matches!(op, Op::JoinRoom { caller, room: Some(g) }
                    if c.addresses(g) && c.same_user(*caller))
            })
    }),
    // A missing copy to a user whose last room op on the group was a join.
    ("ROOM-RESTORE-ON-CONNECT", |c| {
        c.missing() && c.last_room_op_of_user() == Some(true)
    }),
    // An extra copy to a user whose last room op on the group was a leave.
    ("ROOM-LEAVE-DELETES", |c| {
        c.extra() && c.last_room_op_of_user() == Some(false)
    }),
    // An extra copy from a room that only other users joined or left.
    ("ROOM-PER-USER", |c| {
        c.extra() && !c.room_ops().is_empty() && c.last_room_op_of_user().is_none()
    }),
    // As CON-NEW-NO-GROUPS (below), and that earlier connection was dropped: under `core`, a
    // reconnect is a new connection, and this more specific rule decides.
    ("REC-RECONNECT-IS-NEW", |c| {
        c.extra()
            && c.spec.profile == Profile::Core
            && c.users_earlier_members().into_iter().any(|e| {
                c.history()
                    .iter()
                    .any(|op| matches!(op, Op::Drop { conn } if *conn == e))
            })
    }),
    // An extra copy to `r`, which never joined, from a group an earlier connection of its
    // user was added to.
    ("CON-NEW-NO-GROUPS", |c| {
        c.extra() && !c.users_earlier_members().is_empty()
    }),
    // The send addresses the empty group name.
    ("GRP-EMPTY-NAME", |c| c.groups.iter().any(|g| g.is_empty())),
    // The history names a group equal to an addressed one but for case or surrounding spaces.
    ("GRP-NAMES-ORDINAL", |c| {
        c.groups.iter().any(|g| {
            c.history()
                .iter()
                .flat_map(|op| op.group_args().iter().flatten())
                .any(|h| h != g && (h.eq_ignore_ascii_case(g) || h.trim() == g.trim()))
        })
    }),
    // A duplicate after `r` was added to an addressed group twice.
    ("GRP-ADD-IDEMPOTENT", |c| c.double_added()),
    // An extra copy after `r`'s removal emptied an addressed group.
    ("GRP-DELETE-ON-EMPTY", |c| {
        c.removals_emptied().contains(&true)
    }),
    // A missing copy after another member was removed from an addressed group.
    ("GRP-REMOVE-ONE", |c| {
        c.missing()
            && c.history().iter().any(|op| {
                op.membership_change()
                    .is_some_and(|m| !m.add && m.target != Target::Id(c.r) && c.addresses(m.group))
            })
    }),
    // A missing copy to `r`, which another connection added to an addressed group by its id.
    ("GRP-ADD-BY-ID", |c| {
        c.missing() && c.history().iter().any(|op| {
            matches!(op, Op::AddConnectionToGroup { caller, target: Target::Id(t), group: Some(g) }
                    if *t == c.r && *caller != c.r && c.addresses(g))
        })
    }),
    // A missing copy to `r`, which is in several groups.
    ("GRP-MULTI-MEMBERSHIP", |c| {
        c.missing()
            && state_before(c.spec, c.ops, c.index)
                .is_some_and(|hub| hub.conn(c.r).is_some_and(|m| m.groups.len() > 1))
    }),
    // An extra copy after a removal of `r` that left the group non-empty, or a missing copy
    // right after `r` was added: the change took effect after its Completion.
    ("GRP-EFFECT-BEFORE-COMPLETION", |c| {
        let late_removal = c.removals_emptied().contains(&false);
        let late_add = c.missing() && c.index > 0 && c.adds_to_addressed(&c.ops[c.index - 1], c.r);
        late_removal || late_add
    }),
];

/// Whether a connection that was in a group `selector` addresses when it ended (a disconnect,
/// a drop that ended it, an expiry) has ended by step `index`.
fn ended_member_of(spec: &Spec, ops: &[Op], index: usize, selector: &Selector) -> bool {
    let groups: Vec<&String> = selector.group_names().collect();
    if groups.is_empty() {
        return false;
    }
    let Some(now) = state_before(spec, ops, index) else {
        return false;
    };
    ops[..index].iter().enumerate().any(|(i, op)| {
        let (Op::Disconnect { conn } | Op::Drop { conn } | Op::Expire { conn }) = op else {
            return false;
        };
        now.conn(*conn).is_none()
            && state_before(spec, ops, i).is_some_and(|hub| {
                hub.conn(*conn)
                    .is_some_and(|c| c.groups.iter().any(|g| groups.contains(&g)))
            })
    })
}

/// Whether `selector` addresses groups by name, none of which any op of `history` added a
/// connection to (or a room joined).
fn never_joined(history: &[Op], selector: &Selector) -> bool {
    let groups: Vec<&String> = selector.group_names().collect();
    !groups.is_empty()
        && !history.iter().any(|op| {
            op.membership_change()
                .is_some_and(|m| m.add && groups.contains(&m.group))
        })
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
            // A group send that fails (or succeeds) wrongly where a member of the group has
            // ended: the ended connection was not taken out of its groups.
            if ended_member_of(spec, ops, index, selector) {
                push(&mut rules, "CON-DISCONNECT-LEAVES-GROUPS");
            }
            // A send to groups no connection was ever added to (its arguments valid): nothing
            // but an add creates a group, and one that does not exist yet is an empty one.
            if rules.is_empty() && never_joined(history, selector) {
                push(&mut rules, "GRP-CREATE-ON-ADD");
            }
            push(&mut rules, selector_rule(selector));
        }
        other => match other.membership_change() {
            None => push(&mut rules, "GRP-NULL-NAME"),
            Some(MembershipChange { target, group, .. }) => {
                if group.is_empty() {
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

    /// A replay missing a copy the history explains (the recipient's membership was changed
    /// while it was suspended, or added by id) blames the history's rule, not the replay.
    #[test]
    fn a_replay_missing_a_copy_the_history_explains_blames_the_history() {
        let spec = Spec::new(Profile::CoreStateful);
        let resume = Op::Resume {
            conn: c(1),
            altered_token: false,
        };
        let by_id = Op::AddConnectionToGroup {
            caller: c(2),
            target: Target::Id(c(1)),
            group: g("g"),
        };
        let ops = vec![
            connect(None),
            connect(None),
            Op::Drop { conn: c(1) },
            by_id.clone(),
            to_group(2, "g"),
            resume.clone(),
        ];
        let rules = delivery_rules(&spec, &ops, 5, Lost, c(1), Some(4));
        assert_eq!(
            rules[..2],
            ["REC-SUSPENDED-KEEPS-GROUPS", "REC-RESUME-REPLAYS"]
        );
        let ops = vec![
            connect(None),
            connect(None),
            by_id,
            Op::Drop { conn: c(1) },
            to_group(2, "g"),
            resume,
        ];
        let rules = delivery_rules(&spec, &ops, 5, Lost, c(1), Some(4));
        assert_eq!(rules[..2], ["GRP-ADD-BY-ID", "REC-RESUME-REPLAYS"]);
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
    fn reordering_blames_fifo_and_a_late_message_the_send_timing() {
        let ops = vec![connect(None), to_group(1, "g")];
        assert_eq!(
            delivery_rules(&Spec::default(), &ops, 1, Reordered, c(1), None),
            vec!["SND-FIFO", "SND-GROUP"]
        );
        assert_eq!(
            delivery_rules(&Spec::default(), &ops, 1, Late, c(1), None),
            vec![LATE_DELIVERY, "SND-FIFO", "SND-GROUP"]
        );
    }

    /// A copy that arrives late right after its recipient was added is not a late add: the
    /// add had landed (the send reached it), the send's queueing had not.
    #[test]
    fn a_late_copy_after_an_add_is_not_blamed_on_the_membership_timing() {
        let ops = vec![connect(None), connect(None), add(1, "g"), to_group(2, "g")];
        let rules = delivery_rules(&Spec::default(), &ops, 3, Late, c(1), None);
        assert_eq!(rules, vec![LATE_DELIVERY, "SND-FIFO", "SND-GROUP"]);
        let rules = delivery_rules(&Spec::default(), &ops, 3, Lost, c(1), None);
        assert_eq!(rules[0], "GRP-EFFECT-BEFORE-COMPLETION");
    }

    /// A group send whose result is wrong after a member of the group disconnected: the
    /// disconnect did not take it out of the group.
    #[test]
    fn a_wrong_group_send_result_after_a_member_ended_blames_the_disconnect() {
        let ops = vec![
            connect(None),
            connect(None),
            add(1, "g"),
            Op::Disconnect { conn: c(1) },
            to_group(2, "g"),
        ];
        assert_eq!(
            result_rules(&Spec::default(), &ops, 4),
            vec!["CON-DISCONNECT-LEAVES-GROUPS", "SND-GROUP"]
        );
        // A member that is still live explains nothing.
        let ops = vec![connect(None), connect(None), add(1, "g"), to_group(2, "g")];
        assert_eq!(result_rules(&Spec::default(), &ops, 3), vec!["SND-GROUP"]);
    }

    /// A send to a group nobody was ever added to whose result is wrong: the group should
    /// simply not exist yet, so the rule that says when groups exist decides.
    #[test]
    fn a_wrong_result_of_a_send_to_a_never_joined_group_blames_create_on_add() {
        let ops = vec![connect(None), connect(None), to_group(2, "news")];
        assert_eq!(
            result_rules(&Spec::default(), &ops, 2),
            vec!["GRP-CREATE-ON-ADD", "SND-GROUP"]
        );
        let ops = vec![connect(None), add(1, "news"), to_group(1, "news")];
        assert_eq!(result_rules(&Spec::default(), &ops, 2), vec!["SND-GROUP"]);
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
