//! The replicas as witnesses: the failsafe, the promise a replica gives, a lapse, and a
//! failover the operator forced (docs/safety.md, "Failsafe").

use super::*;
use crate::witness::{Denial, Replication, Reply};

const REPLID: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// Our INFO replication as a master with replicas n2 and n3.
fn master_replication() -> Replication {
    Replication {
        is_master: true,
        replid: REPLID.into(),
        replicas: vec![node(2), node(3)],
        ..Default::default()
    }
}

use crate::sentinel::view::tests::node;

impl World {
    fn replication(&mut self, r: Replication) {
        self.feed(Event::Replication(Box::new(r)));
    }

    fn witness(&mut self, n: u8, reply: Reply) {
        self.feed(Event::WitnessAnswer {
            from: node(n),
            sent: Duration::from_millis(self.now),
            result: Ok(reply),
        });
    }

    fn asking(&self) -> Option<Vec<String>> {
        self.witness_plans
            .last()
            .cloned()
            .flatten()
            .map(|p| p.targets.iter().map(|t| t.to_string()).collect())
    }
}

/// We are n2 ("r2"), a replica.
fn replica_n2() -> World {
    let mut w = sentinel_world();
    w.feed(Event::Identity(crate::sentinel::Me {
        runid: "r2".into(),
        ..Default::default()
    }));
    w.role(Role::Replica, true);
    w
}

/// Sentinel 1 fails n1 over (master flags `flags`) and has chosen n2.
fn leader_promoting_n2(flags: &str) -> Answer {
    leader_promoting(2, flags)
}

/// Sentinel 1 fails n1 over (master flags `flags`) and has chosen n`n`.
fn leader_promoting(n: u8, flags: &str) -> Answer {
    let mut leader = answer(1, 1, "r1", 0);
    leader.master.instance.flags = Flags::parse(flags);
    leader.master.failover_state = Some("wait_promotion".into());
    leader.replicas = vec![Instance {
        endpoint: node(n),
        runid: format!("r{n}"),
        flags: Flags::parse("slave,promoted"),
        last_ping_sent_ms: 0,
        last_ok_ping_reply_ms: 10,
        info_refresh_ms: 0,
    }];
    leader
}

fn follows() -> Reply {
    Reply::Follows { granted_ms: 1000 }
}

/// Holding on three Sentinels, with replicas n2 and n3.
fn holding_with_replicas() -> World {
    let mut w = holding_world(0);
    w.replication(master_replication());
    w
}

/// Sentinels 2 and 3 fall silent at 0 ms; Sentinel 1 and both replicas keep answering every
/// 100 ms until `until` ms.
fn two_sentinels_silent(w: &mut World, until: u64) {
    let mut t = 100;
    while t <= until {
        w.run_until(t);
        w.hear(1, answer(1, 1, "r1", 0));
        if w.asking().is_some() {
            w.witness(2, follows());
            w.witness(3, follows());
        }
        t += 100;
    }
}

#[test]
fn with_every_sentinel_answering_no_replica_is_asked() {
    let mut w = holding_with_replicas();
    for t in [100, 200, 300] {
        w.run_until(t);
        for i in 1..=3 {
            w.hear(i, answer(i, 1, "r1", 0));
        }
    }
    assert_eq!(w.asking(), None, "a spare supporter: nothing to ask");
    assert_eq!(
        w.core.status(at(300)).witnesses,
        2,
        "the witnesses are known all the same"
    );
}

#[test]
fn two_sentinels_stopped_the_master_keeps_the_vip_on_its_replicas_word() {
    let mut w = holding_with_replicas();
    two_sentinels_silent(&mut w, 3000);
    assert_eq!(
        w.asking(),
        Some(vec![
            "192.0.2.12:6379".to_string(),
            "192.0.2.13:6379".to_string()
        ])
    );
    assert_eq!(w.present.len(), 1, "never released");
    let s = w.core.status(at(3000));
    assert!(s.failsafe, "{}", s.reason);
    assert!(s.reason.starts_with("failsafe: "), "{}", s.reason);
    assert_eq!((s.witnesses, s.witnesses_confirmed), (2, 2));
    assert_eq!(s.counters.releases, 0);
    assert!(w.published.iter().any(|l| l.starts_with("failsafe-enter ")));
    // The Sentinels are back: the failsafe ends, the VIP never moved.
    w.run_until(3100);
    for i in 1..=3 {
        w.hear(i, answer(i, 1, "r1", 0));
    }
    let s = w.core.status(at(3100));
    assert!(!s.failsafe);
    assert!(s.reason.starts_with("confirmed as master"), "{}", s.reason);
    assert!(w.published.iter().any(|l| l.starts_with("failsafe-leave ")));
    assert_eq!(w.present.len(), 1);
}

