//! Scenarios: for each rule, a short history that shows it.
//!
//! A scenario is only operations; what should happen is always computed by the model under
//! the spec at hand. The docs print each scenario's transcript as the rule's example, and the
//! conformance suite runs the same operations against a target and compares transcripts.
//!
//! There is one function per [`Area`], in the order of the catalog (`rules.rs`) and of the
//! book's chapters. Each scenario opens with its rule ID and a `// shows:` line saying what a
//! reader should see in its transcript. The book's pages cite the transcripts' step numbers, so
//! a changed history also means re-reading its page (`model/tests/docs.rs` insists).
//!
//! One file (most of it data): every scenario in catalog order, split by area into one function
//! each, so the whole set reads like the rules catalog it mirrors.

use crate::ids::{ConnId, Target};
use crate::names::Text;
use crate::op::{Op, Selector};
use crate::profile::{Profile, Spec};
use crate::rules::{rule, Area, Capability, Rule};
use std::collections::BTreeSet;

/// A named history that demonstrates one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The rule it demonstrates.
    pub rule: &'static str,
    /// A short name, unique within the rule (`basic`, `case`, …).
    pub name: &'static str,
    /// The operations.
    pub ops: Vec<Op<Text>>,
    /// Under `classic`, whether the scenario is shown with the application verifying rejoins
    /// against its store ([`Spec::verify_rejoin`]): the scenarios of a rule about verification
    /// show nothing without it.
    pub verify_rejoin: bool,
}

impl Scenario {
    /// The catalog entry of the scenario's rule.
    pub fn rule(&self) -> &'static Rule {
        rule(self.rule).expect("scenarios name catalog rules")
    }

    /// `RULE-ID/name`: how tests, reports and replay commands name the scenario.
    pub fn key(&self) -> String {
        format!("{}/{}", self.rule, self.name)
    }

    /// The capabilities a target must declare to run it under `profile`.
    pub fn capabilities(&self, profile: Profile) -> BTreeSet<Capability> {
        let mut caps = crate::op::needs(&self.ops, profile);
        caps.extend(self.rule().needs);
        caps
    }

    /// The spec to show the scenario under when nothing else is given: the first profile its
    /// rule is stated for, with ASP.NET Core's variants and the scenario's own
    /// [`verify_rejoin`](Self::verify_rejoin).
    pub fn default_spec(&self) -> Spec {
        let profile = self
            .rule()
            .profiles
            .first()
            .copied()
            .unwrap_or(Profile::Core);
        Spec::new(profile).with_verify_rejoin(self.verify_rejoin)
    }
}

/// Builds a history, predicting the ids the hub will assign. Payloads are numbered `m1`, `m2`,
/// … in the order the sends are written.
struct Script {
    rule: &'static str,
    name: &'static str,
    ops: Vec<Op<Text>>,
    conns: u32,
    payloads: u32,
    verify_rejoin: bool,
}

fn g(name: &str) -> Option<String> {
    Some(name.to_string())
}

fn id(c: ConnId) -> Target {
    Target::Id(c)
}

