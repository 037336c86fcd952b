//! The `hubspec` binary, run as a user runs it: exit codes, the three report files, the
//! documented `report.json` schema, one JUnit test case per rule, a failing run's finding with
//! its raw frames, the replay recipe it prints, `check`'s figures, and `report.html` rendered
//! by headless Chromium (with a screenshot).
//!
//! Every child process has a deadline and is killed when it passes it; every hub listens on
//! 127.0.0.1 with an OS-chosen port.

//! Modules, by area:
//! - `support`: the process toolkit (children with deadlines, `hubspec serve`, report readers).
//! - `run`: `hubspec run`'s exit codes, reports and failures.
//! - `replay`: replay commands, run exactly as printed.
//! - `check`: `hubspec check`.
//! - `serve`: `hubspec serve`.
//! - `html`: `report.html` in headless Chromium.

mod check;
mod html;
mod replay;
mod run;
mod serve;
mod support;
