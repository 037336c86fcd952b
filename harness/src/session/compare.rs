//! The comparator: the model's transcript, what each step observed and what arrived late in,
//! divergences out. Pure data: no socket, no clock; the driver ([`super::Session`]) feeds it.
//!
//! A received message is attributed by the step it names ([`Decoded`]): one from the current
//! step is a delivery of it; one from an earlier step is a replay (at a resume of its
//! connection) or else *late*, unless the connection already has as many copies as the model
//! says (then it is a *duplicate*); one that names no step is *unexpected*. A barrier marker on
//! the wrong connection breaks the barrier; a second copy of one is a duplicate. At the end of a
//! step ([`Run::compare`]) its result and each recipient's messages are compared with the
//! model's: an expected message missing is *lost* (it becomes *late* if it comes later), an
//! extra copy a *duplicate*, a message the model does not deliver there *unexpected*, the same
//! messages in another order *reordered*. Rules come from [`crate::blame`].
//!
//! One file (about 600 lines of code, 320 of unit tests, one per [`DivergenceKind`]): the
//! attribution of a message and the comparison of its step share one state (what each step has
//! observed, what arrived late, which lost divergence a late copy turns late), and a late copy
//! rewrites a divergence the comparison made; apart, that state would be shared across files.

use super::wire::Decoded;
use super::{tail, FRAMES_PER_CONN};
use crate::blame;
use crate::client::RawFrame;
use crate::divergence::{Divergence, DivergenceKind};
use crate::error::ClientError;
use crate::reading::{read_error, ErrorReading, ObservedTranscript};
use hubspec_model::{
    format_op, ConnId, Delivery, ErrorKind, Mode, Op, OpResult, Outcome, Selector, Step, Transcript,
};
use std::collections::BTreeMap;

/// What one step did, as observed.
#[derive(Debug, Default)]
pub(super) struct ObservedStep {
    /// The result in model values; for an error Completion a stand-in (see `reading`).
    pub(super) result: Option<OpResult>,
    /// For an error Completion: the server's text and what it says about the kind.
    error: Option<(String, ErrorReading)>,
    deliveries: Vec<Delivery>,
}

/// A lost divergence, by its fields: `late` finds it again when the message comes after all.
#[derive(Debug)]
struct Lost {
    /// Its position in `Run::divergences`.
    at: usize,
    /// The step (0-based) whose message it is.
    index: usize,
    to: ConnId,
    /// The payloads that did not arrive by the step's barrier.
    payloads: Vec<String>,
}

/// What a run comes to: the observed transcript and every divergence, in step order, each with
/// the observed transcript up to its step.
#[derive(Debug)]
pub(super) struct Finished {
    pub(super) observed: Transcript,
    pub(super) divergences: Vec<Divergence>,
    pub(super) results_as_read: BTreeMap<usize, String>,
}

/// The state of one run.
#[derive(Debug)]
pub(super) struct Run<'a> {
    ops: &'a [Op],
    expected: &'a Transcript,
    /// One per step begun.
    observed: Vec<ObservedStep>,
    divergences: Vec<Divergence>,
    /// (origin step index, recipient, payload) of each message that arrived after its barrier.
    late_seen: Vec<(usize, ConnId, String)>,
    lost: Vec<Lost>,
}

