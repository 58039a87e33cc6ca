//! The rule as stories: three Sentinels (quorum 2, down-after 1000 ms, so the default lease
//! is 500 ms), this node `n1` (run id "r1", 192.0.2.11), replicas n2 and n3.

use super::*;
use crate::sentinel::answer::{Flags, Master, Peer};

const US: &str = "r1";

pub(crate) fn sentinel(i: u16) -> SentinelAddr {
    SentinelAddr {
        host: format!("192.0.2.2{i}"),
        port: 26379,
    }
}

pub(crate) fn node(n: u8) -> Endpoint {
    Endpoint {
        ip: format!("192.0.2.1{n}"),
        port: 6379,
    }
}

fn inst(n: u8, runid: &str, flags: &str) -> Instance {
    Instance {
        endpoint: node(n),
        runid: runid.into(),
        flags: Flags::parse(flags),
        last_ping_sent_ms: 0,
        last_ok_ping_reply_ms: 100,
        info_refresh_ms: 1000,
    }
}

/// What Sentinel `s` says: master `m` (node number, run id) under `epoch`.
pub(crate) fn says(s: u16, m: u8, runid: &str, epoch: u64) -> Answer {
    Answer {
        sentinel_runid: format!("s{s}"),
        master: Master {
            instance: inst(m, runid, "master"),
            config_epoch: epoch,
            down_after_ms: 1000,
            quorum: 2,
            other_sentinels: 2,
            failover_timeout_ms: 10_000,
            failover_state: None,
        },
        replicas: vec![],
        peers: None,
        skipped_replicas: Default::default(),
        skipped_peers: Default::default(),
    }
}

