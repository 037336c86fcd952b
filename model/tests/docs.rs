//! The book's per-rule pages are in step with the model: every rule has a page, every page names
//! a rule, every generated block (statement, sources, example transcripts) equals what the
//! model produces now, and every page's hand-written prose was reviewed against the example as
//! it is now (its `<!-- prose reviewed: HASH -->` line). The generator is
//! `model/examples/docs.rs`; both share its logic.

#[path = "../examples/support/docs_gen.rs"]
#[allow(dead_code)]
mod docs_gen;

use hubspec_model::Op;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const DOCS_SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/src");

/// The book's `src/`, without the `model/..` detour, so that failures name pages plainly.
fn docs_src() -> PathBuf {
    Path::new(DOCS_SRC).canonicalize().expect("docs/src exists")
}

#[test]
fn rule_pages_are_in_step_with_the_model() {
    let plan = docs_gen::plan(&docs_src());
    assert!(
        plan.is_generated_clean(),
        "the book is out of step with the model:\n  {}\n{}",
        plan.report().join("\n  "),
        docs_gen::HOW_TO_FIX
    );
}

/// The prose cites its example by step, connection and payload, which nothing else checks: a
/// changed example fails here, naming each page to re-read, until someone has.
#[test]
fn rule_pages_prose_was_reviewed_against_the_example_as_it_is_now() {
    let plan = docs_gen::plan(&docs_src());
    assert!(
        plan.unreviewed.is_empty(),
        "rule pages to re-read ({}):\n  {}\n{}",
        plan.unreviewed.len(),
        plan.review_report().join("\n  "),
        docs_gen::HOW_TO_REVIEW
    );
}

/// What the review marker is for: however a scenario changes (here, one more connection in
/// front, which renumbers every step), its page's example hash changes, so its marker no longer
/// matches and the page is listed to be re-read.
#[test]
fn a_connect_in_front_of_any_scenario_changes_its_pages_example_hash() {
    let all = hubspec_model::scenarios();
    for (i, s) in all.iter().enumerate() {
        let rule = s.rule();
        let before = docs_gen::wanted_review(rule, &all).expect("the book's examples render");
        let mut changed = all.clone();
        changed[i].ops.insert(0, Op::Connect { user: None });
        let after = docs_gen::wanted_review(rule, &changed).ok();
        assert!(before.is_some(), "{} has no example hash", s.key());
        assert_ne!(after, Some(before), "{}: the hash did not change", s.key());
    }
}

#[test]
fn the_example_hash_is_fnv1a_and_stable() {
    // The published FNV-1a 32-bit test vectors.
    assert_eq!(docs_gen::fnv1a32(""), 0x811c_9dc5);
    assert_eq!(docs_gen::fnv1a32("a"), 0xe40c_292c);
    assert_eq!(docs_gen::fnv1a32("foobar"), 0xbf9c_f968);
    assert_eq!(docs_gen::example_hash("a"), "e40c292c");
}

#[test]
fn review_markers_are_read_from_the_prose_only() {
    let page = "# X\n\n<!-- prose reviewed: 0badf00d -->\n\n<!-- generated:example:begin -->\n\
                <!-- prose reviewed: ffffffff -->\n<!-- generated:example:end -->\n";
    assert_eq!(docs_gen::reviewed_markers(page), vec!["0badf00d"]);
}

#[test]
fn there_is_one_page_per_rule() {
    let dir = Path::new(DOCS_SRC).join("rules");
    let pages: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("docs/src/rules exists")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| Some(n.strip_suffix(".md")?.to_string()))
        .filter(|n| n != "README")
        .collect();
    let ids: BTreeSet<String> = hubspec_model::RULES
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    let without_page: Vec<_> = ids.difference(&pages).collect();
    let without_rule: Vec<_> = pages.difference(&ids).collect();
    assert!(
        without_page.is_empty() && without_rule.is_empty(),
        "rules without a page: {without_page:?}; pages for no rule: {without_rule:?}\n{}",
        docs_gen::HOW_TO_FIX
    );
    assert_eq!(pages.len(), hubspec_model::RULES.len());
}

#[test]
fn sources_render_as_links_where_they_can() {
    assert_eq!(
        docs_gen::source("https://github.com/dotnet/aspnetcore/issues/38200"),
        "[dotnet/aspnetcore#38200](https://github.com/dotnet/aspnetcore/issues/38200)"
    );
    assert_eq!(
        docs_gen::source("aspnetcore: src/A.cs @ 0123456789abcdef"),
        "[dotnet/aspnetcore `src/A.cs` @ `0123456789`](https://github.com/dotnet/aspnetcore/blob/0123456789abcdef/src/A.cs)"
    );
    assert_eq!(
        docs_gen::source("SignalR/SignalR @ 693053b89: src/P.cs (VerifyGroups)"),
        "[SignalR/SignalR `src/P.cs` @ `693053b89`](https://github.com/SignalR/SignalR/blob/693053b89/src/P.cs) (VerifyGroups)"
    );
}