impl<'a> Run<'a> {
    /// A run of `ops`, whose canonical transcript under the model is `expected`.
    pub(super) fn new(ops: &'a [Op], expected: &'a Transcript) -> Run<'a> {
        Run {
            ops,
            expected,
            observed: Vec::new(),
            divergences: Vec::new(),
            late_seen: Vec::new(),
            lost: Vec::new(),
        }
    }

    /// Op `index` (0-based).
    pub(super) fn op(&self, index: usize) -> &'a Op {
        &self.ops[index]
    }

    /// Starts step `index`: steps begin in order.
    pub(super) fn begin(&mut self, index: usize) {
        assert_eq!(self.observed.len(), index, "steps begin in order");
        self.observed.push(ObservedStep::default());
    }

    /// The result step `index` observed, if it has one yet.
    pub(super) fn result(&self, index: usize) -> Option<OpResult> {
        self.observed[index].result
    }

    /// The result the model expects of step `index`.
    pub(super) fn expected_result(&self, index: usize) -> OpResult {
        self.expected.steps[index].outcome.result
    }

    /// Step `index` completed with `result`.
    pub(super) fn set_result(&mut self, index: usize, result: OpResult) {
        self.observed[index].result = Some(result);
    }

    /// Step `index` completed with an error whose text is `text`. The kind is read from the
    /// text, never taken from the model; the stand-in kind only fills the model-valued
    /// transcript (see [`crate::reading`]).
    pub(super) fn set_error(&mut self, index: usize, text: String) {
        let reading = read_error(&text);
        let kind = match (reading, self.expected.steps[index].outcome.result) {
            (ErrorReading::Kind(k), _) => k,
            (ErrorReading::Unstated, OpResult::Error(k)) => k,
            // No invocation expects connection-gone, so a wrong error's stand-in never equals
            // the expected result.
            (ErrorReading::Other(_), OpResult::Error(_)) => ErrorKind::ConnectionGone,
            _ => guess_error_kind(&self.ops[index]),
        };
        self.observed[index].result = Some(OpResult::Error(kind));
        self.observed[index].error = Some((text, reading));
    }

    /// Records a divergence at step `index` (0-based).
    pub(super) fn push(
        &mut self,
        index: usize,
        kind: DivergenceKind,
        rules: Vec<&'static str>,
        expected: String,
        observed: String,
        frames: Vec<RawFrame>,
    ) {
        self.divergences.push(Divergence {
            rules,
            kind,
            step: index + 1,
            op: Some(format_op(&self.ops[index])),
            expected,
            observed,
            // Filled by `finish`, once the observed transcript is known.
            transcript: ObservedTranscript {
                transcript: Transcript {
                    spec: self.expected.spec,
                    steps: Vec::new(),
                },
                results_as_read: BTreeMap::new(),
            },
            frames,
            tolerated: false,
        });
    }

    /// Records a protocol deviation at step `index` that did not prevent observation: a
    /// finding of `rules` (see [`Divergence::tolerated`]), not a divergence of the history.
    pub(super) fn note(
        &mut self,
        index: usize,
        rules: Vec<&'static str>,
        observed: String,
        frames: Vec<RawFrame>,
    ) {
        self.push(
            index,
            DivergenceKind::Protocol,
            rules,
            "the hub protocol, followed to the letter".into(),
            observed,
            frames,
        );
        self.divergences.last_mut().expect("just pushed").tolerated = true;
    }

    /// A message of step `index` could not be read (it broke `rule`, a finding of its own): what
    /// the step misses because of it — an expected message lost, a barrier marker that never
    /// came, an order that cannot be told — says nothing about the hub's semantics, so those
    /// divergences of the step are blamed on `rule` first. The case is then judged *blocked*
    /// by `rule`, never failed on a rule of its own.
    pub(super) fn unreadable(&mut self, index: usize, rule: &'static str) {
        let step = index + 1;
        for d in self.divergences.iter_mut().filter(|d| {
            d.step == step
                && !d.tolerated
                && matches!(
                    d.kind,
                    DivergenceKind::Lost
                        | DivergenceKind::BrokenBarrier
                        | DivergenceKind::Reordered
                )
        }) {
            d.rules.retain(|r| *r != rule);
            d.rules.insert(0, rule);
        }
    }

    /// Moves the divergence just pushed (a wrong result) before the broken barriers of its
    /// step: the result came first, and a barrier that broke after a wrong result (a resume
    /// the server should have refused, on a socket that is no connection) is its consequence,
    /// so the result is the step's first divergence.
    fn before_its_barrier(&mut self) {
        let last = self.divergences.len() - 1;
        let step = self.divergences[last].step;
        let Some(at) = self.divergences[..last]
            .iter()
            .position(|d| d.step == step && d.kind == DivergenceKind::BrokenBarrier)
        else {
            return;
        };
        let d = self.divergences.remove(last);
        self.divergences.insert(at, d);
        for l in self.lost.iter_mut().filter(|l| l.at >= at) {
            l.at += 1;
        }
    }

    /// Step `index` could not complete under the protocol: `e`, with its rule.
    ///
    /// A resume the model refuses (after a restart, a close, an expiry) that the server took
    /// up instead, and then broke off, did not fail for the protocol's sake: accepting it was
    /// the mistake, so the resume's rule comes first and the protocol rule after it.
    pub(super) fn protocol(&mut self, index: usize, e: &ClientError, frames: Vec<RawFrame>) {
        let mut rules: Vec<&'static str> = Vec::new();
        let refused = matches!(
            self.expected.steps.get(index).map(|s| s.outcome.result),
            Some(OpResult::Error(_))
        );
        if refused && matches!(self.ops[index], Op::Resume { .. }) {
            rules = crate::blame::result_rules(&self.expected.spec, self.ops, index);
        }
        if let Some(rule) = e.rule().filter(|r| !rules.contains(r)) {
            rules.push(rule);
        }
        self.push(
            index,
            DivergenceKind::Protocol,
            rules,
            "the op completes under the JSON hub protocol".into(),
            e.to_string(),
            tail(frames, FRAMES_PER_CONN * 2),
        );
    }

    /// Attributes what connection `id` received during step `index` (by its barrier, or
    /// before it was closed or dropped) to the steps that sent it; `resumed` is the connection
    /// this step resumed, whose earlier messages are replays. `frames` gives `id`'s frames,
    /// the evidence of a divergence.
    pub(super) fn receive(
        &mut self,
        index: usize,
        id: ConnId,
        received: impl IntoIterator<Item = Decoded>,
        resumed: Option<ConnId>,
        frames: &dyn Fn() -> Vec<RawFrame>,
    ) {
        let step = index + 1;
        for r in received {
            match r {
                Decoded::Marker { marker, owner } => {
                    // Its own marker ends the barrier and is never seen here: any marker here
                    // is a second copy, or another connection's.
                    let (kind, rules, expected, observed) = match owner {
                        Some(owner) if owner == id => (
                            DivergenceKind::Duplicate,
                            vec!["SND-EXACTLY-ONCE", "SND-CONNECTION"],
                            format!("{id} receives its barrier marker once"),
                            format!("{id} <= {marker:?} again (a second copy of its marker)"),
                        ),
                        Some(owner) => (
                            DivergenceKind::BrokenBarrier,
                            vec!["SND-CONNECTION"],
                            format!("only {owner} receives its SendToConnection marker"),
                            format!("{id} <= {marker:?}, the marker {owner} sent to itself"),
                        ),
                        None => (
                            DivergenceKind::Unexpected,
                            vec!["SND-EXACTLY-ONCE"],
                            format!("{id} receives nothing that no op of this case sent"),
                            format!("{id} <= {marker:?} (a marker this run never sent)"),
                        ),
                    };
                    self.push(index, kind, rules, expected, observed, frames());
                }
                Decoded::Payload(origin, payload) if origin == step => {
                    self.observed[index].deliveries.push(Delivery {
                        to: id,
                        payload,
                        mode: Mode::Now,
                    });
                }
                Decoded::Payload(origin, payload) if origin < step && resumed == Some(id) => {
                    self.observed[index].deliveries.push(Delivery {
                        to: id,
                        payload: payload.clone(),
                        mode: Mode::Replayed,
                    });
                    self.observed[origin - 1].deliveries.push(Delivery {
                        to: id,
                        payload,
                        mode: Mode::Buffered,
                    });
                }
                Decoded::Payload(origin, payload) if origin < step => {
                    self.after_barrier(index, origin - 1, id, payload, frames());
                }
                Decoded::Payload(_, payload) | Decoded::Foreign(payload) => {
                    self.push(
                        index,
                        DivergenceKind::Unexpected,
                        vec!["SND-EXACTLY-ONCE"],
                        format!("{id} receives nothing that no op of this case sent"),
                        format!("{id} <= {payload:?} (sent by no op of this case)"),
                        frames(),
                    );
                }
            }
        }
    }

    /// A message of step `origin` (0-based) reached `to` during step `index`, after the
    /// barrier of its own step: a copy beyond what the model expects (counting what arrived in
    /// time, replays and earlier late arrivals) is a duplicate; otherwise it is late.
    fn after_barrier(
        &mut self,
        index: usize,
        origin: usize,
        to: ConnId,
        payload: String,
        frames: Vec<RawFrame>,
    ) {
        let spec = self.expected.spec;
        let counted = |ds: &[Delivery]| {
            ds.iter()
                .filter(|d| d.to == to && d.payload == payload && d.mode != Mode::Replayed)
                .count()
        };
        let expected = counted(&self.expected.steps[origin].outcome.deliveries);
        let seen = counted(&self.observed[origin].deliveries)
            + self
                .late_seen
                .iter()
                .filter(|(o, t, p)| *o == origin && *t == to && *p == payload)
                .count();
        if expected == 0 {
            let kind = DivergenceKind::Unexpected;
            let rules = blame::delivery_rules(&spec, self.ops, origin, kind, to, None);
            self.push(
                index,
                kind,
                rules,
                format!("step {} delivers nothing to {to}", origin + 1),
                format!(
                    "{to} <= {payload:?} from step {}, arriving during step {}",
                    origin + 1,
                    index + 1
                ),
                frames,
            );
        } else if seen < expected {
            self.late_seen.push((origin, to, payload.clone()));
            self.late(index, origin, to, payload, frames);
        } else {
            let kind = DivergenceKind::Duplicate;
            let rules = blame::delivery_rules(&spec, self.ops, origin, kind, to, None);
            self.push(
                index,
                kind,
                rules,
                format!(
                    "{to} <= {payload:?} {expected} time(s), from step {}",
                    origin + 1
                ),
                format!(
                    "{to} <= {payload:?} once more during step {}, after the barrier of step {}",
                    index + 1,
                    origin + 1
                ),
                frames,
            );
        }
    }

    /// A message of step `origin` (0-based) reached `to` only during step `index`: the lost
    /// divergence reported at its own step becomes a late one.
    fn late(
        &mut self,
        index: usize,
        origin: usize,
        to: ConnId,
        payload: String,
        frames: Vec<RawFrame>,
    ) {
        let spec = self.expected.spec;
        let kind = DivergenceKind::Late;
        let rules = blame::delivery_rules(&spec, self.ops, origin, kind, to, None);
        let text = format!(
            "{to} <= {payload:?} arrived during step {}, after the barrier of step {}",
            index + 1,
            origin + 1
        );
        let lost = self.lost.iter().find(|l| {
            l.index == origin
                && l.to == to
                && l.payloads.contains(&payload)
                && self.divergences[l.at].kind == DivergenceKind::Lost
        });
        if let Some(lost) = lost {
            let d = &mut self.divergences[lost.at];
            d.kind = kind;
            d.rules = rules;
            d.observed = format!("{}; {text}", d.observed);
            d.frames.extend(frames);
            return;
        }
        self.push(
            index,
            kind,
            rules,
            format!("{payload:?} to {to} by the barrier of step {}", origin + 1),
            text,
            frames,
        );
    }

    /// Compares step `index` with the model: result, then each recipient's messages. `frames`
    /// gives the evidence for the divergences found here (the run's connections' frames).
    pub(super) fn compare(&mut self, index: usize, frames: impl FnOnce() -> Vec<RawFrame>) {
        let before = self.divergences.len();
        self.compare_result(index);
        self.compare_deliveries(index);
        if self.divergences.len() > before {
            let frames = frames();
            for d in &mut self.divergences[before..] {
                d.frames = frames.clone();
            }
        }
    }

    fn compare_result(&mut self, index: usize) {
        let exp = self.expected.steps[index].outcome.result;
        let Some(result) = self.observed[index].result else {
            return;
        };
        let (matches, text) = match &self.observed[index].error {
            Some((t, reading)) => (
                reading.matches(exp),
                format!("{} ({t:?})", reading.describe()),
            ),
            None => (result == exp, result.to_string()),
        };
        if !matches {
            let rules = blame::result_rules(&self.expected.spec, self.ops, index);
            self.push(
                index,
                DivergenceKind::Result,
                rules,
                exp.to_string(),
                text,
                Vec::new(),
            );
            self.before_its_barrier();
        }
    }

    fn compare_deliveries(&mut self, index: usize) {
        if self.observed[index].result.is_none() {
            return;
        }
        // Buffered deliveries are compared where they become visible: at the resume.
        let visible = |ds: &[Delivery]| {
            let mut map: BTreeMap<ConnId, Vec<String>> = BTreeMap::new();
            for d in ds.iter().filter(|d| d.mode != Mode::Buffered) {
                map.entry(d.to).or_default().push(d.payload.clone());
            }
            map
        };
        let mut expected = visible(&self.expected.steps[index].outcome.deliveries);
        let mut observed = visible(&self.observed[index].deliveries);
        let mut recipients: Vec<ConnId> = expected.keys().chain(observed.keys()).copied().collect();
        recipients.sort();
        recipients.dedup();
        for to in recipients {
            let e = expected.remove(&to).unwrap_or_default();
            let o = observed.remove(&to).unwrap_or_default();
            if e != o {
                self.compare_recipient(index, to, e, o);
            }
        }
    }

    /// `to` was expected to receive `e` at step `index` and received `o` instead.
    fn compare_recipient(&mut self, index: usize, to: ConnId, e: Vec<String>, o: Vec<String>) {
        let count = |v: &[String]| {
            let mut m: BTreeMap<String, usize> = BTreeMap::new();
            for p in v {
                *m.entry(p.clone()).or_default() += 1;
            }
            m
        };
        let (ce, co) = (count(&e), count(&o));
        let missing: Vec<String> = ce
            .iter()
            .filter(|(p, n)| co.get(*p).copied().unwrap_or(0) < **n)
            .map(|(p, _)| p.clone())
            .collect();
        let mut kinds = Vec::new();
        if !missing.is_empty() {
            kinds.push(DivergenceKind::Lost);
        }
        for (p, n) in &co {
            let want = ce.get(p).copied().unwrap_or(0);
            if *n > want {
                kinds.push(if want > 0 {
                    DivergenceKind::Duplicate
                } else {
                    DivergenceKind::Unexpected
                });
            }
        }
        if kinds.is_empty() {
            kinds.push(DivergenceKind::Reordered);
        }
        let list = |v: &[String]| {
            if v.is_empty() {
                format!("{to} receives nothing")
            } else {
                let quoted: Vec<String> = v.iter().map(|p| format!("{p:?}")).collect();
                format!("{to} <= {}", quoted.join(", "))
            }
        };
        let origin = match &self.ops[index] {
            Op::Resume { .. } => self.origin_of_replay(index, &e, &o),
            _ => None,
        };
        let mut seen_kinds = Vec::new();
        for kind in kinds {
            if seen_kinds.contains(&kind) {
                continue;
            }
            seen_kinds.push(kind);
            let rules =
                blame::delivery_rules(&self.expected.spec, self.ops, index, kind, to, origin);
            if kind == DivergenceKind::Lost {
                self.lost.push(Lost {
                    at: self.divergences.len(),
                    index,
                    to,
                    payloads: missing.clone(),
                });
            }
            self.push(index, kind, rules, list(&e), list(&o), Vec::new());
        }
    }

    /// For a wrong replay: the step of the first expected replayed payload (for blame).
    fn origin_of_replay(&self, index: usize, e: &[String], o: &[String]) -> Option<usize> {
        let p = e
            .iter()
            .find(|p| !o.contains(p))
            .or(e.first())
            .or(o.first())?;
        (0..index)
            .rev()
            .find(|&j| matches!(&self.ops[j], Op::Send { payload, .. } if payload == p))
    }

    /// The observed transcript, the results as read where the wire did not say the model's
    /// value, and every divergence in step order with the observed transcript up to its step.
    pub(super) fn finish(self) -> Finished {
        let observed = self.observed_transcript();
        let results_as_read: BTreeMap<usize, String> = self
            .observed
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match &o.error {
                Some((_, r @ (ErrorReading::Unstated | ErrorReading::Other(_)))) => {
                    Some((i + 1, r.describe()))
                }
                _ => None,
            })
            .collect();
        let mut divergences = self.divergences;
        divergences.sort_by_key(|d| d.step);
        for d in &mut divergences {
            d.transcript = ObservedTranscript {
                transcript: Transcript {
                    spec: observed.spec,
                    steps: observed.steps.iter().take(d.step).cloned().collect(),
                },
                results_as_read: results_as_read
                    .range(..=d.step)
                    .map(|(k, v)| (*k, v.clone()))
                    .collect(),
            };
        }
        Finished {
            observed,
            divergences,
            results_as_read,
        }
    }

    /// The observed transcript: every step that produced a result, in canonical order.
    fn observed_transcript(&self) -> Transcript {
        let mut steps = Vec::new();
        for (index, obs) in self.observed.iter().enumerate() {
            let Some(result) = obs.result else { break };
            let mut deliveries = obs.deliveries.clone();
            // The one thing copied from the model into what was observed: a `Buffered`
            // delivery (a message kept for a suspended connection) cannot be seen when it is
            // made, only when it is replayed. If this run executes a resume at which the model
            // replays `d.to`'s buffer, the buffered lines of this step are those `receive`
            // recorded for what was in fact replayed there (and a wrong replay is a divergence
            // of that resume). Otherwise (the connection expires, the server restarts, or the
            // run ends first) nothing on the wire can confirm or refute it, so the model's
            // buffered line is copied as is, to keep the two transcripts comparable.
            for d in self.expected.steps[index].outcome.deliveries.iter() {
                if d.mode == Mode::Buffered && !self.replayed_later(index, d.to) {
                    deliveries.push(d.clone());
                }
            }
            steps.push(Step {
                op: self.ops[index].clone(),
                outcome: Outcome { result, deliveries },
            });
        }
        canonical(Transcript {
            spec: self.expected.spec,
            steps,
        })
    }

    /// Whether the model replays `to`'s buffer (as of step `index`) at a resume this run
    /// executed: then the observed buffered lines come from what was in fact replayed.
    fn replayed_later(&self, index: usize, to: ConnId) -> bool {
        for k in index + 1..self.ops.len() {
            match &self.ops[k] {
                Op::Resume { conn, .. } if *conn == to => {
                    return self.expected.steps[k].outcome.result == OpResult::Ok
                        && self.observed.get(k).is_some_and(|o| o.result.is_some());
                }
                Op::Expire { conn } if *conn == to => return false,
                Op::Restart => return false,
                _ => {}
            }
        }
        false
    }
}

