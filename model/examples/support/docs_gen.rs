//! The per-rule pages of the book (docs/src/rules/<RULE-ID>.md), the rules index and the rules'
//! entries in SUMMARY.md, generated from the rule catalog and the scenarios.
//!
//! Shared by the generator (`model/examples/docs.rs`) and the test that keeps the book in step with
//! the model (`model/tests/docs.rs`). A page is hand-written prose plus generated blocks between
//! `<!-- generated:NAME:begin -->` and `<!-- generated:NAME:end -->`; only the blocks are ever
//! rewritten. Only std and hubspec-model are used.
//!
//! The prose cites the example by step number, connection and payload ("step 6", "`c3`",
//! "`m2`"), and nothing can check such sentences. So the example block ends with a hash of the
//! example (`<!-- example hash: 1a2b3c4d -->`), and the prose of every page with an example
//! carries `<!-- prose reviewed: 1a2b3c4d -->`, which a person sets after reading the prose
//! against that example. A changed scenario changes the hash, and the page is reported until
//! someone has re-read it: the generator cannot fix that by itself.

use hubspec_model::{
    scenarios, Area, Capability, GroupsFanout, Profile, Rule, Scenario, Spec, Transcript, RULES,
};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// The generated blocks of a rule page, in page order.
pub const BLOCKS: [&str; 3] = ["header", "sources", "example"];

/// The rules index in `rules/README.md` sits between these two lines.
pub const INDEX_BEGIN: &str = "<!-- rules-index -->";
/// See [`INDEX_BEGIN`].
pub const INDEX_END: &str = "<!-- rules-index:end -->";
/// The per-rule chapters in `SUMMARY.md` sit between these two lines.
pub const SUMMARY_BEGIN: &str = "<!-- rules-summary:begin -->";
/// See [`SUMMARY_BEGIN`].
pub const SUMMARY_END: &str = "<!-- rules-summary:end -->";

/// What to tell a developer whose check failed.
pub const HOW_TO_FIX: &str =
    "run `cargo run -p hubspec-model --example docs` and review the diff (hand-written prose of new pages still has to be written)";

/// What to tell a developer whose pages' examples changed under their prose.
pub const HOW_TO_REVIEW: &str = "the example of each page listed changed since its prose was last \
     reviewed (or the page has no review marker). Read the page's hand-written prose against the \
     example as it is now (step numbers, connections, payloads, which profile shows what), fix \
     what no longer matches, then set the page's `<!-- prose reviewed: HASH -->` line (under the \
     header block) to the hash shown, which is also the page's `<!-- example hash: HASH -->` \
     line. Run `cargo run -p hubspec-model --example docs` first if the example block itself is \
     out of date.";

/// The review marker a page's hand-written prose carries, around the hash.
pub const REVIEWED_PREFIX: &str = "<!-- prose reviewed: ";
/// The line that ends a generated example block, around the hash.
pub const HASH_PREFIX: &str = "<!-- example hash: ";
/// Closes both markers.
pub const MARKER_SUFFIX: &str = " -->";

/// 32-bit FNV-1a of `text`'s UTF-8 bytes: short, and the same on every platform and Rust
/// version (std's `DefaultHasher` promises neither).
pub fn fnv1a32(text: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The hash of an example block's text (without its hash line), as 8 hex digits.
pub fn example_hash(example: &str) -> String {
    format!("{:08x}", fnv1a32(example))
}

fn begin(name: &str) -> String {
    format!("<!-- generated:{name}:begin -->")
}

fn end(name: &str) -> String {
    format!("<!-- generated:{name}:end -->")
}

fn area_title(area: Area) -> &'static str {
    match area {
        Area::Groups => "Groups",
        Area::Connections => "Connections",
        Area::Reconnect => "Reconnect",
        Area::Sends => "Sends",
        Area::Restart => "Restart",
        Area::Rooms => "Rooms",
        Area::Protocol => "Protocol",
        Area::Concurrency => "Concurrency",
    }
}

