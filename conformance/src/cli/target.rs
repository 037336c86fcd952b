//! The target flags shared by `run` and `replay`: where the hub is, what it declares, and
//! every timeout; and how they combine with `HUBSPEC_URL` / `HUBSPEC_CONFIG`.
//!
//! Precedence: `--url` / `--config` win over the environment; with neither flag nor variable
//! the target is the embedded reference hub. `--url` alone keeps what `HUBSPEC_CONFIG` and the
//! other `HUBSPEC_*` variables declare (capabilities, skip_negotiation, timeouts…) and only
//! replaces the URLs, so a replay command pasted in the shell that ran the suite reaches the
//! same target with the same declarations. `--profile`, `--capability`, `--groups-fanout`,
//! `--skip-negotiation`, `--restart-command`, `--protocol` and the timeout flags override
//! whatever the file or the environment said.

use super::{fail, Exit};
use clap::Args;
use hubspec_conformance::Target;
use hubspec_harness::TargetConfig;
use hubspec_model::{Capability, GroupsFanout, Profile};
use hubspec_refhub::Fault;
use hubspec_wire::HubProtocol;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where the hub is and what it declares.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The hub's URL (http, https, ws or wss); repeat for the nodes of one clustered hub.
    /// Overrides HUBSPEC_URL and the config file's url. Without --url, --config and the
    /// variables, the embedded reference hub is started on 127.0.0.1.
    #[arg(long, value_name = "URL")]
    pub url: Vec<String>,
    /// A target configuration file (TOML, see docs/src/testing-your-server.md). Overrides
    /// HUBSPEC_CONFIG.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Reconnect profile: core or core-stateful (core-stateful implies the capability
    /// stateful-reconnect). Embedded hub: run under this profile only (default: both).
    #[arg(long, value_name = "P")]
    pub profile: Option<Profile>,
    /// A capability the target declares (rooms, restart, stateful-reconnect); repeatable.
    #[arg(long = "capability", value_name = "CAP")]
    pub capabilities: Vec<Capability>,
    /// How SendToGroups fans out on the target: per-group or once. Embedded hub: the variant
    /// it serves and declares.
    #[arg(long, value_name = "V")]
    pub groups_fanout: Option<GroupsFanout>,
    /// Embedded hub only: the variant it serves when it is not the declared one (to see the
    /// allowed-variant verdict, or to replay a failure seen that way).
    #[arg(long, value_name = "V")]
    pub hub_groups_fanout: Option<GroupsFanout>,
    /// Connect the WebSocket directly, without negotiate (the config's skip_negotiation).
    #[arg(long)]
    pub skip_negotiation: bool,
    /// A shell command that restarts the target (the config's restart_command).
    #[arg(long, value_name = "CMD")]
    pub restart_command: Option<String>,
    /// A hub protocol the target serves (json, messagepack); repeat for both, which a
    /// session's connections then take in turn. Overrides the config's protocols (default:
    /// json; the embedded hub: both).
    #[arg(long = "protocol", value_name = "P", value_parser = parse_protocol)]
    pub protocols: Vec<HubProtocol>,
    /// Embedded hub only: inject a refhub fault (see `hubspec serve --list-faults`); repeatable.
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<Fault>,
    #[command(flatten)]
    pub timeouts: TimeoutArgs,
}

/// Every wait is bounded; these set the bounds (milliseconds).
#[derive(Debug, Args)]
pub struct TimeoutArgs {
    /// Set the connect, invocation and barrier timeouts at once.
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// Negotiate, WebSocket connect and handshake, each (default 5000).
    #[arg(long, value_name = "MS")]
    pub connect_timeout_ms: Option<u64>,
    /// One invocation's Completion (default 5000).
    #[arg(long, value_name = "MS")]
    pub invocation_timeout_ms: Option<u64>,
    /// One barrier: the deliveries of one operation on every connection (default 5000).
    #[arg(long, value_name = "MS")]
    pub barrier_timeout_ms: Option<u64>,
    /// The target's own disconnect timeout; Expire steps wait this long (default 15000).
    #[arg(long, value_name = "MS")]
    pub disconnect_timeout_ms: Option<u64>,
    /// Interval of the client's keep-alive Pings (default 5000).
    #[arg(long, value_name = "MS")]
    pub ping_interval_ms: Option<u64>,
    /// Before the run, wait up to this long for the target to accept a connection (for a
    /// hub that is still starting). 0: one attempt; unreachable then exits 3 at once.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub ready_timeout_ms: u64,
}

