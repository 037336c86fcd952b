//! Architecture invariants, checked from `cargo metadata`: the model is pure (no async
//! runtime, no WebSocket, no JSON, no sockets among its normal dependencies, transitively),
//! and the dependency arrows only point toward the model.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn metadata() -> Value {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("metadata is JSON")
}

/// Package name -> names of its normal (non-dev, non-build) dependencies.
fn graph(meta: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let names: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let deps = n["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| {
                    d["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|k| k["kind"].is_null())
                })
                .map(|d| names[d["pkg"].as_str().unwrap()].to_string())
                .collect();
            (names[n["id"].as_str().unwrap()].to_string(), deps)
        })
        .collect()
}

fn closure(g: &BTreeMap<String, BTreeSet<String>>, root: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![root.to_string()];
    while let Some(p) = stack.pop() {
        for d in g.get(&p).into_iter().flatten() {
            if seen.insert(d.clone()) {
                stack.push(d.clone());
            }
        }
    }
    seen
}

#[test]
fn the_model_depends_on_no_runtime_socket_or_json_crate() {
    let g = graph(&metadata());
    let deps = closure(&g, "hubspec-model");
    let forbidden = [
        "tokio",
        "tungstenite",
        "tokio-tungstenite",
        "serde_json",
        "mio",
        "socket2",
        "hyper",
        "axum",
        "tiny_http",
        "stateright",
        "rand",
        "getrandom",
    ];
    let found: Vec<&str> = forbidden
        .iter()
        .copied()
        .filter(|f| deps.contains(*f))
        .collect();
    assert!(
        found.is_empty(),
        "hubspec-model must stay pure; it depends on {found:?} (all: {deps:?})"
    );
}

#[test]
fn dependency_arrows_point_toward_the_model() {
    let g = graph(&metadata());
    let ours = |p: &str| {
        closure(&g, p)
            .into_iter()
            .filter(|d| d.starts_with("hubspec-"))
            .collect::<BTreeSet<_>>()
    };
    let set = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(ours("hubspec-model"), set(&[]));
    assert_eq!(
        ours("hubspec-wire"),
        set(&[]),
        "the wire codec knows nothing of groups"
    );
    assert_eq!(ours("hubspec-check"), set(&["hubspec-model"]));
    assert_eq!(
        ours("hubspec-refhub"),
        set(&["hubspec-model", "hubspec-wire"]),
        "refhub never depends on the harness"
    );
    assert_eq!(
        ours("hubspec-harness"),
        set(&["hubspec-model", "hubspec-wire"]),
        "the harness never depends on refhub (only its tests do)"
    );
    for p in [
        "hubspec-model",
        "hubspec-wire",
        "hubspec-check",
        "hubspec-refhub",
        "hubspec-harness",
    ] {
        assert!(
            !ours(p).contains("hubspec-conformance"),
            "nothing depends on the suite"
        );
    }
}
