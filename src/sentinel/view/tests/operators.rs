//! Sentinel as operators run it: restarts, ghosts, two addresses, reordered lists.

use super::*;

/// n1 restarted at 192.0.2.11:6379 as "r1new", 100 ms old when the poll was sent at 0.
pub(super) fn restarted() -> SentinelView {
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

pub(super) fn peer(id: &str, n: u8, s_down: bool, last_hello_ms: u64) -> Peer {
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
