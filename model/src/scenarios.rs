//! Scenarios: for each rule, a short history that shows it.
//!
//! A scenario is only operations; what should happen is always computed by the model under
//! the spec at hand. The docs print each scenario's transcript as the rule's example, and the
//! conformance suite runs the same operations against a target and compares transcripts.

use crate::ids::{ConnId, Target};
use crate::names::Text;
use crate::op::{Op, Selector};
use crate::profile::{Profile, Spec};
use crate::rules::{rule, Capability, Rule};
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
    /// rule is stated for, with ASP.NET Core's variants.
    pub fn default_spec(&self) -> Spec {
        let rule = self.rule();
        let profile = rule.profiles.first().copied().unwrap_or(Profile::Core);
        let spec = Spec::new(profile);
        if rule.id == "REC-CLASSIC-VERIFY" {
            spec.with_verify_rejoin(true)
        } else {
            spec
        }
    }
}

/// Builds a history, predicting the ids the hub will assign.
struct Script {
    ops: Vec<Op<Text>>,
    conns: u32,
    payloads: u32,
}

fn g(name: &str) -> Option<String> {
    Some(name.to_string())
}

impl Script {
    fn new() -> Self {
        Script {
            ops: Vec::new(),
            conns: 0,
            payloads: 0,
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
    fn op(&mut self, op: Op<Text>) {
        self.ops.push(op);
    }
    fn done(self, rule: &'static str, name: &'static str) -> Scenario {
        Scenario {
            rule,
            name,
            ops: self.ops,
        }
    }
}

fn id(c: ConnId) -> Target {
    Target::Id(c)
}

/// Every scenario, grouped by rule in catalog order.
pub fn scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();

    // GRP-CREATE-ON-ADD: nobody gets a send before the first add; the member does after.
    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.send_group(b, "news");
    s.add(a, g("news"));
    s.send_group(b, "news");
    out.push(s.done("GRP-CREATE-ON-ADD", "basic"));

    // GRP-DELETE-ON-EMPTY: the old member does not come back with the re-created group.
    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.remove(a, g("g"));
    s.send_group(b, "g");
    s.add(b, g("g"));
    s.send_group(b, "g");
    out.push(s.done("GRP-DELETE-ON-EMPTY", "fresh"));

    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.add(a, g("g"));
    s.add_id(b, id(a), g("g"));
    s.send_group(b, "g");
    out.push(s.done("GRP-ADD-IDEMPOTENT", "twice"));

    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.remove(a, g("g"));
    s.add(b, g("g"));
    s.remove(a, g("g"));
    s.send_group(a, "g");
    out.push(s.done("GRP-REMOVE-NONMEMBER", "basic"));

    let mut s = Script::new();
    let (a, b, c) = (s.anon(), s.anon(), s.anon());
    s.add(a, g("g"));
    s.add(b, g("g"));
    s.remove(a, g("g"));
    s.send_group(c, "g");
    out.push(s.done("GRP-REMOVE-ONE", "basic"));

    let mut s = Script::new();
    let (a, b, c) = (s.anon(), s.anon(), s.anon());
    s.add(a, g("Chat"));
    s.add(b, g("chat"));
    s.add(c, g("chat "));
    s.send_group(c, "Chat");
    s.send_group(c, "chat");
    s.send_group(a, "CHAT");
    out.push(s.done("GRP-NAMES-ORDINAL", "case"));

    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g(""));
    s.send_group(b, "");
    s.remove(a, g(""));
    s.send_group(b, "");
    out.push(s.done("GRP-EMPTY-NAME", "basic"));

    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.add(a, None);
    s.add_id(b, id(a), None);
    s.remove(a, None);
    s.send(b, Selector::Group(None));
    s.send(b, Selector::All);
    out.push(s.done("GRP-NULL-NAME", "basic"));

