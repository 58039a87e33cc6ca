//! The core's decisions as stories and tables, with a fake clock and a fake interface.

use super::*;
use crate::config::parse_addresses;
use crate::error::{Op, OsError};
use crate::sentinel::PollPlan;

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

/// A fake kernel and fake adapters: they apply the core's actions to an address set and
/// answer observations; `feed` runs the worker's own `process` with a fake clock.
pub(crate) struct World {
    pub core: Core,
    pub link: Option<LinkState>,
    pub present: Vec<Vip>,
    pub caps: (bool, bool),
    pub fail_add: Option<i32>,
    pub fail_announce: Option<i32>,
    pub announced: Vec<(u64, Vip)>,
    pub logs: Vec<(Level, String)>,
    pub plans: Vec<Option<PollPlan>>,
    pub polls_now: usize,
    pub intervals: Vec<Duration>,
    pub listening: Option<ListenSpec>,
    pub published: Vec<String>,
    pub now: u64,
}

/// The part of the world the worker's `process` acts on (the core is borrowed apart).
struct Effects<'a> {
    link: &'a Option<LinkState>,
    present: &'a mut Vec<Vip>,
    caps: (bool, bool),
    fail_add: Option<i32>,
    fail_announce: Option<i32>,
    announced: &'a mut Vec<(u64, Vip)>,
    logs: std::cell::RefCell<&'a mut Vec<(Level, String)>>,
    plans: &'a mut Vec<Option<PollPlan>>,
    polls_now: &'a mut usize,
    intervals: &'a mut Vec<Duration>,
    listening: &'a mut Option<ListenSpec>,
    published: &'a mut Vec<String>,
    now: u64,
}

impl crate::worker::System for Effects<'_> {
    fn observe(
        &mut self,
        _interface: &str,
        vips: &[Vip],
        _announce: bool,
    ) -> Result<Observation, OsError> {
        Ok(Observation {
            link: self.link.clone(),
            present: if self.link.is_some() {
                vips.iter()
                    .filter(|v| self.present.contains(v))
                    .copied()
                    .collect()
            } else {
                Vec::new()
            },
            local: vec![],
            net_admin: self.caps.0,
            net_raw: self.caps.1,
        })
    }
    fn add(&mut self, _i: u32, vip: Vip, _l: u32, _label: Option<&str>) -> Result<(), OsError> {
        if let Some(errno) = self.fail_add {
            return Err(OsError::new(Op::AddAddress, errno));
        }
        if !self.present.contains(&vip) {
            self.present.push(vip);
        }
        Ok(())
    }
    fn delete(&mut self, _i: u32, vip: Vip) -> Result<(), OsError> {
        self.present.retain(|v| *v != vip);
        Ok(())
    }
    fn announce(&mut self, _i: u32, mac: [u8; 6], vip: Vip) -> Result<(), OsError> {
        if let Some(errno) = self.fail_announce {
            return Err(OsError::new(Op::SendAnnouncement, errno));
        }
        assert_eq!(mac, MAC);
        self.announced.push((self.now, vip));
        Ok(())
    }
    fn sentinels(&mut self, plan: Option<PollPlan>) {
        self.plans.push(plan);
    }
    fn poll_now(&mut self) {
        *self.polls_now += 1;
    }
    fn poll_interval(&mut self, interval: Duration) {
        self.intervals.push(interval);
    }
    fn listen(&mut self, spec: Option<ListenSpec>) {
        *self.listening = spec;
    }
    fn publish(&mut self, line: String) {
        self.published.push(line);
    }
    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.to_string()));
    }
}

struct FakeClock(u64);

impl crate::worker::Clock for FakeClock {
    fn now(&self) -> Now {
        at(self.0)
    }
}

impl World {
    pub fn new(s: Settings) -> World {
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
            plans: Vec::new(),
            polls_now: 0,
            intervals: Vec::new(),
            listening: None,
            published: Vec::new(),
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
            local: vec![],
            net_admin: self.caps.0,
            net_raw: self.caps.1,
        }
    }

    /// Feed an event and run every resulting action to completion: the worker's `process`.
    pub fn feed(&mut self, event: Event) {
        let mut fx = Effects {
            link: &self.link,
            present: &mut self.present,
            caps: self.caps,
            fail_add: self.fail_add,
            fail_announce: self.fail_announce,
            announced: &mut self.announced,
            logs: std::cell::RefCell::new(&mut self.logs),
            plans: &mut self.plans,
            polls_now: &mut self.polls_now,
            intervals: &mut self.intervals,
            listening: &mut self.listening,
            published: &mut self.published,
            now: self.now,
        };
        crate::worker::process(&mut self.core, event, &mut fx, &FakeClock(self.now));
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
        self.core.state().as_str()
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
    let mut s = settings("192.0.2.100/24");
    s.address_lifetime_s = 2;
    let mut core = Core::new(s);
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
    let s = w.core.status(at(10_000));
    assert!(!s.error_active, "{s:?}");
    assert!(
        s.last_error.contains("permission denied") && s.last_error_ms == at(0).unix_ms,
        "a recovered fault stays as history, with its time: {s:?}"
    );
    assert_eq!(s.counters.errors, 2, "the capability and the failed add");
}

