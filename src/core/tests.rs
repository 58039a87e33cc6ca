//! The core's decisions as stories and tables, with a fake clock and a fake interface.

use super::*;
use crate::config::parse_addresses;

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const OTHER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 9];

fn settings(addrs: &str) -> Settings {
    Settings {
        addresses: parse_addresses(addrs).unwrap(),
        interface: "eth0".into(),
        ..Settings::default()
    }
}

fn at(ms: u64) -> Now {
    Now {
        mono: Duration::from_millis(ms),
        unix_ms: 1_700_000_000_000 + ms,
    }
}

fn vip(s: &str) -> Vip {
    crate::config::parse_cidr(s).unwrap()
}

/// A fake kernel: applies the core's actions to an address set and answers observations,
/// so a test can run the same loop the worker runs.
struct World {
    core: Core,
    link: Option<LinkState>,
    present: Vec<Vip>,
    caps: (bool, bool),
    fail_add: Option<i32>,
    fail_announce: Option<i32>,
    announced: Vec<(u64, Vip)>,
    logs: Vec<(Level, String)>,
    now: u64,
}

impl World {
    fn new(s: Settings) -> World {
        World {
            core: Core::new(s),
            link: Some(LinkState {
                index: 2,
                up: true,
                mac: Some(MAC),
            }),
            present: Vec::new(),
            caps: (true, true),
            fail_add: None,
            fail_announce: None,
            announced: Vec::new(),
            logs: Vec::new(),
            now: 0,
        }
    }

    fn observation(&self) -> Observation {
        Observation {
            link: self.link.clone(),
            present: if self.link.is_some() {
                self.present.clone()
            } else {
                Vec::new()
            },
            net_admin: self.caps.0,
            net_raw: self.caps.1,
            local_addrs: vec!["192.0.2.11".parse().unwrap()],
        }
    }

    /// Feed an event and run every resulting action to completion, like worker::process.
    fn feed(&mut self, event: Event) {
        let mut queue = std::collections::VecDeque::from([event]);
        while let Some(ev) = queue.pop_front() {
            for action in self.core.handle(ev, at(self.now)) {
                let result: Result<Option<Event>, OsError> = match &action {
                    Action::Observe => Ok(Some(Event::Observed(self.observation()))),
                    Action::Add { vip, .. } => match self.fail_add {
                        Some(errno) => Err(OsError::new("add address", errno)),
                        None => {
                            if !self.present.contains(vip) {
                                self.present.push(*vip);
                            }
                            Ok(Some(Event::Added(*vip)))
                        }
                    },
                    Action::Delete { vip, .. } => {
                        self.present.retain(|v| v != vip);
                        Ok(None)
                    }
                    Action::Announce { vip, mac, .. } => match self.fail_announce {
                        Some(errno) => Err(OsError::new("send announcement", errno)),
                        None => {
                            assert_eq!(*mac, MAC);
                            self.announced.push((self.now, *vip));
                            Ok(Some(Event::Announced {
                                at: Duration::from_millis(self.now),
                            }))
                        }
                    },
                    Action::Log { level, message } => {
                        self.logs.push((*level, message.clone()));
                        Ok(None)
                    }
                };
                match result {
                    Ok(Some(e)) => queue.push_back(e),
                    Ok(None) => {}
                    Err(error) => {
                        queue.push_back(Event::Failed { action, error });
                        break;
                    }
                }
            }
        }
    }

    /// Advance the fake clock to `ms`, delivering every Tick the core asks for on the way.
    fn run_until(&mut self, ms: u64) {
        let mut guard = 0;
        while let Some(next) = self.core.next_deadline() {
            let next = next.as_millis() as u64;
            if next > ms {
                break;
            }
            self.now = self.now.max(next);
            self.feed(Event::Tick);
            guard += 1;
            assert!(guard < 100_000, "core keeps asking for ticks at {next} ms");
        }
        self.now = ms;
    }

    fn role(&mut self, role: Role, loaded: bool) {
        self.feed(Event::Role {
            role,
            at: Duration::from_millis(self.now),
            loaded,
        });
    }

    fn phase(&self) -> &'static str {
        self.core.phase().as_str()
    }

    fn logged(&self, text: &str) -> bool {
        self.logs.iter().any(|(_, m)| m.contains(text))
    }
}

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