impl TimeoutArgs {
    /// Applies the flags that were given to `config`.
    pub fn apply(&self, config: &mut TargetConfig) {
        let ms = Duration::from_millis;
        let t = &mut config.timeouts;
        if let Some(v) = self.timeout_ms {
            t.connect = ms(v);
            t.invocation = ms(v);
            t.barrier = ms(v);
        }
        for (flag, slot) in [
            (self.connect_timeout_ms, &mut t.connect),
            (self.invocation_timeout_ms, &mut t.invocation),
            (self.barrier_timeout_ms, &mut t.barrier),
            (self.disconnect_timeout_ms, &mut t.disconnect_timeout),
            (self.ping_interval_ms, &mut t.ping_interval),
        ] {
            if let Some(v) = flag {
                *slot = ms(v);
            }
        }
    }
}

/// A configured target (flags, file or environment), or `None` for the embedded hub.
pub fn configured(args: &TargetArgs) -> Result<Option<TargetConfig>, Exit> {
    configured_with(args, |name| std::env::var(name).ok())
}

/// [`configured`] with any variable source (tests use a map).
pub fn configured_with(
    args: &TargetArgs,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<TargetConfig>, Exit> {
    let base = if let Some(path) = &args.config {
        Some(TargetConfig::from_file(path).map_err(|e| fail(Exit::Usage, e))?)
    } else {
        TargetConfig::from_vars(var).map_err(|e| fail(Exit::Usage, e))?
    };
    let mut config = match (base, args.url.as_slice()) {
        (base, [first, rest @ ..]) => {
            let mut config = TargetConfig::for_url(first).map_err(|e| fail(Exit::Usage, e))?;
            for url in rest {
                let node = TargetConfig::for_url(url).map_err(|e| fail(Exit::Usage, e))?;
                config.urls.extend(node.urls);
            }
            match base {
                // --config (or HUBSPEC_CONFIG / HUBSPEC_*) plus --url: the declarations at
                // the flags' URLs.
                Some(file) => TargetConfig {
                    urls: config.urls,
                    ..file
                },
                None => config,
            }
        }
        (Some(config), []) => config,
        (None, []) => return Ok(None),
    };
    if !args.faults.is_empty() || args.hub_groups_fanout.is_some() {
        return Err(fail(
            Exit::Usage,
            "--fault and --hub-groups-fanout configure the embedded reference hub; they cannot \
             be combined with --url, --config, HUBSPEC_URL or HUBSPEC_CONFIG",
        ));
    }
    if args.skip_negotiation {
        config.skip_negotiation = true;
    }
    if let Some(cmd) = &args.restart_command {
        config.restart_command = Some(cmd.clone());
    }
    if let Some(p) = args.profile {
        config.profile = p;
        if p == Profile::CoreStateful {
            config.capabilities.insert(Capability::StatefulReconnect);
        }
    }
    config
        .capabilities
        .extend(args.capabilities.iter().copied());
    if let Some(v) = args.groups_fanout {
        config.groups_fanout = v;
        config.groups_fanout_declared = true;
    }
    if !args.protocols.is_empty() {
        config = config.with_protocols(args.protocols.iter().copied());
    }
    args.timeouts.apply(&mut config);
    config.validate().map_err(|e| fail(Exit::Usage, e))?;
    Ok(Some(config))
}

/// The targets to run on: the configured one, or the embedded hub under each profile.
pub async fn targets(args: &TargetArgs) -> Result<Vec<Target>, Exit> {
    if let Some(config) = configured(args)? {
        let target = Target::from_config(config);
        wait_ready(&target, args.timeouts.ready_timeout_ms).await?;
        return Ok(vec![target]);
    }
    if args.profile == Some(Profile::Classic) {
        return Err(fail(
            Exit::Usage,
            "profile 'classic' is model-only (hubspec check); a hub is tested as core or core-stateful",
        ));
    }
    let profiles = match args.profile {
        Some(p) => vec![p],
        None => vec![Profile::Core, Profile::CoreStateful],
    };
    let mut targets = Vec::new();
    for profile in profiles {
        match embedded(args, profile).await {
            Ok(t) => targets.push(t),
            Err(e) => {
                for t in targets {
                    t.shutdown().await;
                }
                return Err(fail(Exit::Usage, e));
            }
        }
    }
    Ok(targets)
}

/// The embedded hub under `profile` as the flags configure it: `--fault`s injected, serving
/// `--hub-groups-fanout` (default: the declared variant), declaring `--groups-fanout` (default
/// per-group), with the timeout flags applied. A flag only a configured target can honour
/// (`--skip-negotiation`, `--restart-command`) is a usage error.
pub async fn embedded(args: &TargetArgs, profile: Profile) -> Result<Target, String> {
    if args.skip_negotiation || args.restart_command.is_some() {
        return Err(
            "--skip-negotiation and --restart-command describe a configured target; add --url \
             or --config"
                .into(),
        );
    }
    let faults: BTreeSet<Fault> = args.faults.iter().copied().collect();
    let declared = args.groups_fanout.unwrap_or(GroupsFanout::PerGroup);
    let served = args.hub_groups_fanout.unwrap_or(declared);
    let mut t = Target::embedded_with(profile, faults, served)
        .await
        .map_err(|e| e.to_string())?;
    t.config.groups_fanout = declared;
    // Without --groups-fanout the hub's variant is detected, as a configured target's is.
    t.config.groups_fanout_declared = args.groups_fanout.is_some();
    if !args.protocols.is_empty() {
        t.config = t
            .config
            .clone()
            .with_protocols(args.protocols.iter().copied());
    }
    args.timeouts.apply(&mut t.config);
    Ok(t)
}

/// `--protocol`'s value: a hub protocol's name, as the handshake spells it.
fn parse_protocol(name: &str) -> Result<HubProtocol, String> {
    HubProtocol::from_name(name)
        .ok_or_else(|| format!("'{name}' is not a hub protocol; use json or messagepack"))
}

/// Probes `target` until it answers or `ready_ms` has passed; unreachable exits 3.
pub async fn wait_ready(target: &Target, ready_ms: u64) -> Result<(), Exit> {
    let deadline = Instant::now() + Duration::from_millis(ready_ms);
    loop {
        match target.probe().await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(fail(Exit::Unreachable, e)),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        target: TargetArgs,
    }

    fn args(argv: &[&str]) -> TargetArgs {
        Cli::parse_from(std::iter::once("hubspec").chain(argv.iter().copied())).target
    }

    #[test]
    fn a_url_flag_keeps_what_the_environment_declares() {
        let dir = std::env::temp_dir().join(format!("hubspec-cli-target-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hub.toml");
        std::fs::write(
            &file,
            "url = \"http://127.0.0.1:1/old\"\nskip_negotiation = true\ncapabilities = [\"rooms\"]\n",
        )
        .unwrap();
        let path = file.display().to_string();
        let vars = |name: &str| (name == "HUBSPEC_CONFIG").then(|| path.clone());
        let config = configured_with(&args(&["--url", "http://127.0.0.1:2/hub"]), vars)
            .unwrap()
            .expect("a configured target");
        assert_eq!(config.describe(), "http://127.0.0.1:2/hub");
        assert!(config.skip_negotiation, "HUBSPEC_CONFIG's skip_negotiation");
        assert!(
            config.has(Capability::Rooms),
            "HUBSPEC_CONFIG's capabilities"
        );
        // And the flags a replay command carries reach the same target without the file.
        let config = configured_with(
            &args(&[
                "--url",
                "http://127.0.0.1:2/hub",
                "--skip-negotiation",
                "--capability",
                "rooms",
                "--restart-command",
                "true",
            ]),
            |_| None,
        )
        .unwrap()
        .expect("a configured target");
        assert!(config.skip_negotiation && config.has(Capability::Rooms));
        assert_eq!(config.restart_command.as_deref(), Some("true"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn protocol_flags_override_the_declared_protocols_and_reach_the_replay_flags() {
        let config = configured_with(
            &args(&[
                "--url",
                "http://127.0.0.1:2/hub",
                "--protocol",
                "messagepack",
                "--protocol",
                "json",
            ]),
            |name| (name == "HUBSPEC_PROTOCOLS").then(|| "json".to_owned()),
        )
        .unwrap()
        .expect("a configured target");
        assert_eq!(
            config.protocols,
            vec![HubProtocol::MessagePack, HubProtocol::Json]
        );
        let flags = hubspec_harness::target_flags(&config, &[]);
        assert!(
            flags.ends_with(" --protocol messagepack --protocol json"),
            "{flags}"
        );
        let json_only = configured_with(&args(&["--url", "http://127.0.0.1:2/hub"]), |_| None)
            .unwrap()
            .unwrap();
        assert!(!hubspec_harness::target_flags(&json_only, &[]).contains("--protocol"));
        assert!(Cli::try_parse_from(["hubspec", "--protocol", "xml"]).is_err());
    }
}