/// A stand-in kind for the model-valued transcript where the server's error states none and
/// the model expects no error: the kind the op would most plausibly raise. Never compared
/// (see [`crate::reading`]); the divergence shows the error as read, with the server's text.
fn guess_error_kind(op: &Op) -> ErrorKind {
    match op {
        Op::Send {
            selector: Selector::Groups(gs),
            ..
        } if gs.iter().any(|g| g.as_deref().is_none_or(str::is_empty)) => ErrorKind::EmptyGroupName,
        Op::JoinRoom { room: Some(_), .. } | Op::LeaveRoom { room: Some(_), .. } => {
            ErrorKind::NoUser
        }
        _ => ErrorKind::NullGroupName,
    }
}

/// Sorts each step's deliveries by recipient, keeping each recipient's order: the canonical
/// form both transcripts are compared in (order across recipients carries no meaning).
pub(super) fn canonical(mut t: Transcript) -> Transcript {
    for step in &mut t.steps {
        step.outcome.deliveries.sort_by_key(|d| d.to);
    }
    t
}

/// One test per [`DivergenceKind`], each built from a model transcript and the messages the
/// connections received (as the wire carries them, decoded by [`super::wire::Names`]): no
/// socket, no clock.
#[cfg(test)]
mod tests {
    use super::super::wire::Names;
    use super::*;
    use crate::client::Received;
    use hubspec_model::{Profile, Spec, Target};
    use serde_json::json;

