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

// ---- Sentinel as operators run it: restarts, ghosts, two addresses, reordered lists ----

/// n1 restarted at 192.0.2.11:6379 as "r1new", 100 ms old when the poll was sent at 0.
fn restarted() -> SentinelView {
    let mut v = view();
    v.set_me(Me {
        runid: "r1new".into(),
        port: 6379,
        age: Some((ms(0), ms(100))),
    });
    v.set_local(
        &["192.0.2.11".parse().unwrap(), "127.0.0.1".parse().unwrap()],
        &["192.0.2.100".parse().unwrap()],
    );
    v
}

#[test]
fn a_restart_at_our_own_address_is_us_until_a_sentinel_has_seen_another_process() {
    // (entry ip, port, run id shown, ms since that Sentinel's INFO, is us)
    let cases = [
        ("192.0.2.11", 6379, "r1", 5000, true), // INFO before our start: the old process's id
        ("192.0.2.11", 6379, "r1", 50, false),  // INFO after our start showed another process
        ("192.0.2.11", 6379, "", 0, true),      // never sent INFO there
        ("192.0.2.11", 6380, "r1", 5000, false), // another port
        ("192.0.2.12", 6379, "r1", 5000, false), // not an address of this host
        ("127.0.0.1", 6379, "r1", 5000, false), // loopback names every host's own
        ("192.0.2.100", 6379, "r1", 5000, false), // the VIP is not our own address
        ("192.0.2.11", 6379, "r1new", 50, true), // our own run id, as always
    ];
    for (ip, port, runid, info_ms, want) in cases {
        let mut v = restarted();
        for s in 1..=3 {
            let mut a = says(s, 1, runid, 0);
            a.master.instance.endpoint = Endpoint {
                ip: ip.into(),
                port,
            };
            a.master.instance.info_refresh_ms = info_ms;
            hear(&mut v, s, 0, a);
        }
        assert_eq!(holds(&v, 10), want, "{ip}:{port} {runid:?} {info_ms}");
    }
    // Without our age, another run id never matches (the old rule).
    let mut v = restarted();
    v.set_me(Me {
        runid: "r1new".into(),
        port: 6379,
        age: None,
    });
    for s in 1..=3 {
        let mut a = says(s, 1, "r1", 0);
        a.master.instance.info_refresh_ms = 5000;
        hear(&mut v, s, 0, a);
    }
    assert!(!holds(&v, 10));
}

#[test]
fn a_restart_after_a_failover_is_still_fenced() {
    // The address is ours, but the Sentinels name n2 under a newer epoch now, and the one
    // that still names our address is behind: the stale restart stays out.
    let mut v = restarted();
    let mut behind = says(1, 1, "r1", 0);
    behind.master.instance.info_refresh_ms = 5000;
    hear(&mut v, 1, 0, behind);
    hear(&mut v, 2, 0, says(2, 2, "r2", 1));
    hear(&mut v, 3, 0, says(3, 2, "r2", 1));
    assert_eq!(fence(&v, 10), Some(Fence::NewerConfigNamesOther));
}

fn peer(id: &str, n: u8, s_down: bool, last_hello_ms: u64) -> Peer {
    Peer {
        endpoint: Endpoint {
            ip: format!("192.0.2.2{n}"),
            port: 26379,
        },
        runid: id.into(),
        s_down,
        last_hello_ms,
    }
}

/// Sentinel `s` of three (s1..s3), also listing a fourth, `ghost`, as Sentinel shows it.
fn says_with_ghost(s: u16, ghost: Peer) -> Answer {
    let mut a = says(s, 1, US, 0);
    a.master.other_sentinels = 3;
    let mut peers: Vec<Peer> = (1..=3u8)
        .filter(|i| u16::from(*i) != s)
        .map(|i| peer(&format!("s{i}"), i, false, 500))
        .collect();
    peers.push(ghost);
    a.peers = Some(peers);
    a
}

