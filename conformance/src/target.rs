//! The server under test: a configured one, or the embedded reference hub.

use crate::error::SuiteError;
use hubspec_harness::restart::BoxFuture;
use hubspec_harness::{
    Client, ClientOptions, CommandRestarter, HarnessError, Restarter, TargetConfig,
};
use hubspec_model::{Capability, GroupsFanout, Op, Profile, Spec};
use hubspec_refhub::{Fault, RefHub, RefHubConfig};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// The embedded hub's disconnect timeout: short, so `Expire` steps take a fraction of a second.
pub const EMBEDDED_DISCONNECT_TIMEOUT: Duration = Duration::from_millis(400);

/// A target and how to restart it.
pub struct Target {
    /// How to reach it and what it declares.
    pub config: TargetConfig,
    /// How to restart it, when it declares `restart`.
    pub restarter: Option<Arc<dyn Restarter>>,
    embedded: Option<Arc<RefHub>>,
    faults: BTreeSet<Fault>,
    /// The variant the embedded hub serves (it may differ from the one `config` declares).
    served_fanout: GroupsFanout,
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
        let hub = RefHub::start(RefHubConfig {
            listen: "127.0.0.1:0".parse().expect("a socket address"),
            profile,
            groups_fanout: served,
            faults: faults.clone(),
            disconnect_timeout: EMBEDDED_DISCONNECT_TIMEOUT,
            ..RefHubConfig::default()
        })
        .await
        .map_err(|e| SuiteError::Embedded(e.to_string()))?;
        let hub = Arc::new(hub);
        let mut config = TargetConfig::for_url(&hub.url())?
            .with_profile(profile)
            .with_capabilities(Capability::ALL.into_iter().filter(|c| {
                *c != Capability::StatefulReconnect || profile == Profile::CoreStateful
            }));
        config.groups_fanout = served;
        config.timeouts.disconnect_timeout = EMBEDDED_DISCONNECT_TIMEOUT;
        Ok(Target {
            config,
            restarter: Some(Arc::new(InProcess(hub.clone()))),
            embedded: Some(hub),
            faults,
            served_fanout: served,
        })
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
    /// serves another variant than declared, `--fault` per fault), or a configured target's
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
        flags
    }

    /// The command line that replays `ops` under `spec` against this target (for the embedded
    /// hub: against a fresh embedded hub like this one, since this one ends with the run).
    ///
    /// The `replay` subcommand takes `--profile`, `--groups-fanout` (only when not
    /// `per-group`), `--ops '<json>'` (the ops as a JSON array of `hubspec_model::Op`) and
    /// [`flags`](Self::flags). This is the one replay builder: the harness builds none.
    pub fn replay_command(&self, spec: Spec, ops: &[Op]) -> String {
        let json = serde_json::to_string(ops).unwrap_or_else(|e| format!("<unserializable: {e}>"));
        let mut cmd = format!(
            "cargo run -p hubspec-conformance --bin hubspec -- replay --profile {}",
            spec.profile
        );
        if spec.groups_fanout != GroupsFanout::PerGroup {
            cmd.push_str(&format!(" --groups-fanout {}", spec.groups_fanout));
        }
        cmd.push_str(&format!(" --ops {}", hubspec_harness::shell_quote(&json)));
        cmd + &self.flags(ops)
    }

    /// The command line that runs the scenarios or probe of `rule` against this target again.
    pub fn run_command(&self, rule: &str) -> String {
        let spec = self.config.spec();
        let mut cmd = format!(
            "cargo run -p hubspec-conformance --bin hubspec -- run --only {rule} --part scenarios --profile {}",
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
                .map_err(|e| SuiteError::Unreachable(format!("{url}: {e}")))?;
            let id = client.connection_id().await;
            client.shutdown().await;
            id.map_err(|e| SuiteError::Unreachable(format!("{url}: GetConnectionId: {e}")))?;
        }
        Ok(())
    }

    /// Stop the embedded hub (a configured target is left alone).
    pub async fn shutdown(self) {
        drop(self.restarter);
        if let Some(hub) = self.embedded.and_then(|h| Arc::try_unwrap(h).ok()) {
            hub.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