    const PREFIX: &str = "t#0:";

    fn c(n: u32) -> ConnId {
        ConnId(n)
    }

    fn connect() -> Op {
        Op::Connect { user: None }
    }

    fn send(caller: u32, selector: Selector, payload: &str) -> Op {
        Op::Send {
            caller: c(caller),
            selector,
            payload: payload.into(),
        }
    }

    fn add(caller: u32, group: &str) -> Op {
        Op::AddToGroup {
            caller: c(caller),
            group: Some(group.into()),
        }
    }

    fn expected(spec: Spec, ops: &[Op]) -> Transcript {
        canonical(Transcript::run(spec, ops).expect("a valid history"))
    }

    /// `Receive(payload)` as the wire carries the payload of step `step` (1-based).
    fn msg(step: usize, payload: &str) -> Received {
        Received {
            target: "Receive".into(),
            arguments: vec![json!(format!("{PREFIX}{step}|{payload}"))],
        }
    }

    fn no_frames() -> Vec<RawFrame> {
        Vec::new()
    }

    /// Plays step `index` as the driver does: its result as the model says, what each
    /// connection received (decoded with `names`), then the comparison.
    fn play(run: &mut Run<'_>, names: &Names, index: usize, received: &[(u32, Vec<Received>)]) {
        run.begin(index);
        run.set_result(index, run.expected.steps[index].outcome.result);
        receive(run, names, index, received, None);
        run.compare(index, no_frames);
    }

