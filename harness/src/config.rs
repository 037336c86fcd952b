//! What a target declares, from a TOML file and `HUBSPEC_*` environment variables.
//!
//! ```toml
//! url = "http://127.0.0.1:5000/hub"          # or: urls = ["http://n1/hub", "http://n2/hub"]
//! skip_negotiation = false
//! capabilities = ["rooms", "restart", "stateful-reconnect"]
//! profile = "core-stateful"                   # core | core-stateful
//! restart_command = "systemctl restart myhub"
//! ca_file = "certs/dev-ca.pem"                # extra trusted roots (PEM) for https/wss
//! protocols = ["json", "messagepack"]         # the hub protocols it serves (default: json)
//!
//! [variants]
//! groups_fanout = "per-group"                 # per-group | once
//!
//! [timeouts]
//! connect_ms = 5000
//! invocation_ms = 5000
//! barrier_ms = 5000
//! disconnect_timeout_ms = 15000               # the target's own disconnect timeout
//! ping_interval_ms = 5000
//!
//! [limits]
//! max_record_bytes = 1048576                  # the most bytes buffered for one record
//! ```
//!
//! Environment variables override the file: `HUBSPEC_CONFIG` (the file's path), `HUBSPEC_URL`,
//! `HUBSPEC_URLS` (comma-separated), `HUBSPEC_PROFILE`, `HUBSPEC_GROUPS_FANOUT`,
//! `HUBSPEC_CAPABILITIES` (comma-separated), `HUBSPEC_SKIP_NEGOTIATION`,
//! `HUBSPEC_RESTART_COMMAND`, `HUBSPEC_CONNECT_TIMEOUT_MS`, `HUBSPEC_INVOCATION_TIMEOUT_MS`,
//! `HUBSPEC_BARRIER_TIMEOUT_MS`, `HUBSPEC_DISCONNECT_TIMEOUT_MS`, `HUBSPEC_PING_INTERVAL_MS`,
//! `HUBSPEC_MAX_RECORD_BYTES`, `HUBSPEC_CA_FILE`, `HUBSPEC_PROTOCOLS` (comma-separated).
//! Validation errors name the key or variable at fault and say how to fix it.
//!
//! One file: the target's configuration is one data type read three ways (file, flags,
//! environment) and validated once; splitting it would spread one schema over several files.

use crate::error::HarnessError;
use crate::issued::IssuedIds;
use hubspec_model::{Capability, GroupsFanout, Profile, Spec};
use hubspec_wire::HubProtocol;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// Every bound the harness waits with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Negotiate, WebSocket connect and handshake, each.
    pub connect: Duration,
    /// One invocation's Completion.
    pub invocation: Duration,
    /// One barrier: a marker's round trip on every live connection.
    pub barrier: Duration,
    /// The target's disconnect timeout: `Expire` waits this long plus a margin.
    pub disconnect_timeout: Duration,
    /// Interval between the client's keep-alive Pings.
    pub ping_interval: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            invocation: Duration::from_secs(5),
            barrier: Duration::from_secs(5),
            // ASP.NET Core's `HttpConnectionDispatcherOptions` default.
            disconnect_timeout: Duration::from_secs(15),
            ping_interval: Duration::from_secs(5),
        }
    }
}