#[test]
fn a_ghost_in_sentinels_lists_does_not_raise_the_quorum() {
    // (the fourth entry as each Sentinel lists it, known, quorum, ghosts)
    let cases = [
        (peer("s9", 9, true, 120_000), 3, 2, 1), // replaced long ago: a ghost
        (peer("s9", 9, true, 5_000), 4, 3, 0),   // down for 5 s: a Sentinel restarting
        (peer("s9", 9, false, 120_000), 4, 3, 0), // reachable, however quiet
    ];
    for (ghost, known, quorum, ghosts) in cases {
        let mut v = view();
        for s in 1..=3 {
            hear(&mut v, s, 0, says_with_ghost(s, ghost.clone()));
        }
        let sum = v.summary(ms(10), Rules::default());
        assert_eq!(
            (sum.known, sum.quorum, sum.ghosts),
            (known, quorum, ghosts),
            "{ghost:?}"
        );
    }
    // With the ghost left out, one Sentinel restarting (silent) leaves two: enough.
    let mut v = view();
    for s in 1..=3 {
        hear(
            &mut v,
            s,
            0,
            says_with_ghost(s, peer("s9", 9, true, 120_000)),
        );
    }
    for s in 1..=2 {
        hear(
            &mut v,
            s,
            400,
            says_with_ghost(s, peer("s9", 9, true, 120_400)),
        );
    }
    assert!(holds(&v, 700), "s1 and s2 confirm; s3 is restarting");
    assert!(v.cruft("mymaster").is_some_and(|(act, text)| act
        && text.contains("SENTINEL RESET mymaster")
        && text.contains("s9")));
}

#[test]
fn a_sentinel_learned_under_a_second_address_counts_once() {
    let mut v = view();
    // s1 lists s2 under another address (announce-ip, another IPv6 spelling, a TLS port)
    // before s2 has answered at the configured one: it is learned ...
    let mut a = says(1, 1, US, 0);
    let mut s2_elsewhere = peer("s2", 2, false, 500);
    s2_elsewhere.endpoint.ip = "198.51.100.22".into();
    a.peers = Some(vec![s2_elsewhere, peer("s3", 3, false, 500)]);
    hear(&mut v, 1, 0, a);
    assert_eq!(v.targets().len(), 4);
    // ... and once s2 answers under its configured address, counted once.
    hear(&mut v, 2, 0, says(2, 1, US, 0));
    hear(&mut v, 3, 0, says(3, 1, US, 0));
    let sum = v.summary(ms(10), Rules::default());
    assert_eq!((sum.known, sum.quorum), (3, 2));
}

#[test]
fn the_same_sentinels_in_another_order_keep_their_answers() {
    let mut v = view();
    for s in 1..=3 {
        hear(&mut v, s, 0, says(s, 1, US, 0));
    }
    v.set_configured(&[sentinel(3), sentinel(1), sentinel(2)]);
    assert!(holds(&v, 10));
    v.set_configured(&[sentinel(3), sentinel(1)]);
    assert!(!holds(&v, 10), "another set starts afresh");
}

#[test]
fn unusable_entries_are_shown_per_sentinel() {
    let mut v = view();
    let mut a = says(1, 1, US, 0);
    a.skipped_replicas = crate::sentinel::answer::Skipped {
        count: 1,
        first: Some("192.0.2.50:0: unexpected reply: bad port 0".into()),
    };
    hear(&mut v, 1, 0, a);
    hear(&mut v, 2, 0, says(2, 1, US, 0));
    assert!(holds(&v, 10), "the master part stands");
    let row = &v.rows(ms(10), Rules::default())[0];
    assert_eq!(row.skipped_replicas, 1);
    assert!(row.skipped_reason.contains("bad port 0"));
    assert_eq!(v.summary(ms(10), Rules::default()).skipped, 1);
    assert!(v
        .cruft("mymaster")
        .is_some_and(|(act, text)| !act && text.contains("redis-cli --rdb")));
}

