//! The hub's state and the semantics of every operation: the specification itself.
//!
//! Membership is stored on the connection (as ASP.NET Core's `HubConnectionContext.GroupNames`
//! does since PR #53486); the group → members view is derived, so a group exists exactly while
//! it has a member and an empty group cannot be represented. Every collection is kept sorted,
//! so iteration order, equality and hashing are deterministic.

use crate::error::ModelError;
use crate::ids::{ConnId, Target};
use crate::names::{Name, Names, Text};
use crate::op::{GroupArg, Op, Selector};
use crate::outcome::{Delivery, ErrorKind, Mode, OpResult, Outcome, Sink};
use crate::profile::{GroupsFanout, Profile, Spec};
use crate::sets::{GroupSet, Queue};
use smallvec::SmallVec;
use std::collections::BTreeMap;

/// A small sorted set: a connection is in few groups, a user has few rooms.
pub type Set<T> = SmallVec<[T; 2]>;

/// Whether a live connection has its transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Transport up: messages are written now.
    Connected,
    /// Transport lost, connection kept (stateful reconnect, classic reconnect): messages are
    /// buffered for the resume.
    Suspended,
}

/// A live connection: connected or suspended. Ended connections are not kept.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Conn<N: Names = Text> {
    /// Its id.
    pub id: ConnId,
    /// Its user, from the `user` query parameter at connect time.
    pub user: Option<N::User>,
    /// Connected or suspended.
    pub status: Status,
    /// The groups it is in.
    pub groups: N::Groups,
    /// Messages kept while suspended, in order.
    pub buffer: N::Buffer,
    /// Classic only: the groups token the client holds since the drop (its groups then).
    pub token: N::Groups,
}

/// A user's durable room records (the rooms pattern: membership stored by the application).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomRecords<N: Names = Text> {
    /// The user.
    pub user: N::User,
    /// Their rooms, never empty.
    pub rooms: N::Groups,
}

/// The state of one logical hub.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hub<N: Names = Text> {
    /// The number of connections ever accepted; the next one gets `next_id + 1`.
    pub next_id: u32,
    /// How many times the hub restarted.
    pub epoch: u32,
    /// Live connections, sorted by id.
    pub conns: SmallVec<[Conn<N>; 4]>,
    /// Durable room records, sorted by user.
    pub rooms: SmallVec<[RoomRecords<N>; 2]>,
}

impl<N: Names> Hub<N> {
    /// A hub with no connections and no records.
    pub fn new() -> Self {
        Self::default()
    }

    /// The live connection with this id.
    pub fn conn(&self, id: ConnId) -> Option<&Conn<N>> {
        self.conns
            .binary_search_by_key(&id, |c| c.id)
            .ok()
            .map(|i| &self.conns[i])
    }

    fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn<N>> {
        match self.conns.binary_search_by_key(&id, |c| c.id) {
            Ok(i) => Some(&mut self.conns[i]),
            Err(_) => None,
        }
    }

    fn target_mut(&mut self, target: Target) -> Option<&mut Conn<N>> {
        match target {
            Target::Id(id) => self.conn_mut(id),
            Target::Unknown | Target::Null => None,
        }
    }

    /// Whether `id` is connected (can invoke, receives now).
    pub fn is_connected(&self, id: ConnId) -> bool {
        self.conn(id).is_some_and(|c| c.status == Status::Connected)
    }

    /// The highest issued id that is no longer live: the one "closed id" an operation by id
    /// needs to exercise (every ended id behaves alike).
    pub fn closed_id(&self) -> Option<ConnId> {
        (1..=self.next_id)
            .rev()
            .map(ConnId)
            .find(|id| self.conn(*id).is_none())
    }