    fn receive(
        run: &mut Run<'_>,
        names: &Names,
        index: usize,
        received: &[(u32, Vec<Received>)],
        resumed: Option<ConnId>,
    ) {
        for (to, messages) in received {
            let decoded = messages.iter().map(|r| names.decode(r));
            run.receive(index, c(*to), decoded, resumed, &no_frames);
        }
    }

    /// Plays every step of `ops` with the messages `received` lists for it, and finishes.
    fn run_all(spec: Spec, ops: &[Op], received: &[&[(u32, Vec<Received>)]]) -> Finished {
        let expected = expected(spec, ops);
        let names = Names::new(PREFIX.into());
        let mut run = Run::new(ops, &expected);
        for index in 0..ops.len() {
            play(
                &mut run,
                &names,
                index,
                received.get(index).copied().unwrap_or(&[]),
            );
        }
        run.finish()
    }

    fn kinds(f: &Finished) -> Vec<(usize, DivergenceKind)> {
        f.divergences.iter().map(|d| (d.step, d.kind)).collect()
    }

    #[test]
    fn what_the_model_says_arriving_by_the_barrier_is_no_divergence() {
        let ops = [connect(), send(1, Selector::Caller, "m1")];
        let f = run_all(Spec::default(), &ops, &[&[], &[(1, vec![msg(2, "m1")])]]);
        assert!(f.divergences.is_empty(), "{:?}", f.divergences);
        assert_eq!(f.observed, expected(Spec::default(), &ops));
    }