impl Script {
    /// A history showing `rule`, named `name` among that rule's scenarios.
    fn new(rule: &'static str, name: &'static str) -> Self {
        Script {
            rule,
            name,
            ops: Vec::new(),
            conns: 0,
            payloads: 0,
            verify_rejoin: false,
        }
    }
    fn connect(&mut self, user: Option<&str>) -> ConnId {
        self.ops.push(Op::Connect {
            user: user.map(str::to_string),
        });
        self.conns += 1;
        ConnId(self.conns)
    }
    fn anon(&mut self) -> ConnId {
        self.connect(None)
    }
    fn user(&mut self, name: &str) -> ConnId {
        self.connect(Some(name))
    }
    fn disconnect(&mut self, conn: ConnId) {
        self.ops.push(Op::Disconnect { conn });
    }
    fn drop_transport(&mut self, conn: ConnId) {
        self.ops.push(Op::Drop { conn });
    }
    fn resume(&mut self, conn: ConnId) {
        self.ops.push(Op::Resume {
            conn,
            altered_token: false,
        });
    }
    fn resume_altered(&mut self, conn: ConnId) {
        self.ops.push(Op::Resume {
            conn,
            altered_token: true,
        });
    }
    fn expire(&mut self, conn: ConnId) {
        self.ops.push(Op::Expire { conn });
    }
    fn restart(&mut self) {
        self.ops.push(Op::Restart);
    }
    fn add(&mut self, caller: ConnId, group: Option<String>) {
        self.ops.push(Op::AddToGroup { caller, group });
    }
    fn remove(&mut self, caller: ConnId, group: Option<String>) {
        self.ops.push(Op::RemoveFromGroup { caller, group });
    }
    fn add_id(&mut self, caller: ConnId, target: Target, group: Option<String>) {
        self.ops.push(Op::AddConnectionToGroup {
            caller,
            target,
            group,
        });
    }
    fn remove_id(&mut self, caller: ConnId, target: Target, group: Option<String>) {
        self.ops.push(Op::RemoveConnectionFromGroup {
            caller,
            target,
            group,
        });
    }
    fn join_room(&mut self, caller: ConnId, room: &str) {
        self.ops.push(Op::JoinRoom {
            caller,
            room: g(room),
        });
    }
    fn leave_room(&mut self, caller: ConnId, room: &str) {
        self.ops.push(Op::LeaveRoom {
            caller,
            room: g(room),
        });
    }
    fn send(&mut self, caller: ConnId, selector: Selector<Text>) {
        self.payloads += 1;
        let payload = format!("m{}", self.payloads);
        self.ops.push(Op::Send {
            caller,
            selector,
            payload,
        });
    }
    fn send_group(&mut self, caller: ConnId, group: &str) {
        self.send(caller, Selector::Group(g(group)));
    }
    /// Show the scenario with rejoin verification on (see [`Scenario::verify_rejoin`]).
    fn with_verify_rejoin(&mut self) {
        self.verify_rejoin = true;
    }
    fn done(self) -> Scenario {
        Scenario {
            rule: self.rule,
            name: self.name,
            ops: self.ops,
            verify_rejoin: self.verify_rejoin,
        }
    }
}

/// Every scenario: by area in catalog order, each area's scenarios in the order its function
/// lists them.
pub fn scenarios() -> Vec<Scenario> {
    AREAS.into_iter().flat_map(of_area).collect()
}

/// The areas with scenarios, in catalog order. `PRO-` rules are about the wire, which the
/// model does not describe; the suite checks them with probes instead.
const AREAS: [Area; 6] = [
    Area::Groups,
    Area::Connections,
    Area::Reconnect,
    Area::Sends,
    Area::Restart,
    Area::Rooms,
];

/// The scenarios of the rules of `area`.
fn of_area(area: Area) -> Vec<Scenario> {
    match area {
        Area::Groups => groups(),
        Area::Connections => connections(),
        Area::Reconnect => reconnect(),
        Area::Sends => sends(),
        Area::Restart => restart(),
        Area::Rooms => rooms(),
        // Wire rules are probed, concurrent ones checked on recorded histories.
        Area::Protocol | Area::Concurrency => Vec::new(),
    }
}