#[test]
fn each_event_in_each_state() {
    // (start role, event role, loaded, expect holding, expect phase, reason)
    let cases = [
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
    for (start, role, loaded, holding, phase, reason) in cases {
        let mut w = World::new(settings("192.0.2.100/24"));
        if let Some(r) = start {
            w.role(r, true);
        }
        w.now = 100;
        w.role(role, loaded);
        let s = w.core.status(at(100));
        let case = format!("{start:?} -> {role:?} loaded={loaded}");
        assert_eq!(s.holding, holding, "{case}");
        assert_eq!(s.state, phase, "{case}");
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
    let mut core = Core::new(settings("192.0.2.100/24"));
    core.handle(
        Event::Role {
            role: Role::Master,
            at: Duration::ZERO,
            loaded: true,
        },
        at(0),
    );
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
    let mut s = settings("192.0.2.100/24");
    s.address_lifetime_s = 0;
    let mut core = Core::new(s);
    core.handle(
        Event::Role {
            role: Role::Master,
            at: Duration::ZERO,
            loaded: true,
        },
        at(0),
    );
    let obs = Observation {
        link: Some(LinkState {
            index: 2,
            up: true,
            mac: Some(MAC),
        }),
        present: vec![vip("192.0.2.100/24")],
        net_admin: true,
        net_raw: true,
        local_addrs: vec![],
    };
    core.handle(Event::Observed(obs.clone()), at(0));
    let acts = core.handle(Event::Observed(obs), at(5000));
    assert!(
        !acts.iter().any(|a| matches!(a, Action::Add { .. })),
        "{acts:?}"
    );
}

#[test]
fn drift_is_repaired_and_announced() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.role(Role::Master, true);
    w.run_until(20_000);
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
    let mut w = World::new(settings("192.0.2.100/24"));
    w.role(Role::Master, true);
    w.run_until(20_000);
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

#[test]
fn missing_interface_is_an_error_that_recovers() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.link = None;
    w.role(Role::Master, true);
    assert_eq!(w.phase(), "error");
    let s = w.core.status(at(0));
    assert!(
        s.last_error.contains("interface 'eth0' not found"),
        "{}",
        s.last_error
    );
    assert_eq!(s.counters.errors, 1);
    // Retries with backoff, logging the same fault once.
    w.run_until(30_000);
    assert_eq!(w.core.status(at(30_000)).counters.errors, 1);
    let warnings = w.logs.iter().filter(|(l, _)| *l == Level::Warning).count();
    assert_eq!(warnings, 1);
    // The interface appears: claimed without outside help.
    w.link = Some(LinkState {
        index: 7,
        up: true,
        mac: Some(MAC),
    });
    w.run_until(36_000);
    assert_eq!(w.phase(), "holding");
    assert!(w.logged("recovered: interface 'eth0' not found"));
    assert_eq!(w.present.len(), 1);
}

#[test]
fn backoff_grows_to_five_seconds() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.link = None;
    w.role(Role::Master, true);
    let mut ticks = Vec::new();
    while let Some(next) = w.core.next_deadline() {
        let t = next.as_millis() as u64;
        if t > 40_000 {
            break;
        }
        w.now = t;
        ticks.push(t);
        w.feed(Event::Tick);
    }
    let gaps: Vec<u64> = ticks.windows(2).map(|p| p[1] - p[0]).collect();
    assert_eq!(&gaps[..5], &[500, 1000, 2000, 4000, 5000], "{ticks:?}");
}

#[test]
fn missing_capability_says_what_to_do() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.caps = (false, true);
    w.fail_add = Some(libc::EPERM);
    w.role(Role::Master, true);
    assert_eq!(w.phase(), "error");
    let s = w.core.status(at(0));
    assert!(
        s.last_error.contains("CAP_NET_ADMIN") && s.last_error.contains("README#deployment"),
        "{}",
        s.last_error
    );
    assert!(!w.present.contains(&vip("192.0.2.100/24")));
    // Granted later (e.g. the unit file was fixed and capabilities raised): recovers.
    w.caps = (true, true);
    w.fail_add = None;
    w.run_until(10_000);
    assert_eq!(w.phase(), "holding");
}

#[test]
fn announce_failure_is_an_error_and_clears_on_success() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.fail_announce = Some(libc::EPERM);
    w.role(Role::Master, true);
    assert_eq!(w.phase(), "error");
    assert!(w.core.status(at(0)).last_error.contains("CAP_NET_RAW"));
    w.fail_announce = None;
    w.run_until(300);
    assert_eq!(w.phase(), "holding");
}

#[test]
fn interface_without_mac_is_refused() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.link = Some(LinkState {
        index: 3,
        up: true,
        mac: None,
    });
    w.role(Role::Master, true);
    assert_eq!(w.phase(), "error");
    assert!(w
        .core
        .status(at(0))
        .last_error
        .contains("has no MAC address"));
    assert!(w.present.is_empty());
}