/// One step of a story about faults: at `ms`, change the fake world, then deliver what
/// the worker would (a netlink change: a look at the interface now).
#[derive(Clone, Copy)]
enum Step {
    Link(bool),
    Caps(bool, bool),
    FailAnnounce(Option<i32>),
    /// A CONFIG SET that changes nothing the fault depends on.
    Reconfigure,
    Demote,
    /// The interface goes down; it comes back up with `Link(true)`.
    LinkDown,
}

#[test]
fn errors_are_counted_once_each_and_kept_as_history_with_their_time() {
    use Step::*;
    let cap = "lacks CAP_NET_ADMIN";
    let no_link = "interface 'eth0' not found";
    let announce = "send announcement";
    // (case, steps (ms, step), errors, error_active, last_error contains, last_error_ms
    //  (fake clock ms, None: 0 = never), warnings logged)
    type Case = (
        &'static str,
        &'static [(u64, Step)],
        u64,
        bool,
        &'static str,
        Option<u64>,
        usize,
    );
    let cases: [Case; 9] = [
        ("no fault", &[], 0, false, "", None, 0),
        (
            "a fault in force",
            &[(1000, Link(false))],
            1,
            true,
            no_link,
            Some(1000),
            1,
        ),
        (
            "a fault that cleared stays, with its time",
            &[(1000, Link(false)), (3000, Link(true))],
            1,
            false,
            no_link,
            Some(1000),
            1,
        ),
        (
            "a fault that clears and comes back is two errors",
            &[(1000, Link(false)), (2000, Link(true)), (3000, Link(false))],
            2,
            true,
            no_link,
            Some(3000),
            2,
        ),
        (
            "two faults, the later clears: last_error names the one in force",
            &[
                (1000, Caps(false, true)),
                (2000, Link(false)),
                (3000, Link(true)),
            ],
            2,
            true,
            cap,
            Some(1000),
            2,
        ),
        (
            "a CONFIG SET while a fault is in force: the same error",
            &[
                (1000, Link(false)),
                (2000, Reconfigure),
                (2500, Reconfigure),
            ],
            1,
            true,
            no_link,
            Some(1000),
            1,
        ),
        (
            "a CONFIG SET does not hide a fault that is gone",
            &[(1000, Link(false)), (2000, Link(true)), (2500, Reconfigure)],
            1,
            false,
            no_link,
            Some(1000),
            1,
        ),
        (
            "an announce fault ends with the hold",
            &[(1000, FailAnnounce(Some(libc::ENETDOWN))), (2000, Demote)],
            1,
            false,
            announce,
            Some(1000),
            2, // the conflict that made it announce, and the fault
        ),
        (
            "announcements due while the link is down are no error",
            &[
                (1000, LinkDown),
                (1500, FailAnnounce(Some(libc::ENETDOWN))),
                (2000, FailAnnounce(None)),
                (2000, Link(true)),
            ],
            0,
            false,
            "",
            None,
            1, // the conflict that made it announce
        ),
    ];
    for (case, steps, errors, active, last_error, last_error_ms, warnings) in cases {
        let mut w = World::new(settings("192.0.2.100/24"));
        w.role(Role::Master, true);
        for &(ms, step) in steps {
            w.run_until(ms);
            match step {
                Link(up) => {
                    w.link = up.then_some(LinkState {
                        index: 2,
                        up: true,
                        mac: Some(MAC),
                    });
                    w.feed(Event::NetChanged);
                }
                Caps(admin, raw) => {
                    w.caps = (admin, raw);
                    w.feed(Event::NetChanged);
                }
                FailAnnounce(errno) => {
                    // A conflict makes it announce at once.
                    w.fail_announce = errno;
                    w.feed(Event::Conflict {
                        ip: "192.0.2.100".parse().unwrap(),
                        mac: OTHER_MAC,
                    });
                }
                Reconfigure => {
                    let mut s = w.core.settings().clone();
                    s.check_interval_ms += 1;
                    w.feed(Event::Settings(s));
                }
                Demote => w.role(Role::Replica, false),
                LinkDown => {
                    if let Some(l) = w.link.as_mut() {
                        l.up = false;
                    }
                    w.feed(Event::NetChanged);
                }
            }
        }
        w.run_until(4000);
        let s = w.core.status(at(4000));
        assert_eq!(
            (s.counters.errors, s.error_active, s.state == State::Error),
            (errors, active, active),
            "{case}: {s:?}"
        );
        assert!(
            s.last_error.contains(last_error) && (last_error.is_empty() == s.last_error.is_empty()),
            "{case}: {}",
            s.last_error
        );
        assert_eq!(
            s.last_error_ms,
            last_error_ms.map_or(0, |ms| at(ms).unix_ms),
            "{case}"
        );
        let logged = w.logs.iter().filter(|(l, _)| *l == Level::Warning).count();
        assert_eq!(logged, warnings, "{case}: {:?}", w.logs);
    }
}