/// `GRP-`: group membership.
fn groups() -> Vec<Scenario> {
    let mut out = Vec::new();

    // shows: nobody gets a send before the first add; the member does after.
    let mut s = Script::new("GRP-CREATE-ON-ADD", "basic");
    let (a, b) = (s.anon(), s.anon());
    s.send_group(b, "news");
    s.add(a, g("news"));
    s.send_group(b, "news");
    out.push(s.done());

    // shows: the old member does not come back with the re-created group.
    let mut s = Script::new("GRP-DELETE-ON-EMPTY", "fresh");
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.remove(a, g("g"));
    s.send_group(b, "g");
    s.add(b, g("g"));
    s.send_group(b, "g");
    out.push(s.done());

    // shows: two self-adds and an add by id still deliver one copy.
    let mut s = Script::new("GRP-ADD-IDEMPOTENT", "twice");
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.add(a, g("g"));
    s.add_id(b, id(a), g("g"));
    s.send_group(b, "g");
    out.push(s.done());

    // shows: removing a non-member succeeds, from a missing group and from another's group.
    let mut s = Script::new("GRP-REMOVE-NONMEMBER", "basic");
    let (a, b) = (s.anon(), s.anon());
    s.remove(a, g("g"));
    s.add(b, g("g"));
    s.remove(a, g("g"));
    s.send_group(a, "g");
    out.push(s.done());

    // shows: after one of two members leaves, the other still receives.
    let mut s = Script::new("GRP-REMOVE-ONE", "basic");
    let (a, b, c) = (s.anon(), s.anon(), s.anon());
    s.add(a, g("g"));
    s.add(b, g("g"));
    s.remove(a, g("g"));
    s.send_group(c, "g");
    out.push(s.done());

    // shows: "Chat", "chat" and "chat " are three groups, and "CHAT" none of them.
    let mut s = Script::new("GRP-NAMES-ORDINAL", "case");
    let (a, b, c) = (s.anon(), s.anon(), s.anon());
    s.add(a, g("Chat"));
    s.add(b, g("chat"));
    s.add(c, g("chat "));
    s.send_group(c, "Chat");
    s.send_group(c, "chat");
    s.send_group(a, "CHAT");
    out.push(s.done());

    // shows: "" is joined, sent to and left like any other name.
    let mut s = Script::new("GRP-EMPTY-NAME", "basic");
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g(""));
    s.send_group(b, "");
    s.remove(a, g(""));
    s.send_group(b, "");
    out.push(s.done());

    // shows: every call with a null group is refused, and the connections are unharmed.
    let mut s = Script::new("GRP-NULL-NAME", "basic");
    let (a, b) = (s.anon(), s.anon());
    s.add(a, None);
    s.add_id(b, id(a), None);
    s.remove(a, None);
    s.send(b, Selector::Group(None));
    s.send(b, Selector::All);
    out.push(s.done());

    // shows: each call with a null id is refused and changes nothing (the group still reaches
    // its one member); with a null group too, the id is what is refused.
    let mut s = Script::new("GRP-NULL-CONNECTION-ID", "refused");
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.add_id(b, Target::Null, g("g"));
    s.remove_id(b, Target::Null, g("g"));
    s.add_id(b, Target::Null, None);
    s.send(b, Selector::Connection(Target::Null));
    s.send_group(b, "g");
    out.push(s.done());

    // shows: …while inside a list a null is an entry that matches nobody.
    let mut s = Script::new("GRP-NULL-CONNECTION-ID", "in-lists");
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.send(b, Selector::AllExcept(vec![Target::Null]));
    s.send(b, Selector::Connections(vec![id(a), Target::Null]));
    s.send(b, Selector::GroupExcept(g("g"), vec![Target::Null]));
    out.push(s.done());

    // shows: one connection in three groups hears each, and leaving one keeps the others.
    let mut s = Script::new("GRP-MULTI-MEMBERSHIP", "basic");
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g1"));
    s.add(a, g("g2"));
    s.add(a, g("g3"));
    s.send_group(b, "g1");
    s.send_group(b, "g3");
    s.remove(a, g("g1"));
    s.send_group(b, "g1");
    s.send_group(b, "g2");
    out.push(s.done());

    // shows: adding an unknown id succeeds and creates no group; removing one takes nobody out.
    let mut s = Script::new("GRP-UNKNOWN-ID", "basic");
    let (a, b) = (s.anon(), s.anon());
    s.add_id(a, Target::Unknown, g("g"));
    s.send_group(a, "g");
    s.add(b, g("g"));
    s.remove_id(a, Target::Unknown, g("g"));
    s.send_group(a, "g");
    out.push(s.done());

    // shows: adding and removing a disconnected id succeed and nobody receives for it.
    let mut s = Script::new("GRP-CLOSED-ID", "basic");
    let (a, b) = (s.anon(), s.anon());
    s.disconnect(b);
    s.add_id(a, id(b), g("g"));
    s.send_group(a, "g");
    s.remove_id(a, id(b), g("g"));
    s.send(a, Selector::All);
    out.push(s.done());

    // shows: under classic the same calls, for an unknown and for an ended id, fail as
    // cancelled and change nothing.
    let mut s = Script::new("GRP-CLASSIC-UNKNOWN-ID-CANCELLED", "basic");
    let (a, b) = (s.anon(), s.anon());
    s.add_id(a, Target::Unknown, g("g"));
    s.send_group(a, "g");
    s.disconnect(b);
    s.add_id(a, id(b), g("g"));
    s.send_group(a, "g");
    s.add(a, g("g"));
    s.remove_id(a, id(b), g("g"));
    s.send_group(a, "g");
    out.push(s.done());

    // shows: one connection adds two others by id, and a third removes one of them.
    let mut s = Script::new("GRP-ADD-BY-ID", "basic");
    let (a, b, c) = (s.anon(), s.anon(), s.anon());
    s.add_id(a, id(b), g("g"));
    s.add_id(a, id(c), g("g"));
    s.send_group(a, "g");
    s.remove_id(c, id(b), g("g"));
    s.send_group(a, "g");
    out.push(s.done());

    // shows: each send right after an add or a remove already sees it.
    let mut s = Script::new("GRP-EFFECT-BEFORE-COMPLETION", "back-to-back");
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.send_group(b, "g");
    s.remove(a, g("g"));
    s.send_group(b, "g");
    s.add(a, g("g"));
    s.send_group(a, "g");
    out.push(s.done());

    out
}