/// The chapter that explains an area, relative to `docs/src/rules/`.
fn area_chapter(area: Area) -> (&'static str, &'static str) {
    match area {
        Area::Groups => ("Group lifecycle", "../groups/lifecycle.md"),
        Area::Connections => ("Connection lifecycle", "../connections/lifecycle.md"),
        Area::Reconnect => ("Connection lifecycle", "../connections/lifecycle.md"),
        Area::Sends => ("Send selectors", "../sends/selectors.md"),
        Area::Restart => ("Server restart", "../restart.md"),
        Area::Rooms => ("Rooms", "../rooms.md"),
        Area::Protocol => ("The conformance hub contract", "../contract.md"),
        Area::Concurrency => ("Concurrent histories", "../concurrency.md"),
    }
}

const AREAS: [Area; 8] = [
    Area::Groups,
    Area::Connections,
    Area::Reconnect,
    Area::Sends,
    Area::Restart,
    Area::Rooms,
    Area::Protocol,
    Area::Concurrency,
];

fn profile_link(p: Profile) -> String {
    format!("[`{p}`](../profiles.md#{p})")
}

fn capability_link(c: Capability) -> String {
    format!("[`{0}`](../contract.md#{0})", c.name())
}

fn variant_link(v: &str) -> String {
    match v {
        "groups_fanout" => "[`groups_fanout`](../profiles.md#variant-groups_fanout) (`per-group` or `once`)".to_string(),
        "verify_rejoin" => "`verify_rejoin` (a model option of [`classic`](../profiles.md#classic): `true` or `false`)".to_string(),
        other => format!("`{other}`"),
    }
}

/// The header block: the statement and where the rule applies.
pub fn header(rule: &Rule) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "> {}", rule.statement);
    s.push('\n');
    let profiles = if rule.profiles.is_empty() {
        let all: Vec<String> = Profile::ALL.into_iter().map(profile_link).collect();
        format!("every profile ({})", all.join(", "))
    } else {
        let ps: Vec<String> = rule.profiles.iter().copied().map(profile_link).collect();
        ps.join(", ")
    };
    let (title, chapter) = area_chapter(rule.area);
    let _ = writeln!(
        s,
        "- **Area:** `{}` {} (see [{title}]({chapter}))",
        rule.area.prefix(),
        area_title(rule.area).to_lowercase()
    );
    let _ = writeln!(s, "- **Applies to:** {profiles}");
    let needs = match rule.needs {
        Some(c) => format!("the capability {}", capability_link(c)),
        None => "no optional capability".to_string(),
    };
    let _ = writeln!(s, "- **Needs:** {needs}");
    let variant = match rule.variant {
        Some(v) => format!("depends on {}", variant_link(v)),
        None => "none: the expectation is the same under every variant".to_string(),
    };
    let _ = writeln!(s, "- **Variant:** {variant}");
    s
}

/// `(text, url)` of a GitHub issue or pull request, as `owner/repo#n` / `owner/repo PR #n`.
fn github_label(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://github.com/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [owner, repo, "issues", n] => Some(format!("{owner}/{repo}#{n}")),
        [owner, repo, "pull", n] => Some(format!("{owner}/{repo} PR #{n}")),
        _ => None,
    }
}

/// Splits `text (note)` into `text` and ` (note)`.
fn split_note(s: &str) -> (&str, &str) {
    match s.find(" (") {
        Some(i) if s.ends_with(')') => (&s[..i], &s[i..]),
        _ => (s, ""),
    }
}

fn seed_title(file: &str) -> Option<&'static str> {
    match file {
        "seeds/000_32f286d59c83148f.txt" => Some("a study note on SignalR groups and their persistence (Danish)"),
        "seeds/001_25d5612a7696b2db.txt" => Some("Microsoft Docs, \"Working with Groups in SignalR 1.x\""),
        "seeds/002_7acf7a636c5fe51e.txt" => Some("Microsoft Docs, \"Working with Groups in SignalR\" (2.x; Turkish localisation carrying the English text)"),
        _ => None,
    }
}

