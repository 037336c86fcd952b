//! Profiles and variants: where real servers legitimately differ, and how.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a dropped transport means for the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// ASP.NET Core without stateful reconnect: a drop ends the connection; a reconnect is a
    /// new connection with a new id and no groups.
    Core,
    /// ASP.NET Core with stateful reconnect (.NET 8+): a drop suspends the connection; a resume
    /// at the same token keeps its id, its groups and every message sent meanwhile.
    CoreStateful,
    /// Classic ASP.NET SignalR 1.x/2.x: a reconnect keeps the id and rejoins the groups carried
    /// by the client's signed groups token; a new connection rejoins nothing.
    Classic,
}

impl Profile {
    /// Every profile, in a stable order.
    pub const ALL: [Profile; 3] = [Profile::Core, Profile::CoreStateful, Profile::Classic];

    /// The profile's name as used on the command line, in configs and in transcripts.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Core => "core",
            Profile::CoreStateful => "core-stateful",
            Profile::Classic => "classic",
        }
    }

    /// Whether a dropped transport leaves a suspended connection that can be resumed.
    pub fn suspends_on_drop(self) -> bool {
        !matches!(self, Profile::Core)
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                format!("unknown profile '{s}' (expected core, core-stateful or classic)")
            })
    }
}

/// How `Clients.Groups(list)` treats a connection that is in several of the listed groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupsFanout {
    /// One copy per listed group the connection is in (ASP.NET Core today, by design).
    PerGroup,
    /// One copy per connection, however many listed groups it is in.
    Once,
}

impl GroupsFanout {
    /// Both variants, in a stable order.
    pub const ALL: [GroupsFanout; 2] = [GroupsFanout::PerGroup, GroupsFanout::Once];

    /// The variant's name as used on the command line and in configs.
    pub fn name(self) -> &'static str {
        match self {
            GroupsFanout::PerGroup => "per-group",
            GroupsFanout::Once => "once",
        }
    }
}

impl fmt::Display for GroupsFanout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for GroupsFanout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GroupsFanout::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| format!("unknown groups_fanout '{s}' (expected per-group or once)"))
    }
}

/// A complete choice of behaviour: the profile plus every variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Spec {
    /// What a drop means.
    pub profile: Profile,
    /// How `Groups(list)` fans out.
    pub groups_fanout: GroupsFanout,
    /// Classic only: the application verifies a rejoin against its store, so only groups the
    /// store confirms for the user are rejoined (seeds/001_25d5612a7696b2db.txt, "Verifying
    /// group membership when reconnecting").
    pub verify_rejoin: bool,
}

impl Spec {
    /// The given profile with ASP.NET Core's variants.
    pub fn new(profile: Profile) -> Self {
        Spec {
            profile,
            groups_fanout: GroupsFanout::PerGroup,
            verify_rejoin: false,
        }
    }

    /// The same spec with another `Groups` fan-out.
    pub fn with_fanout(self, groups_fanout: GroupsFanout) -> Self {
        Spec {
            groups_fanout,
            ..self
        }
    }

    /// The same spec with rejoin verification switched on or off (classic only).
    pub fn with_verify_rejoin(self, verify_rejoin: bool) -> Self {
        Spec {
            verify_rejoin,
            ..self
        }
    }
}

impl Default for Spec {
    fn default() -> Self {
        Spec::new(Profile::Core)
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "profile {}, groups_fanout {}",
            self.profile, self.groups_fanout
        )?;
        if self.profile == Profile::Classic {
            write!(f, ", verify_rejoin {}", self.verify_rejoin)?;
        }
        Ok(())
    }
}
