//! Tidy: the rule IDs are one namespace across the catalog, the docs, the tests and the data.
//! A rule without a docs page or a check fails here, and so does any text that names a rule
//! ID the catalog does not have.

use hubspec_model::{scenarios, Area, RULES};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn every_rule_has_a_docs_page() {
    let missing: Vec<&str> = RULES
        .iter()
        .map(|r| r.id)
        .filter(|id| !root().join(format!("docs/src/rules/{id}.md")).is_file())
        .collect();
    assert!(
        missing.is_empty(),
        "rules without a page in docs/src/rules: {missing:?}"
    );
}

#[test]
fn every_rule_has_a_scenario_or_a_probe() {
    let all = scenarios();
    let missing: Vec<&str> = RULES
        .iter()
        .filter(|r| match r.area {
            Area::Protocol => !hubspec_conformance::probes::probed().any(|p| p == r.id),
            // Checked by the concurrent part: some finding of its checker is blamed on it.
            Area::Concurrency => !hubspec_history::Anomaly::ALL
                .iter()
                .any(|a| a.rule() == r.id),
            _ => !all.iter().any(|s| s.rule == r.id),
        })
        .map(|r| r.id)
        .collect();
    assert!(missing.is_empty(), "rules no test checks: {missing:?}");
    let stray: Vec<&str> = hubspec_conformance::probes::probed()
        .filter(|p| !RULES.iter().any(|r| r.id == *p && r.area == Area::Protocol))
        .collect();
    assert!(stray.is_empty(), "probes of no PRO- rule: {stray:?}");
}

#[test]
fn every_rule_has_an_expected_verdict_for_the_reference_hub() {
    let expected = hubspec_conformance::expected::load("refhub").unwrap();
    let ids: BTreeSet<String> = RULES.iter().map(|r| r.id.to_string()).collect();
    let keys: BTreeSet<String> = expected.keys().cloned().collect();
    assert_eq!(
        keys, ids,
        "conformance/expected/refhub.json must list exactly the catalog's rules"
    );
}

/// Every area of the model, in order. The match is exhaustive, so a new `Area` does not
/// compile until it is listed here, and its prefix is then scanned for.
fn areas() -> Vec<Area> {
    fn next(a: Area) -> Option<Area> {
        match a {
            Area::Groups => Some(Area::Connections),
            Area::Connections => Some(Area::Reconnect),
            Area::Reconnect => Some(Area::Sends),
            Area::Sends => Some(Area::Restart),
            Area::Restart => Some(Area::Rooms),
            Area::Rooms => Some(Area::Protocol),
            Area::Protocol => Some(Area::Concurrency),
            Area::Concurrency => None,
        }
    }
    std::iter::successors(Some(Area::Groups), |a| next(*a)).collect()
}

/// Every token shaped like a rule ID (an area's prefix from [`Area::prefix`], e.g. `GRP-`,
/// followed by upper-case words) in `text`.
fn rule_ids(text: &str) -> Vec<String> {
    let prefixes: Vec<&str> = areas().into_iter().map(Area::prefix).collect();
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    for (i, _) in text.char_indices() {
        if i > 0
            && (bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'-'
                || bytes[i - 1] == b'_')
        {
            continue;
        }
        let Some(p) = prefixes.iter().find(|p| text[i..].starts_with(**p)) else {
            continue;
        };
        let rest = &text[i + p.len()..];
        let len = rest
            .bytes()
            .take_while(|b| b.is_ascii_uppercase() || *b == b'-')
            .count();
        let id = format!("{p}{}", rest[..len].trim_end_matches('-'));
        let next = rest.as_bytes().get(len);
        // Identifiers like `PRO-` alone (a prefix) or followed by lower case are not IDs.
        if len > 0
            && !id.ends_with('-')
            && !next.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            out.push(id);
        }
    }
    out
}

fn files(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if p.is_dir() {
            if !["target", "node_modules", "book", ".git"].contains(&name.as_str()) {
                files(&p, exts, out);
            }
        } else if exts.iter().any(|x| name.ends_with(x)) {
            out.push(p);
        }
    }
}

#[test]
fn no_test_doc_or_data_file_names_a_rule_that_does_not_exist() {
    let ids: BTreeSet<&str> = RULES.iter().map(|r| r.id).collect();
    let mut paths = Vec::new();
    for dir in [
        "model",
        "check",
        "harness",
        "refhub",
        "conformance",
        "docs/src",
    ] {
        files(
            &root().join(dir),
            &[".rs", ".md", ".json", ".snap"],
            &mut paths,
        );
    }
    let mut unknown = BTreeSet::new();
    for p in &paths {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        // A test that needs a non-existent ID on purpose (e.g. `--only` matching nothing)
        // marks its line.
        let text: String = text
            .lines()
            .filter(|l| !l.contains("tidy: unknown rule on purpose"))
            .collect::<Vec<_>>()
            .join("\n");
        for id in rule_ids(&text) {
            // A prefix of several IDs (an `--only` filter such as `REC-CLASSIC-`) is fine.
            let prefix = format!("{id}-");
            if !ids.contains(id.as_str()) && !ids.iter().any(|i| i.starts_with(&prefix)) {
                unknown.insert(format!(
                    "{}: {id}",
                    p.strip_prefix(root()).unwrap().display()
                ));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "rule IDs that are not in the catalog:\n{}",
        unknown.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_rule_id_scanner_finds_ids_and_skips_prefixes() {
    assert_eq!(
        rule_ids("see GRP-ADD-IDEMPOTENT, and `PRO-` rules; SND-GROUP."),
        vec!["GRP-ADD-IDEMPOTENT", "SND-GROUP"]
    );
    assert_eq!(
        rule_ids("XGRP-FOO CON-NEW-NO-GROUPS-"),
        vec!["CON-NEW-NO-GROUPS"]
    );
}

/// The ID scan knows every area the catalog uses, and every ID starts with its area's prefix.
#[test]
fn every_rule_id_starts_with_a_scanned_area_prefix() {
    let areas = areas();
    for r in RULES {
        assert!(areas.contains(&r.area), "{}: area {:?}", r.id, r.area);
        assert!(r.id.starts_with(r.area.prefix()), "{}", r.id);
        assert_eq!(rule_ids(&format!("see {}.", r.id)), vec![r.id.to_string()]);
    }
}
