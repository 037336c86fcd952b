//! The book's per-rule pages are in step with the model: every rule has a page, every page names
//! a rule, and every generated block (statement, sources, example transcripts) equals what the
//! model produces now. The generator is `model/examples/docs.rs`; both share its logic.

#[path = "../examples/support/docs_gen.rs"]
#[allow(dead_code)]
mod docs_gen;

use std::collections::BTreeSet;
use std::path::Path;

const DOCS_SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/src");

#[test]
fn rule_pages_are_in_step_with_the_model() {
    let plan = docs_gen::plan(Path::new(DOCS_SRC));
    assert!(
        plan.is_clean(),
        "the book is out of step with the model:\n  {}\n{}",
        plan.report().join("\n  "),
        docs_gen::HOW_TO_FIX
    );
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