#[test]
fn in_failsafe_a_replica_that_says_no_ends_the_hold_and_a_silent_one_when_its_word_runs_out() {
    let mut w = holding_with_replicas();
    two_sentinels_silent(&mut w, 1000);
    assert!(w.core.status(at(1000)).failsafe);
    // n3's link is down: it says so, and the failsafe ends at once.
    w.run_until(1100);
    w.hear(1, answer(1, 1, "r1", 0));
    w.witness(2, follows());
    w.witness(3, Reply::Denied(Denial::NotFollowing("link down".into())));
    assert!(
        w.present.is_empty(),
        "a replica that does not follow us: released"
    );
    assert!(w.published.iter().any(|l| l.starts_with("failsafe-leave ")));

    // Silence instead: n3 answered last at 1000 ms (good until 2000), then nothing.
    let mut w = holding_with_replicas();
    two_sentinels_silent(&mut w, 1000);
    w.run_until(1100);
    w.hear(1, answer(1, 1, "r1", 0));
    w.witness(2, follows());
    w.feed(Event::WitnessAnswer {
        from: node(3),
        sent: Duration::from_millis(1100),
        result: Err("timed out".into()),
    });
    w.run_until(1999);
    assert_eq!(w.present.len(), 1, "n3's word of 1000 ms still counts");
    w.run_until(2000);
    assert!(
        w.present.is_empty(),
        "released when n3's last confirmation ran out"
    );
    assert!(!w.core.status(at(2000)).failsafe);
}

#[test]
fn a_promoted_witness_fences_at_once() {
    for denial in [
        Denial::Promoted,
        Denial::FollowsOther {
            master: "192.0.2.12:6379".into(),
            replid: "cccccccccccccccccccccccccccccccccccccccc".into(),
        },
        Denial::FailingOver("Sentinel 192.0.2.23:26379 is failing it over".into()),
        Denial::ReportedDown(
            "Sentinel 192.0.2.22:26379 reports it objectively down (o_down)".into(),
        ),
    ] {
        let mut w = holding_with_replicas();
        two_sentinels_silent(&mut w, 1000);
        w.run_until(1100);
        w.witness(3, Reply::Denied(denial.clone()));
        assert!(w.present.is_empty(), "{denial:?}");
        assert_eq!(
            w.core.status(at(1100)).last_fence_reason_str(),
            "witness_denies"
        );
    }
}

#[test]
fn a_replica_hearing_its_master_reported_down_does_not_fence_a_master_the_sentinels_confirm() {
    let mut w = holding_with_replicas();
    // Sentinel 3 silent: no spare supporter, the replicas are asked.
    for t in [100, 200, 300, 400] {
        w.run_until(t);
        w.hear(1, answer(1, 1, "r1", 0));
        w.hear(2, answer(2, 1, "r1", 0));
    }
    assert!(w.asking().is_some());
    w.witness(
        2,
        Reply::Denied(Denial::ReportedDown(
            "Sentinel 192.0.2.23:26379 reports it subjectively down (s_down)".into(),
        )),
    );
    assert_eq!(
        w.present.len(),
        1,
        "two Sentinels confirm: not in failsafe, no fence"
    );
}

#[test]
fn with_failsafe_off_the_lease_decides_as_before() {
    let mut w = holding_with_replicas();
    let mut s = w.core.settings().clone();
    s.failsafe = false;
    w.feed(Event::Settings(Box::new(s)));
    two_sentinels_silent(&mut w, 1000);
    assert!(w.present.is_empty());
    assert_eq!(
        w.core.status(at(1000)).last_fence_reason_str(),
        "lease_expired"
    );
    assert!(!w.published.iter().any(|l| l.starts_with("failsafe-enter ")));
}

