//! Named faults ("mutants"): realistic bugs the reference hub can be told to have, so that the
//! conformance suite can prove it catches each one.
//!
//! Every fault is off by default and each is observable through the contract: it changes what
//! some client receives or when. A fault is written as a change to the operations refhub gives
//! the model (a different selector, an extra remove, a late apply) or to the wire (a replay
//! buffer dropped), never as a second implementation of group semantics.

use std::fmt;
use std::str::FromStr;

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
