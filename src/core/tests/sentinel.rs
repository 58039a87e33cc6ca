//! Sentinel-confirmed mode.
//!
//! The view's rule has its own table tests (sentinel/view/tests.rs); these show what the core
//! does with its verdicts: claim, release with a fence, ask the pollers, steer the listener.

use super::*;

#[test]
fn sentinel_mode_starts_the_pollers_and_claims_only_when_confirmed() {
    let mut w = sentinel_world();
    assert_eq!(
        w.plans.last().cloned().flatten().map(|p| p.targets.len()),
        Some(3),
        "the first event starts the pollers"
    );
    assert_eq!(w.intervals, vec![Duration::from_millis(100)]);
    w.role(Role::Master, true);
    assert!(w.present.is_empty(), "a master waits for the Sentinels");
    assert_eq!(w.phase(), "standby");
    assert!(w.core.status(at(0)).reason.starts_with("waiting:"));
    w.hear(1, answer(1, 1, "r1", 0));
    assert!(w.present.is_empty());
    w.hear(2, answer(2, 1, "r1", 0));
    assert_eq!(w.present, vec![vip("192.0.2.100/24")]);
    let s = w.core.status(at(0));
    // Sentinel 3 has not answered yet: 2 of the 3 known confirm, 2 are needed.
    assert_eq!(
        s.reason,
        "confirmed as master by 2 of 3 Sentinels (2 needed)"
    );
    assert_eq!(
        (s.sentinels_confirming, s.sentinels_known, s.quorum),
        (2, 3, 2),
        "the sentence and the fields agree"
    );
    assert_eq!((s.sentinels_confirming, s.quorum, s.lease_ms), (2, 2, 500));
    assert_eq!(s.lease_remaining_ms, 500);
    assert!(w.listening.is_some(), "the listener watches while holding");
}

#[test]
fn sentinel_mode_releases_when_the_lease_runs_out() {
    let mut w = confirmed_by_two();
    w.now = 100;
    w.hear(1, answer(1, 1, "r1", 0));
    w.hear(2, answer(2, 1, "r1", 0));
    // Cut off: no more answers. Released by the core's own deadline, 500 ms after the last
    // poll was sent.
    w.run_until(599);
    assert_eq!(w.present.len(), 1);
    w.run_until(600);
    assert!(w.present.is_empty());
    let s = w.core.status(at(600));
    assert_eq!(s.last_fence_reason_str(), "lease_expired");
    assert_eq!(
        s.last_fence,
        "fenced: 0 of 3 Sentinels confirm this node as master within the lease, 2 needed (2 reachable)"
    );
    assert_eq!(s.counters.fences, 1);
    assert!(s.reason.starts_with("fenced:"), "{}", s.reason);
    assert!(w.listening.is_none());
    // Answers again, but Sentinel 3 never did: after a lapse the quorum alone is not
    // enough (Sentinel 3 could be failing us over, unheard), and no replica confirms.
    w.now = 700;
    w.hear(1, answer(1, 1, "r1", 0));
    w.hear(2, answer(2, 1, "r1", 0));
    assert!(w.present.is_empty());
    assert!(
        w.core
            .status(at(700))
            .reason
            .starts_with("waiting: back after a lapse"),
        "{}",
        w.core.status(at(700)).reason
    );
    // Every Sentinel supports us: claimed again.
    w.hear(3, answer(3, 1, "r1", 0));
    assert_eq!(w.present.len(), 1);
}

#[test]
fn sentinel_mode_a_newer_epoch_elsewhere_releases_at_once() {
    let mut w = holding_world(3);
    w.now = 50;
    w.hear(3, answer(3, 2, "r2", 4));
    assert!(w.present.is_empty());
    assert_eq!(
        w.core.status(at(50)).last_fence_reason_str(),
        "newer_config_names_other"
    );
}

#[test]
fn sentinel_mode_a_promotion_polls_and_claims_on_the_leaders_word() {
    let mut w = sentinel_world();
    w.feed(Event::Identity(crate::sentinel::Me {
        runid: "r2".into(),
        ..Default::default()
    }));
    w.role(Role::Replica, true);
    let mut leader = answer(1, 1, "r1", 0);
    leader.master.instance.flags = Flags::parse("s_down,o_down,master,failover_in_progress");
    leader.master.failover_state = Some("send_slaveof_noone".into());
    leader.replicas = vec![Instance {
        endpoint: Endpoint {
            ip: "192.0.2.12".into(),
            port: 6379,
        },
        runid: "r2".into(),
        flags: Flags::parse("slave,promoted"),
        last_ping_sent_ms: 0,
        last_ok_ping_reply_ms: 10,
        info_refresh_ms: 0,
    }];
    w.hear(1, leader);
    assert_eq!(
        w.intervals.last(),
        Some(&Duration::from_millis(10)),
        "a failover underway: poll fast"
    );
    assert!(w.present.is_empty(), "still a replica");
    let polls = w.polls_now;
    w.now = 66;
    w.role(Role::Master, false);
    assert_eq!(w.polls_now, polls + 1, "the role change asks again");
    assert_eq!(
        w.present.len(),
        1,
        "claimed at the role event, on the answer in hand"
    );
    assert!(w.core.status(at(66)).reason.starts_with("promoted by"));
}