    // GRP-NULL-CONNECTION-ID: each call with a null id is refused and changes nothing (the
    // group still reaches its one member); with a null group too, the id is what is refused.
    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.add_id(b, Target::Null, g("g"));
    s.remove_id(b, Target::Null, g("g"));
    s.add_id(b, Target::Null, None);
    s.send(b, Selector::Connection(Target::Null));
    s.send_group(b, "g");
    out.push(s.done("GRP-NULL-CONNECTION-ID", "refused"));

    // …while inside a list a null is an entry that matches nobody.
    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.send(b, Selector::AllExcept(vec![Target::Null]));
    s.send(b, Selector::Connections(vec![id(a), Target::Null]));
    s.send(b, Selector::GroupExcept(g("g"), vec![Target::Null]));
    out.push(s.done("GRP-NULL-CONNECTION-ID", "in-lists"));

    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g1"));
    s.add(a, g("g2"));
    s.add(a, g("g3"));
    s.send_group(b, "g1");
    s.send_group(b, "g3");
    s.remove(a, g("g1"));
    s.send_group(b, "g1");
    s.send_group(b, "g2");
    out.push(s.done("GRP-MULTI-MEMBERSHIP", "basic"));

    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.add_id(a, Target::Unknown, g("g"));
    s.send_group(a, "g");
    s.add(b, g("g"));
    s.remove_id(a, Target::Unknown, g("g"));
    s.send_group(a, "g");
    out.push(s.done("GRP-UNKNOWN-ID", "basic"));

    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.op(Op::Disconnect { conn: b });
    s.add_id(a, id(b), g("g"));
    s.send_group(a, "g");
    s.remove_id(a, id(b), g("g"));
    s.send(a, Selector::All);
    out.push(s.done("GRP-CLOSED-ID", "basic"));

    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.add_id(a, Target::Unknown, g("g"));
    s.send_group(a, "g");
    s.op(Op::Disconnect { conn: b });
    s.add_id(a, id(b), g("g"));
    s.send_group(a, "g");
    s.add(a, g("g"));
    s.remove_id(a, id(b), g("g"));
    s.send_group(a, "g");
    out.push(s.done("GRP-CLASSIC-UNKNOWN-ID-CANCELLED", "basic"));

    let mut s = Script::new();
    let (a, b, c) = (s.anon(), s.anon(), s.anon());
    s.add_id(a, id(b), g("g"));
    s.add_id(a, id(c), g("g"));
    s.send_group(a, "g");
    s.remove_id(c, id(b), g("g"));
    s.send_group(a, "g");
    out.push(s.done("GRP-ADD-BY-ID", "basic"));

    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.send_group(b, "g");
    s.remove(a, g("g"));
    s.send_group(b, "g");
    s.add(a, g("g"));
    s.send_group(a, "g");
    out.push(s.done("GRP-EFFECT-BEFORE-COMPLETION", "back-to-back"));

    // Connections.
    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g1"));
    s.add(a, g("g2"));
    s.op(Op::Disconnect { conn: a });
    s.send_group(b, "g1");
    s.send(b, Selector::Groups(vec![g("g1"), g("g2")]));
    out.push(s.done("CON-DISCONNECT-LEAVES-GROUPS", "basic"));

    let mut s = Script::new();
    let a = s.connect(Some("alice"));
    s.add(a, g("g"));
    let a2 = s.connect(Some("alice"));
    s.send(a2, Selector::Group(g("g")));
    s.op(Op::Disconnect { conn: a });
    let a3 = s.connect(Some("alice"));
    s.send_group(a3, "g");
    out.push(s.done("CON-NEW-NO-GROUPS", "same-user"));

    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.op(Op::Disconnect { conn: a });
    let c = s.anon();
    s.send(b, Selector::Connection(id(a)));
    s.send(b, Selector::Connection(id(c)));
    out.push(s.done("CON-IDS-UNIQUE", "after-disconnect"));

    // Reconnect.
    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.op(Op::Drop { conn: a });
    s.send_group(b, "g");
    s.op(Op::Resume {
        conn: a,
        altered_token: false,
    });
    out.push(s.done("REC-CORE-DROP-ENDS", "basic"));

