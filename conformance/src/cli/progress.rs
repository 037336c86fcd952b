//! Live progress of a run: an indicatif bar on a terminal, plain lines otherwise.
//!
//! On a terminal (stderr) the bar shows cases done, failures so far, elapsed time and the
//! current case; failing cases and notes are printed above it. Without a terminal (CI logs,
//! tests) the bar is hidden and the same information comes as plain lines: every note, every
//! failing case, and a count at each tenth of the run, so a log stays short but shows that
//! the run is moving.

use hubspec_conformance::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The CLI's [`Progress`].
pub struct BarProgress {
    bar: ProgressBar,
    tty: bool,
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
                    "{spinner} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} {prefix} {wide_msg}",
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
}

impl Progress for BarProgress {
    fn begin(&self, total: u64) {
        self.total.fetch_add(total, Ordering::Relaxed);
        let total = self.total.load(Ordering::Relaxed);
        self.bar.set_length(total);
        if !self.tty {
            eprintln!("hubspec: {total} cases to run");
        }
    }

    fn advance(&self, case: &str, passed: bool) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if !passed {
            let failed = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
            self.bar.set_prefix(format!("({failed} failed)"));
            self.line(&format!("FAIL  {case}"));
        }
        self.bar.inc(1);
        self.bar.set_message(case.to_string());
        if !self.tty {
            let total = self.total.load(Ordering::Relaxed).max(1);
            let tenth = total.div_ceil(10).max(1);
            if done % tenth == 0 || done == total {
                eprintln!(
                    "hubspec: {done}/{total} cases, {} failed",
                    self.failed.load(Ordering::Relaxed)
                );
            }
        }
    }

    fn note(&self, message: &str) {
        self.line(&format!("note: {message}"));
    }
}