/// One catalog source as a Markdown list item's text.
pub fn source(src: &str) -> String {
    if src.starts_with("seeds/") {
        return match seed_title(src) {
            Some(t) => format!("`{src}`: {t}"),
            None => format!("`{src}`"),
        };
    }
    if src.starts_with("https://") {
        let (url, note) = split_note(src);
        return match github_label(url) {
            Some(label) => format!("[{label}]({url}){note}"),
            None => format!("<{url}>{note}"),
        };
    }
    // `aspnetcore: PATH[ (note)][ @ COMMIT]` and `SignalR/SignalR @ COMMIT: PATH[ (note)]`.
    let (repo, path_part, commit) = if let Some(rest) = src.strip_prefix("aspnetcore: ") {
        match rest.split_once(" @ ") {
            Some((p, c)) => ("dotnet/aspnetcore", p, Some(c)),
            None => ("dotnet/aspnetcore", rest, None),
        }
    } else if let Some((head, p)) = src.split_once(": ") {
        match head.split_once(" @ ") {
            Some((r, c)) => (r, p, Some(c)),
            None => (head, p, None),
        }
    } else {
        return src.to_string();
    };
    let (path, note) = split_note(path_part);
    match commit {
        Some(c) if !path.contains("...") => {
            let short = &c[..c.len().min(10)];
            format!(
                "[{repo} `{path}` @ `{short}`](https://github.com/{repo}/blob/{c}/{path}){note}"
            )
        }
        Some(c) => format!("{repo} `{path}` @ `{c}`{note}"),
        None => format!("{repo} `{path}`{note} (no commit pinned in the catalog)"),
    }
}

/// The sources block: the catalog's sources, strongest first.
pub fn sources(rule: &Rule) -> String {
    let mut s = String::from("From the rule catalog, strongest first:\n\n");
    for src in rule.sources {
        let _ = writeln!(s, "- {}", source(src));
    }
    s
}

fn transcript(spec: Spec, sc: &Scenario) -> Result<Transcript, String> {
    Transcript::run(spec, &sc.ops)
        .map_err(|e| format!("{} is not a valid history under {spec}: {e}", sc.key()))
}

/// The other specs a scenario is shown under: the rule's other profiles, then the other value
/// of the rule's variant.
fn other_specs(rule: &Rule, default: Spec) -> Vec<Spec> {
    let mut out = Vec::new();
    for p in Profile::ALL {
        if p != default.profile && rule.applies_to(p) {
            let spec = Spec::new(p).with_fanout(default.groups_fanout);
            let spec = if p == Profile::Classic {
                spec.with_verify_rejoin(default.verify_rejoin)
            } else {
                spec
            };
            out.push(spec);
        }
    }
    match rule.variant {
        Some("groups_fanout") => {
            for f in GroupsFanout::ALL {
                if f != default.groups_fanout {
                    out.push(default.with_fanout(f));
                }
            }
        }
        Some("verify_rejoin") => out.push(default.with_verify_rejoin(!default.verify_rejoin)),
        _ => {}
    }
    out
}

fn fenced(t: &Transcript) -> String {
    format!("```text\n{t}```\n")
}

/// The example block: every scenario of the rule, under its default spec and, where the rule
/// depends on the profile or a variant, under the others.
pub fn example(rule: &Rule, all: &[Scenario]) -> Result<String, String> {
    let mine: Vec<&Scenario> = all.iter().filter(|s| s.rule == rule.id).collect();
    if mine.is_empty() {
        return Ok(if rule.area == Area::Concurrency {
            "A concurrent rule has no one-at-a-time scenario: the suite's concurrent part records \
             histories in which connections act at once and checks them against the model. The \
             history below is a hand-written illustration in the recorder's JSON Lines form.\n"
                .to_string()
        } else if rule.area == Area::Protocol {
            "The model does not describe the wire, so this rule has no scenario. The frames below are a \
             hand-written illustration (`\\x1e` is the record separator 0x1E).\n"
                .to_string()
        } else {
            "This rule has no scenario yet.\n".to_string()
        });
    }
    let mut s = String::new();
    for (i, sc) in mine.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        let default = sc.default_spec();
        let base = transcript(default, sc)?;
        let _ = writeln!(s, "Scenario `{}`, under `{default}`:\n", sc.key());
        s.push_str(&fenced(&base));
        let mut same = Vec::new();
        let mut differ = Vec::new();
        for spec in other_specs(rule, default) {
            let t = transcript(spec, sc)?;
            if t.steps == base.steps {
                same.push(spec);
            } else {
                differ.push(t);
            }
        }
        if !same.is_empty() {
            let names: Vec<String> = same.iter().map(|sp| format!("`{sp}`")).collect();
            let _ = writeln!(
                s,
                "\nThe transcript is the same under {}.",
                join_and(&names)
            );
        }
        for t in differ {
            let _ = writeln!(s, "\nThe same operations under `{}`:\n", t.spec);
            s.push_str(&fenced(&t));
        }
        // Profiles the rule is not stated for: shown for contrast when the history is valid
        // there and its outcome differs.
        for p in Profile::ALL.into_iter().filter(|p| !rule.applies_to(*p)) {
            let spec = Spec::new(p).with_fanout(default.groups_fanout);
            if let Ok(t) = Transcript::run(spec, &sc.ops) {
                if t.steps != base.steps {
                    let _ = writeln!(
                        s,
                        "\nFor contrast, under `{spec}`, for which the rule is not stated:\n"
                    );
                    s.push_str(&fenced(&t));
                }
            }
        }
    }
    Ok(s)
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// A new page: the title, every generated block (empty), and headings for the prose.
pub fn skeleton(rule: &Rule) -> String {
    let b = |n: &str| format!("{}\n{}\n", begin(n), end(n));
    format!(
        "# {id}\n\n{header}\n## Why\n\nTODO\n\n## Sources\n\n{sources}\n## Profiles and variants\n\nTODO\n\n\
         ## Example\n\n{example}\n## Known deviations\n\nNone known.\n\n## How the suite checks it\n\nTODO\n",
        id = rule.id,
        header = b("header"),
        sources = b("sources"),
        example = b("example"),
    )
}