    let mut s = Script::new();
    let a = s.connect(Some("alice"));
    let b = s.anon();
    s.add(a, g("g"));
    s.op(Op::Drop { conn: a });
    let a2 = s.connect(Some("alice"));
    s.send_group(b, "g");
    s.add(a2, g("g"));
    s.send_group(b, "g");
    out.push(s.done("REC-RECONNECT-IS-NEW", "rejoin"));

    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g1"));
    s.op(Op::Drop { conn: a });
    s.send_group(b, "g1");
    s.add_id(b, id(a), g("g2"));
    s.send_group(b, "g2");
    s.op(Op::Resume {
        conn: a,
        altered_token: false,
    });
    out.push(s.done("REC-SUSPENDED-KEEPS-GROUPS", "basic"));

    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g1"));
    s.add(a, g("g2"));
    s.op(Op::Drop { conn: a });
    s.op(Op::Resume {
        conn: a,
        altered_token: false,
    });
    s.send_group(b, "g1");
    s.send_group(b, "g2");
    s.send(b, Selector::Connection(id(a)));
    out.push(s.done("REC-RESUME-KEEPS-GROUPS", "basic"));

    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.op(Op::Drop { conn: a });
    s.send_group(b, "g");
    s.send(b, Selector::Connection(id(a)));
    s.send(b, Selector::All);
    s.op(Op::Resume {
        conn: a,
        altered_token: false,
    });
    s.send_group(b, "g");
    out.push(s.done("REC-RESUME-REPLAYS", "in-order"));

    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.op(Op::Drop { conn: a });
    s.send_group(b, "g");
    s.op(Op::Expire { conn: a });
    s.send_group(b, "g");
    s.op(Op::Resume {
        conn: a,
        altered_token: false,
    });
    out.push(s.done("REC-EXPIRE-ENDS", "basic"));

    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.op(Op::Disconnect { conn: a });
    s.op(Op::Resume {
        conn: a,
        altered_token: false,
    });
    s.send_group(b, "g");
    out.push(s.done("REC-GRACEFUL-NO-RESUME", "basic"));

    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g1"));
    s.add(a, g("g2"));
    s.op(Op::Drop { conn: a });
    s.op(Op::Resume {
        conn: a,
        altered_token: false,
    });
    s.send_group(b, "g1");
    s.send_group(b, "g2");
    let a2 = s.anon();
    s.send(a2, Selector::Groups(vec![g("g1")]));
    out.push(s.done("REC-CLASSIC-REJOIN", "basic"));

    let mut s = Script::new();
    let a = s.connect(Some("alice"));
    let b = s.anon();
    s.op(Op::JoinRoom {
        caller: a,
        room: g("stored"),
    });
    s.add(a, g("unstored"));
    s.op(Op::Drop { conn: a });
    s.op(Op::Resume {
        conn: a,
        altered_token: false,
    });
    s.send_group(b, "stored");
    s.send_group(b, "unstored");
    out.push(s.done("REC-CLASSIC-VERIFY", "store-confirms"));

    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.op(Op::Drop { conn: a });
    s.op(Op::Resume {
        conn: a,
        altered_token: true,
    });
    s.send_group(b, "g");
    out.push(s.done("REC-CLASSIC-ALTERED-TOKEN", "basic"));

    // Sends.
    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.send(b, Selector::Group(g("")));
    s.send(b, Selector::Group(None));
    s.send(b, Selector::GroupExcept(g(""), vec![id(a)]));
    s.send(b, Selector::OthersInGroup(None));
    s.send_group(b, "g");
    out.push(s.done("SND-CLASSIC-EMPTY-NAME", "basic"));

    let mut s = Script::new();
    let (a, _b, c) = (s.anon(), s.anon(), s.anon());
    s.op(Op::Disconnect { conn: c });
    s.send(a, Selector::All);
    out.push(s.done("SND-ALL", "basic"));