/// Sentinel `s` runs a failover of n`m` and has chosen n`p` (run id `prid`).
fn failing_over(s: u16, m: u8, mrunid: &str, epoch: u64, p: u8, prid: &str) -> Answer {
    let mut a = says(s, m, mrunid, epoch);
    a.master.instance.flags = Flags::parse("s_down,o_down,master,failover_in_progress");
    a.master.failover_state = Some("wait_promotion".into());
    a.replicas = vec![inst(p, prid, "slave,promoted")];
    a
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn view() -> SentinelView {
    let mut v = SentinelView::default();
    v.set_configured(&[sentinel(1), sentinel(2), sentinel(3)]);
    v.set_me(Me {
        runid: US.into(),
        ..Me::default()
    });
    v
}

fn hear(v: &mut SentinelView, s: u16, at: u64, answer: Answer) {
    let heard = Heard {
        sent: ms(at),
        received: ms(at + 1),
        answer,
    };
    v.record(&sentinel(s), heard, 16);
}

fn holds(v: &SentinelView, at: u64) -> bool {
    matches!(v.verdict(ms(at), Rules::default()), Verdict::Hold { .. })
}

fn fence(v: &SentinelView, at: u64) -> Option<Fence> {
    match v.verdict(ms(at), Rules::default()) {
        Verdict::Hold { .. } => None,
        Verdict::Refuse { fence, .. } => fence,
    }
}

#[test]
fn a_quorum_naming_us_confirms_until_the_lease_of_the_second_runs_out() {
    let mut v = view();
    assert!(!holds(&v, 0), "nothing heard yet");
    hear(&mut v, 1, 0, says(1, 1, US, 0));
    assert!(!holds(&v, 1), "one of the two needed");
    hear(&mut v, 2, 100, says(2, 1, US, 0));
    // (ms, holds): lease 500 from each poll's send time; the second newest decides
    for (at, want) in [(101, true), (499, true), (500, false), (600, false)] {
        assert_eq!(holds(&v, at), want, "at {at} ms");
    }
    match v.verdict(ms(200), Rules::default()) {
        Verdict::Hold { until, .. } => assert_eq!(until, ms(500)),
        other => panic!("{other:?}"),
    }
    assert_eq!(fence(&v, 600), Some(Fence::LeaseExpired));
}

#[test]
fn the_lease_never_outlasts_a_pending_ping() {
    // The Sentinel's PING to us has waited 700 ms (our main thread is busy): it will call us
    // down 300 ms after this answer, so its word counts only that long.
    let mut v = view();
    for s in 1..=2 {
        let mut busy = says(s, 1, US, 0);
        busy.master.instance.last_ping_sent_ms = 700;
        hear(&mut v, s, 0, busy);
    }
    assert!(holds(&v, 299));
    assert!(!holds(&v, 300));
    // A broken link counts from the last valid reply.
    let mut v = view();
    for s in 1..=2 {
        let mut cut = says(s, 1, US, 0);
        cut.master.instance.flags = Flags::parse("master,disconnected");
        cut.master.instance.last_ok_ping_reply_ms = 900;
        hear(&mut v, s, 0, cut);
    }
    assert!(holds(&v, 99));
    assert!(!holds(&v, 100));
}

#[test]
fn lease_is_the_operators_but_never_past_down_after() {
    // (lease-ms set, down-after, effective lease)
    let cases = [
        (0, 1000, 500),
        (300, 1000, 300),
        (5000, 1000, 1000),
        (0, 30_000, 15_000),
    ];
    for (set, down_after, want) in cases {
        let rules = Rules {
            quorum: 0,
            lease_ms: set,
        };
        assert_eq!(lease_for(rules, down_after), ms(want), "{set} {down_after}");
    }
}

#[test]
fn a_stale_restart_never_matches_its_old_run_id() {
    // n1 restarted as "r1new"; the Sentinels still show the run id of the process they
    // last saw at 192.0.2.11 (or, after a failover, another master altogether).
    let mut v = view();
    v.set_me(Me {
        runid: "r1new".into(),
        ..Me::default()
    });
    for s in 1..=3 {
        hear(&mut v, s, 0, says(s, 1, US, 0));
    }
    assert!(!holds(&v, 10));
    // Once a Sentinel has sent INFO to the new process, its run id matches.
    hear(&mut v, 1, 20, says(1, 1, "r1new", 0));
    hear(&mut v, 2, 20, says(2, 1, "r1new", 0));
    assert!(holds(&v, 30));
}

#[test]
fn an_empty_run_id_counts_only_at_an_address_learned_for_ours() {
    let mut v = view();
    hear(&mut v, 1, 0, says(1, 1, "", 0));
    hear(&mut v, 2, 0, says(2, 1, "", 0));
    assert!(!holds(&v, 10), "never seen under our run id");
    hear(&mut v, 3, 20, says(3, 1, US, 0));
    assert!(holds(&v, 30), "learned 192.0.2.11:6379 from Sentinel 3");
}

#[test]
fn reported_down_or_failing_over_us_does_not_confirm() {
    for flags in [
        "s_down,master",
        "o_down,master",
        "master,failover_in_progress",
    ] {
        let mut v = view();
        for s in 1..=3 {
            let mut a = says(s, 1, US, 0);
            a.master.instance.flags = Flags::parse(flags);
            hear(&mut v, s, 0, a);
        }
        assert!(!holds(&v, 10), "{flags}");
        assert_eq!(fence(&v, 10), Some(Fence::ReportedDown), "{flags}");
    }
}

#[test]
fn a_failover_promoting_another_fences_at_once_even_with_a_quorum() {
    let mut v = view();
    for s in 1..=3 {
        hear(&mut v, s, 0, says(s, 1, US, 0));
    }
    assert!(holds(&v, 10));
    hear(&mut v, 2, 20, failing_over(2, 1, US, 0, 2, "r2"));
    assert_eq!(fence(&v, 21), Some(Fence::FailoverPromotesOther));
    // Silence of that Sentinel does not lift the fence.
    hear(&mut v, 1, 1000, says(1, 1, US, 0));
    hear(&mut v, 3, 1000, says(3, 1, US, 0));
    assert_eq!(fence(&v, 1001), Some(Fence::FailoverPromotesOther));
}

#[test]
fn the_promoted_replica_holds_from_the_leaders_choice_through_the_switch() {
    // We are n2 ("r2"). Sentinel 1 leads the failover of n1 (config epoch 0 -> 1).
    let mut v = view();
    v.set_me(Me {
        runid: "r2".into(),
        ..Me::default()
    });
    hear(&mut v, 2, 0, says(2, 1, "r1", 0));
    hear(&mut v, 3, 0, says(3, 1, "r1", 0));
    hear(&mut v, 1, 0, failing_over(1, 1, "r1", 0, 2, "r2"));
    assert!(holds(&v, 10), "chosen by the leader");
    assert!(!holds(&v, 500), "the leader's word lasts one lease");
    // The leader finishes: names n2 under epoch 1 (run id not yet refreshed: empty). The
    // others still name n1 under epoch 0: behind, not against.
    hear(&mut v, 1, 600, says(1, 2, "", 1));
    hear(&mut v, 2, 600, says(2, 1, "r1", 0));
    hear(&mut v, 3, 600, says(3, 1, "r1", 0));
    assert!(holds(&v, 610));
    // They catch up.
    for s in 1..=3 {
        hear(&mut v, s, 900, says(s, 2, "r2", 1));
    }
    assert!(holds(&v, 910));
}

#[test]
fn the_old_master_is_fenced_by_the_newer_epoch_and_stays_fenced() {
    let mut v = view();
    for s in 1..=3 {
        hear(&mut v, s, 0, says(s, 1, US, 0));
    }
    hear(&mut v, 1, 100, says(1, 2, "r2", 1));
    assert_eq!(fence(&v, 101), Some(Fence::NewerConfigNamesOther));
    // The other two still name us under epoch 0, freshly; Sentinel 1 goes silent.
    hear(&mut v, 2, 2000, says(2, 1, US, 0));
    hear(&mut v, 3, 2000, says(3, 1, US, 0));
    assert_eq!(fence(&v, 2001), Some(Fence::NewerConfigNamesOther));
    // A later failover back to us (epoch 2) lifts it.
    hear(&mut v, 2, 3000, says(2, 1, US, 2));
    hear(&mut v, 3, 3000, says(3, 1, US, 2));
    assert!(holds(&v, 3001));
}

#[test]
fn a_quorum_naming_another_master_is_a_fence() {
    let mut v = view();
    hear(&mut v, 1, 0, says(1, 2, "r2", 0));
    hear(&mut v, 2, 0, says(2, 2, "r2", 0));
    hear(&mut v, 3, 0, says(3, 1, US, 0));
    assert_eq!(fence(&v, 10), Some(Fence::QuorumNamesOther));
}

#[test]
fn one_sentinel_under_two_addresses_counts_once() {
    let mut v = SentinelView::default();
    let alias = SentinelAddr {
        host: "sentinel1.example".into(),
        port: 26379,
    };
    v.set_configured(&[sentinel(1), alias.clone(), sentinel(2), sentinel(3)]);
    v.set_me(Me {
        runid: US.into(),
        ..Me::default()
    });
    let heard = |at| Heard {
        sent: ms(at),
        received: ms(at),
        answer: says(1, 1, US, 0),
    };
    v.record(&sentinel(1), heard(0), 16);
    v.record(&alias, heard(1), 16);
    assert!(
        !holds(&v, 10),
        "two addresses, one Sentinel: one confirmation"
    );
    assert_eq!(v.summary(ms(10), Rules::default()).confirming, 1);
}

#[test]
fn required_confirmations() {
    // (Sentinels known, Sentinel's own quorum, operator's vip.quorum, required)
    let cases = [
        (3, 2, 0, 2),
        (5, 3, 0, 3),
        (5, 2, 0, 4), // a small Sentinel quorum needs more of us: N - q + 1
        (1, 1, 0, 1),
        (3, 2, 3, 3),
    ];
    for (n, q_s, set, want) in cases {
        let mut v = SentinelView::default();
        let addrs: Vec<SentinelAddr> = (1..=n).map(sentinel).collect();
        v.set_configured(&addrs);
        v.set_me(Me {
            runid: US.into(),
            ..Me::default()
        });
        let mut a = says(1, 1, US, 0);
        a.master.quorum = q_s;
        a.master.other_sentinels = u32::from(n) - 1;
        hear(&mut v, 1, 0, a);
        let rules = Rules {
            quorum: set,
            lease_ms: 0,
        };
        assert_eq!(v.summary(ms(1), rules).quorum, want, "{n} {q_s} {set}");
    }
}

#[test]
fn peers_are_learned_once_and_bounded() {
    let mut v = SentinelView::default();
    v.set_configured(&[sentinel(1)]);
    v.set_me(Me {
        runid: US.into(),
        ..Me::default()
    });
    let mut a = says(1, 1, US, 0);
    a.peers = Some(vec![
        Peer {
            endpoint: Endpoint {
                ip: "192.0.2.22".into(),
                port: 26379,
            },
            s_down: false,
            last_hello_ms: 500,
            runid: "s2".into(),
        },
        Peer {
            endpoint: Endpoint {
                ip: "192.0.2.23".into(),
                port: 26379,
            },
            s_down: false,
            last_hello_ms: 500,
            runid: "s3".into(),
        },
    ]);
    let heard = |answer| Heard {
        sent: ms(0),
        received: ms(0),
        answer,
    };
    assert!(v.record(&sentinel(1), heard(a.clone()), 16));
    assert_eq!(v.targets().len(), 3);
    assert!(!v.record(&sentinel(1), heard(a.clone()), 16), "nothing new");
    let mut w = SentinelView::default();
    w.set_configured(&[sentinel(1)]);
    w.record(&sentinel(1), heard(a), 2);
    assert_eq!(w.targets().len(), 2, "bounded");
}

#[test]
fn faults_name_the_sentinel_and_the_fix() {
    let mut v = view();
    v.failed(
        &sentinel(2),
        ms(5),
        PollError {
            kind: PollErrorKind::Auth,
            text: "WRONGPASS invalid username-password pair".into(),
        },
    );
    let f = v.fault(ms(5)).unwrap();
    assert!(
        f.contains("192.0.2.22:26379") && f.contains("vip.sentinel-auth-pass"),
        "{f}"
    );
    hear(&mut v, 2, 10, says(2, 1, US, 0));
    assert_eq!(v.fault(ms(10)), None, "cleared by an answer");
    // (every Sentinel failing since 20 ms; at, a fault)
    for (at, want) in [(20, false), (5_019, false), (5_020, true)] {
        for s in 1..=3 {
            v.failed(
                &sentinel(s),
                ms(at),
                PollError {
                    kind: PollErrorKind::Connect,
                    text: "connection refused".into(),
                },
            );
        }
        let f = v.fault(ms(at));
        assert_eq!(
            f.as_deref()
                .is_some_and(|f| f.contains("none of the 3 Sentinels answers")),
            want,
            "at {at} ms: {f:?}"
        );
    }
}

#[test]
fn fast_polling_while_a_failover_is_underway() {
    let mut v = view();
    hear(&mut v, 1, 0, says(1, 1, US, 0));
    assert!(!v.failover_underway(ms(10)));
    hear(&mut v, 2, 0, failing_over(2, 1, US, 0, 2, "r2"));
    assert!(v.failover_underway(ms(10)));
    assert!(
        !v.failover_underway(ms(6000)),
        "a silent Sentinel does not keep the fast rate"
    );
}

#[test]
fn an_operators_quorum_that_cannot_work_is_named() {
    // (vip.quorum, warning contains)
    let cases = [
        (0, None),
        (2, None),
        (3, None),
        (4, Some("more than the 3 Sentinels known")),
        (1, Some("below a majority of the 3 Sentinels known")),
    ];
    for (quorum, want) in cases {
        let mut v = view();
        hear(&mut v, 1, 0, says(1, 1, US, 0));
        let rules = Rules {
            quorum,
            lease_ms: 0,
        };
        let got = v.quorum_warning(rules);
        match want {
            None => assert_eq!(got, None, "{quorum}"),
            Some(text) => assert!(
                got.as_deref().is_some_and(|g| g.contains(text)),
                "{quorum}: {got:?}"
            ),
        }
    }
}

mod operators;
mod silent;
mod steps;

#[test]
fn a_forced_failover_promotes_on_its_leaders_word_only_once_committed() {
    // We are n2 ("r2"). Sentinel 1 was told SENTINEL FAILOVER: no o_down, no votes.
    let forced = |state: &str| {
        let mut a = failing_over(1, 1, "r1", 0, 2, "r2");
        a.master.instance.flags = Flags::parse("master,failover_in_progress,force_failover");
        a.master.failover_state = Some(state.into());
        a
    };
    let cases: &[(&str, bool)] = &[
        ("select_slave", false),
        ("send_slaveof_noone", false),
        // REPLICAOF NO ONE sent; a leader that dies now (crash-after-promotion) leaves a
        // promotion the other Sentinels undo.
        ("wait_promotion", false),
        // It saw the promotion and broadcasts the new configuration: committed.
        ("reconf_slaves", true),
        ("update_config", true),
    ];
    for (state, held) in cases {
        let mut v = view();
        v.set_me(Me {
            runid: "r2".into(),
            ..Me::default()
        });
        hear(&mut v, 2, 0, says(2, 1, "r1", 0));
        hear(&mut v, 3, 0, says(3, 1, "r1", 0));
        hear(&mut v, 1, 0, forced(state));
        assert_eq!(holds(&v, 10), *held, "forced failover at {state}");
    }
}

#[test]
fn support_counts_who_still_answers() {
    // (answered at ms by Sentinel 1, 2, 3; None: never) -> (fresh, recent, no_spare, all)
    type Case = ([Option<u64>; 3], (usize, usize, bool, bool));
    let cases: &[Case] = &[
        ([Some(900), Some(900), Some(900)], (3, 3, false, true)),
        // Sentinel 3 stopped at 600: its support lasts its lease, but it has stopped answering.
        ([Some(900), Some(900), Some(600)], (3, 2, true, true)),
        ([Some(900), Some(900), None], (2, 2, true, false)),
        ([Some(900), Some(300), Some(300)], (1, 1, true, false)),
    ];
    for (answered, (fresh, recent, no_spare, all)) in cases {
        let mut v = view();
        for (i, at) in answered.iter().enumerate() {
            if let Some(at) = at {
                let s = i as u16 + 1;
                hear(&mut v, s, *at, says(s, 1, US, 0));
            }
        }
        let got = v.support(ms(1000), Rules::default(), ms(250));
        assert_eq!(
            (got.fresh, got.recent, got.no_spare(), got.all()),
            (*fresh, *recent, *no_spare, *all),
            "{answered:?}"
        );
    }
}

#[test]
fn witnesses_are_every_replica_listed_and_never_this_node() {
    let mut v = view();
    let mut a = says(1, 1, US, 0);
    a.replicas = vec![inst(2, "r2", "slave"), inst(3, "r3", "slave,s_down")];
    hear(&mut v, 1, 0, a);
    let mut b = says(2, 1, US, 0);
    // An old entry for this very node (converted back earlier) is no witness.
    b.replicas = vec![inst(3, "r3", "slave"), inst(1, US, "slave")];
    hear(&mut v, 2, 0, b);
    let listed: Vec<String> = v.listed_replicas().iter().map(|e| e.to_string()).collect();
    assert_eq!(listed, vec!["192.0.2.12:6379", "192.0.2.13:6379"]);
}

#[test]
fn a_replica_hears_what_its_sentinels_report_against_the_master() {
    let mut v = view();
    v.set_me(Me {
        runid: "r2".into(),
        ..Me::default()
    });
    hear(&mut v, 1, 0, says(1, 1, "r1", 0));
    assert_eq!(v.against_master(ms(100), false, &node(1)), None);
    let mut down = says(2, 1, "r1", 0);
    down.master.instance.flags = Flags::parse("master,s_down");
    hear(&mut v, 2, 100, down);
    assert_eq!(
        v.against_master(ms(200), false, &node(1)).as_deref(),
        Some("Sentinel 192.0.2.22:26379 reports it subjectively down (s_down)")
    );
    assert_eq!(
        v.against_master(ms(200), true, &node(1)),
        None,
        "down, not failing over"
    );
    assert_eq!(
        v.against_master(ms(200), false, &node(2)),
        None,
        "a report about another master than the one this replica follows"
    );
    let mut starting = failing_over(3, 1, "r1", 0, 2, "r2");
    starting.replicas.clear(); // no replica chosen yet (or none good: NOGOODSLAVE, a TILT)
    hear(&mut v, 3, 140, starting);
    assert_eq!(
        v.against_master(ms(150), true, &node(1)),
        None,
        "no choice yet"
    );
    assert!(v
        .reports_against_masters(ms(150))
        .iter()
        .any(|r| !r.failing_over
            && r.text == "Sentinel 192.0.2.23:26379 is starting a failover of it"));
    hear(&mut v, 3, 150, failing_over(3, 1, "r1", 0, 2, "r2"));
    assert_eq!(
        v.against_master(ms(200), true, &node(1)).as_deref(),
        Some("Sentinel 192.0.2.23:26379 is failing it over to 192.0.2.12:6379")
    );
    assert_eq!(
        v.against_master(ms(3000), false, &node(1)),
        None,
        "an old report is forgotten"
    );
}

#[test]
fn a_silent_sentinels_answer_can_be_set_aside() {
    let mut v = view();
    hear(&mut v, 2, 0, says(2, 1, US, 0));
    hear(&mut v, 3, 0, says(3, 1, US, 0));
    hear(&mut v, 1, 0, failing_over(1, 1, US, 0, 3, "r3"));
    assert_eq!(fence(&v, 10), Some(Fence::FailoverPromotesOther));
    assert!(!v.silent(&sentinel(1)), "it answered");
    v.failed(&sentinel(1), ms(20), PollError::timeout());
    assert!(v.silent(&sentinel(1)));
    assert!(
        matches!(
            v.verdict_without(ms(30), Rules::default(), &sentinel(1)),
            Verdict::Hold { .. }
        ),
        "the other two confirm"
    );
    assert_eq!(
        fence(&v, 30),
        Some(Fence::FailoverPromotesOther),
        "the fence itself stands"
    );
}