#[test]
fn a_replica_that_confirmed_does_not_claim_before_its_promise_runs_out() {
    let mut w = replica_n2();
    w.now = 1000;
    w.feed(Event::Witnessed {
        until: Duration::from_millis(1800),
    });
    assert_eq!(w.core.status(at(1000)).witnessed_until_ms, 800);
    // The Sentinels promote us (an automatic failover: claimed at the promotion otherwise).
    let leader = leader_promoting_n2("s_down,o_down,master,failover_in_progress");
    w.now = 1200;
    w.hear(1, leader.clone());
    w.role(Role::Master, false);
    assert!(w.present.is_empty(), "promised until 1800");
    assert!(w
        .core
        .status(at(1200))
        .reason
        .contains("confirmed to its master"));
    w.run_until(1700);
    w.hear(1, leader);
    assert!(w.present.is_empty());
    w.run_until(1800);
    assert_eq!(w.present.len(), 1, "claimed when the promise ran out");
}

#[test]
fn a_forced_failover_is_claimed_only_once_its_leader_moved_on() {
    let mut w = replica_n2();
    let mut leader = leader_promoting_n2("master,failover_in_progress,force_failover");
    w.hear(1, leader.clone());
    w.now = 60;
    w.role(Role::Master, false);
    assert!(
        w.present.is_empty(),
        "REPLICAOF NO ONE alone: the leader could still die before it tells anyone"
    );
    w.now = 400;
    leader.master.failover_state = Some("reconf_slaves".into());
    w.hear(1, leader);
    assert_eq!(w.present.len(), 1, "the leader saw the promotion: claimed");
}

#[test]
fn after_a_lapse_the_replicas_word_brings_the_vip_back_without_every_sentinel() {
    let mut w = confirmed_by_two();
    w.replication(master_replication());
    w.run_until(600);
    assert!(w.present.is_empty(), "the lease ran out");
    w.now = 700;
    w.hear(1, answer(1, 1, "r1", 0));
    w.hear(2, answer(2, 1, "r1", 0));
    assert!(w.present.is_empty());
    assert!(w.asking().is_some(), "a lapsed master asks its replicas");
    w.witness(2, follows());
    assert!(w.present.is_empty(), "n3 has not confirmed yet");
    w.witness(3, Reply::Denied(Denial::Promoted));
    assert!(
        w.present.is_empty(),
        "n3 was promoted while we were away: fenced"
    );
    w.witness(3, follows());
    assert_eq!(w.present.len(), 1, "every replica follows us: back");
}

#[test]
fn a_dead_leaders_failover_undone_by_its_promoted_node_ends_the_fence() {
    let mut w = holding_with_replicas();
    // Sentinel 1 fails n1 over and promotes n3 (a forced failover: n1 is healthy).
    w.run_until(100);
    w.hear(
        1,
        leader_promoting(3, "master,failover_in_progress,force_failover"),
    );
    assert!(w.present.is_empty(), "fenced by the leader's choice");
    w.witness(2, follows());
    w.witness(3, Reply::Denied(Denial::Promoted));
    // The leader dies right after the promotion; the other two still name n1.
    for t in [200, 300, 400] {
        w.run_until(t);
        w.feed(Event::SentinelFailed {
            from: sentinel(1),
            at: Duration::from_millis(t),
            error: PollError::timeout(),
        });
        w.hear(2, answer(2, 1, "r1", 0));
        w.hear(3, answer(3, 1, "r1", 0));
        w.witness(2, follows());
        w.witness(3, Reply::Denied(Denial::Promoted));
    }
    assert!(w.present.is_empty(), "n3 is still a master: fenced");
    // The others convert n3 back: it follows n1 again. Every witness confirms: n1 holds.
    w.run_until(500);
    w.hear(2, answer(2, 1, "r1", 0));
    w.hear(3, answer(3, 1, "r1", 0));
    w.witness(2, follows());
    w.witness(3, follows());
    assert_eq!(w.present.len(), 1, "the promotion was undone");
    let s = w.core.status(at(500));
    assert!(s.reason.contains("was undone"), "{}", s.reason);
}