    let mut s = Script::new();
    let (a, b, c) = (s.anon(), s.anon(), s.anon());
    s.send(a, Selector::AllExcept(vec![id(b), Target::Unknown]));
    s.send(a, Selector::AllExcept(vec![id(a), id(c)]));
    out.push(s.done("SND-ALL-EXCEPT", "basic"));

    let mut s = Script::new();
    let (a, _b, _c) = (s.anon(), s.anon(), s.anon());
    s.send(a, Selector::Others);
    out.push(s.done("SND-OTHERS", "basic"));

    let mut s = Script::new();
    let (a, _b) = (s.anon(), s.anon());
    s.send(a, Selector::Caller);
    out.push(s.done("SND-CALLER", "basic"));

    let mut s = Script::new();
    let (a, b, c) = (s.anon(), s.anon(), s.anon());
    s.send(a, Selector::Connection(id(b)));
    s.send(a, Selector::Connection(Target::Unknown));
    s.op(Op::Disconnect { conn: c });
    s.send(a, Selector::Connection(id(c)));
    out.push(s.done("SND-CONNECTION", "basic"));

    let mut s = Script::new();
    let (a, b, c) = (s.anon(), s.anon(), s.anon());
    s.send(
        a,
        Selector::Connections(vec![id(b), id(b), id(c), Target::Unknown]),
    );
    out.push(s.done("SND-CONNECTIONS", "duplicates"));

    let mut s = Script::new();
    let (a, b, _c) = (s.anon(), s.anon(), s.anon());
    s.add(a, g("g"));
    s.add(b, g("g"));
    s.send_group(a, "g");
    s.send_group(a, "nobody-here");
    out.push(s.done("SND-GROUP", "basic"));

    let mut s = Script::new();
    let (a, b, c) = (s.anon(), s.anon(), s.anon());
    s.add(a, g("g1"));
    s.add(a, g("g2"));
    s.add(b, g("g2"));
    s.send(c, Selector::Groups(vec![g("g1"), g("g2")]));
    s.send(c, Selector::Groups(vec![g("g2"), g("g2")]));
    out.push(s.done("SND-GROUPS-FANOUT", "overlap"));

    let mut s = Script::new();
    let (a, b, c) = (s.anon(), s.anon(), s.anon());
    s.add(a, g("g1"));
    s.add(b, g("g2"));
    s.send(c, Selector::Groups(vec![g("g1"), g(""), g("g2")]));
    s.send(c, Selector::Groups(vec![None, g("g1")]));
    out.push(s.done("SND-GROUPS-EMPTY-NAME", "basic"));

    let mut s = Script::new();
    let (a, b, c, d) = (s.anon(), s.anon(), s.anon(), s.anon());
    s.add(a, g("g"));
    s.add(b, g("g"));
    s.add(c, g("g"));
    s.send(
        d,
        Selector::GroupExcept(g("g"), vec![id(b), id(d), Target::Unknown]),
    );
    out.push(s.done("SND-GROUP-EXCEPT", "basic"));

    let mut s = Script::new();
    let (a, b, c) = (s.anon(), s.anon(), s.anon());
    s.add(a, g("g"));
    s.add(b, g("g"));
    s.send(a, Selector::OthersInGroup(g("g")));
    s.send(c, Selector::OthersInGroup(g("g")));
    out.push(s.done("SND-OTHERS-IN-GROUP", "member-and-not"));

    let mut s = Script::new();
    let a1 = s.connect(Some("alice"));
    let _a2 = s.connect(Some("alice"));
    let _b = s.connect(Some("bob"));
    let _anon = s.anon();
    s.send(a1, Selector::User("alice".into()));
    s.send(a1, Selector::User("Alice".into()));
    out.push(s.done("SND-USER", "every-connection"));

    let mut s = Script::new();
    let a1 = s.connect(Some("alice"));
    let _a2 = s.connect(Some("alice"));
    let _b = s.connect(Some("bob"));
    let _c = s.connect(Some("carol"));
    s.send(
        a1,
        Selector::Users(vec!["alice".into(), "bob".into(), "alice".into()]),
    );
    out.push(s.done("SND-USERS", "duplicates"));

