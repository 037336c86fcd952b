//! The server under test: a configured one, or the embedded reference hub.

use crate::error::SuiteError;
use hubspec_harness::restart::BoxFuture;
use hubspec_harness::{
    shell_quote, Client, ClientOptions, CommandRestarter, HarnessError, Restarter, TargetConfig,
};
use hubspec_model::{Capability, GroupsFanout, Op, Profile, Spec};
use hubspec_refhub::{Fault, RefHub, RefHubConfig};
use hubspec_wire::HubProtocol;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// How the commands this module prints run `hubspec`: from a checkout, as a contributor would.
const HUBSPEC: &str = "cargo run -p hubspec-conformance --bin hubspec --";

/// The embedded hub's disconnect timeout: short, so `Expire` steps take a fraction of a second.
pub const EMBEDDED_DISCONNECT_TIMEOUT: Duration = Duration::from_millis(400);

/// A target and how to restart it.
#[derive(Clone)]
pub struct Target {
    /// How to reach it and what it declares.
    pub config: TargetConfig,
    /// How to restart it, when it declares `restart`.
    pub restarter: Option<Arc<dyn Restarter>>,
    embedded: Option<Arc<RefHub>>,
    faults: BTreeSet<Fault>,
    /// The variant the embedded hub serves (it may differ from the one `config` declares).
    served_fanout: GroupsFanout,
    /// What the diagnoses of this target found, so each is run once per signature.
    pub(crate) diagnoses: crate::diagnosis::Cache,
}

/// A target's declarations, for what needs no more (which rules apply).
impl<'a> From<&'a Target> for &'a TargetConfig {
    fn from(target: &'a Target) -> &'a TargetConfig {
        &target.config
    }
}

struct InProcess(Arc<RefHub>);

impl Restarter for InProcess {
    fn restart(&self) -> BoxFuture<'_, Result<(), HarnessError>> {
        Box::pin(async move {
            self.0.restart().await;
            Ok(())
        })
    }
}

impl Target {
    /// The reference hub, started on 127.0.0.1 with an OS-chosen port, under `profile`, with
    /// `faults` injected, declaring every capability and the default variants.
    pub async fn embedded(profile: Profile, faults: BTreeSet<Fault>) -> Result<Target, SuiteError> {
        Target::embedded_with(profile, faults, GroupsFanout::PerGroup).await
    }

    /// [`embedded`](Self::embedded), the hub serving `SendToGroups` as `served`. The target
    /// declares `served` too; a caller may change `config.groups_fanout` afterwards to declare
    /// another variant than the hub serves (how the suite shows an allowed variant).
    pub async fn embedded_with(
        profile: Profile,
        faults: BTreeSet<Fault>,
        served: GroupsFanout,
    ) -> Result<Target, SuiteError> {
        Target::embedded_timed(profile, faults, served, EMBEDDED_DISCONNECT_TIMEOUT).await
    }

    /// [`embedded_with`](Self::embedded_with), with the hub's (and the declared) disconnect
    /// timeout: longer for hubs run many at a time (the precision matrix), where three steps
    /// between a drop and its resume can take longer than the default on two busy cores.
    pub async fn embedded_timed(
        profile: Profile,
        faults: BTreeSet<Fault>,
        served: GroupsFanout,
        disconnect_timeout: Duration,
    ) -> Result<Target, SuiteError> {
        let hub = RefHub::start(RefHubConfig {
            listen: "127.0.0.1:0".parse().expect("a socket address"),
            profile,
            groups_fanout: served,
            faults: faults.clone(),
            disconnect_timeout,
            ..RefHubConfig::default()
        })
        .await
        .map_err(|e| SuiteError::Embedded(e.to_string()))?;
        let hub = Arc::new(hub);
        let mut config = Target::embedded_declaration(profile, served);
        config.urls = TargetConfig::for_url(&hub.url())?.urls;
        config.timeouts.disconnect_timeout = disconnect_timeout;
        Ok(Target {
            config,
            restarter: Some(Arc::new(InProcess(hub.clone()))),
            embedded: Some(hub),
            faults,
            served_fanout: served,
            diagnoses: Default::default(),
        })
    }