#[test]
fn a_leader_that_still_answers_keeps_its_fence_whatever_the_replicas_say() {
    let mut w = holding_with_replicas();
    w.run_until(100);
    w.hear(
        1,
        leader_promoting(3, "master,failover_in_progress,force_failover"),
    );
    w.hear(2, answer(2, 1, "r1", 0));
    w.hear(3, answer(3, 1, "r1", 0));
    w.witness(2, follows());
    w.witness(3, follows());
    assert!(
        w.present.is_empty(),
        "the leader answers: its failover stands"
    );
}

#[test]
fn a_witness_answer_about_an_old_history_never_fences_a_later_promotion() {
    let mut w = holding_with_replicas();
    // One Sentinel gone: n1 asks; n3 answers that it follows another master's history.
    for t in [100, 200, 300] {
        w.run_until(t);
        w.hear(1, answer(1, 1, "r1", 0));
        w.hear(2, answer(2, 1, "r1", 0));
    }
    w.witness(
        3,
        Reply::Denied(Denial::FollowsOther {
            master: "192.0.2.12:6379".into(),
            replid: "cccccccccccccccccccccccccccccccccccccccc".into(),
        }),
    );
    assert!(w.present.is_empty(), "fenced");
    // n1 becomes a replica, then is promoted again under a new history: every Sentinel
    // confirms it. The old answer was about another question: it fences nothing.
    w.role(Role::Replica, false);
    w.replication(Replication {
        is_master: true,
        replid: "dddddddddddddddddddddddddddddddddddddddd".into(),
        replid2: REPLID.into(),
        replicas: vec![node(2), node(3)],
        ..Default::default()
    });
    w.role(Role::Master, false);
    w.run_until(400);
    for i in 1..=3 {
        w.hear(i, answer(i, 1, "r1", 0));
    }
    assert_eq!(w.present.len(), 1, "{}", w.core.status(at(400)).reason);
}

#[test]
fn a_denial_no_longer_renewed_fences_no_longer_than_the_witness_lease() {
    let mut w = holding_with_replicas();
    for t in [100, 200, 300] {
        w.run_until(t);
        w.hear(1, answer(1, 1, "r1", 0));
        w.hear(2, answer(2, 1, "r1", 0));
    }
    w.witness(
        3,
        Reply::Denied(Denial::FailingOver(
            "Sentinel 192.0.2.23:26379 is failing it over".into(),
        )),
    );
    assert!(w.present.is_empty(), "fenced");
    // Every Sentinel confirms again, n3 is not heard from: within the lease the word stands,
    // after it n1 comes back (every Sentinel supports it).
    for t in [400, 700] {
        w.run_until(t);
        for i in 1..=3 {
            w.hear(i, answer(i, 1, "r1", 0));
        }
        assert!(w.present.is_empty(), "n3's word still stands at {t} ms");
    }
    w.run_until(850);
    for i in 1..=3 {
        w.hear(i, answer(i, 1, "r1", 0));
    }
    assert_eq!(w.present.len(), 1, "{}", w.core.status(at(850)).reason);
}

#[test]
fn with_failsafe_off_the_witnesses_still_fence_but_never_hold() {
    let mut w = holding_with_replicas();
    let mut s = w.core.settings().clone();
    s.failsafe = false;
    w.feed(Event::Settings(Box::new(s)));
    for t in [100, 200, 300] {
        w.run_until(t);
        w.hear(1, answer(1, 1, "r1", 0));
        w.hear(2, answer(2, 1, "r1", 0));
    }
    assert!(
        w.asking().is_some(),
        "Sentinel 3 is silent: the replicas are asked"
    );
    w.witness(
        2,
        Reply::Denied(Denial::FailingOver(
            "Sentinel 192.0.2.23:26379 is failing it over".into(),
        )),
    );
    assert!(w.present.is_empty(), "their evidence of a failover fences");
}
