//! The core's decisions as stories and tables, with a fake clock and a fake interface.

use super::*;
use crate::config::parse_addresses;
use crate::error::{Op, OsError};
use crate::sentinel::{PollError, PollPlan};

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
    pub witness_plans: Vec<Option<crate::witness::WitnessPlan>>,
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
    witness_plans: &'a mut Vec<Option<crate::witness::WitnessPlan>>,
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
    fn witnesses(&mut self, plan: Option<crate::witness::WitnessPlan>) {
        self.witness_plans.push(plan);
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
            witness_plans: Vec::new(),
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
            witness_plans: &mut self.witness_plans,
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

// ---- Sentinel-confirmed mode: the builders the stories share ----

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

/// A master confirmed by two of the three Sentinels (the quorum) under epoch 0.
fn confirmed_by_two() -> World {
    let mut w = sentinel_world();
    w.role(Role::Master, true);
    w.hear(1, answer(1, 1, "r1", 0));
    w.hear(2, answer(2, 1, "r1", 0));
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

mod claims;
mod conflicts;
mod faults;
mod lifecycle;
mod routed;
mod sentinel;
mod witness;