    /// What an embedded hub under `profile` serving `served` declares (every capability the
    /// profile allows, both hub protocols, the default variants but `served`), known before any hub starts: its
    /// `urls` are empty until [`embedded_with`](Self::embedded_with) starts one. Enough to tell
    /// which rules it can be checked for.
    pub fn embedded_declaration(profile: Profile, served: GroupsFanout) -> TargetConfig {
        let mut config = TargetConfig::for_url("http://127.0.0.1/hub")
            .expect("a valid URL")
            .with_profile(profile)
            .with_capabilities(Capability::ALL.into_iter().filter(|c| {
                *c != Capability::StatefulReconnect || profile == Profile::CoreStateful
            }));
        config.urls.clear();
        // Both protocols, taken in turn by a session's connections: every case with two
        // connections or more mixes JSON and MessagePack members (`TargetConfig::protocol_for`).
        config = config.with_protocols(HubProtocol::ALL);
        config.groups_fanout = served;
        // The reference hub states the variant it serves.
        config.groups_fanout_declared = true;
        config.timeouts.disconnect_timeout = EMBEDDED_DISCONNECT_TIMEOUT;
        config
    }

    /// A configured target; its restarter runs `restart_command`, if any.
    pub fn from_config(config: TargetConfig) -> Target {
        let restarter = config.restart_command.clone().map(|cmd| {
            Arc::new(CommandRestarter::new(cmd, Duration::from_secs(60))) as Arc<dyn Restarter>
        });
        Target {
            config,
            restarter,
            embedded: None,
            faults: BTreeSet::new(),
            served_fanout: GroupsFanout::PerGroup,
            diagnoses: Default::default(),
        }
    }

    /// The target `HUBSPEC_URL` / `HUBSPEC_URLS` / `HUBSPEC_CONFIG` name, if any.
    pub fn from_env() -> Result<Option<TargetConfig>, SuiteError> {
        Ok(TargetConfig::from_env()?)
    }

    /// Whether this is the embedded reference hub.
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// The faults injected into the embedded hub.
    pub fn faults(&self) -> &BTreeSet<Fault> {
        &self.faults
    }

    /// The `hubspec run` / `hubspec replay` flags that reach this target again with what
    /// `ops` need: the embedded hub's own (a fresh one is started: `--hub-groups-fanout` when it
    /// serves another variant than declared, `--fault` per fault, `--protocol` when it was
    /// limited to one), or a configured target's
    /// URL, `--skip-negotiation` and capabilities ([`hubspec_harness::target_flags`]).
    pub fn flags(&self, ops: &[Op]) -> String {
        if self.embedded.is_none() {
            return hubspec_harness::target_flags(&self.config, ops);
        }
        let mut flags = String::new();
        if self.served_fanout != self.config.groups_fanout {
            flags.push_str(&format!(" --hub-groups-fanout {}", self.served_fanout));
        }
        for f in &self.faults {
            flags.push_str(&format!(" --fault {}", f.name()));
        }
        if self.config.protocols != HubProtocol::ALL {
            for p in &self.config.protocols {
                flags.push_str(&format!(" --protocol {}", p.name()));
            }
        }
        flags
    }

    /// The command line that replays `ops` under `spec` against this target (for the embedded
    /// hub: against a fresh embedded hub like this one, since this one ends with the run). The
    /// one place replay commands are built; `hubspec replay` takes exactly these arguments:
    /// - `--profile core|core-stateful`: the spec's profile;
    /// - `--groups-fanout per-group|once`: given only when not `per-group`;
    /// - `--ops '<json>'`: the operations as a JSON array of `hubspec_model::Op` (serde form);
    /// - the target's [`flags`](Self::flags).
    pub fn replay_command(&self, spec: Spec, ops: &[Op]) -> String {
        let json = serde_json::to_string(ops).expect("operations serialize as JSON");
        let mut cmd = format!("{HUBSPEC} replay --profile {}", spec.profile);
        if spec.groups_fanout != GroupsFanout::PerGroup {
            cmd.push_str(&format!(" --groups-fanout {}", spec.groups_fanout));
        }
        cmd.push_str(&format!(" --ops {}", shell_quote(&json)));
        cmd + &self.flags(ops)
    }

