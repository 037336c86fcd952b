//! Canonical transcripts: one lifecycle history under every profile, and every scenario under
//! the specs it is run under. A change to the specification shows as a reviewed diff of these
//! snapshots (`INSTA_UPDATE=always cargo test -p hubspec-model --test snapshots`, then review
//! `git diff`), and `cargo test -p hubspec-model` alone catches it.

use hubspec_model::{
    scenarios, ConnId, GroupsFanout, Op, Profile, Selector, Spec, Target, Transcript,
};

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

/// Each scenario's transcript under each ASP.NET Core profile its rule is stated for and each
/// `groups_fanout`, named `RULE-ID__name__profile__fanout`, since a transcript's first line
/// names both. The conformance suite runs the same histories against a server and compares
/// them with these transcripts.
#[test]
fn every_scenario_transcript_under_the_core_profiles() {
    for s in scenarios() {
        for profile in [Profile::Core, Profile::CoreStateful] {
            if !s.rule().applies_to(profile) {
                continue;
            }
            for fanout in GroupsFanout::ALL {
                let spec = Spec::new(profile).with_fanout(fanout);
                let transcript = Transcript::run(spec, &s.ops)
                    .unwrap_or_else(|e| panic!("{} under {spec}: {e}", s.key()));
                let name = format!("{}__{profile}__{fanout}", s.key().replace('/', "__"));
                insta::assert_snapshot!(name, transcript.to_string());
            }
        }
    }
}

/// The same under `classic`, which the embedded reference hub does not serve: each scenario
/// whose rule is stated for it, with the scenario's own `verify_rejoin`.
#[test]
fn every_scenario_transcript_under_classic() {
    for s in scenarios() {
        if !s.rule().applies_to(Profile::Classic) {
            continue;
        }
        for fanout in GroupsFanout::ALL {
            let spec = Spec::new(Profile::Classic)
                .with_fanout(fanout)
                .with_verify_rejoin(s.verify_rejoin);
            let transcript = Transcript::run(spec, &s.ops)
                .unwrap_or_else(|e| panic!("{} under {spec}: {e}", s.key()));
            let name = format!("{}__classic__{fanout}", s.key().replace('/', "__"));
            insta::assert_snapshot!(name, transcript.to_string());
        }
    }
}