/// `CON-`: connection lifetime.
fn connections() -> Vec<Scenario> {
    let mut out = Vec::new();

    // shows: after a disconnect, neither of the connection's two groups reaches it.
    let mut s = Script::new("CON-DISCONNECT-LEAVES-GROUPS", "basic");
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g1"));
    s.add(a, g("g2"));
    s.disconnect(a);
    s.send_group(b, "g1");
    s.send(b, Selector::Groups(vec![g("g1"), g("g2")]));
    out.push(s.done());

    // shows: the same user's second and third connections are in none of the first's groups.
    let mut s = Script::new("CON-NEW-NO-GROUPS", "same-user");
    let a = s.user("alice");
    s.add(a, g("g"));
    let a2 = s.user("alice");
    s.send(a2, Selector::Group(g("g")));
    s.disconnect(a);
    let a3 = s.user("alice");
    s.send_group(a3, "g");
    out.push(s.done());

    // shows: a connection made after a disconnect gets a new id, and the old id reaches nobody.
    let mut s = Script::new("CON-IDS-UNIQUE", "after-disconnect");
    let (a, b) = (s.anon(), s.anon());
    s.disconnect(a);
    let c = s.anon();
    s.send(b, Selector::Connection(id(a)));
    s.send(b, Selector::Connection(id(c)));
    out.push(s.done());

    out
}

/// `REC-`: reconnect, resume and expiry.
fn reconnect() -> Vec<Scenario> {
    let mut out = Vec::new();

    // shows: without stateful reconnect a dropped member hears nothing and cannot resume.
    let mut s = Script::new("REC-CORE-DROP-ENDS", "basic");
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.drop_transport(a);
    s.send_group(b, "g");
    s.resume(a);
    out.push(s.done());

    // shows: the user's reconnect is a new connection that hears the group only after rejoining.
    let mut s = Script::new("REC-RECONNECT-IS-NEW", "rejoin");
    let a = s.user("alice");
    let b = s.anon();
    s.add(a, g("g"));
    s.drop_transport(a);
    let a2 = s.user("alice");
    s.send_group(b, "g");
    s.add(a2, g("g"));
    s.send_group(b, "g");
    out.push(s.done());

    // shows: a suspended member keeps its group's sends, and an add by id applies to it.
    let mut s = Script::new("REC-SUSPENDED-KEEPS-GROUPS", "basic");
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g1"));
    s.drop_transport(a);
    s.send_group(b, "g1");
    s.add_id(b, id(a), g("g2"));
    s.send_group(b, "g2");
    s.resume(a);
    out.push(s.done());

    // shows: after a resume the connection is still in both groups and keeps its id.
    let mut s = Script::new("REC-RESUME-KEEPS-GROUPS", "basic");
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g1"));
    s.add(a, g("g2"));
    s.drop_transport(a);
    s.resume(a);
    s.send_group(b, "g1");
    s.send_group(b, "g2");
    s.send(b, Selector::Connection(id(a)));
    out.push(s.done());

    // shows: three sends kept while suspended arrive in order at the resume, before a newer one.
    let mut s = Script::new("REC-RESUME-REPLAYS", "in-order");
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.drop_transport(a);
    s.send_group(b, "g");
    s.send(b, Selector::Connection(id(a)));
    s.send(b, Selector::All);
    s.resume(a);
    s.send_group(b, "g");
    out.push(s.done());

    // shows: after the disconnect timeout the kept message is gone, the group too, and the
    // resume is refused.
    let mut s = Script::new("REC-EXPIRE-ENDS", "basic");
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.drop_transport(a);
    s.send_group(b, "g");
    s.expire(a);
    s.send_group(b, "g");
    s.resume(a);
    out.push(s.done());

    // shows: a resume after a graceful disconnect is refused and the group stays empty.
    let mut s = Script::new("REC-GRACEFUL-NO-RESUME", "basic");
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.disconnect(a);
    s.resume(a);
    s.send_group(b, "g");
    out.push(s.done());

    // shows: a classic reconnect is back in both groups, and a new connection's send finds it.
    let mut s = Script::new("REC-CLASSIC-REJOIN", "basic");
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g1"));
    s.add(a, g("g2"));
    s.drop_transport(a);
    s.resume(a);
    s.send_group(b, "g1");
    s.send_group(b, "g2");
    let a2 = s.anon();
    s.send(a2, Selector::Groups(vec![g("g1")]));
    out.push(s.done());

    // shows: with verification, the reconnect rejoins the room the store records and not the
    // group it only joined.
    let mut s = Script::new("REC-CLASSIC-VERIFY", "store-confirms");
    s.with_verify_rejoin();
    let a = s.user("alice");
    let b = s.anon();
    s.join_room(a, "stored");
    s.add(a, g("unstored"));
    s.drop_transport(a);
    s.resume(a);
    s.send_group(b, "stored");
    s.send_group(b, "unstored");
    out.push(s.done());

    // shows: a reconnect with an altered groups token succeeds but rejoins nothing.
    let mut s = Script::new("REC-CLASSIC-ALTERED-TOKEN", "basic");
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.drop_transport(a);
    s.resume_altered(a);
    s.send_group(b, "g");
    out.push(s.done());

    out
}