    #[test]
    fn an_error_for_another_reason_than_the_models_is_a_result_divergence() {
        let ops = [
            connect(),
            Op::AddToGroup {
                caller: c(1),
                group: None,
            },
        ];
        let expected = expected(Spec::default(), &ops);
        let mut run = Run::new(&ops, &expected);
        run.begin(0);
        run.set_result(0, OpResult::Connected(c(1)));
        run.compare(0, no_frames);
        run.begin(1);
        run.set_error(1, "Cannot send to an empty group name.".into());
        run.compare(1, no_frames);
        let f = run.finish();
        assert_eq!(kinds(&f), vec![(2, DivergenceKind::Result)]);
        let d = &f.divergences[0];
        assert_eq!(d.rules, vec!["GRP-NULL-NAME"]);
        assert_eq!(d.expected, "error null-group-name");
        assert!(d.observed.starts_with("error empty-group-name"), "{d}");
        assert_eq!(d.transcript.transcript.steps.len(), 2, "{d}");
    }

    #[test]
    fn an_expected_message_that_never_comes_is_lost() {
        let ops = [connect(), send(1, Selector::Caller, "m1")];
        let f = run_all(Spec::default(), &ops, &[]);
        assert_eq!(kinds(&f), vec![(2, DivergenceKind::Lost)]);
        let d = &f.divergences[0];
        assert_eq!(d.rules, vec!["SND-CALLER"]);
        assert_eq!(d.expected, "c1 <= \"m1\"");
        assert_eq!(d.observed, "c1 receives nothing");
    }

    /// A send to the caller whose message never comes, with a record of step `unreadable_at`
    /// (0-based) dropped as unreadable: what the run comes to.
    fn lost_send_with_an_unreadable_record_at(unreadable_at: usize) -> Finished {
        let ops = [connect(), send(1, Selector::Caller, "m1")];
        let expected = expected(Spec::default(), &ops);
        let names = Names::new(PREFIX.into());
        let mut run = Run::new(&ops, &expected);
        for index in 0..ops.len() {
            play(&mut run, &names, index, &[]);
            if index == unreadable_at {
                run.note(
                    index,
                    vec!["PRO-WELL-FORMED"],
                    "c1: not JSON".into(),
                    no_frames(),
                );
                run.unreadable(index, "PRO-WELL-FORMED");
            }
        }
        run.finish()
    }

    #[test]
    fn a_loss_at_a_step_that_dropped_an_unreadable_record_is_blamed_on_its_protocol_rule() {
        let f = lost_send_with_an_unreadable_record_at(1);
        assert_eq!(
            kinds(&f),
            vec![(2, DivergenceKind::Lost), (2, DivergenceKind::Protocol)]
        );
        let (lost, note) = (&f.divergences[0], &f.divergences[1]);
        assert_eq!(lost.rules, vec!["PRO-WELL-FORMED", "SND-CALLER"]);
        assert!(!lost.tolerated);
        assert!(note.tolerated, "the deviation itself is read past");
        assert_eq!(note.rules, vec!["PRO-WELL-FORMED"]);
    }

    #[test]
    fn a_step_without_an_unreadable_record_keeps_its_blame() {
        let f = lost_send_with_an_unreadable_record_at(0);
        assert_eq!(
            kinds(&f),
            vec![(1, DivergenceKind::Protocol), (2, DivergenceKind::Lost)]
        );
        assert_eq!(f.divergences[1].rules, vec!["SND-CALLER"]);
    }