#[test]
fn a_replaced_sentinel_we_once_asked_becomes_a_ghost_once_it_fails() {
    // s3 answered, then was replaced: its polls fail and the others list it as a ghost.
    let mut v = view();
    let ghost = || peer("s3", 3, true, 120_000);
    hear(&mut v, 3, 0, says(3, 1, US, 0));
    v.failed(
        &sentinel(3),
        ms(5),
        PollError {
            kind: PollErrorKind::Connect,
            text: "connection refused".into(),
        },
    );
    for s in 1..=2 {
        let mut a = says_with_ghost(s, ghost());
        // the ghost is s3 itself here; the lists hold s1/s2 and s3
        a.peers = Some(vec![
            peer(if s == 1 { "s2" } else { "s1" }, 3 - s as u8, false, 500),
            ghost(),
        ]);
        a.master.other_sentinels = 2;
        hear(&mut v, s, 10, a);
    }
    let sum = v.summary(ms(20), Rules::default());
    assert_eq!((sum.known, sum.quorum, sum.ghosts), (2, 2, 1));
}

// ---- Fences that end with the situation they came from ----

/// Sentinel `s` names us master at `epoch`, reaching n2 as a replica (or not), and lists
/// Sentinel 1 as it sees it.
fn says_beside_s1(s: u16, epoch: u64, reaches_n2: bool, s1: Option<(bool, u64)>) -> Answer {
    let mut a = says(s, 1, US, epoch);
    let flags = if reaches_n2 {
        "slave"
    } else {
        "slave,s_down,disconnected"
    };
    a.replicas = vec![inst(2, "r2", flags), inst(3, "r3", "slave")];
    let mut peers: Vec<Peer> = (2..=3u8)
        .filter(|i| u16::from(*i) != s)
        .map(|i| peer(&format!("s{i}"), i, false, 500))
        .collect();
    if let Some((s_down, hello)) = s1 {
        peers.push(peer("s1", 1, s_down, hello));
    }
    a.peers = Some(peers);
    a
}

fn silent_s1(v: &mut SentinelView) {
    v.failed(
        &sentinel(1),
        ms(100),
        PollError {
            kind: PollErrorKind::Connect,
            text: "connection timed out".into(),
        },
    );
}

#[test]
fn a_silent_leaders_failover_fence_ends_when_its_failover_cannot_matter() {
    // Sentinel 1 (failover-timeout 10 s, lease 500 ms) was failing over to n2 at 0 ms, then
    // went silent to us. sentinel.c: promoted by 20 s or aborted (election 10 s + 10 s),
    // reconfiguration over by 30 s; a configuration spreads within 4 s of hellos.
    // (others answer at, Sentinel 1 as they list it (s_down, ms since its hello), they reach
    //  n2, fence stands)
    let cases = [
        (1_000, Some((false, 500)), true, true), // the failover may still promote n2
        (25_000, Some((false, 500)), true, false), // they hear s1 and n2: it did not win
        (25_000, Some((false, 500)), false, true), // nobody reaches n2: no evidence
        (25_000, Some((true, 25_000)), true, true), // s1 unheard, not yet gone
        (70_000, Some((true, 70_000)), true, false), // s1 departed; n2 reached without it
        (70_000, None, true, false),             // s1 unknown to them and silent
        (35_000, Some((true, 35_000)), false, false), // sentinel.c ended that failover
    ];
    for (at, s1, reach, stands) in cases {
        let mut v = view();
        for s in 1..=3 {
            hear(&mut v, s, 0, says(s, 1, US, 0));
        }
        hear(&mut v, 1, 0, failing_over(1, 1, US, 0, 2, "r2"));
        silent_s1(&mut v);
        for s in 2..=3 {
            hear(&mut v, s, at, says_beside_s1(s, 0, reach, s1));
        }
        let got = fence(&v, at + 1) == Some(Fence::FailoverPromotesOther);
        assert_eq!(got, stands, "at {at} ms, s1 listed {s1:?}, reach {reach}");
        if !stands {
            assert!(holds(&v, at + 1), "at {at} ms the quorum confirms again");
        }
    }
}