#[test]
fn sentinel_mode_without_master_name_is_an_error_that_says_so() {
    let mut s = settings("192.0.2.100/24");
    s.sentinels = vec![sentinel(1)];
    let mut w = World::new(s);
    w.role(Role::Master, true);
    assert_eq!(w.phase(), "error");
    assert!(w.present.is_empty());
    assert!(w
        .core
        .status(at(0))
        .last_error
        .contains("vip.master-name is required"));
    assert_eq!(
        w.plans.last(),
        Some(&None),
        "nothing to poll without a name"
    );
}

#[test]
fn basic_mode_polls_nothing() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.role(Role::Master, true);
    assert_eq!(w.plans, vec![None]);
    assert_eq!(w.present.len(), 1);
    assert_eq!(w.core.status(at(0)).mode.as_str(), "basic");
}

#[test]
fn a_quorum_below_a_majority_is_warned_once_and_shown() {
    let mut s = settings("192.0.2.100/24");
    s.sentinels = vec![sentinel(1), sentinel(2), sentinel(3)];
    s.master_name = Some("mymaster".into());
    s.quorum = 1;
    let mut w = World::new(s);
    w.feed(Event::Identity(crate::sentinel::Me {
        runid: "r1".into(),
        ..Default::default()
    }));
    w.role(Role::Master, true);
    for _ in 0..3 {
        w.hear(1, answer(1, 1, "r1", 0));
    }
    let warnings = w
        .logs
        .iter()
        .filter(|(l, m)| *l == Level::Warning && m.contains("below a majority"))
        .count();
    assert_eq!(warnings, 1, "{:?}", w.logs);
    let status = w.core.status(at(0));
    assert!(status.holding, "the operator's quorum is obeyed");
    assert!(
        status
            .reason
            .contains("(warning: vip.quorum 1 is below a majority"),
        "{}",
        status.reason
    );
}

#[test]
fn transitions_are_published_one_line_each() {
    let mut w = sentinel_world();
    w.role(Role::Master, true);
    w.feed(Event::SentinelFailed {
        from: sentinel(1),
        at: Duration::ZERO,
        error: PollError {
            kind: crate::sentinel::PollErrorKind::Auth,
            text: "WRONGPASS".into(),
        },
    });
    w.hear(1, answer(1, 1, "r1", 4));
    w.hear(2, answer(2, 1, "r1", 4));
    w.now = 50;
    w.hear(3, answer(3, 2, "r2", 5));
    w.feed(Event::Conflict {
        ip: "192.0.2.100".parse().unwrap(),
        mac: OTHER_MAC,
    });
    let lines: Vec<&str> = w.published.iter().map(String::as_str).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].starts_with(
            "error 192.0.2.100/24 - 1700000000000 Sentinel 192.0.2.21:26379: authentication failed"
        ),
        "{lines:?}"
    );
    assert_eq!(
        lines[1],
        "claim 192.0.2.100/24 4 1700000000000 confirmed as master by 2 of 3 Sentinels (2 needed)"
    );
    assert!(
        lines[2].starts_with("fence 192.0.2.100/24 4 1700000000050 fenced: Sentinel 192.0.2.23:26379 names 192.0.2.12:6379"),
        "{lines:?}"
    );
    // not holding any more: another host announcing the VIP is no conflict
}

#[test]
fn sentinel_mode_the_same_sentinels_reordered_keep_the_vip_and_the_pollers() {
    let mut w = holding_world(0);
    let plans = w.plans.len();
    let mut s = w.core.settings().clone();
    s.sentinels = vec![sentinel(3), sentinel(1), sentinel(2)];
    w.feed(Event::Settings(Box::new(s)));
    assert_eq!(w.present.len(), 1, "still held");
    assert_eq!(w.plans.len(), plans, "the pollers keep running");
    assert!(w.core.status(at(0)).holding);
}