#[test]
fn settings_changes_move_the_claim() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.role(Role::Master, true);
    w.now = 1000;
    w.feed(Event::Settings(settings("192.0.2.101/24")));
    assert_eq!(w.present, vec![vip("192.0.2.101/24")]);
    assert!(w.logged("releasing 192.0.2.100/24 on eth0 (configuration changed)"));
    let s = w.core.status(at(1000));
    assert_eq!((s.counters.claims, s.counters.releases), (2, 1));

    let mut off = settings("192.0.2.101/24");
    off.enabled = false;
    w.feed(Event::Settings(off.clone()));
    assert!(w.present.is_empty());
    assert_eq!(w.phase(), "idle");
    assert_eq!(w.core.status(at(1000)).reason, "disabled by vip.enabled");

    off.enabled = true;
    w.feed(Event::Settings(off));
    assert_eq!(w.present, vec![vip("192.0.2.101/24")]);
    assert_eq!(w.phase(), "holding");

    // Unconfigured: releases and idles, and asks for no ticks.
    w.feed(Event::Settings(Settings::default()));
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
fn conflicts_are_counted_and_logged_once_per_mac() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.role(Role::Master, true);
    let ip: IpAddr = "192.0.2.100".parse().unwrap();
    w.feed(Event::Claimed { ip, mac: MAC }); // our own frame
    w.feed(Event::Claimed {
        ip: "192.0.2.55".parse().unwrap(),
        mac: OTHER_MAC,
    }); // not a VIP
    w.feed(Event::Claimed { ip, mac: OTHER_MAC });
    w.feed(Event::Claimed { ip, mac: OTHER_MAC });
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

#[test]
fn errno_descriptions_name_the_fix() {
    // (op, errno, must contain)
    let cases = [
        ("add address", libc::EPERM, "CAP_NET_ADMIN"),
        ("open packet socket", libc::EPERM, "missing CAP_NET_RAW"),
        ("add address", libc::ENODEV, "not found"),
        (
            "open netlink socket",
            libc::EAFNOSUPPORT,
            "RestrictAddressFamilies",
        ),
        ("add address", libc::ERANGE, "vip.label"),
    ];
    for (op, errno, want) in cases {
        let text = describe(&OsError::new(op, errno), "192.0.2.100/24", "eth0");
        assert!(text.contains(want), "{op} {errno}: {text}");
    }
}

// ---- safe mode ----

/// A hello from Sentinel `runid` (one letter, repeated), naming `master`:`port` under
/// `epoch`, as the filter hands it over from a client authenticated as `user`.
fn hello_from(runid: char, master: &str, port: u16, epoch: u64, user: Option<&str>) -> Event {
    let id: String = std::iter::repeat_n(runid, 40).collect();
    Event::HelloRaw {
        payload: format!("192.0.2.1,26379,{id},{epoch},mymaster,{master},{port},{epoch}")
            .into_bytes(),
        user: user.map(String::from),
    }
}

fn hello(runid: char, master: &str, epoch: u64) -> Event {
    hello_from(runid, master, 6379, epoch, Some("default"))
}

/// Deliver hellos twice, one second apart: what a Sentinel needs to confirm (two hellos of a
/// run, not one burst).
fn twice(w: &mut World, hellos: &[Event]) {
    for h in hellos {
        w.feed(h.clone());
    }
    let t = w.now + 1000;
    w.run_until(t);
    for h in hellos {
        w.feed(h.clone());
    }
}

fn safe(quorum: u32) -> World {
    let mut s = settings("192.0.2.100/24");
    s.quorum = quorum;
    s.lease_ms = 5000;
    let mut w = World::new(s);
    w.feed(Event::Identity {
        announce_ip: None,
        port: 6379,
    });
    w
}

#[test]
fn safe_stale_start_waits_for_quorum() {
    let mut w = safe(2);
    w.role(Role::Master, true);
    assert!(w.present.is_empty());
    assert_eq!(w.phase(), "standby");
    assert!(w.core.status(at(0)).reason.starts_with("waiting"));
    twice(&mut w, &[hello('a', "192.0.2.11", 1)]);
    assert!(w.present.is_empty());
    w.feed(hello('b', "192.0.2.11", 1));
    assert!(w.present.is_empty(), "one hello of b is not yet a run");
    let t = w.now + 1000;
    w.run_until(t);
    w.feed(hello('b', "192.0.2.11", 1));
    assert_eq!(w.present.len(), 1);
    assert_eq!(w.core.status(at(w.now)).sentinels_confirming, 2);
}

