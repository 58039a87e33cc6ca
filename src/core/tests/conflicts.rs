//! Another host announcing our VIPs: counted, told once per MAC, answered with a burst at
//! most once a second; the listener that watches for it.

use super::*;

#[test]
fn conflicts_are_counted_and_logged_once_per_mac() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.role(Role::Master, true);
    let ip: IpAddr = "192.0.2.100".parse().unwrap();
    w.feed(Event::Conflict { ip, mac: MAC }); // our own frame
    w.feed(Event::Conflict {
        ip: "192.0.2.55".parse().unwrap(),
        mac: OTHER_MAC,
    }); // not a VIP
    w.feed(Event::Conflict { ip, mac: OTHER_MAC });
    w.feed(Event::Conflict { ip, mac: OTHER_MAC });
    let s = w.core.status(at(0));
    assert_eq!(s.counters.conflicts, 2);
    assert_eq!(s.last_conflict_mac, "02:00:00:00:00:09");
    assert_eq!(
        w.logs
            .iter()
            .filter(|(_, m)| m.contains("conflict"))
            .count(),
        1
    );
}

/// (case, holding, announce-count x interval ms, another host's announcements heard at ms,
/// conflicts, reannounced, bursts started at ms)
type Case = (
    &'static str,
    bool,
    (u32, u64),
    &'static [u64],
    u64,
    u64,
    &'static [u64],
);
const CONFLICT_ANSWERS: [Case; 6] = [
    (
        "another host announces while we hold",
        true,
        (5, 200),
        &[20_000],
        1,
        1,
        &[20_000],
    ),
    (
        "a second one inside the holdoff",
        true,
        (5, 200),
        &[20_000, 20_999],
        2,
        1,
        &[20_000],
    ),
    (
        "one once the holdoff is over",
        true,
        (5, 200),
        &[20_000, 21_000],
        2,
        2,
        &[20_000, 21_000],
    ),
    (
        "one every 100 ms for 3 s",
        true,
        (5, 200),
        &[
            20_000, 20_100, 20_200, 20_300, 20_400, 20_500, 20_600, 20_700, 20_800, 20_900, 21_000,
            21_100, 21_200, 21_300, 21_400, 21_500, 21_600, 21_700, 21_800, 21_900, 22_000, 22_100,
            22_200, 22_300, 22_400, 22_500, 22_600, 22_700, 22_800, 22_900,
        ],
        30,
        3,
        &[20_000, 21_000, 22_000],
    ),
    (
        "a burst longer than a second is the holdoff",
        true,
        (10, 500),
        &[20_000, 23_000, 24_500],
        3,
        2,
        &[20_000, 24_500],
    ),
    (
        "one while we do not hold",
        false,
        (5, 200),
        &[20_000],
        0,
        0,
        &[],
    ),
];

#[test]
fn a_conflict_while_holding_is_answered_with_a_burst_at_most_once_a_second() {
    let ip: IpAddr = "192.0.2.100".parse().unwrap();
    for (case, holding, (count, interval), heard, conflicts, reannounced, bursts) in
        CONFLICT_ANSWERS
    {
        let mut s = settings("192.0.2.100/24");
        (s.announce_count, s.announce_interval_ms) = (count, interval);
        let mut w = World::new(s);
        w.role(if holding { Role::Master } else { Role::Replica }, true);
        w.run_until(15_000);
        w.announced.clear();
        for &t in heard {
            w.run_until(t);
            w.feed(Event::Conflict { ip, mac: OTHER_MAC });
        }
        w.run_until(40_000);
        let c = w.core.status(at(40_000)).counters;
        assert_eq!(
            (c.conflicts, c.reannounced),
            (conflicts, reannounced),
            "{case}"
        );
        // Each burst answers what was heard: count frames `interval` apart, and the same again
        // after vip.announce-repeat-delay-ms (5 s).
        let mut want: Vec<u64> = bursts
            .iter()
            .flat_map(|&b| {
                (0..u64::from(count)).flat_map(move |i| [b + i * interval, b + 5000 + i * interval])
            })
            .collect();
        want.sort();
        let sent: Vec<u64> = w.announced.iter().map(|(t, _)| *t).collect();
        assert_eq!(sent, want, "{case}");
    }
}

#[test]
fn a_conflict_in_sentinel_mode_also_asks_the_sentinels_once_per_burst() {
    let mut w = confirmed_by_two();
    assert_eq!(w.phase(), "holding");
    let ip: IpAddr = "192.0.2.100".parse().unwrap();
    let polls = w.polls_now;
    w.now = 100;
    w.feed(Event::Conflict { ip, mac: OTHER_MAC });
    assert_eq!(
        w.polls_now,
        polls + 1,
        "a conflict asks the Sentinels at once"
    );
    assert_eq!(
        w.announced.last(),
        Some(&(100, vip("192.0.2.100/24"))),
        "the first frame goes out with the decision"
    );
    w.now = 150;
    w.feed(Event::Conflict { ip, mac: OTHER_MAC });
    assert_eq!(w.polls_now, polls + 1, "inside the holdoff: no second poll");
    let c = w.core.status(at(150)).counters;
    assert_eq!((c.conflicts, c.reannounced), (2, 1));
}

#[test]
fn a_listener_that_cannot_open_is_a_visible_fault_retried_at_each_look() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.role(Role::Master, true);
    assert!(w.listening.is_some());
    w.feed(Event::Listening(Err(OsError::new(
        Op::OpenPacketSocket,
        libc::EPERM,
    ))));
    let s = w.core.status(at(0));
    assert_eq!(
        (s.state.as_str(), s.conflict_detection.as_str()),
        ("error", "failing")
    );
    assert!(
        s.last_error.contains("conflict detection is off") && s.last_error.contains("CAP_NET_RAW"),
        "{}",
        s.last_error
    );
    assert!(s.holding, "the VIP itself is unaffected");
    w.listening = None;
    w.run_until(1_000);
    assert!(w.listening.is_some(), "asked again at the next look");
    w.feed(Event::Listening(Ok(())));
    let s = w.core.status(at(1_000));
    assert_eq!(
        (s.state.as_str(), s.conflict_detection.as_str()),
        ("holding", "on")
    );
}
