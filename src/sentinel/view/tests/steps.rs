//! Each step of the rule on its own, as a table: the answers heard (Sentinel, sent at ms,
//! answer), the moment asked, and what the step finds.

use super::super::rule::Rule;
use super::*;

type Heards = Vec<(u16, u64, Answer)>;

/// Run one step of the rule over a view that heard `answers`.
fn step<T>(answers: &Heards, now: u64, f: impl Fn(&Rule<'_>) -> T) -> T {
    let mut v = view();
    for (s, at, a) in answers {
        hear(&mut v, *s, *at, a.clone());
    }
    let rule = Rule::new(&v, ms(now), Rules::default());
    f(&rule)
}

fn fence_of(verdict: Option<Verdict>) -> Option<Fence> {
    match verdict {
        Some(Verdict::Refuse { fence, .. }) => fence,
        _ => None,
    }
}

/// Sentinel `s` names n`m` master and reports it with `flags`.
fn reports(s: u16, m: u8, runid: &str, flags: &str) -> Answer {
    let mut a = says(s, m, runid, 4);
    a.master.instance.flags = Flags::parse(flags);
    a
}

#[test]
fn fence_failover_promotes_other() {
    // (case, answers, now, fenced)
    let cases: Vec<(&str, Heards, u64, bool)> = vec![
        (
            "a failover promotes n2",
            vec![(1, 0, failing_over(1, 1, US, 4, 2, "r2"))],
            100,
            true,
        ),
        (
            "a failover promotes us",
            vec![(1, 0, failing_over(1, 2, "r2", 4, 1, US))],
            100,
            false,
        ),
        ("no failover", vec![(1, 0, says(1, 1, US, 4))], 100, false),
        (
            "its Sentinel silent long after the failover ended",
            vec![(1, 0, failing_over(1, 1, US, 4, 2, "r2"))],
            60_000,
            false,
        ),
    ];
    for (case, answers, now, fenced) in cases {
        let got = step(&answers, now, |r| fence_of(r.failover_promotes_other()));
        let want = fenced.then_some(Fence::FailoverPromotesOther);
        assert_eq!(got, want, "{case}");
    }
}

#[test]
fn fence_newer_config_names_other() {
    // (case, answers, fenced)
    let cases: Vec<(&str, Heards, bool)> = vec![
        (
            "n2 under a newer epoch",
            vec![(1, 0, says(1, 1, US, 4)), (2, 0, says(2, 2, "r2", 5))],
            true,
        ),
        (
            "n2 under an older epoch",
            vec![(1, 0, says(1, 1, US, 4)), (2, 0, says(2, 2, "r2", 3))],
            false,
        ),
        (
            "nobody names us: no epoch of ours to compare",
            vec![(2, 0, says(2, 2, "r2", 5))],
            false,
        ),
    ];
    for (case, answers, fenced) in cases {
        let got = step(&answers, 100, |r| {
            fence_of(r.newer_config_names_other(r.newest_other_master()))
        });
        assert_eq!(
            got,
            fenced.then_some(Fence::NewerConfigNamesOther),
            "{case}"
        );
    }
}

#[test]
fn basis_promoted_until() {
    // (case, answers, now, until ms)
    let chose_us = || (1, 0, failing_over(1, 2, "r2", 5, 1, US));
    let cases: Vec<(&str, Heards, u64, Option<u64>)> = vec![
        ("chosen, within the lease", vec![chose_us()], 100, Some(500)),
        ("chosen, the lease ran out", vec![chose_us()], 500, None),
        (
            "chosen under an older epoch than another master's",
            vec![chose_us(), (2, 0, says(2, 3, "r3", 6))],
            100,
            None,
        ),
        ("not chosen", vec![(1, 0, says(1, 1, US, 4))], 100, None),
    ];
    for (case, answers, now, until) in cases {
        let got = step(&answers, now, |r| {
            r.promoted_until(r.newest_other_master())
                .map(|(t, _)| t.as_millis() as u64)
        });
        assert_eq!(got, until, "{case}");
    }
}

#[test]
fn basis_quorum_until() {
    // (case, answers, now, until ms): quorum 2 of 3, lease 500 ms
    let cases: Vec<(&str, Heards, u64, Option<u64>)> = vec![
        (
            "two confirm: until the second's lease ends",
            vec![(1, 100, says(1, 1, US, 4)), (2, 0, says(2, 1, US, 4))],
            200,
            Some(500),
        ),
        ("one confirms", vec![(1, 0, says(1, 1, US, 4))], 100, None),
        (
            "one confirms, one is behind (older epoch, no failover)",
            vec![(1, 0, says(1, 1, US, 4)), (2, 0, says(2, 2, "r2", 3))],
            100,
            Some(500),
        ),
        (
            "two are behind, none confirms",
            vec![(1, 0, says(1, 2, "r2", 3)), (2, 0, says(2, 2, "r2", 3))],
            100,
            None,
        ),
        (
            "two confirmed, both leases over",
            vec![(1, 0, says(1, 1, US, 4)), (2, 0, says(2, 1, US, 4))],
            500,
            None,
        ),
    ];
    for (case, answers, now, until) in cases {
        let got = step(&answers, now, |r| {
            r.quorum_until().map(|t| t.as_millis() as u64)
        });
        assert_eq!(got, until, "{case}");
    }
}

#[test]
fn hold_on_the_basis_that_lasts_longer() {
    // (case, quorum until, promoted until, held until, promoted decides)
    let cases = [
        ("quorum alone", Some(500), None, Some(500), false),
        ("promotion alone", None, Some(400), Some(400), true),
        (
            "promotion lasts longer",
            Some(500),
            Some(600),
            Some(600),
            true,
        ),
        (
            "a tie goes to the quorum",
            Some(600),
            Some(600),
            Some(600),
            false,
        ),
        ("neither", None, None, None, false),
    ];
    let by = sentinel(1);
    for (case, quorum, promoted, held, by_promotion) in cases {
        let got = step(&vec![], 0, |r| {
            r.hold(quorum.map(ms), promoted.map(|p| (ms(p), &by)))
        });
        match got {
            Some(Verdict::Hold { until, why }) => {
                assert_eq!(Some(until), held.map(ms), "{case}");
                assert_eq!(matches!(why, Why::Promoted { .. }), by_promotion, "{case}");
            }
            other => assert!(held.is_none() && other.is_none(), "{case}: {other:?}"),
        }
    }
}

#[test]
fn why_not_most_specific_first() {
    // (case, answers, now, reported down, quorum names other, too few: fence)
    type Case = (&'static str, Heards, u64, bool, bool, Option<Fence>);
    let cases: Vec<Case> = vec![
        (
            "s1 reports us s_down",
            vec![(1, 0, reports(1, 1, US, "master,s_down"))],
            100,
            true,
            false,
            Some(Fence::LeaseExpired),
        ),
        (
            "s1 and s2 name n2",
            vec![(1, 0, says(1, 2, "r2", 4)), (2, 0, says(2, 2, "r2", 4))],
            100,
            false,
            true,
            None,
        ),
        (
            "s1 named us, long ago",
            vec![(1, 0, says(1, 1, US, 4))],
            1000,
            false,
            false,
            Some(Fence::LeaseExpired),
        ),
        ("nothing heard", vec![], 100, false, false, None),
    ];
    for (case, answers, now, down, naming, too_few) in cases {
        let got = step(&answers, now, |r| {
            (
                fence_of(r.reported_down()),
                fence_of(r.quorum_names_other()),
                fence_of(Some(r.too_few_confirm())),
            )
        });
        let want = (
            down.then_some(Fence::ReportedDown),
            naming.then_some(Fence::QuorumNamesOther),
            too_few,
        );
        assert_eq!(got, want, "{case}");
    }
}