/// Replaces the text between the `begin` and `end` lines of `text` with `content`.
fn replace_between(text: &str, begin: &str, end: &str, content: &str) -> Result<String, String> {
    let b = text
        .find(begin)
        .ok_or_else(|| format!("no line `{begin}`"))?;
    let after_b = b + begin.len();
    let e = text[after_b..]
        .find(end)
        .map(|i| i + after_b)
        .ok_or_else(|| format!("no line `{end}` after `{begin}`"))?;
    if text[after_b..].matches(begin).count() > 0 || text[e + end.len()..].contains(end) {
        return Err(format!("`{begin}` or `{end}` appears more than once"));
    }
    Ok(format!("{}{begin}\n{content}{}", &text[..b], &text[e..]))
}

/// The text between the `begin` and `end` lines, if both are there.
fn between<'a>(text: &'a str, begin: &str, end: &str) -> Option<&'a str> {
    let b = text.find(begin)? + begin.len();
    let e = text[b..].find(end)? + b;
    Some(text[b..e].strip_prefix('\n').unwrap_or(&text[b..e]))
}

/// The page with every generated block brought up to date.
pub fn update_page(rule: &Rule, text: &str, all: &[Scenario]) -> Result<String, String> {
    let mut out = text.to_string();
    for name in BLOCKS {
        let content = block(rule, name, all)?;
        out = replace_between(&out, &begin(name), &end(name), &content)?;
    }
    Ok(out)
}

fn block(rule: &Rule, name: &str, all: &[Scenario]) -> Result<String, String> {
    let mut c = match name {
        "header" => header(rule),
        "sources" => sources(rule),
        "example" => example(rule, all)?,
        other => unreachable!("block {other}"),
    };
    if !c.ends_with('\n') {
        c.push('\n');
    }
    if name == "example" && has_example(rule, all) {
        let hash = example_hash(&c);
        let _ = writeln!(c, "\n{HASH_PREFIX}{hash}{MARKER_SUFFIX}");
    }
    Ok(c)
}

/// Whether the rule's page shows transcripts generated from scenarios (`PRO-` rules have none:
/// their pages show hand-written frames).
pub fn has_example(rule: &Rule, all: &[Scenario]) -> bool {
    all.iter().any(|s| s.rule == rule.id)
}

/// The hash the page's prose must have been reviewed against: the example block's as the model
/// produces it now. `None` for a rule without scenarios.
pub fn wanted_review(rule: &Rule, all: &[Scenario]) -> Result<Option<String>, String> {
    if !has_example(rule, all) {
        return Ok(None);
    }
    let mut c = example(rule, all)?;
    if !c.ends_with('\n') {
        c.push('\n');
    }
    Ok(Some(example_hash(&c)))
}

/// `text` without its generated blocks: the hand-written part of a page.
pub fn prose(text: &str) -> String {
    let mut out = text.to_string();
    for name in BLOCKS {
        let (b, e) = (begin(name), end(name));
        if let (Some(i), Some(j)) = (out.find(&b), out.find(&e)) {
            if i < j {
                out.replace_range(i..j + e.len(), "");
            }
        }
    }
    out
}