/// `SND-`: recipients and delivery of sends.
fn sends() -> Vec<Scenario> {
    let mut out = Vec::new();

    // shows: under classic, each single-group selector refuses "" and null; a real name works.
    let mut s = Script::new("SND-CLASSIC-EMPTY-NAME", "basic");
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.send(b, Selector::Group(g("")));
    s.send(b, Selector::Group(None));
    s.send(b, Selector::GroupExcept(g(""), vec![id(a)]));
    s.send(b, Selector::OthersInGroup(None));
    s.send_group(b, "g");
    out.push(s.done());

    // shows: All reaches the caller and the other live connection, not the closed one.
    let mut s = Script::new("SND-ALL", "basic");
    let (a, _b, c) = (s.anon(), s.anon(), s.anon());
    s.disconnect(c);
    s.send(a, Selector::All);
    out.push(s.done());

    // shows: an unknown excluded id changes nothing, and the caller can exclude itself.
    let mut s = Script::new("SND-ALL-EXCEPT", "basic");
    let (a, b, c) = (s.anon(), s.anon(), s.anon());
    s.send(a, Selector::AllExcept(vec![id(b), Target::Unknown]));
    s.send(a, Selector::AllExcept(vec![id(a), id(c)]));
    out.push(s.done());

    // shows: Others reaches both other connections and not the caller.
    let mut s = Script::new("SND-OTHERS", "basic");
    let (a, _b, _c) = (s.anon(), s.anon(), s.anon());
    s.send(a, Selector::Others);
    out.push(s.done());

    // shows: Caller reaches the caller and not the other connection.
    let mut s = Script::new("SND-CALLER", "basic");
    let (a, _b) = (s.anon(), s.anon());
    s.send(a, Selector::Caller);
    out.push(s.done());

    // shows: a live id receives; an unknown and a closed id reach nobody, without error.
    let mut s = Script::new("SND-CONNECTION", "basic");
    let (a, b, c) = (s.anon(), s.anon(), s.anon());
    s.send(a, Selector::Connection(id(b)));
    s.send(a, Selector::Connection(Target::Unknown));
    s.disconnect(c);
    s.send(a, Selector::Connection(id(c)));
    out.push(s.done());

    // shows: an id listed twice gets one copy, and an unknown id is ignored.
    let mut s = Script::new("SND-CONNECTIONS", "duplicates");
    let (a, b, c) = (s.anon(), s.anon(), s.anon());
    s.send(
        a,
        Selector::Connections(vec![id(b), id(b), id(c), Target::Unknown]),
    );
    out.push(s.done());

    // shows: both members (the caller one of them) receive, the non-member not; an empty
    // group reaches nobody.
    let mut s = Script::new("SND-GROUP", "basic");
    let (a, b, _c) = (s.anon(), s.anon(), s.anon());
    s.add(a, g("g"));
    s.add(b, g("g"));
    s.send_group(a, "g");
    s.send_group(a, "nobody-here");
    out.push(s.done());

    // shows: a member of two listed groups, or of one group listed twice, gets one copy per
    // listing (per-group) or one in all (once).
    let mut s = Script::new("SND-GROUPS-FANOUT", "overlap");
    let (a, b, c) = (s.anon(), s.anon(), s.anon());
    s.add(a, g("g1"));
    s.add(a, g("g2"));
    s.add(b, g("g2"));
    s.send(c, Selector::Groups(vec![g("g1"), g("g2")]));
    s.send(c, Selector::Groups(vec![g("g2"), g("g2")]));
    out.push(s.done());

    // shows: a list fails at its "" or null: the groups before it were sent to, those after not.
    let mut s = Script::new("SND-GROUPS-EMPTY-NAME", "basic");
    let (a, b, c) = (s.anon(), s.anon(), s.anon());
    s.add(a, g("g1"));
    s.add(b, g("g2"));
    s.send(c, Selector::Groups(vec![g("g1"), g(""), g("g2")]));
    s.send(c, Selector::Groups(vec![None, g("g1")]));
    out.push(s.done());

    // shows: an excluded member is skipped; an excluded non-member and an unknown id change
    // nothing.
    let mut s = Script::new("SND-GROUP-EXCEPT", "basic");
    let (a, b, c, d) = (s.anon(), s.anon(), s.anon(), s.anon());
    s.add(a, g("g"));
    s.add(b, g("g"));
    s.add(c, g("g"));
    s.send(
        d,
        Selector::GroupExcept(g("g"), vec![id(b), id(d), Target::Unknown]),
    );
    out.push(s.done());

    // shows: from a member it reaches the other member; from a non-member, the whole group.
    let mut s = Script::new("SND-OTHERS-IN-GROUP", "member-and-not");
    let (a, b, c) = (s.anon(), s.anon(), s.anon());
    s.add(a, g("g"));
    s.add(b, g("g"));
    s.send(a, Selector::OthersInGroup(g("g")));
    s.send(c, Selector::OthersInGroup(g("g")));
    out.push(s.done());

    // shows: both of alice's connections receive, bob's and the anonymous one not; "Alice"
    // is nobody.
    let mut s = Script::new("SND-USER", "every-connection");
    let a1 = s.user("alice");
    let _a2 = s.user("alice");
    let _b = s.user("bob");
    let _anon = s.anon();
    s.send(a1, Selector::User("alice".into()));
    s.send(a1, Selector::User("Alice".into()));
    out.push(s.done());

    // shows: a user listed twice gets one copy per connection, and an unlisted user none.
    let mut s = Script::new("SND-USERS", "duplicates");
    let a1 = s.user("alice");
    let _a2 = s.user("alice");
    let _b = s.user("bob");
    let _c = s.user("carol");
    s.send(
        a1,
        Selector::Users(vec!["alice".into(), "bob".into(), "alice".into()]),
    );
    out.push(s.done());

    // shows: a member added twice, an id listed twice and an empty user list: one copy to
    // each recipient, none to anyone else.
    let mut s = Script::new("SND-EXACTLY-ONCE", "basic");
    let (a, b, c) = (s.anon(), s.anon(), s.anon());
    s.add(a, g("g"));
    s.add(b, g("g"));
    s.add(a, g("g"));
    s.send_group(c, "g");
    s.send(c, Selector::Connections(vec![id(a), id(a)]));
    s.send(c, Selector::Users(vec![]));
    out.push(s.done());

    // shows: four sends to one connection through three selectors arrive in the order sent.
    let mut s = Script::new("SND-FIFO", "mixed-selectors");
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.send_group(b, "g");
    s.send(b, Selector::Connection(id(a)));
    s.send(b, Selector::All);
    s.send_group(b, "g");
    out.push(s.done());

    // shows: what a send delivers is there before anything sent after its Completion, here a
    // message to the same connection by id.
    let mut s = Script::new("SND-DELIVERED-BEFORE-COMPLETION", "then-direct");
    let (a, b) = (s.anon(), s.anon());
    s.send(b, Selector::Others);
    s.send(b, Selector::Connection(id(a)));
    s.add(a, g("g"));
    s.send_group(b, "g");
    s.send(b, Selector::Connection(id(a)));
    out.push(s.done());

    out
}

