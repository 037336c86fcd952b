//! Live progress of a run: an indicatif bar on a terminal, plain lines otherwise.
//!
//! Every part of the suite reports itself: the scenarios and probes, each target's property
//! cases, each target's exhaustive walks, the mutants. On a terminal (stderr) the bar shows the
//! current part, its units done out of its total, failures so far, elapsed time and the current
//! unit; each part's first failing unit and every note are printed above it (further failures
//! are counted, not listed). Without a terminal (CI logs, tests) the bar is hidden and the same
//! information comes as plain lines: a line when a part begins, every note, each part's first
//! failing unit, and a count (failures included) at each tenth of the part, so a log stays
//! short but shows that the run is moving.

use hubspec_conformance::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The CLI's [`Progress`].
pub struct BarProgress {
    bar: ProgressBar,
    tty: bool,
    part: Mutex<String>,
    total: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
}

impl BarProgress {
    /// A bar on stderr when it is a terminal, plain lines otherwise.
    pub fn new() -> Self {
        let tty = std::io::stderr().is_terminal();
        let bar = if tty {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {prefix} {bar:30.cyan/blue} {pos}/{len} {wide_msg}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        } else {
            ProgressBar::hidden()
        };
        BarProgress {
            bar,
            tty,
            part: Mutex::new(String::new()),
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    /// Prints a line without tearing the bar.
    pub fn line(&self, text: &str) {
        if self.tty {
            self.bar.println(text);
        } else {
            eprintln!("{text}");
        }
    }

    /// Removes the bar before the results are printed.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn prefix(&self) -> String {
        let part = self.part.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match self.failed.load(Ordering::Relaxed) {
            0 => part,
            n => format!("{part} ({n} failed)"),
        }
    }
}

impl Progress for BarProgress {
    fn part(&self, name: &str, total: u64) {
        *self.part.lock().unwrap_or_else(|p| p.into_inner()) = name.to_string();
        self.total.store(total, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        self.failed.store(0, Ordering::Relaxed);
        self.bar.set_length(total);
        self.bar.set_position(0);
        self.bar.set_prefix(self.prefix());
        self.bar.set_message(String::new());
        if !self.tty {
            eprintln!("hubspec: {name}: {total} to run");
        }
    }

    fn advance(&self, case: &str, passed: bool) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if !passed {
            // One line for a part's first failure; the rest are counted. Shrinking alone runs
            // dozens of failing property cases, and a broken selector fails hundreds of
            // exhaustive walks: listing each would bury the counterexample printed at the end.
            let failed = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
            self.bar.set_prefix(self.prefix());
            if failed == 1 {
                self.line(&format!(
                    "FAIL  {case} (further failures of this part are counted, not listed)"
                ));
            }
        }
        self.bar.inc(1);
        self.bar.set_message(case.to_string());
        if !self.tty {
            let total = self.total.load(Ordering::Relaxed).max(1);
            let tenth = total.div_ceil(10).max(1);
            if done % tenth == 0 || done == total {
                eprintln!(
                    "hubspec: {}: {done}/{total}, {} failed",
                    self.part.lock().unwrap_or_else(|p| p.into_inner()),
                    self.failed.load(Ordering::Relaxed)
                );
            }
        }
    }

    fn note(&self, message: &str) {
        self.line(&format!("note: {message}"));
    }
}