/// A target hub: where it is, what it claims, how long to wait for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetConfig {
    /// One URL, or several nodes of one logical hub (connections are spread round-robin).
    pub urls: Vec<Url>,
    /// Connect the WebSocket directly, without negotiate.
    pub skip_negotiation: bool,
    /// The optional capabilities the target declares.
    pub capabilities: BTreeSet<Capability>,
    /// The reconnect profile the target claims (`core` or `core-stateful`).
    pub profile: Profile,
    /// How `Groups(list)` fans out on this target.
    pub groups_fanout: GroupsFanout,
    /// Whether `groups_fanout` was stated (file, environment or flag). The suite detects the
    /// variant a target serves: one it did not state is an allowed variant, one that
    /// contradicts what it stated is a finding (SND-GROUPS-FANOUT).
    pub groups_fanout_declared: bool,
    /// A shell command that restarts the target (capability `restart`).
    pub restart_command: Option<String>,
    /// Every bound.
    pub timeouts: Timeouts,
    /// The most bytes a client buffers for one record (the record reader's cap): a target that
    /// streams text without a record separator is a `PRO-WELL-FORMED` finding, not a memory
    /// leak of ours.
    pub max_record_bytes: usize,
    /// A PEM file of certificates trusted as roots for https/wss, besides the webpki roots:
    /// how a target with a self-signed or private-CA certificate is reached.
    pub ca_file: Option<PathBuf>,
    /// The connection ids this target has issued, shared by every session (and every clone of
    /// this configuration): not declared, observed. Equal for any two configurations.
    pub issued: IssuedIds,
    /// The hub protocols the target serves, without repeats, in the order declared; never
    /// empty. A session's connections take them in turn ([`protocol_for`](Self::protocol_for)).
    pub protocols: Vec<HubProtocol>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    url: Option<String>,
    urls: Option<Vec<String>>,
    skip_negotiation: Option<bool>,
    capabilities: Option<Vec<String>>,
    profile: Option<String>,
    restart_command: Option<String>,
    ca_file: Option<String>,
    protocols: Option<Vec<String>>,
    #[serde(default)]
    variants: FileVariants,
    #[serde(default)]
    timeouts: FileTimeouts,
    #[serde(default)]
    limits: FileLimits,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    max_record_bytes: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileVariants {
    groups_fanout: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileTimeouts {
    connect_ms: Option<u64>,
    invocation_ms: Option<u64>,
    barrier_ms: Option<u64>,
    disconnect_timeout_ms: Option<u64>,
    ping_interval_ms: Option<u64>,
}

/// The raw settings before validation: file values, then environment overrides.
#[derive(Default)]
struct Raw {
    urls: Vec<(String, String)>,
    skip_negotiation: Option<bool>,
    capabilities: Option<(String, Vec<String>)>,
    profile: Option<(String, String)>,
    groups_fanout: Option<(String, String)>,
    restart_command: Option<String>,
    timeouts: [(Option<u64>, &'static str); 5],
    max_record_bytes: Option<(String, usize)>,
    ca_file: Option<(String, String)>,
    protocols: Option<(String, Vec<String>)>,
}

const TIMEOUT_KEYS: [(&str, &str); 5] = [
    ("timeouts.connect_ms", "HUBSPEC_CONNECT_TIMEOUT_MS"),
    ("timeouts.invocation_ms", "HUBSPEC_INVOCATION_TIMEOUT_MS"),
    ("timeouts.barrier_ms", "HUBSPEC_BARRIER_TIMEOUT_MS"),
    (
        "timeouts.disconnect_timeout_ms",
        "HUBSPEC_DISCONNECT_TIMEOUT_MS",
    ),
    ("timeouts.ping_interval_ms", "HUBSPEC_PING_INTERVAL_MS"),
];

impl TargetConfig {
    /// A core-profile target at `url` with no optional capability and the default bounds.
    pub fn for_url(url: &str) -> Result<Self, HarnessError> {
        let raw = Raw {
            urls: vec![("url".into(), url.to_string())],
            ..Raw::default()
        };
        raw.validate()
    }

    /// The configuration in a TOML file (no environment overrides).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, HarnessError> {
        let raw = Raw::from_file(path.as_ref())?;
        raw.validate()
    }

    /// The configuration from `HUBSPEC_*` variables (and the file `HUBSPEC_CONFIG` names,
    /// which they override); `None` when neither `HUBSPEC_URL`, `HUBSPEC_URLS` nor
    /// `HUBSPEC_CONFIG` is set, so the caller can fall back to the embedded hub.
    pub fn from_env() -> Result<Option<Self>, HarnessError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with any variable source (tests use a map).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, HarnessError> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let mut raw = match var("HUBSPEC_CONFIG") {
            Some(path) => Raw::from_file(Path::new(&path))?,
            None if var("HUBSPEC_URL").is_none() && var("HUBSPEC_URLS").is_none() => {
                return Ok(None)
            }
            None => Raw::default(),
        };
        if let Some(url) = var("HUBSPEC_URL") {
            raw.urls = vec![("HUBSPEC_URL".into(), url)];
        }
        if let Some(urls) = var("HUBSPEC_URLS") {
            raw.urls = urls
                .split(',')
                .map(|u| ("HUBSPEC_URLS".to_string(), u.trim().to_string()))
                .filter(|(_, u)| !u.is_empty())
                .collect();
        }
        if let Some(v) = var("HUBSPEC_SKIP_NEGOTIATION") {
            raw.skip_negotiation = Some(parse_bool("HUBSPEC_SKIP_NEGOTIATION", &v)?);
        }
        if let Some(v) = var("HUBSPEC_CAPABILITIES") {
            let caps = v
                .split(',')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect();
            raw.capabilities = Some(("HUBSPEC_CAPABILITIES".into(), caps));
        }
        if let Some(v) = var("HUBSPEC_PROFILE") {
            raw.profile = Some(("HUBSPEC_PROFILE".into(), v));
        }
        if let Some(v) = var("HUBSPEC_GROUPS_FANOUT") {
            raw.groups_fanout = Some(("HUBSPEC_GROUPS_FANOUT".into(), v));
        }
        if let Some(v) = var("HUBSPEC_RESTART_COMMAND") {
            raw.restart_command = Some(v);
        }
        if let Some(v) = var("HUBSPEC_MAX_RECORD_BYTES") {
            let n = v.trim().parse::<usize>().map_err(|_| {
                HarnessError::config(
                    "HUBSPEC_MAX_RECORD_BYTES",
                    format!("'{v}' is not a number of bytes; set it to e.g. 1048576"),
                )
            })?;
            raw.max_record_bytes = Some(("HUBSPEC_MAX_RECORD_BYTES".into(), n));
        }
        if let Some(v) = var("HUBSPEC_CA_FILE") {
            raw.ca_file = Some(("HUBSPEC_CA_FILE".into(), v));
        }
        if let Some(v) = var("HUBSPEC_PROTOCOLS") {
            let names = v.split(',').map(|p| p.trim().to_string()).collect();
            raw.protocols = Some(("HUBSPEC_PROTOCOLS".into(), names));
        }
        for (i, (_, env)) in TIMEOUT_KEYS.iter().enumerate() {
            if let Some(v) = var(env) {
                let ms = v.trim().parse::<u64>().map_err(|_| {
                    HarnessError::config(
                        *env,
                        format!("'{v}' is not a number of milliseconds; set it to e.g. 5000"),
                    )
                })?;
                raw.timeouts[i] = (Some(ms), env);
            }
        }
        raw.validate().map(Some)
    }

    /// The spec the target claims: its profile and variants.
    pub fn spec(&self) -> Spec {
        Spec::new(self.profile).with_fanout(self.groups_fanout)
    }

    /// The protocol of a session's `n`-th connection (1-based, the model's connection id):
    /// the declared protocols in turn, so with JSON and MessagePack declared, odd connections
    /// speak JSON and even ones MessagePack, and two connections in a row (the members of
    /// most groups the scenarios and properties build) speak different protocols. The same
    /// history therefore always runs with the same protocols: a replay reproduces it.
    pub fn protocol_for(&self, n: u32) -> HubProtocol {
        let i = (n.max(1) - 1) as usize % self.protocols.len();
        self.protocols[i]
    }

    /// The same target serving these protocols.
    pub fn with_protocols(mut self, protocols: impl IntoIterator<Item = HubProtocol>) -> Self {
        self.protocols = Vec::new();
        for p in protocols {
            if !self.protocols.contains(&p) {
                self.protocols.push(p);
            }
        }
        self
    }

    /// Whether the target declares `capability`.
    pub fn has(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }

    /// The same target with these capabilities (e.g. for the embedded hub).
    pub fn with_capabilities(mut self, caps: impl IntoIterator<Item = Capability>) -> Self {
        self.capabilities = caps.into_iter().collect();
        self
    }

    /// The same target under `profile`.
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// A short description for reports and replay commands: the URL(s).
    pub fn describe(&self) -> String {
        self.urls
            .iter()
            .map(Url::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Checks the cross-field rules (also run by every constructor); the error names the field.
    pub fn validate(&self) -> Result<(), HarnessError> {
        if self.urls.is_empty() {
            return Err(HarnessError::config(
                "url",
                "no target URL; set `url = \"http://host:port/hub\"` (or HUBSPEC_URL)",
            ));
        }
        if self.protocols.is_empty() {
            return Err(HarnessError::config(
                "protocols",
                "no hub protocol; set `protocols = [\"json\"]` (or HUBSPEC_PROTOCOLS=json)",
            ));
        }
        match self.profile {
            Profile::Classic => {
                return Err(HarnessError::config(
                    "profile",
                    "'classic' (ASP.NET SignalR 2.x) cannot be tested over this protocol; use 'core' or 'core-stateful'",
                ))
            }
            Profile::CoreStateful if !self.has(Capability::StatefulReconnect) => {
                return Err(HarnessError::config(
                    "profile",
                    "'core-stateful' needs capability 'stateful-reconnect'; add it to `capabilities` or use profile 'core'",
                ))
            }
            _ => {}
        }
        if self.skip_negotiation && self.has(Capability::StatefulReconnect) {
            return Err(HarnessError::config(
                "skip_negotiation",
                "stateful reconnect needs negotiate (the connection token); set skip_negotiation = false or drop 'stateful-reconnect'",
            ));
        }
        let t = &self.timeouts;
        for (value, key) in [
            (
                t.connect,
                "timeouts.connect_ms / HUBSPEC_CONNECT_TIMEOUT_MS",
            ),
            (
                t.invocation,
                "timeouts.invocation_ms / HUBSPEC_INVOCATION_TIMEOUT_MS",
            ),
            (
                t.barrier,
                "timeouts.barrier_ms / HUBSPEC_BARRIER_TIMEOUT_MS",
            ),
            (
                t.ping_interval,
                "timeouts.ping_interval_ms / HUBSPEC_PING_INTERVAL_MS",
            ),
        ] {
            if value.is_zero() {
                return Err(HarnessError::config(
                    key,
                    "must be more than 0 ms; every wait needs a bound",
                ));
            }
        }
        Ok(())
    }
}

fn parse_bool(field: &str, v: &str) -> Result<bool, HarnessError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(HarnessError::config(
            field,
            format!("'{v}' is not a boolean; use true or false"),
        )),
    }
}

/// Hub protocol names as the handshake spells them (case-insensitive), without repeats.
pub fn parse_protocols(field: &str, names: &[String]) -> Result<Vec<HubProtocol>, HarnessError> {
    let mut protocols = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let p = HubProtocol::from_name(name).ok_or_else(|| {
            HarnessError::config(
                field,
                format!("'{name}' is not a hub protocol; use json, messagepack or both"),
            )
        })?;
        if !protocols.contains(&p) {
            protocols.push(p);
        }
    }
    if protocols.is_empty() {
        return Err(HarnessError::config(
            field,
            "names no hub protocol; use json, messagepack or both",
        ));
    }
    Ok(protocols)
}