    /// The members of `group`, ascending. Empty when the group does not exist.
    pub fn members(&self, group: &N::Group) -> impl Iterator<Item = ConnId> + '_ {
        let group = group.clone();
        self.conns
            .iter()
            .filter(move |c| c.groups.has(&group))
            .map(|c| c.id)
    }

    /// Every group that exists, with its members: derived, so never an empty group.
    pub fn groups(&self) -> BTreeMap<N::Group, Vec<ConnId>> {
        let mut map: BTreeMap<N::Group, Vec<ConnId>> = BTreeMap::new();
        for c in &self.conns {
            for g in c.groups.items() {
                map.entry(g).or_default().push(c.id);
            }
        }
        map
    }

    /// The rooms recorded for `user`.
    pub fn rooms_of(&self, user: &N::User) -> N::Groups {
        match self.rooms.binary_search_by(|r| r.user.cmp(user)) {
            Ok(i) => self.rooms[i].rooms.clone(),
            Err(_) => N::Groups::default(),
        }
    }

    /// Apply `op`, collecting what it did.
    pub fn apply(&mut self, spec: &Spec, op: &Op<N>) -> Result<Outcome<N>, ModelError> {
        let mut deliveries: Vec<Delivery<N>> = Vec::new();
        let result = self.apply_to(spec, op, &mut deliveries)?;
        Ok(Outcome { result, deliveries })
    }

    /// Apply `op`, writing every delivery to `sink` in the order the hub writes them.
    ///
    /// On `Err` the hub is unchanged and nothing was delivered.
    pub fn apply_to(
        &mut self,
        spec: &Spec,
        op: &Op<N>,
        sink: &mut impl Sink<N>,
    ) -> Result<OpResult, ModelError> {
        self.precondition(op)?;
        Ok(match op {
            Op::Connect { user } => {
                self.next_id += 1;
                let id = ConnId(self.next_id);
                // The rooms pattern: a new connection of a user with records is re-added to
                // each recorded room before its first invocation can run.
                let groups = match user {
                    Some(u) => self.rooms_of(u),
                    None => N::Groups::default(),
                };
                self.conns.push(Conn {
                    id,
                    user: user.clone(),
                    status: Status::Connected,
                    groups,
                    buffer: N::Buffer::default(),
                    token: N::Groups::default(),
                });
                OpResult::Connected(id)
            }
            Op::Disconnect { conn } => {
                self.end(*conn);
                OpResult::Ok
            }
            Op::Drop { conn } => {
                if spec.profile.suspends_on_drop() {
                    let c = self.conn_mut(*conn).expect("precondition: connected");
                    c.status = Status::Suspended;
                    if spec.profile == Profile::Classic {
                        c.token = c.groups.clone();
                    }
                } else {
                    self.end(*conn);
                }
                OpResult::Ok
            }
            Op::Resume {
                conn,
                altered_token,
            } => self.resume(spec, *conn, *altered_token, sink),
            Op::Expire { conn } => {
                self.end(*conn);
                OpResult::Ok
            }
            Op::Restart => {
                self.conns.clear();
                self.epoch += 1;
                OpResult::Ok
            }
            Op::AddToGroup { caller, group } => {
                self.membership(spec, Target::Id(*caller), group, true)
            }
            Op::RemoveFromGroup { caller, group } => {
                self.membership(spec, Target::Id(*caller), group, false)
            }
            Op::AddConnectionToGroup { target, group, .. } => {
                self.membership(spec, *target, group, true)
            }
            Op::RemoveConnectionFromGroup { target, group, .. } => {
                self.membership(spec, *target, group, false)
            }
            Op::JoinRoom { caller, room } => self.room(spec, *caller, room, true),
            Op::LeaveRoom { caller, room } => self.room(spec, *caller, room, false),
            Op::Send {
                caller,
                selector,
                payload,
            } => self.send(spec, *caller, selector, payload, sink),
        })
    }

    /// Check that `op` can happen now, without changing anything.
    pub fn precondition(&self, op: &Op<N>) -> Result<(), ModelError> {
        match op {
            Op::Connect { .. } | Op::Restart => Ok(()),
            Op::Disconnect { conn } | Op::Drop { conn } => self.require_connected(*conn),
            Op::Resume { conn, .. } => match self.conn(*conn) {
                Some(c) if c.status == Status::Connected => {
                    Err(ModelError::AlreadyConnected(*conn))
                }
                _ => Ok(()),
            },
            Op::Expire { conn } => match self.conn(*conn) {
                Some(c) if c.status == Status::Suspended => Ok(()),
                _ => Err(ModelError::NotSuspended(*conn)),
            },
            other => self.require_connected(other.caller().expect("an invocation has a caller")),
        }
    }

    fn require_connected(&self, id: ConnId) -> Result<(), ModelError> {
        if self.is_connected(id) {
            Ok(())
        } else {
            Err(ModelError::NotConnected(id))
        }
    }

    /// The connection ends: it leaves every group at once and its buffer is gone.
    fn end(&mut self, id: ConnId) {
        if let Ok(i) = self.conns.binary_search_by_key(&id, |c| c.id) {
            self.conns.remove(i);
        }
    }

    fn resume(
        &mut self,
        spec: &Spec,
        id: ConnId,
        altered_token: bool,
        sink: &mut impl Sink<N>,
    ) -> OpResult {
        let rejoin: Option<N::Groups> = match self.conn(id) {
            None => return OpResult::Error(ErrorKind::ConnectionGone),
            Some(c) if spec.profile == Profile::Classic => {
                // The groups token is signed: an altered one fails verification and rejoins
                // nothing (classic PersistentConnection.VerifyGroups).
                if altered_token {
                    Some(N::Groups::default())
                } else if spec.verify_rejoin {
                    let confirmed = match &c.user {
                        Some(u) => self.rooms_of(u),
                        None => N::Groups::default(),
                    };
                    let mut t = c.token.clone();
                    t.keep(|g| confirmed.has(g));
                    Some(t)
                } else {
                    Some(c.token.clone())
                }
            }
            Some(_) => None,
        };
        let c = self.conn_mut(id).expect("checked above");
        c.status = Status::Connected;
        if let Some(groups) = rejoin {
            c.groups = groups;
            c.token.wipe();
        }
        for payload in c.buffer.take_all() {
            sink.deliver(id, &payload, Mode::Replayed);
        }
        OpResult::Ok
    }

    fn membership(
        &mut self,
        spec: &Spec,
        target: Target,
        group: &GroupArg<N>,
        add: bool,
    ) -> OpResult {
        // `ThrowIfNull(connectionId)` comes before `ThrowIfNull(groupName)` in ASP.NET Core,
        // and classic `GroupManager.Add`/`Remove` null-check the id too, before any ack wait
        // (GRP-NULL-CONNECTION-ID).
        if target == Target::Null {
            return OpResult::Error(ErrorKind::NullConnectionId);
        }
        let Some(group) = group else {
            return OpResult::Error(ErrorKind::NullGroupName);
        };
        match self.target_mut(target) {
            Some(c) => {
                if add {
                    c.groups.put(group.clone());
                } else {
                    c.groups.take(group);
                }
                OpResult::Ok
            }
            // Classic SignalR sends the change as a command that waits for the connection's
            // acknowledgement; for an id that is not live here none comes, and the task is
            // cancelled after the ack threshold (GRP-CLASSIC-UNKNOWN-ID-CANCELLED).
            None if spec.profile == Profile::Classic => OpResult::Error(ErrorKind::Cancelled),
            // Unknown and ended ids are a silent no-op (DefaultHubLifetimeManager returns a
            // completed task when the connection is not in its store).
            None => OpResult::Ok,
        }
    }

    fn room(&mut self, spec: &Spec, caller: ConnId, room: &GroupArg<N>, join: bool) -> OpResult {
        let Some(room) = room else {
            return OpResult::Error(ErrorKind::NullGroupName);
        };
        let Some(user) = self.conn(caller).and_then(|c| c.user.clone()) else {
            return OpResult::Error(ErrorKind::NoUser);
        };
        match self.rooms.binary_search_by(|r| r.user.cmp(&user)) {
            Ok(i) => {
                let rooms = &mut self.rooms[i].rooms;
                if join {
                    rooms.put(room.clone());
                } else {
                    rooms.take(room);
                    if rooms.none() {
                        self.rooms.remove(i);
                    }
                }
            }
            Err(i) if join => {
                let mut rooms = N::Groups::default();
                rooms.put(room.clone());
                self.rooms.insert(i, RoomRecords { user, rooms });
            }
            Err(_) => {}
        }
        self.membership(spec, Target::Id(caller), &Some(room.clone()), join)
    }

    fn write(&mut self, to: ConnId, payload: &N::Payload, sink: &mut impl Sink<N>) {
        let c = self.conn_mut(to).expect("recipients are live");
        match c.status {
            Status::Connected => sink.deliver(to, payload, Mode::Now),
            Status::Suspended => {
                c.buffer.push_back(payload.clone());
                sink.deliver(to, payload, Mode::Buffered);
            }
        }
    }

    fn send(
        &mut self,
        spec: &Spec,
        caller: ConnId,
        selector: &Selector<N>,
        payload: &N::Payload,
        sink: &mut impl Sink<N>,
    ) -> OpResult {
        let mut recipients: SmallVec<[ConnId; 8]> = SmallVec::new();
        let excluded = |ids: &[Target], c: ConnId| ids.contains(&Target::Id(c));
        let mut error = None;
        match selector {
            Selector::All => recipients.extend(self.conns.iter().map(|c| c.id)),
            Selector::AllExcept(ids) => recipients.extend(
                self.conns
                    .iter()
                    .map(|c| c.id)
                    .filter(|c| !excluded(ids, *c)),
            ),
            Selector::Others => {
                recipients.extend(self.conns.iter().map(|c| c.id).filter(|c| *c != caller))
            }
            Selector::Caller => recipients.push(caller),
            Selector::Connection(t) => match t {
                Target::Id(id) => {
                    if self.conn(*id).is_some() {
                        recipients.push(*id);
                    }
                }
                Target::Unknown => {}
                // `Client(null)` throws `ArgumentNullException` (GRP-NULL-CONNECTION-ID); a
                // `null` inside an id list (`excluded` below) matches no connection instead.
                Target::Null => error = Some(ErrorKind::NullConnectionId),
            },
            // Each live connection at most once, however often the list names it.
            Selector::Connections(ids) => recipients.extend(
                self.conns
                    .iter()
                    .map(|c| c.id)
                    .filter(|c| excluded(ids, *c)),
            ),
            Selector::Group(g) | Selector::OthersInGroup(g) | Selector::GroupExcept(g, _) => {
                match g {
                    None => error = Some(ErrorKind::NullGroupName),
                    // Classic `GroupProxy`/`Send` refuses an empty name with ArgumentException
                    // (SND-CLASSIC-EMPTY-NAME); ASP.NET Core treats "" as an ordinary name.
                    Some(g) if spec.profile == Profile::Classic && g.is_empty_name() => {
                        error = Some(ErrorKind::EmptyGroupName)
                    }
                    Some(g) => recipients.extend(self.members(g).filter(|c| match selector {
                        Selector::OthersInGroup(_) => *c != caller,
                        Selector::GroupExcept(_, ids) => !excluded(ids, *c),
                        _ => true,
                    })),
                }
            }
            Selector::Groups(gs) => {
                for g in gs {
                    match g {
                        // Checked at the group's turn, so earlier groups have been written.
                        None => error = Some(ErrorKind::EmptyGroupName),
                        Some(g) if g.is_empty_name() => error = Some(ErrorKind::EmptyGroupName),
                        Some(g) => recipients.extend(self.members(g)),
                    }
                    if error.is_some() {
                        break;
                    }
                }
                if spec.groups_fanout == GroupsFanout::Once {
                    recipients.sort_unstable();
                    recipients.dedup();
                }
            }
            Selector::User(u) => recipients.extend(
                self.conns
                    .iter()
                    .filter(|c| c.user.as_ref() == Some(u))
                    .map(|c| c.id),
            ),
            Selector::Users(us) => recipients.extend(
                self.conns
                    .iter()
                    .filter(|c| c.user.as_ref().is_some_and(|u| us.contains(u)))
                    .map(|c| c.id),
            ),
        }
        for to in recipients {
            self.write(to, payload, sink);
        }
        error.map_or(OpResult::Ok, OpResult::Error)
    }

    /// The structural invariants of the representation; a violation is a bug in the model.
    pub fn check_invariants(&self) -> Result<(), String> {
        let sorted = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_string()) };
        sorted(
            self.conns.windows(2).all(|w| w[0].id < w[1].id),
            "connections not sorted",
        )?;
        sorted(
            self.conns
                .iter()
                .all(|c| c.id.0 >= 1 && c.id.0 <= self.next_id),
            "id out of range",
        )?;
        let ascending = |s: &N::Groups| {
            let items: Vec<N::Group> = s.items().collect();
            items.windows(2).all(|w| w[0] < w[1])
        };
        for c in &self.conns {
            sorted(ascending(&c.groups), "groups not a sorted set")?;
            sorted(ascending(&c.token), "token not a sorted set")?;
            sorted(
                c.status == Status::Suspended || (c.buffer.count() == 0 && c.token.none()),
                "a connected connection holds a buffer or token",
            )?;
        }
        sorted(
            self.rooms.windows(2).all(|w| w[0].user < w[1].user),
            "rooms not sorted",
        )?;
        for r in &self.rooms {
            sorted(!r.rooms.none(), "empty room record")?;
            sorted(ascending(&r.rooms), "rooms not a sorted set")?;
        }
        Ok(())
    }
}