    let mut s = Script::new();
    let (a, b, c) = (s.anon(), s.anon(), s.anon());
    s.add(a, g("g"));
    s.add(b, g("g"));
    s.add(a, g("g"));
    s.send_group(c, "g");
    s.send(c, Selector::Connections(vec![id(a), id(a)]));
    s.send(c, Selector::Users(vec![]));
    out.push(s.done("SND-EXACTLY-ONCE", "basic"));

    let mut s = Script::new();
    let (a, b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.send_group(b, "g");
    s.send(b, Selector::Connection(id(a)));
    s.send(b, Selector::All);
    s.send_group(b, "g");
    out.push(s.done("SND-FIFO", "mixed-selectors"));

    // Restart.
    // With a user, so that a server restoring the user's old memberships shows too.
    let mut s = Script::new();
    let a = s.connect(Some("alice"));
    let _b = s.anon();
    s.add(a, g("g"));
    s.op(Op::Restart);
    let _a2 = s.connect(Some("alice"));
    let d = s.anon();
    s.send_group(d, "g");
    s.send(d, Selector::All);
    out.push(s.done("RST-WIPES-MEMBERSHIP", "basic"));

    let mut s = Script::new();
    let (a, _b) = (s.anon(), s.anon());
    s.add(a, g("g"));
    s.op(Op::Drop { conn: a });
    s.op(Op::Restart);
    s.op(Op::Resume {
        conn: a,
        altered_token: false,
    });
    let c = s.anon();
    s.send_group(c, "g");
    out.push(s.done("RST-NO-RESUME", "basic"));

    // Rooms.
    let mut s = Script::new();
    let a = s.connect(Some("alice"));
    let b = s.anon();
    s.op(Op::JoinRoom {
        caller: a,
        room: g("lobby"),
    });
    s.op(Op::Disconnect { conn: a });
    let a2 = s.connect(Some("alice"));
    s.send_group(b, "lobby");
    s.send(a2, Selector::OthersInGroup(g("lobby")));
    out.push(s.done("ROOM-RESTORE-ON-CONNECT", "basic"));

    let mut s = Script::new();
    let a = s.connect(Some("alice"));
    s.op(Op::JoinRoom {
        caller: a,
        room: g("lobby"),
    });
    s.op(Op::Restart);
    let _a2 = s.connect(Some("alice"));
    let b = s.anon();
    s.send_group(b, "lobby");
    out.push(s.done("ROOM-SURVIVE-RESTART", "basic"));

    let mut s = Script::new();
    let a = s.connect(Some("alice"));
    let a2 = s.connect(Some("alice"));
    let b = s.anon();
    s.op(Op::JoinRoom {
        caller: a,
        room: g("lobby"),
    });
    s.add(a2, g("lobby"));
    s.op(Op::LeaveRoom {
        caller: a,
        room: g("lobby"),
    });
    s.send_group(b, "lobby");
    let _a3 = s.connect(Some("alice"));
    s.send_group(b, "lobby");
    out.push(s.done("ROOM-LEAVE-DELETES", "basic"));

    let mut s = Script::new();
    let a = s.connect(Some("alice"));
    s.op(Op::JoinRoom {
        caller: a,
        room: g("lobby"),
    });
    let _b = s.connect(Some("bob"));
    let _n = s.anon();
    s.send_group(a, "lobby");
    out.push(s.done("ROOM-PER-USER", "basic"));

    let mut s = Script::new();
    let (n, b) = (s.anon(), s.anon());
    s.op(Op::JoinRoom {
        caller: n,
        room: g("lobby"),
    });
    s.send_group(b, "lobby");
    out.push(s.done("ROOM-NEEDS-USER", "anonymous"));

    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Area, RULES};
    use crate::transcript::Transcript;

    #[test]
    fn every_model_rule_has_a_scenario_and_every_scenario_a_rule() {
        let all = scenarios();
        for r in RULES.iter().filter(|r| r.area != Area::Protocol) {
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