/// The hashes named by the page's `<!-- prose reviewed: HASH -->` lines, outside the
/// generated blocks.
pub fn reviewed_markers(text: &str) -> Vec<String> {
    let prose = prose(text);
    let mut found = Vec::new();
    let mut rest = prose.as_str();
    while let Some(i) = rest.find(REVIEWED_PREFIX) {
        rest = &rest[i + REVIEWED_PREFIX.len()..];
        let hash = rest.split(MARKER_SUFFIX).next().unwrap_or("").trim();
        found.push(hash.to_string());
    }
    found
}

/// A page whose prose was not reviewed against its example as the model produces it now.
#[derive(Debug)]
pub struct Unreviewed {
    /// The page.
    pub path: PathBuf,
    /// What its marker says, if it has exactly one.
    pub marker: Option<String>,
    /// The example's hash now.
    pub hash: String,
}

/// The rules index: one line per rule, grouped by area.
pub fn rules_index() -> String {
    let mut s = String::new();
    for area in AREAS {
        let rules: Vec<&Rule> = RULES.iter().filter(|r| r.area == area).collect();
        if rules.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n### {} (`{}`)\n", area_title(area), area.prefix());
        for r in rules {
            let _ = writeln!(s, "- [{0}]({0}.md): {1}", r.id, r.statement);
        }
    }
    s.push('\n');
    s
}

/// The rules' chapters in SUMMARY.md, nested under "The rules".
pub fn summary_entries() -> String {
    let mut s = String::new();
    for r in RULES {
        let _ = writeln!(s, "  - [{0}](rules/{0}.md)", r.id);
    }
    s
}

/// One file the generator maintains, with what it should contain.
#[derive(Debug)]
pub struct Planned {
    /// The file.
    pub path: PathBuf,
    /// Its current text, if it exists.
    pub current: Option<String>,
    /// The text it should have.
    pub wanted: String,
    /// Which parts differ, for the report (empty when up to date).
    pub stale: Vec<String>,
}

/// What the generator would do to `docs_src`, and what it cannot fix by itself.
#[derive(Debug, Default)]
pub struct Plan {
    /// Files to create or rewrite (only those that differ).
    pub changes: Vec<Planned>,
    /// Problems a developer must resolve by hand (pages for no rule, broken markers).
    pub problems: Vec<String>,
    /// Pages to re-read: their example changed since their prose was reviewed.
    pub unreviewed: Vec<Unreviewed>,
}

impl Plan {
    /// One line per file that is out of date and per problem: what `--check` prints first.
    pub fn report(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for c in &self.changes {
            let path = c.path.display();
            if c.current.is_none() {
                lines.push(format!("{path}: missing"));
            } else {
                lines.push(format!("{path}: out of date ({})", c.stale.join("; ")));
            }
        }
        lines.extend(self.problems.iter().cloned());
        lines
    }

    /// One line per page to re-read, naming it and the hash its marker must get.
    pub fn review_report(&self) -> Vec<String> {
        self.unreviewed
            .iter()
            .map(|u| {
                let was = match &u.marker {
                    Some(m) => format!("its prose was reviewed against example {m}"),
                    None => "it has no single `<!-- prose reviewed: HASH -->` line".to_string(),
                };
                format!(
                    "{}: re-read the prose: the example is now {}, {was}",
                    u.path.display(),
                    u.hash
                )
            })
            .collect()
    }

    /// Whether the generated parts are in step with the model and nothing else is broken,
    /// whether or not every page's prose has been reviewed.
    pub fn is_generated_clean(&self) -> bool {
        self.changes.is_empty() && self.problems.is_empty()
    }

    /// Whether the book is in step with the model, prose reviews included.
    pub fn is_clean(&self) -> bool {
        self.is_generated_clean() && self.unreviewed.is_empty()
    }

    /// Writes every change. Problems are left for the caller to report.
    pub fn apply(&self) -> std::io::Result<()> {
        for c in &self.changes {
            fs::write(&c.path, &c.wanted)?;
        }
        Ok(())
    }
}