impl Raw {
    fn from_file(path: &Path) -> Result<Raw, HarnessError> {
        let text = std::fs::read_to_string(path).map_err(|source| HarnessError::ConfigFile {
            path: path.display().to_string(),
            source,
        })?;
        let file: FileConfig = toml::from_str(&text).map_err(|e| {
            HarnessError::config(
                path.display().to_string(),
                format!("{}; see the keys in the harness config docs", e.message()),
            )
        })?;
        let mut raw = Raw::default();
        match (file.url, file.urls) {
            (Some(_), Some(_)) => {
                return Err(HarnessError::config(
                    "url",
                    "both `url` and `urls` are set; keep one (`urls` for several nodes)",
                ))
            }
            (Some(u), None) => raw.urls = vec![("url".into(), u)],
            (None, Some(us)) => raw.urls = us.into_iter().map(|u| ("urls".into(), u)).collect(),
            (None, None) => {}
        }
        raw.skip_negotiation = file.skip_negotiation;
        raw.capabilities = file.capabilities.map(|c| ("capabilities".into(), c));
        raw.profile = file.profile.map(|p| ("profile".into(), p));
        raw.groups_fanout = file
            .variants
            .groups_fanout
            .map(|v| ("variants.groups_fanout".into(), v));
        raw.restart_command = file.restart_command;
        raw.max_record_bytes = file
            .limits
            .max_record_bytes
            .map(|n| ("limits.max_record_bytes".into(), n));
        raw.ca_file = file.ca_file.map(|f| ("ca_file".into(), f));
        raw.protocols = file.protocols.map(|p| ("protocols".into(), p));
        let t = file.timeouts;
        let values = [
            t.connect_ms,
            t.invocation_ms,
            t.barrier_ms,
            t.disconnect_timeout_ms,
            t.ping_interval_ms,
        ];
        for (i, v) in values.into_iter().enumerate() {
            raw.timeouts[i] = (v, TIMEOUT_KEYS[i].0);
        }
        Ok(raw)
    }

