//! The JSON Lines form: what is written is read back, and bad input names its line.

use crate::hand::*;
use hubspec_history::jsonl::{from_jsonl, to_jsonl};
use hubspec_history::{End, HistoryError};

fn sample() -> hubspec_history::History {
    let mut h = three();
    h.op(join(C2, "g"), 10, ok(20));
    h.op(to_group(C1, "g", "m"), 30, End::Info { ts: 31 });
    h.op(to_all(C3, "n"), 32, End::Pending);
    h.deliver(C2, 35, "m");
    h.close(C2, 40);
    h
}

#[test]
fn a_history_reads_back_as_it_was_written() {
    let h = sample();
    let text = to_jsonl(&h);
    assert!(text.starts_with(r#"{"t":"header","v":1,"#), "{text}");
    assert_eq!(text.lines().count(), 1 + 3 + 2 + 2);
    let back = from_jsonl(text.as_bytes()).unwrap();
    assert_eq!(back, h);
}

fn error_of(text: &str) -> HistoryError {
    from_jsonl(text.as_bytes()).unwrap_err()
}

#[test]
fn bad_input_is_a_typed_error_with_its_line() {
    let text = to_jsonl(&sample());
    let header = text.lines().next().unwrap();
    let bad_json = format!("{header}\n\n{{\"t\":\"invoke\",\"id\":1,\n");
    assert!(
        matches!(error_of(&bad_json), HistoryError::Json { line: 3, .. }),
        "{}",
        error_of(&bad_json)
    );
    let unknown_record = format!("{header}\n{{\"t\":\"teleport\",\"id\":1}}\n");
    assert!(matches!(
        error_of(&unknown_record),
        HistoryError::Json { line: 2, .. }
    ));
    let v2 = header.replace(r#""v":1"#, r#""v":2"#);
    assert!(matches!(
        error_of(&v2),
        HistoryError::Version { line: 1, found: 2 }
    ));
    let no_header = text.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert!(matches!(
        error_of(&no_header),
        HistoryError::Header { line: 1, .. }
    ));
    let orphan = format!("{header}\n{{\"t\":\"complete\",\"id\":9,\"ts\":5,\"result\":\"ok\"}}\n");
    let e = error_of(&orphan);
    assert!(
        matches!(e, HistoryError::OpRecord { line: 2, id: 9, .. }),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "line 2: operation #9 ends but was never invoked"
    );
}

#[test]
fn a_history_that_breaks_the_checkers_assumptions_is_refused() {
    let mut h = three();
    h.op(join(C1, "g"), 10, ok(20));
    h.op(join(C1, "h"), 15, ok(25));
    assert!(matches!(
        h.validate(),
        Err(HistoryError::Timing { id: 2, .. })
    ));
    let mut h = three();
    h.op(to_all(C1, "m"), 10, ok(20));
    h.op(to_all(C2, "m"), 10, ok(20));
    assert!(matches!(h.validate(), Err(HistoryError::PayloadReused(_))));
    let mut h = three();
    h.deliver(hubspec_model::ConnId(7), 1, "m");
    assert!(matches!(h.validate(), Err(HistoryError::UnknownConn(_))));
}