#[test]
fn an_old_answer_at_a_higher_epoch_ends_once_its_sentinel_is_gone_or_outvoted() {
    // Sentinel 1 last said n2 at epoch 5, then stopped; the others were rebuilt (SENTINEL
    // REMOVE + MONITOR) and name us at epoch 0.
    // (others answer at, Sentinel 1 as they list it, they reach n2, fence stands)
    let cases = [
        (2_000, Some((false, 500)), true, true), // its hellos may still carry epoch 5
        (6_000, Some((false, 500)), true, false), // they hear it and did not take epoch 5
        (6_000, Some((false, 500)), false, true), // n2 out of their reach: no evidence
        (6_000, None, true, true),               // unknown to them, silent: not gone yet
        (70_000, None, true, false),             // gone
    ];
    for (at, s1, reach, stands) in cases {
        let mut v = view();
        hear(&mut v, 1, 0, says(1, 2, "r2", 5));
        silent_s1(&mut v);
        for s in 2..=3 {
            hear(&mut v, s, at, says_beside_s1(s, 0, reach, s1));
        }
        let got = fence(&v, at + 1) == Some(Fence::NewerConfigNamesOther);
        assert_eq!(got, stands, "at {at} ms, s1 listed {s1:?}, reach {reach}");
    }
}

#[test]
fn a_master_the_sentinels_cannot_reach_reads_as_reported_down() {
    // Protected mode without a password: the Sentinels never reach n1, so they have no run id
    // for it and report it s_down. The sentence says so, with counts that add up.
    let mut v = restarted();
    for s in 1..=3 {
        let mut a = says(s, 1, "", 0);
        a.master.instance.flags = Flags::parse("s_down,master,disconnected");
        a.master.instance.info_refresh_ms = 0;
        hear(&mut v, s, 0, a);
    }
    let Verdict::Refuse { fence, why } = v.verdict(ms(10), Rules::default()) else {
        panic!("held");
    };
    assert_eq!(fence, Some(Fence::ReportedDown));
    assert!(
        why.to_string().starts_with(
            "3 of 3 Sentinels report this master subjectively down (s_down), 192.0.2.2"
        ),
        "{why}"
    );
    let sum = v.summary(ms(10), Rules::default());
    assert_eq!(
        (sum.known, sum.reachable, sum.confirming, sum.quorum),
        (3, 3, 0, 2)
    );
}

#[test]
fn a_configured_sentinel_never_heard_and_listed_as_a_ghost_is_not_counted() {
    // This process started after the Sentinels at 192.0.2.21 and .22 were replaced by new ones
    // (s4, s5, learned): it never heard the old ones. The live Sentinels list them as ghosts at
    // the configured addresses: 3 Sentinels, not 5 (seen in a chaos run: quorum 4 of 5, no
    // holder for two minutes).
    let mut v = view();
    let ghost = |n: u8, id: &str| peer(id, n, true, 120_000);
    let live = |n: u8, id: &str| {
        let mut p = peer(id, n, false, 500);
        p.endpoint.port = 26380;
        p
    };
    let mut a = says(3, 1, US, 0);
    a.master.other_sentinels = 4;
    a.peers = Some(vec![
        ghost(1, "s1"),
        ghost(2, "s2"),
        live(4, "s4"),
        live(5, "s5"),
    ]);
    hear(&mut v, 3, 0, a);
    for s in [1, 2] {
        v.failed(
            &sentinel(s),
            ms(1),
            PollError {
                kind: PollErrorKind::Connect,
                text: "connection refused".into(),
            },
        );
    }
    let sum = v.summary(ms(10), Rules::default());
    assert_eq!((sum.known, sum.ghosts), (3, 2), "{sum:?}");
    assert_eq!(sum.quorum, 2);
}