#[test]
fn a_fault_whose_wording_changes_is_one_error() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.role(Role::Master, true);
    w.run_until(1000);
    // The address is gone and cannot be added back; then the reason changes.
    w.present.clear();
    w.fail_add = Some(libc::EPERM);
    w.run_until(2000);
    let s = w.core.status(at(2000));
    assert!(s.last_error.contains("permission denied"), "{s:?}");
    let first = s.last_error_ms;
    w.fail_add = Some(libc::ENETDOWN);
    w.run_until(10_000);
    let s = w.core.status(at(10_000));
    assert!(s.last_error.contains("is down"), "{s:?}");
    assert!(s.last_error_ms > first, "the time of the wording in force");
    assert_eq!(s.counters.errors, 1, "{s:?}");
    assert!(
        w.logged("permission denied") && w.logged("is down"),
        "each wording logged once"
    );
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

#[test]
fn a_conflict_while_holding_is_answered_with_a_burst_at_most_once_a_second() {
    let ip: IpAddr = "192.0.2.100".parse().unwrap();
    // (case, holding, announce-count x interval ms, claims at ms, conflicts, reannounced,
    //  bursts started at ms)
    type Case = (
        &'static str,
        bool,
        (u32, u64),
        &'static [u64],
        u64,
        u64,
        &'static [u64],
    );
    let cases: [Case; 6] = [
        (
            "a claim while holding",
            true,
            (5, 200),
            &[20_000],
            1,
            1,
            &[20_000],
        ),
        (
            "a second claim inside the holdoff",
            true,
            (5, 200),
            &[20_000, 20_999],
            2,
            1,
            &[20_000],
        ),
        (
            "a claim once the holdoff is over",
            true,
            (5, 200),
            &[20_000, 21_000],
            2,
            2,
            &[20_000, 21_000],
        ),
        (
            "a claim every 100 ms for 3 s",
            true,
            (5, 200),
            &[
                20_000, 20_100, 20_200, 20_300, 20_400, 20_500, 20_600, 20_700, 20_800, 20_900,
                21_000, 21_100, 21_200, 21_300, 21_400, 21_500, 21_600, 21_700, 21_800, 21_900,
                22_000, 22_100, 22_200, 22_300, 22_400, 22_500, 22_600, 22_700, 22_800, 22_900,
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
            "a claim while not holding",
            false,
            (5, 200),
            &[20_000],
            0,
            0,
            &[],
        ),
    ];
    for (case, holding, (count, interval), claims, conflicts, reannounced, bursts) in cases {
        let mut s = settings("192.0.2.100/24");
        (s.announce_count, s.announce_interval_ms) = (count, interval);
        let mut w = World::new(s);
        w.role(if holding { Role::Master } else { Role::Replica }, true);
        w.run_until(15_000);
        w.announced.clear();
        for &t in claims {
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
        // Each burst is the claim's own: count frames `interval` apart, and the same again
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
    let mut w = sentinel_world();
    w.role(Role::Master, true);
    w.hear(1, answer(1, 1, "r1", 0));
    w.hear(2, answer(2, 1, "r1", 0));
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
fn errno_descriptions_name_the_fix() {
    // (op, errno, must contain)
    let cases = [
        (Op::AddAddress, libc::EPERM, "missing CAP_NET_ADMIN"),
        (Op::OpenPacketSocket, libc::EPERM, "missing CAP_NET_RAW"),
        (Op::SendAnnouncement, libc::EACCES, "missing CAP_NET_RAW"),
        (Op::AddAddress, libc::ENODEV, "not found"),
        (
            Op::OpenNetlink,
            libc::EAFNOSUPPORT,
            "RestrictAddressFamilies",
        ),
        (Op::AddAddress, libc::ERANGE, "vip.label"),
    ];
    for (op, errno, want) in cases {
        let text = describe(
            &OsError::new(op, errno),
            Some(vip("192.0.2.100/24")),
            "eth0",
        );
        assert!(text.contains(want), "{op:?} {errno}: {text}");
    }
}

// ---- Sentinel-confirmed mode ----
//
// The view's rule has its own table tests (sentinel/view/tests.rs); these show what the core
// does with its verdicts: claim, release with a fence, ask the pollers, steer the listener.

use crate::sentinel::answer::{Answer, Endpoint, Flags, Instance};
use crate::sentinel::view::Heard;

/// Sentinel `i` names 192.0.2.1`node` (run id `runid`) master under `epoch`: the view
/// tests' builders.
use crate::sentinel::view::tests::{says as answer, sentinel};

impl World {
    fn hear(&mut self, i: u16, a: Answer) {
        self.feed(Event::SentinelAnswer {
            from: sentinel(i),
            heard: Box::new(Heard {
                sent: Duration::from_millis(self.now),
                received: Duration::from_millis(self.now),
                answer: a,
            }),
        });
    }
}

fn sentinel_world() -> World {
    let mut s = settings("192.0.2.100/24");
    s.sentinels = vec![sentinel(1), sentinel(2), sentinel(3)];
    s.master_name = Some("mymaster".into());
    let mut w = World::new(s);
    w.feed(Event::Identity(crate::sentinel::Me {
        runid: "r1".into(),
        ..Default::default()
    }));
    w
}

/// A master confirmed by all three Sentinels under `epoch`, holding.
fn holding_world(epoch: u64) -> World {
    let mut w = sentinel_world();
    w.role(Role::Master, true);
    for i in 1..=3 {
        w.hear(i, answer(i, 1, "r1", epoch));
    }
    assert_eq!(w.present.len(), 1);
    w
}

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
    let mut w = sentinel_world();
    w.role(Role::Master, true);
    w.hear(1, answer(1, 1, "r1", 0));
    w.hear(2, answer(2, 1, "r1", 0));
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
    // Answers again: claimed again.
    w.now = 700;
    w.hear(1, answer(1, 1, "r1", 0));
    w.hear(2, answer(2, 1, "r1", 0));
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
    // not holding any more: a claim on the wire is no conflict
}

// ---- routed mode (vip.announce no) ----

fn routed() -> World {
    let mut s = settings("198.51.100.10/32,2001:db8::10/128");
    s.interface = "lo".into();
    s.announce = false;
    let mut w = World::new(s);
    // lo: no MAC; and no CAP_NET_RAW granted
    w.link = Some(LinkState {
        index: 1,
        up: true,
        mac: None,
    });
    w.caps = (true, false);
    w
}

#[test]
fn routed_mode_claims_on_an_interface_without_mac_and_announces_nothing() {
    let mut w = routed();
    w.role(Role::Master, true);
    assert_eq!(w.phase(), "holding", "{:?}", w.logs);
    assert_eq!(w.present.len(), 2);
    w.run_until(10_000);
    assert!(w.announced.is_empty(), "no ARP/NA in routed mode");
    assert!(
        w.listening.is_none(),
        "no listener: conflict detection is off"
    );
    let s = w.core.status(at(10_000));
    assert!(!s.announce && s.last_error.is_empty(), "{s:?}");
    w.role(Role::Replica, false);
    assert!(w.present.is_empty());
}

#[test]
fn routed_mode_refuses_a_permanent_address() {
    let mut w = routed();
    let mut s = w.core.settings().clone();
    s.address_lifetime_s = 0;
    w.feed(Event::Settings(s));
    w.role(Role::Master, true);
    assert_eq!(w.phase(), "error");
    assert!(w.present.is_empty());
    assert!(
        w.core
            .status(at(0))
            .last_error
            .contains("refused with vip.announce no"),
        "{}",
        w.core.status(at(0)).last_error
    );
}

#[test]
fn announcing_mode_still_needs_cap_net_raw_and_a_mac() {
    let mut w = routed();
    let mut s = w.core.settings().clone();
    s.announce = true;
    w.feed(Event::Settings(s));
    w.role(Role::Master, true);
    assert_eq!(w.phase(), "error");
    let e = w.core.status(at(0)).last_error;
    assert!(e.contains("CAP_NET_RAW") || e.contains("no MAC"), "{e}");
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

#[test]
fn sentinel_mode_the_same_sentinels_reordered_keep_the_vip_and_the_pollers() {
    let mut w = holding_world(0);
    let plans = w.plans.len();
    let mut s = w.core.settings().clone();
    s.sentinels = vec![sentinel(3), sentinel(1), sentinel(2)];
    w.feed(Event::Settings(s));
    assert_eq!(w.present.len(), 1, "still held");
    assert_eq!(w.plans.len(), plans, "the pollers keep running");
    assert!(w.core.status(at(0)).holding);
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
