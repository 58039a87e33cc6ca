//! Claim and release as stories: the role decides, the lifetimes are refreshed, drift is
//! repaired, the link coming back is announced.

use super::*;

#[test]
fn loaded_as_master_claims_and_announces_on_schedule() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.role(Role::Master, true);
    assert_eq!(w.present, vec![vip("192.0.2.100/24")]);
    assert_eq!(w.phase(), "holding");
    assert!(w.logged("claiming 192.0.2.100/24 on eth0 (loaded as master)"));
    // The first announcement goes at once, with the add.
    assert_eq!(w.announced.len(), 1);
    w.run_until(10_000);
    let times: Vec<u64> = w.announced.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        times,
        vec![0, 200, 400, 600, 800, 5000, 5200, 5400, 5600, 5800]
    );
    let s = w.core.status(at(10_000));
    assert_eq!((s.counters.claims, s.counters.announcements_sent), (1, 10));
    assert!(s.holding);
    assert_eq!(s.reason, "loaded as master");
    assert_eq!(s.last_transition_ms, 1_700_000_000_000);
}

/// (start role, event role, loaded, expect holding, expect state, reason)
type RoleCase = (Option<Role>, Role, bool, bool, &'static str, &'static str);

const ROLE_EVENTS: [RoleCase; 6] = [
    (
        None,
        Role::Master,
        true,
        true,
        "holding",
        "loaded as master",
    ),
    (
        None,
        Role::Replica,
        true,
        false,
        "standby",
        "loaded as replica",
    ),
    (
        Some(Role::Replica),
        Role::Master,
        false,
        true,
        "holding",
        "role changed to master",
    ),
    (
        Some(Role::Master),
        Role::Replica,
        false,
        false,
        "standby",
        "role changed to replica",
    ),
    (
        Some(Role::Master),
        Role::Master,
        false,
        true,
        "holding",
        "loaded as master",
    ),
    (
        Some(Role::Replica),
        Role::Replica,
        false,
        false,
        "standby",
        "loaded as replica",
    ),
];

#[test]
fn each_event_in_each_state() {
    for (start, role, loaded, holding, phase, reason) in ROLE_EVENTS {
        let mut w = World::new(settings("192.0.2.100/24"));
        if let Some(r) = start {
            w.role(r, true);
        }
        w.now = 100;
        w.role(role, loaded);
        let s = w.core.status(at(100));
        let case = format!("{start:?} -> {role:?} loaded={loaded}");
        assert_eq!(s.holding, holding, "{case}");
        assert_eq!(s.state.as_str(), phase, "{case}");
        assert_eq!(s.reason, reason, "{case}");
        assert_eq!(w.present.is_empty(), !holding, "{case}");
    }
}

#[test]
fn demotion_releases_and_counts() {
    let mut w = World::new(settings("192.0.2.100/24,2001:db8::100/64"));
    w.role(Role::Master, true);
    assert_eq!(w.present.len(), 2);
    w.now = 1000;
    w.role(Role::Replica, false);
    assert!(w.present.is_empty());
    assert!(w.logged("releasing 192.0.2.100/24,2001:db8::100/64 on eth0 (role changed to replica)"));
    let s = w.core.status(at(1000));
    assert_eq!((s.counters.claims, s.counters.releases), (1, 1));
    // No announcements after the release, even though the burst was not finished.
    let before = w.announced.len();
    w.run_until(20_000);
    assert_eq!(w.announced.len(), before);
}

#[test]
fn twenty_rapid_flips_end_consistent() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.role(Role::Replica, true);
    for i in 0..20 {
        w.now = i * 7;
        let role = if i % 2 == 0 {
            Role::Master
        } else {
            Role::Replica
        };
        w.role(role, false);
        assert_eq!(w.present.is_empty(), role == Role::Replica, "flip {i}");
    }
    w.run_until(30_000);
    let s = w.core.status(at(30_000));
    assert_eq!((s.counters.claims, s.counters.releases), (10, 10));
    assert!(w.present.is_empty());
}