    fn validate(self) -> Result<TargetConfig, HarnessError> {
        let mut urls = Vec::new();
        for (field, u) in &self.urls {
            let url = Url::parse(u).map_err(|e| {
                HarnessError::config(
                    field,
                    format!("'{u}' is not a URL ({e}); write e.g. http://127.0.0.1:5000/hub"),
                )
            })?;
            if !matches!(url.scheme(), "http" | "https" | "ws" | "wss") {
                return Err(HarnessError::config(
                    field,
                    format!(
                        "'{u}' has scheme '{}'; use http, https, ws or wss",
                        url.scheme()
                    ),
                ));
            }
            urls.push(url);
        }
        let mut capabilities = BTreeSet::new();
        if let Some((field, caps)) = &self.capabilities {
            for c in caps {
                capabilities.insert(
                    c.parse::<Capability>()
                        .map_err(|e| HarnessError::config(field, e))?,
                );
            }
        }
        let profile = match &self.profile {
            Some((field, p)) => p
                .parse::<Profile>()
                .map_err(|e| HarnessError::config(field, e))?,
            None => Profile::Core,
        };
        let groups_fanout = match &self.groups_fanout {
            Some((field, v)) => v
                .parse::<GroupsFanout>()
                .map_err(|e| HarnessError::config(field, e))?,
            None => GroupsFanout::PerGroup,
        };
        let d = Timeouts::default();
        let ms = |i: usize, default: Duration| {
            self.timeouts[i]
                .0
                .map(Duration::from_millis)
                .unwrap_or(default)
        };
        let timeouts = Timeouts {
            connect: ms(0, d.connect),
            invocation: ms(1, d.invocation),
            barrier: ms(2, d.barrier),
            disconnect_timeout: ms(3, d.disconnect_timeout),
            ping_interval: ms(4, d.ping_interval),
        };
        let restart_command = self.restart_command.filter(|c| !c.trim().is_empty());
        if capabilities.contains(&Capability::Restart) && restart_command.is_none() {
            return Err(HarnessError::config(
                "restart_command",
                "capability 'restart' needs a command that restarts the target; set `restart_command` (or HUBSPEC_RESTART_COMMAND) or drop 'restart'",
            ));
        }
        let max_record_bytes = match self.max_record_bytes {
            Some((field, 0)) => {
                return Err(HarnessError::config(
                    field,
                    "must be more than 0 bytes; every record needs room",
                ))
            }
            Some((_, n)) => n,
            None => crate::client::DEFAULT_MAX_RECORD_BYTES,
        };
        let ca_file = match self.ca_file {
            Some((field, path)) if !path.trim().is_empty() => {
                let path = PathBuf::from(path.trim());
                crate::client::load_ca_file(&path).map_err(|e| HarnessError::config(field, e))?;
                Some(path)
            }
            _ => None,
        };
        let protocols = match &self.protocols {
            Some((field, names)) => parse_protocols(field, names)?,
            None => vec![HubProtocol::Json],
        };
        let config = TargetConfig {
            urls,
            skip_negotiation: self.skip_negotiation.unwrap_or(false),
            capabilities,
            profile,
            groups_fanout,
            groups_fanout_declared: self.groups_fanout.is_some(),
            restart_command,
            timeouts,
            max_record_bytes,
            ca_file,
            issued: IssuedIds::default(),
            protocols,
        };
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn field_of(err: HarnessError) -> String {
        match err {
            HarnessError::Config { field, .. } => field,
            other => panic!("not a config error: {other}"),
        }
    }

    #[test]
    fn no_url_and_no_file_in_the_environment_means_no_target() {
        assert_eq!(TargetConfig::from_vars(vars(&[])).unwrap(), None);
    }

    #[test]
    fn a_file_is_read_and_the_environment_overrides_it() {
        let dir = std::env::temp_dir().join(format!("hubspec-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("target.toml");
        std::fs::write(
            &path,
            r#"
urls = ["http://127.0.0.1:5001/hub", "http://127.0.0.1:5002/hub"]
capabilities = ["rooms", "stateful-reconnect"]
profile = "core-stateful"
[variants]
groups_fanout = "once"
[timeouts]
barrier_ms = 700
disconnect_timeout_ms = 300
"#,
        )
        .unwrap();
        let from_file = TargetConfig::from_file(&path).unwrap();
        assert_eq!(from_file.urls.len(), 2);
        assert_eq!(from_file.profile, Profile::CoreStateful);
        assert_eq!(from_file.groups_fanout, GroupsFanout::Once);
        assert!(from_file.has(Capability::Rooms));
        assert_eq!(from_file.timeouts.barrier, Duration::from_millis(700));
        assert_eq!(
            from_file.timeouts.disconnect_timeout,
            Duration::from_millis(300)
        );
        assert_eq!(from_file.timeouts.invocation, Duration::from_secs(5));

        let path_str = path.display().to_string();
        let env = TargetConfig::from_vars(vars(&[
            ("HUBSPEC_CONFIG", &path_str),
            ("HUBSPEC_URL", "ws://127.0.0.1:6000/hub"),
            ("HUBSPEC_GROUPS_FANOUT", "per-group"),
            ("HUBSPEC_BARRIER_TIMEOUT_MS", "900"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(env.describe(), "ws://127.0.0.1:6000/hub");
        assert_eq!(env.groups_fanout, GroupsFanout::PerGroup);
        assert_eq!(env.timeouts.barrier, Duration::from_millis(900));
        assert_eq!(env.profile, Profile::CoreStateful, "kept from the file");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn urls_from_the_environment_are_split_on_commas() {
        let c =
            TargetConfig::from_vars(vars(&[("HUBSPEC_URLS", "http://a:1/hub, http://b:2/hub")]))
                .unwrap()
                .unwrap();
        assert_eq!(c.urls.len(), 2);
        assert_eq!(c.spec(), Spec::new(Profile::Core));
    }

    #[test]
    fn errors_name_the_field_and_the_fix() {
        let err = TargetConfig::from_vars(vars(&[("HUBSPEC_URL", "ftp://x/hub")])).unwrap_err();
        assert!(
            err.to_string().contains("use http, https, ws or wss"),
            "{err}"
        );
        assert_eq!(field_of(err), "HUBSPEC_URL");

        let err = TargetConfig::from_vars(vars(&[
            ("HUBSPEC_URL", "http://x/hub"),
            ("HUBSPEC_PROFILE", "core-stateful"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("stateful-reconnect"), "{err}");
        assert_eq!(field_of(err), "profile");

        let err = TargetConfig::from_vars(vars(&[
            ("HUBSPEC_URL", "http://x/hub"),
            ("HUBSPEC_PROFILE", "classic"),
        ]))
        .unwrap_err();
        assert_eq!(field_of(err), "profile");

        let err = TargetConfig::from_vars(vars(&[
            ("HUBSPEC_URL", "http://x/hub"),
            ("HUBSPEC_CAPABILITIES", "rooms,teleport"),
        ]))
        .unwrap_err();
        assert!(
            err.to_string().contains("unknown capability 'teleport'"),
            "{err}"
        );
        assert_eq!(field_of(err), "HUBSPEC_CAPABILITIES");

        let err = TargetConfig::from_vars(vars(&[
            ("HUBSPEC_URL", "http://x/hub"),
            ("HUBSPEC_CAPABILITIES", "restart"),
        ]))
        .unwrap_err();
        assert_eq!(field_of(err), "restart_command");

        let err = TargetConfig::from_vars(vars(&[
            ("HUBSPEC_URL", "http://x/hub"),
            ("HUBSPEC_CAPABILITIES", "stateful-reconnect"),
            ("HUBSPEC_SKIP_NEGOTIATION", "true"),
        ]))
        .unwrap_err();
        assert_eq!(field_of(err), "skip_negotiation");

        let err = TargetConfig::from_vars(vars(&[
            ("HUBSPEC_URL", "http://x/hub"),
            ("HUBSPEC_INVOCATION_TIMEOUT_MS", "soon"),
        ]))
        .unwrap_err();
        assert_eq!(field_of(err), "HUBSPEC_INVOCATION_TIMEOUT_MS");

        let err = TargetConfig::from_vars(vars(&[
            ("HUBSPEC_URL", "http://x/hub"),
            ("HUBSPEC_BARRIER_TIMEOUT_MS", "0"),
        ]))
        .unwrap_err();
        assert!(field_of(err).contains("HUBSPEC_BARRIER_TIMEOUT_MS"));
    }

    #[test]
    fn the_record_cap_and_the_ca_file_are_read_and_validated() {
        let dir = std::env::temp_dir().join(format!("hubspec-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("limits.toml");
        std::fs::write(
            &path,
            "url = \"http://x/hub\"\n[limits]\nmax_record_bytes = 4096\n",
        )
        .unwrap();
        assert_eq!(
            TargetConfig::from_file(&path).unwrap().max_record_bytes,
            4096
        );
        let c = TargetConfig::for_url("http://x/hub").unwrap();
        assert_eq!(c.max_record_bytes, crate::client::DEFAULT_MAX_RECORD_BYTES);
        assert_eq!(c.ca_file, None);
        let env = |pairs: &[(&str, &str)]| {
            let mut all = vec![("HUBSPEC_URL", "https://x/hub")];
            all.extend_from_slice(pairs);
            TargetConfig::from_vars(vars(&all))
        };
        let c = env(&[("HUBSPEC_MAX_RECORD_BYTES", "2048")])
            .unwrap()
            .unwrap();
        assert_eq!(c.max_record_bytes, 2048);
        let err = env(&[("HUBSPEC_MAX_RECORD_BYTES", "0")]).unwrap_err();
        assert_eq!(field_of(err), "HUBSPEC_MAX_RECORD_BYTES");

        let missing = dir.join("nope.pem").display().to_string();
        let err = env(&[("HUBSPEC_CA_FILE", &missing)]).unwrap_err();
        assert!(err.to_string().contains("cannot read"), "{err}");
        assert_eq!(field_of(err), "HUBSPEC_CA_FILE");
        let not_pem = dir.join("bad.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let err = env(&[("HUBSPEC_CA_FILE", &not_pem.display().to_string())]).unwrap_err();
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn protocols_are_read_from_file_and_env_and_taken_in_turn() {
        let c = TargetConfig::for_url("http://x/hub").unwrap();
        assert_eq!(c.protocols, vec![HubProtocol::Json], "JSON by default");
        let dir = std::env::temp_dir().join(format!("hubspec-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("both.toml");
        std::fs::write(
            &path,
            "url = \"http://x/hub\"\nprotocols = [\"json\", \"MessagePack\", \"json\"]\n",
        )
        .unwrap();
        let both = TargetConfig::from_file(&path).unwrap();
        assert_eq!(both.protocols, HubProtocol::ALL.to_vec());
        let turns: Vec<_> = (1..=4).map(|n| both.protocol_for(n)).collect();
        use HubProtocol::{Json, MessagePack};
        assert_eq!(turns, [Json, MessagePack, Json, MessagePack]);
        std::fs::write(&path, "url = \"http://x/hub\"\nprotocols = []\n").unwrap();
        assert_eq!(
            field_of(TargetConfig::from_file(&path).unwrap_err()),
            "protocols"
        );
        std::fs::remove_dir_all(dir).unwrap();
        let env = |v: &str| {
            TargetConfig::from_vars(vars(&[
                ("HUBSPEC_URL", "http://x/hub"),
                ("HUBSPEC_PROTOCOLS", v),
            ]))
        };
        let packed = env("messagepack").unwrap().unwrap();
        assert_eq!(packed.protocols, vec![MessagePack]);
        assert_eq!(packed.protocol_for(1), MessagePack);
        let err = env("json, xml").unwrap_err();
        assert!(
            err.to_string().contains("'xml' is not a hub protocol"),
            "{err}"
        );
        assert_eq!(field_of(err), "HUBSPEC_PROTOCOLS");
    }

    #[test]
    fn unknown_keys_in_a_file_are_refused() {
        let dir = std::env::temp_dir().join(format!("hubspec-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(&path, "url = \"http://x/hub\"\nprofil = \"core\"\n").unwrap();
        let err = TargetConfig::from_file(&path).unwrap_err();
        assert!(err.to_string().contains("profil"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
