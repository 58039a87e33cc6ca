//! Settings changes, shutdown, clients that cannot reach the VIP, and an address left by the
//! previous process.

use super::*;

#[test]
fn settings_changes_move_the_claim() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.role(Role::Master, true);
    w.now = 1000;
    w.feed(Event::Settings(Box::new(settings("192.0.2.101/24"))));
    assert_eq!(w.present, vec![vip("192.0.2.101/24")]);
    assert!(w.logged("releasing 192.0.2.100/24 on eth0 (configuration changed)"));
    let s = w.core.status(at(1000));
    assert_eq!((s.counters.claims, s.counters.releases), (2, 1));

    let mut off = settings("192.0.2.101/24");
    off.enabled = false;
    w.feed(Event::Settings(Box::new(off.clone())));
    assert!(w.present.is_empty());
    assert_eq!(w.phase(), "idle");
    assert_eq!(w.core.status(at(1000)).reason, "disabled by vip.enabled");

    off.enabled = true;
    w.feed(Event::Settings(Box::new(off)));
    assert_eq!(w.present, vec![vip("192.0.2.101/24")]);
    assert_eq!(w.phase(), "holding");

    // Unconfigured: releases and idles, and asks for no ticks.
    w.feed(Event::Settings(Box::default()));
    assert!(w.present.is_empty());
    assert_eq!(w.phase(), "idle");
    w.run_until(100_000);
    assert_eq!(w.core.next_deadline(), None);
}

#[test]
fn shutdown_releases_unless_told_not_to() {
    for release in [true, false] {
        let mut s = settings("192.0.2.100/24");
        s.release_on_shutdown = release;
        let mut w = World::new(s);
        w.role(Role::Master, true);
        w.feed(Event::Shutdown);
        assert_eq!(w.present.is_empty(), release);
        assert!(w.core.finished());
        assert_eq!(w.core.next_deadline(), None);
    }
}

#[test]
fn clients_that_cannot_reach_the_vip_are_told_at_each_claim() {
    use crate::reach::Listening;
    let mut w = World::new(settings("192.0.2.100/24"));
    let debian = Listening {
        bind: "127.0.0.1 -::1".into(),
        protected_mode: true,
        default_user_has_password: false,
    };
    w.feed(Event::Clients(debian));
    let problem = w.core.status(at(0)).clients_problem;
    assert!(problem.starts_with("clients cannot connect through the VIP: the server does not listen on 192.0.2.100 (bind 127.0.0.1 -::1)"), "{problem}");
    assert!(w
        .logs
        .iter()
        .any(|(l, m)| *l == Level::Warning && *m == problem));
    let before = w.logs.len();
    w.role(Role::Master, true);
    assert_eq!(w.present.len(), 1, "claimed all the same");
    assert!(
        w.logs[before..]
            .iter()
            .any(|(l, m)| *l == Level::Warning && *m == problem),
        "said again at the claim"
    );
    // CONFIG SET bind * -::* and a password: clear, said once.
    w.feed(Event::Clients(Listening {
        bind: "* -::*".into(),
        protected_mode: true,
        default_user_has_password: true,
    }));
    assert_eq!(w.core.status(at(0)).clients_problem, "");
    assert!(w
        .logs
        .iter()
        .any(|(l, m)| *l == Level::Notice
            && m.starts_with("clients can connect through the VIP again")));
}

/// A crash restarted at once: the previous process's VIP is still on the interface (its
/// lifetime has not run out) when the module loads and first looks.
fn leftover_world(sentinels: bool, lifetime_s: u32) -> World {
    let mut s = settings("192.0.2.100/24");
    if sentinels {
        s.sentinels = vec![sentinel(1), sentinel(2), sentinel(3)];
        s.master_name = Some("mymaster".into());
    }
    s.address_lifetime_s = lifetime_s;
    let mut w = World::new(s);
    w.present = vec![vip("192.0.2.100/24")];
    w.feed(Event::Identity(crate::sentinel::Me {
        runid: "r1".into(),
        ..Default::default()
    }));
    w.feed(Event::NetChanged);
    w
}

#[test]
fn a_leftover_address_waits_for_the_role_and_the_first_answers() {
    let deleted = |w: &World| w.logs.iter().any(|(_, m)| m.contains("deleting it"));
    // basic mode: the look comes before the role; the role then claims what is there
    let mut w = leftover_world(false, 1);
    assert!(
        !deleted(&w) && w.present.len() == 1,
        "kept until the role is known"
    );
    w.role(Role::Master, true);
    assert!(!deleted(&w) && w.present.len() == 1 && w.core.status(at(0)).holding);

    // Sentinel mode: kept until the first answers, then claimed ...
    let mut w = leftover_world(true, 1);
    w.role(Role::Master, true);
    assert!(
        !deleted(&w) && w.present.len() == 1,
        "no Sentinel has answered yet"
    );
    w.hear(1, answer(1, 1, "r1", 0));
    w.hear(2, answer(2, 1, "r1", 0));
    assert!(!deleted(&w) && w.core.status(at(0)).holding);

    // ... or deleted at the first answer that does not confirm it
    let mut w = leftover_world(true, 1);
    w.role(Role::Master, true);
    w.hear(1, answer(1, 2, "r2", 1));
    assert!(deleted(&w) && w.present.is_empty(), "a Sentinel names n2");

    // a replica never keeps one, nor does a permanent address wait
    let mut w = leftover_world(true, 1);
    w.role(Role::Replica, true);
    assert!(deleted(&w) && w.present.is_empty());
    let mut w = leftover_world(true, 0);
    w.role(Role::Master, true);
    assert!(
        deleted(&w) && w.present.is_empty(),
        "lifetime 0 never runs out by itself"
    );
}