#[test]
fn latency_is_role_event_to_first_announcement() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.role(Role::Replica, true);
    w.core.handle(
        Event::Role {
            role: Role::Master,
            at: Duration::from_micros(1_000),
            loaded: false,
        },
        Now {
            mono: Duration::from_micros(1_000),
            unix_ms: 0,
        },
    );
    w.core.handle(
        Event::Observed(w.observation()),
        Now {
            mono: Duration::from_micros(1_150),
            unix_ms: 0,
        },
    );
    w.core.handle(
        Event::Announced {
            at: Duration::from_micros(1_300),
        },
        Now {
            mono: Duration::from_micros(1_900),
            unix_ms: 0,
        },
    );
    assert_eq!(w.core.status(at(2)).last_claim_latency_us, 300);
}

/// A bare core, loaded as master, with addresses of `lifetime_s`.
fn loaded_master(lifetime_s: u32) -> Core {
    let mut s = settings("192.0.2.100/24");
    s.address_lifetime_s = lifetime_s;
    let mut core = Core::new(s);
    core.handle(
        Event::Role {
            role: Role::Master,
            at: Duration::ZERO,
            loaded: true,
        },
        at(0),
    );
    core
}

#[test]
fn lifetime_is_refreshed_four_times_per_lifetime() {
    let mut s = settings("192.0.2.100/24");
    s.address_lifetime_s = 2;
    let mut w = World::new(s);
    w.role(Role::Master, true);
    let mut adds = 0;
    for t in (0..=2000).step_by(50) {
        w.run_until(t);
    }
    // Count Add actions by replaying a tick at each refresh point.
    let mut core = loaded_master(2);
    let obs = w.observation();
    for a in core.handle(Event::Observed(obs.clone()), at(0)) {
        if matches!(a, Action::Add { lifetime_s: 2, .. }) {
            adds += 1;
        }
    }
    for t in [500u64, 1000, 1500, 2000] {
        let acts = core.handle(Event::Tick, at(t));
        assert!(acts.contains(&Action::Observe), "observe at {t}");
        for a in core.handle(Event::Observed(obs.clone()), at(t)) {
            if matches!(a, Action::Add { lifetime_s: 2, .. }) {
                adds += 1;
            }
        }
    }
    assert_eq!(adds, 5, "one add at the claim, then one refresh per 500 ms");
    assert!(w.present.contains(&vip("192.0.2.100/24")));
}

#[test]
fn permanent_addresses_are_not_refreshed() {
    let mut core = loaded_master(0);
    let obs = Observation {
        link: Some(LinkState {
            index: 2,
            up: true,
            mac: Some(MAC),
        }),
        present: vec![vip("192.0.2.100/24")],
        local: vec![],
        net_admin: true,
        net_raw: true,
    };
    core.handle(Event::Observed(obs.clone()), at(0));
    let acts = core.handle(Event::Observed(obs), at(5000));
    assert!(
        !acts.iter().any(|a| matches!(a, Action::Add { .. })),
        "{acts:?}"
    );
}

/// Loaded as master 20 s ago: the claim's bursts are over.
fn settled_master() -> World {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.role(Role::Master, true);
    w.run_until(20_000);
    w
}

#[test]
fn drift_is_repaired_and_announced() {
    let mut w = settled_master();
    let sent = w.announced.len();
    w.present.clear(); // deleted by hand
    w.feed(Event::NetChanged);
    assert_eq!(w.present, vec![vip("192.0.2.100/24")]);
    assert!(w.logged("192.0.2.100/24 was missing from eth0: adding it back"));
    assert_eq!(w.announced.len(), sent + 1, "announced at once");
    assert_eq!(
        w.core.status(at(20_000)).counters.claims,
        1,
        "not a new claim"
    );
}

#[test]
fn vip_on_a_replica_is_deleted() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.role(Role::Replica, true);
    w.present.push(vip("192.0.2.100/24")); // added by hand
    w.run_until(1000);
    assert!(w.present.is_empty());
    assert!(w.logged("must not hold it"));
    assert_eq!(w.core.status(at(1000)).counters.releases, 0);
}

#[test]
fn link_down_and_up_reannounces() {
    let mut w = settled_master();
    let sent = w.announced.len();
    if let Some(l) = w.link.as_mut() {
        l.up = false;
    }
    w.feed(Event::NetChanged);
    if let Some(l) = w.link.as_mut() {
        l.up = true;
    }
    w.feed(Event::NetChanged);
    assert!(w.logged("eth0 is up again"));
    assert!(w.announced.len() > sent);
}