    /// The command line that runs the scenarios or probe of `rule` against this target again.
    pub fn run_command(&self, rule: &str) -> String {
        let spec = self.config.spec();
        let mut cmd = format!(
            "{HUBSPEC} run --only {rule} --part scenarios --profile {}",
            spec.profile
        );
        if spec.groups_fanout != GroupsFanout::PerGroup {
            cmd.push_str(&format!(" --groups-fanout {}", spec.groups_fanout));
        }
        cmd + &self.flags(&[])
    }

    /// A one-line description for reports.
    pub fn describe(&self) -> String {
        match (&self.embedded, self.faults.is_empty()) {
            (Some(_), true) => format!("embedded refhub ({})", self.config.describe()),
            (Some(_), false) => format!(
                "embedded refhub with faults {} ({})",
                self.faults
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(","),
                self.config.describe()
            ),
            (None, _) => self.config.describe(),
        }
    }

    /// The client options for node `node`: the configured ones ([`ClientOptions::for_target`]:
    /// trusted roots, record cap, timeouts, negotiation), never a hand-built subset.
    pub fn node_options(&self, node: usize) -> ClientOptions {
        ClientOptions::for_target(&self.config, node)
    }

    /// Check that every node answers a handshake and `GetConnectionId`.
    pub async fn probe(&self) -> Result<(), SuiteError> {
        for (node, url) in self.config.urls.iter().enumerate() {
            let mut opts = self.node_options(node);
            opts.label = "probe".into();
            let mut client = Client::connect(opts)
                .await
                .map_err(|e| SuiteError::Unreachable {
                    detail: format!("{url}: {e}"),
                    rule: e.rule(),
                })?;
            let id = client.connection_id().await;
            client.shutdown().await;
            id.map_err(|e| SuiteError::Unreachable {
                detail: format!("{url}: GetConnectionId: {e}"),
                rule: e.rule(),
            })?;
        }
        Ok(())
    }

    /// Stop the embedded hub (a configured target is left alone).
    ///
    /// Panics when something else still holds the hub (a restarter taken from this target
    /// outlives it): a bug of ours, and a hub that would otherwise keep serving unseen.
    pub async fn shutdown(self) {
        drop(self.restarter);
        let Some(hub) = self.embedded else { return };
        match Arc::try_unwrap(hub) {
            Ok(hub) => hub.shutdown().await,
            Err(hub) => panic!(
                "the embedded hub at {} is still shared when its target shuts down: a restarter \
                 taken from the target outlives it. holders={}",
                hub.url(),
                Arc::strong_count(&hub)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded hub's replay command starts a fresh one with the same faults (this one
    /// ends with the run): no URL, every fault, and the operations as quoted JSON.
    #[tokio::test]
    async fn an_embedded_replay_command_names_the_faults_not_the_url() {
        let t = Target::embedded(
            Profile::Core,
            BTreeSet::from([Fault::DoubleAddDeliversTwice]),
        )
        .await
        .unwrap();
        let ops = vec![Op::Connect {
            user: Some("it's".into()),
        }];
        let cmd = t.replay_command(t.config.spec(), &ops);
        t.shutdown().await;
        assert!(
            cmd.starts_with(&format!("{HUBSPEC} replay --profile core --ops '"))
                && cmd.ends_with(" --fault double-add-delivers-twice")
                && !cmd.contains("--url"),
            "{cmd}"
        );
        let json = serde_json::to_string(&ops).unwrap();
        assert!(
            cmd.contains(&format!(" --ops {} ", shell_quote(&json))),
            "{cmd}"
        );
    }

    #[test]
    fn a_probe_rerun_command_names_the_configured_target() {
        let mut config = TargetConfig::for_url("http://127.0.0.1:5000/hub").unwrap();
        config.skip_negotiation = true;
        let t = Target::from_config(config);
        let cmd = t.run_command("PRO-PING");
        assert!(
            cmd.contains(" run --only PRO-PING --part scenarios --profile core")
                && cmd.ends_with(" --url 'http://127.0.0.1:5000/hub' --skip-negotiation"),
            "{cmd}"
        );
    }
}
