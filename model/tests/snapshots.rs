//! Canonical transcripts, one history under every profile: a change to the specification shows
//! as a reviewed diff of these snapshots.

use hubspec_model::{ConnId, Op, Profile, Selector, Spec, Target, Transcript};

fn lifecycle() -> Vec<Op> {
    let (a, b, c) = (ConnId(1), ConnId(2), ConnId(3));
    let g = |s: &str| Some(s.to_string());
    let send = |caller, selector, p: &str| Op::Send {
        caller,
        selector,
        payload: p.into(),
    };
    vec![
        Op::Connect {
            user: Some("alice".into()),
        },
        Op::Connect {
            user: Some("bob".into()),
        },
        Op::JoinRoom {
            caller: a,
            room: g("lobby"),
        },
        Op::AddToGroup {
            caller: a,
            group: g("chat"),
        },
        Op::AddConnectionToGroup {
            caller: a,
            target: Target::Id(b),
            group: g("chat"),
        },
        send(b, Selector::OthersInGroup(g("chat")), "hello"),
        Op::Drop { conn: a },
        send(b, Selector::Group(g("chat")), "while-away"),
        Op::Resume {
            conn: a,
            altered_token: false,
        },
        send(b, Selector::Groups(vec![g("chat"), g("lobby")]), "both"),
        Op::Connect {
            user: Some("alice".into()),
        },
        send(c, Selector::User("alice".into()), "to-alice"),
        Op::Restart,
        Op::Connect {
            user: Some("alice".into()),
        },
        send(
            ConnId(4),
            Selector::Groups(vec![g("chat"), g("lobby")]),
            "after-restart",
        ),
    ]
}

#[test]
fn the_lifecycle_transcript_under_core() {
    insta::assert_snapshot!(Transcript::run(Spec::new(Profile::Core), &lifecycle())
        .unwrap()
        .to_string());
}

#[test]
fn the_lifecycle_transcript_under_core_stateful() {
    insta::assert_snapshot!(
        Transcript::run(Spec::new(Profile::CoreStateful), &lifecycle())
            .unwrap()
            .to_string()
    );
}

#[test]
fn the_lifecycle_transcript_under_classic() {
    insta::assert_snapshot!(Transcript::run(Spec::new(Profile::Classic), &lifecycle())
        .unwrap()
        .to_string());
}

#[test]
fn the_lifecycle_transcript_under_classic_with_rejoin_verification() {
    let spec = Spec::new(Profile::Classic).with_verify_rejoin(true);
    insta::assert_snapshot!(Transcript::run(spec, &lifecycle()).unwrap().to_string());
}