fn read(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

/// Works out every file's wanted text under `docs_src` (the book's `src/`).
pub fn plan(docs_src: &Path) -> Plan {
    let all = scenarios();
    let mut plan = Plan::default();
    let rules_dir = docs_src.join("rules");

    for rule in RULES {
        let path = rules_dir.join(format!("{}.md", rule.id));
        let current = read(&path);
        let base = current.clone().unwrap_or_else(|| skeleton(rule));
        if current.as_deref().is_some_and(|c| c.contains("\nTODO\n")) {
            plan.problems.push(format!(
                "{}: hand-written prose still says TODO",
                path.display()
            ));
        }
        if let Some(first) = base.lines().next() {
            if first != format!("# {}", rule.id) {
                plan.problems.push(format!(
                    "{}: the first line must be `# {}`",
                    path.display(),
                    rule.id
                ));
            }
        }
        if let Some(cur) = &current {
            let markers = reviewed_markers(cur);
            match wanted_review(rule, &all) {
                Ok(Some(hash)) => {
                    let marker = match markers.as_slice() {
                        [one] => Some(one.clone()),
                        _ => None,
                    };
                    if marker.as_deref() != Some(hash.as_str()) {
                        plan.unreviewed.push(Unreviewed {
                            path: path.clone(),
                            marker,
                            hash,
                        });
                    }
                }
                Ok(None) if !markers.is_empty() => plan.problems.push(format!(
                    "{}: has a `<!-- prose reviewed: … -->` line but no generated example to \
                     review against (remove the line)",
                    path.display()
                )),
                Ok(None) => {}
                // Reported below, by `update_page`.
                Err(_) => {}
            }
        }
        match update_page(rule, &base, &all) {
            Ok(wanted) => {
                let mut stale = Vec::new();
                if let Some(cur) = &current {
                    for name in BLOCKS {
                        let old = between(cur, &begin(name), &end(name));
                        let new = between(&wanted, &begin(name), &end(name));
                        if old != new {
                            stale.push(format!(
                                "generated block `{name}` differs from the model's output"
                            ));
                        }
                    }
                }
                if current.as_deref() != Some(wanted.as_str()) {
                    plan.changes.push(Planned {
                        path,
                        current,
                        wanted,
                        stale,
                    });
                }
            }
            Err(e) => plan.problems.push(format!("{}: {e}", path.display())),
        }
    }

    match fs::read_dir(&rules_dir) {
        Ok(entries) => {
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with(".md") && n != "README.md")
                .collect();
            names.sort();
            for n in names {
                let id = n.trim_end_matches(".md");
                if !RULES.iter().any(|r| r.id == id) {
                    plan.problems.push(format!(
                        "{}: names no rule in the catalog (rename or delete the page)",
                        rules_dir.join(&n).display()
                    ));
                }
            }
        }
        Err(e) => plan.problems.push(format!("{}: {e}", rules_dir.display())),
    }

    let mut file = |path: PathBuf,
                    begin: &str,
                    end: &str,
                    content: String,
                    what: &str,
                    insert_after: Option<&str>| {
        let Some(current) = read(&path) else {
            plan.problems.push(format!("{}: missing", path.display()));
            return;
        };
        let mut base = current.clone();
        if !base.contains(end) {
            // First run: put the end marker in, right after the begin line (or after `insert_after`).
            let anchor = if base.contains(begin) {
                begin
            } else {
                insert_after.unwrap_or(begin)
            };
            match base.find(anchor) {
                Some(i) => {
                    let line_end = base[i..]
                        .find('\n')
                        .map(|j| i + j + 1)
                        .unwrap_or(base.len());
                    let extra = if anchor == begin {
                        format!("{end}\n")
                    } else {
                        format!("{begin}\n{end}\n")
                    };
                    base.insert_str(line_end, &extra);
                }
                None => {
                    plan.problems
                        .push(format!("{}: no line `{begin}`", path.display()));
                    return;
                }
            }
        }
        match replace_between(&base, begin, end, &content) {
            Ok(wanted) if wanted != current => plan.changes.push(Planned {
                path,
                current: Some(current),
                wanted,
                stale: vec![format!("the {what} differs from the catalog")],
            }),
            Ok(_) => {}
            Err(e) => plan.problems.push(format!("{}: {e}", path.display())),
        }
    };
    file(
        rules_dir.join("README.md"),
        INDEX_BEGIN,
        INDEX_END,
        rules_index(),
        "rules index",
        None,
    );
    file(
        docs_src.join("SUMMARY.md"),
        SUMMARY_BEGIN,
        SUMMARY_END,
        summary_entries(),
        "list of rule chapters",
        Some("- [The rules](rules/README.md)"),
    );
    plan
}