#[test]
fn safe_fences_when_hellos_stop_and_reclaims_on_confirmation() {
    let mut w = safe(2);
    w.role(Role::Master, true);
    twice(
        &mut w,
        &[hello('a', "192.0.2.11", 1), hello('b', "192.0.2.11", 1)],
    );
    assert_eq!(w.present.len(), 1);
    // Isolated: no hellos. Released by the core's own deadline, 5 s after the last hello.
    w.run_until(6000);
    assert_eq!(w.present.len(), 1);
    w.run_until(6002);
    assert!(w.present.is_empty());
    let s = w.core.status(at(6002));
    assert!(
        s.last_fence_reason.starts_with("fenced:"),
        "{}",
        s.last_fence_reason
    );
    assert_eq!(s.counters.fences, 1);
    // Back: the queued hellos arrive in a burst; that is not a confirmation.
    for _ in 0..3 {
        w.feed(hello('a', "192.0.2.11", 1));
        w.feed(hello('b', "192.0.2.11", 1));
    }
    assert!(w.present.is_empty(), "a burst does not confirm");
    twice(
        &mut w,
        &[hello('a', "192.0.2.11", 1), hello('b', "192.0.2.11", 1)],
    );
    assert_eq!(w.present.len(), 1);
}

#[test]
fn safe_promotion_claims_at_once_and_keeps_through_failover() {
    let mut w = safe(2);
    w.role(Role::Replica, true);
    for t in [0u64, 2000] {
        w.run_until(t);
        w.feed(hello('a', "192.0.2.12", 1));
        w.feed(hello('b', "192.0.2.12", 1));
    }
    w.run_until(3000);
    w.role(Role::Master, false);
    assert_eq!(w.present.len(), 1, "claims at once");
    // Stale views for a while, then confirmations under the new epoch.
    let mut t = 3000;
    while t < 20_000 {
        t += 500;
        w.run_until(t);
        let epoch = if t < 6000 { 1 } else { 2 };
        let named = if t < 6000 { "192.0.2.12" } else { "192.0.2.11" };
        if t % 2000 == 0 {
            w.feed(hello('a', named, epoch));
            w.feed(hello('b', named, epoch));
        }
        assert_eq!(w.present.len(), 1, "released at {t} ms");
    }
    assert_eq!(w.core.status(at(t)).counters.releases, 0);
}

#[test]
fn safe_newer_epoch_elsewhere_releases_at_once() {
    let mut w = safe(1);
    w.role(Role::Master, true);
    twice(&mut w, &[hello('a', "192.0.2.11", 3)]);
    assert_eq!(w.present.len(), 1);
    w.feed(hello('b', "192.0.2.13", 4));
    assert!(w.present.is_empty());
    assert!(w
        .core
        .status(at(w.now))
        .last_fence_reason
        .contains("config epoch 4"));
}

#[test]
fn safe_rejects_forged_and_malformed_hellos() {
    let mut w = safe(1);
    let mut s = w.core.settings().clone();
    s.sentinel_user = Some("sentinel".into());
    w.feed(Event::Settings(s));
    w.role(Role::Master, true);
    w.feed(hello('a', "192.0.2.11", 1)); // user "default": forged
    w.feed(Event::HelloRaw {
        payload: b"garbage".to_vec(),
        user: Some("sentinel".into()),
    });
    assert!(w.present.is_empty());
    assert_eq!(w.core.status(at(0)).counters.hellos_rejected, 2);
    twice(
        &mut w,
        &[hello_from('c', "192.0.2.11", 6379, 1, Some("sentinel"))],
    );
    assert_eq!(w.present.len(), 1);
}

#[test]
fn safe_identity_prefers_announce_ip() {
    let mut w = safe(1);
    w.feed(Event::Identity {
        announce_ip: Some("198.51.100.7".parse().unwrap()),
        port: 6380,
    });
    w.role(Role::Master, true);
    w.feed(hello('a', "192.0.2.11", 1));
    assert!(w.present.is_empty(), "6379 on the local address is not us");
    twice(
        &mut w,
        &[hello_from('b', "198.51.100.7", 6380, 1, Some("default"))],
    );
    assert_eq!(w.present.len(), 1);
}

#[test]
fn safe_without_sender_identity() {
    // Redis 7.0: the filter cannot name the sender. Without vip.sentinel-user the hello
    // counts; with it, nothing can be verified: a visible error that says what to do.
    let anonymous = |master: &str| hello_from('a', master, 6379, 1, None);
    let mut w = safe(1);
    w.role(Role::Master, true);
    twice(&mut w, &[anonymous("192.0.2.11")]);
    assert_eq!(w.present.len(), 1);

    let mut w = safe(1);
    let mut s = w.core.settings().clone();
    s.sentinel_user = Some("sentinel".into());
    w.feed(Event::Settings(s));
    w.role(Role::Master, true);
    w.feed(anonymous("192.0.2.11"));
    assert!(w.present.is_empty());
    assert_eq!(w.phase(), "error");
    let status = w.core.status(at(w.now));
    assert!(
        status.last_error.contains("Redis 7.2+"),
        "{}",
        status.last_error
    );
    assert_eq!(status.counters.hellos_rejected, 1);
}