    #[test]
    fn a_lost_message_that_comes_after_its_barrier_turns_its_divergence_late() {
        let ops = [
            connect(),
            send(1, Selector::Caller, "m1"),
            send(1, Selector::Caller, "m2"),
        ];
        let f = run_all(
            Spec::default(),
            &ops,
            &[&[], &[], &[(1, vec![msg(2, "m1"), msg(3, "m2")])]],
        );
        assert_eq!(kinds(&f), vec![(2, DivergenceKind::Late)]);
        let d = &f.divergences[0];
        assert_eq!(
            d.rules,
            vec!["SND-DELIVERED-BEFORE-COMPLETION", "SND-FIFO", "SND-CALLER"]
        );
        assert_eq!(
            d.observed,
            "c1 receives nothing; c1 <= \"m1\" arrived during step 3, after the barrier of step 2"
        );
    }

    /// The lost divergence a late copy turns late is found by its step, recipient and payload:
    /// another recipient's, lost at the same step, stays lost.
    #[test]
    fn a_late_copy_turns_late_only_its_own_recipients_lost_divergence() {
        let ops = [
            connect(),
            connect(),
            send(1, Selector::All, "m1"),
            add(1, "g"),
        ];
        let f = run_all(
            Spec::default(),
            &ops,
            &[&[], &[], &[], &[(2, vec![msg(3, "m1")])]],
        );
        assert_eq!(
            kinds(&f),
            vec![(3, DivergenceKind::Lost), (3, DivergenceKind::Late)]
        );
        assert!(f.divergences[0].expected.starts_with("c1 "));
        assert!(f.divergences[1].expected.starts_with("c2 "));
    }

    #[test]
    fn a_second_copy_by_the_barrier_is_a_duplicate() {
        let ops = [connect(), send(1, Selector::Caller, "m1")];
        let f = run_all(
            Spec::default(),
            &ops,
            &[&[], &[(1, vec![msg(2, "m1"), msg(2, "m1")])]],
        );
        assert_eq!(kinds(&f), vec![(2, DivergenceKind::Duplicate)]);
        let d = &f.divergences[0];
        assert_eq!(d.rules, vec!["SND-EXACTLY-ONCE", "SND-CALLER"]);
        assert_eq!(d.observed, "c1 <= \"m1\", \"m1\"");
    }

    #[test]
    fn a_message_to_a_connection_outside_the_group_is_unexpected() {
        let ops = [
            connect(),
            connect(),
            add(1, "g"),
            send(2, Selector::Group(Some("g".into())), "m1"),
        ];
        let f = run_all(
            Spec::default(),
            &ops,
            &[
                &[],
                &[],
                &[],
                &[(1, vec![msg(4, "m1")]), (2, vec![msg(4, "m1")])],
            ],
        );
        assert_eq!(kinds(&f), vec![(4, DivergenceKind::Unexpected)]);
        let d = &f.divergences[0];
        assert_eq!(d.rules, vec!["SND-EXACTLY-ONCE", "SND-GROUP"]);
        assert_eq!(d.expected, "c2 receives nothing");
        assert_eq!(d.observed, "c2 <= \"m1\"");
    }

    #[test]
    fn a_message_no_step_sent_is_unexpected() {
        let ops = [connect()];
        let foreign = Received {
            target: "Receive".into(),
            arguments: vec![json!("someone else's")],
        };
        let f = run_all(Spec::default(), &ops, &[&[(1, vec![foreign])]]);
        assert_eq!(kinds(&f), vec![(1, DivergenceKind::Unexpected)]);
        assert!(f.divergences[0]
            .observed
            .contains("sent by no op of this case"));
    }

    /// A resume replays what was buffered for the connection, in order.
    #[test]
    fn a_replay_in_another_order_is_reordered() {
        let spec = Spec::new(Profile::CoreStateful);
        let to_c1 = || Selector::Connection(Target::Id(c(1)));
        let ops = [
            connect(),
            connect(),
            Op::Drop { conn: c(1) },
            send(2, to_c1(), "m1"),
            send(2, to_c1(), "m2"),
            Op::Resume {
                conn: c(1),
                altered_token: false,
            },
        ];
        let expected = expected(spec, &ops);
        let names = Names::new(PREFIX.into());
        let mut run = Run::new(&ops, &expected);
        for index in 0..5 {
            play(&mut run, &names, index, &[]);
        }
        run.begin(5);
        run.set_result(5, OpResult::Ok);
        let replayed = [(1, vec![msg(5, "m2"), msg(4, "m1")])];
        receive(&mut run, &names, 5, &replayed, Some(c(1)));
        run.compare(5, no_frames);
        let f = run.finish();
        assert_eq!(kinds(&f), vec![(6, DivergenceKind::Reordered)]);
        let d = &f.divergences[0];
        assert_eq!(d.rules[0], "REC-RESUME-REPLAYS");
        assert_eq!(d.expected, "c1 <= \"m1\", \"m2\"");
        assert_eq!(d.observed, "c1 <= \"m2\", \"m1\"");
    }

