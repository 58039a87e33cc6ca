//! Fences that end with the situation they came from: a silent Sentinel's word.

use super::operators::{peer, restarted};
use super::*;

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