/// `RST-`: server restart.
fn restart() -> Vec<Scenario> {
    let mut out = Vec::new();

    // shows: after a restart the group reaches nobody, though its member's user is back. With
    // a user, so that a server restoring the user's old memberships shows too.
    let mut s = Script::new("RST-WIPES-MEMBERSHIP", "basic");
    let a = s.user("alice");
    let _b = s.anon();
    s.add(a, g("g"));
    s.restart();
    let _a2 = s.user("alice");
    let d = s.anon();
    s.send_group(d, "g");
    s.send(d, Selector::All);
    out.push(s.done());

    // shows: a connection suspended at the restart cannot resume, and its group is gone.
    let mut s = Script::new("RST-NO-RESUME", "basic");
    let (a, _b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.drop_transport(a);
    s.restart();
    s.resume(a);
    let c = s.anon();
    s.send_group(c, "g");
    out.push(s.done());

    out
}

/// `ROOM-`: membership the application persists.
fn rooms() -> Vec<Scenario> {
    let mut out = Vec::new();

    // shows: alice's next connection is in her room before it does anything.
    let mut s = Script::new("ROOM-RESTORE-ON-CONNECT", "basic");
    let a = s.user("alice");
    let b = s.anon();
    s.join_room(a, "lobby");
    s.disconnect(a);
    let a2 = s.user("alice");
    s.send_group(b, "lobby");
    s.send(a2, Selector::OthersInGroup(g("lobby")));
    out.push(s.done());

    // shows: after a restart alice's first connection is back in her room.
    let mut s = Script::new("ROOM-SURVIVE-RESTART", "basic");
    let a = s.user("alice");
    s.join_room(a, "lobby");
    s.restart();
    let _a2 = s.user("alice");
    let b = s.anon();
    s.send_group(b, "lobby");
    out.push(s.done());

    // shows: LeaveRoom takes the caller out, leaves a plain member in, and a later connection
    // of the user is not restored.
    let mut s = Script::new("ROOM-LEAVE-DELETES", "basic");
    let a = s.user("alice");
    let a2 = s.user("alice");
    let b = s.anon();
    s.join_room(a, "lobby");
    s.add(a2, g("lobby"));
    s.leave_room(a, "lobby");
    s.send_group(b, "lobby");
    let _a3 = s.user("alice");
    s.send_group(b, "lobby");
    out.push(s.done());

    // shows: neither bob's nor an anonymous new connection is put in alice's room.
    let mut s = Script::new("ROOM-PER-USER", "basic");
    let a = s.user("alice");
    s.join_room(a, "lobby");
    let _b = s.user("bob");
    let _n = s.anon();
    s.send_group(a, "lobby");
    out.push(s.done());

    // shows: JoinRoom without a user is refused and puts nobody in the group.
    let mut s = Script::new("ROOM-NEEDS-USER", "anonymous");
    let (n, b) = (s.anon(), s.anon());
    s.join_room(n, "lobby");
    s.send_group(b, "lobby");
    out.push(s.done());

    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RULES;
    use crate::transcript::Transcript;

    #[test]
    fn each_area_function_holds_the_scenarios_of_its_area_only() {
        for area in AREAS {
            for s in of_area(area) {
                assert_eq!(s.rule().area, area, "{} is listed under {area:?}", s.key());
            }
        }
        assert!(of_area(Area::Protocol).is_empty());
    }

    #[test]
    fn every_model_rule_has_a_scenario_and_every_scenario_a_rule() {
        let all = scenarios();
        for r in RULES
            .iter()
            .filter(|r| !matches!(r.area, Area::Protocol | Area::Concurrency))
        {
            assert!(
                all.iter().any(|s| s.rule == r.id),
                "rule {} has no scenario",
                r.id
            );
        }
        let mut keys = BTreeSet::new();
        for s in &all {
            assert!(rule(s.rule).is_some(), "scenario {} names no rule", s.key());
            assert!(keys.insert(s.key()), "duplicate scenario {}", s.key());
        }
    }

    #[test]
    fn every_scenario_is_a_valid_history_under_every_profile_its_rule_states() {
        for s in scenarios() {
            for p in Profile::ALL.into_iter().filter(|p| s.rule().applies_to(*p)) {
                Transcript::run(Spec::new(p), &s.ops)
                    .unwrap_or_else(|e| panic!("{} under {p}: {e}", s.key()));
            }
        }
    }
}