    #[test]
    fn a_marker_on_another_connection_breaks_the_barrier() {
        let ops = [connect(), connect()];
        let expected = expected(Spec::default(), &ops);
        let mut names = Names::new(PREFIX.into());
        let marker = names.marker(2, c(1));
        let misrouted = Received {
            target: "Receive".into(),
            arguments: vec![json!(marker)],
        };
        let mut run = Run::new(&ops, &expected);
        play(&mut run, &names, 0, &[]);
        play(&mut run, &names, 1, &[(2, vec![misrouted])]);
        let f = run.finish();
        assert_eq!(kinds(&f), vec![(2, DivergenceKind::BrokenBarrier)]);
        let d = &f.divergences[0];
        assert_eq!(d.rules, vec!["SND-CONNECTION"]);
        assert!(d.observed.contains("the marker c1 sent to itself"), "{d}");
    }

    #[test]
    fn a_step_that_cannot_complete_under_the_protocol_is_a_protocol_divergence() {
        let ops = [connect(), add(1, "g")];
        let expected = expected(Spec::default(), &ops);
        let names = Names::new(PREFIX.into());
        let mut run = Run::new(&ops, &expected);
        play(&mut run, &names, 0, &[]);
        run.begin(1);
        let e = ClientError::protocol("PRO-COMPLETION", "no Completion for AddToGroup");
        run.protocol(1, &e, no_frames());
        run.compare(1, no_frames);
        let f = run.finish();
        assert_eq!(kinds(&f), vec![(2, DivergenceKind::Protocol)]);
        assert_eq!(f.divergences[0].rules, vec!["PRO-COMPLETION"]);
        // The step has no result: the observed transcript ends before it.
        assert_eq!(f.observed.steps.len(), 1);
    }

    /// A resume the model refuses (the server restarted) that the server took up and then
    /// broke off is the resume's rule first: accepting it was the mistake.
    #[test]
    fn a_refused_resume_the_server_took_up_is_blamed_on_the_resume_rule() {
        let spec = Spec::new(Profile::CoreStateful);
        let ops = [
            connect(),
            Op::Restart,
            Op::Resume {
                conn: c(1),
                altered_token: false,
            },
        ];
        let expected = expected(spec, &ops);
        let names = Names::new(PREFIX.into());
        let mut run = Run::new(&ops, &expected);
        play(&mut run, &names, 0, &[]);
        play(&mut run, &names, 1, &[]);
        run.begin(2);
        let e = ClientError::protocol("PRO-CLOSE", "closed without a Close message");
        run.protocol(2, &e, no_frames());
        run.compare(2, no_frames);
        let f = run.finish();
        assert_eq!(kinds(&f), vec![(3, DivergenceKind::Protocol)]);
        assert_eq!(f.divergences[0].rules[0], "RST-NO-RESUME");
        assert_eq!(f.divergences[0].rules.last(), Some(&"PRO-CLOSE"));
    }

    /// The one thing copied from the model into the observed transcript: a buffered delivery
    /// that no resume of the run replays cannot be observed, and is copied as is.
    #[test]
    fn a_buffered_delivery_no_resume_replays_is_copied_from_the_model() {
        let spec = Spec::new(Profile::CoreStateful);
        let ops = [
            connect(),
            connect(),
            Op::Drop { conn: c(1) },
            send(2, Selector::Connection(Target::Id(c(1))), "m1"),
        ];
        let f = run_all(spec, &ops, &[]);
        assert!(f.divergences.is_empty(), "{:?}", f.divergences);
        let buffered = &f.observed.steps[3].outcome.deliveries;
        assert_eq!(buffered.len(), 1);
        assert_eq!(buffered[0].mode, Mode::Buffered);
        assert_eq!(f.observed, expected(spec, &ops));
    }

    /// A resume the model refuses that the server accepted, on a socket whose barrier then
    /// broke: the wrong result is the step's first divergence, the broken barrier its echo.
    #[test]
    fn a_wrong_result_comes_before_the_barrier_it_broke() {
        let spec = Spec::new(hubspec_model::Profile::Core);
        let ops = [
            connect(),
            Op::Drop { conn: c(1) },
            Op::Resume {
                conn: c(1),
                altered_token: false,
            },
        ];
        let expected = expected(spec, &ops);
        let names = Names::new(PREFIX.into());
        let mut run = Run::new(&ops, &expected);
        play(&mut run, &names, 0, &[]);
        play(&mut run, &names, 1, &[]);
        run.begin(2);
        run.set_result(2, OpResult::Ok);
        run.push(
            2,
            DivergenceKind::BrokenBarrier,
            vec!["PRO-CLOSE"],
            "c1 gets its own SendToConnection marker back".into(),
            "c1: connection closed".into(),
            Vec::new(),
        );
        run.compare(2, no_frames);
        let f = run.finish();
        assert_eq!(
            kinds(&f),
            vec![
                (3, DivergenceKind::Result),
                (3, DivergenceKind::BrokenBarrier)
            ]
        );
        assert_eq!(f.divergences[0].rules[0], "REC-CORE-DROP-ENDS");
    }
}
