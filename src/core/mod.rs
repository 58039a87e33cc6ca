//! The decision core: `(state, event, settings, now) -> (state, actions)`.
//!
//! No Redis, no sockets, no clock in here. The worker feeds events in (role changes,
//! settings, what netlink observed, the outcome of each action) and carries out the
//! actions that come back. Every decision is therefore testable as a table with a fake
//! clock (see `tests/`).
//!
//! Vocabulary: to *claim* is to put the VIPs on the interface and announce them; to
//! *release* is to delete them. *Holding* means we claimed and have not released. Another
//! host announcing one of our VIPs is a *conflict*.
//!
//! Files by job: `types` (events, actions), `decide` (should we hold, claim, release),
//! `kernel` (the interface as observed), `schedule` (announcements), `conflict`,
//! `sentinels` (the lease and fences), `faults`, `adapters` (what the pollers and the
//! listener were told), `clients` (can clients reach the VIP), `lifecycle` (settings,
//! shutdown), `publish` (`__vip__:events`), `status`.

use std::net::IpAddr;
use std::time::Duration;

use crate::config::{Mode, Settings, Vip, MAX_SENTINELS};

mod adapters;
mod clients;
mod conflict;
mod decide;
mod faults;
mod kernel;
mod lifecycle;
mod publish;
mod schedule;
mod sentinels;
mod status;
mod types;
mod witnesses;

use adapters::Told;
use clients::Clients;
use decide::{ClaimLatency, Decision};
use faults::{FaultKind, Faults};
use kernel::Kernel;
use schedule::Schedule;
use sentinels::Sentinels;
use witnesses::Witnesses;

pub use conflict::format_mac;
pub use faults::describe;
pub use publish::Publication;
pub use status::{ConflictDetection, Counters, Status};
pub use types::{Action, Event, Level, LinkState, ListenSpec, Now, Observation, Role, State};

/// The decision core. One instance lives on the worker thread.
#[derive(Debug)]
pub struct Core {
    settings: Settings,
    role: Option<Role>,
    /// We claimed and have not released.
    holding: bool,
    /// The interface as last observed; when to look and refresh next.
    kernel: Kernel,
    faults: Faults,
    schedule: Schedule,
    /// The Sentinels' answers, the lease, the last fence.
    sentinels: Sentinels,
    /// The replicas as witnesses: our replication, their answers, our own promise.
    witnesses: Witnesses,
    /// What the pollers and the listener were last told.
    told: Told,
    clients: Clients,
    latency: ClaimLatency,
    reason: String,
    last_transition_ms: u64,
    counters: Counters,
    last_conflict_mac: String,
    now: Duration,
    shutting_down: bool,
    finished: bool,
}

impl Core {
    pub fn new(settings: Settings) -> Core {
        Core {
            sentinels: Sentinels::new(&settings.sentinels),
            witnesses: Witnesses::default(),
            settings,
            role: None,
            holding: false,
            kernel: Kernel::default(),
            faults: Faults::default(),
            schedule: Schedule::default(),
            told: Told::default(),
            clients: Clients::default(),
            latency: ClaimLatency::default(),
            reason: "loaded".to_string(),
            last_transition_ms: 0,
            counters: Counters::default(),
            last_conflict_mac: String::new(),
            now: Duration::ZERO,
            shutting_down: false,
            finished: false,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// True once a shutdown has been fully handled: the worker may exit.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// The earliest moment the core wants a `Tick`.
    pub fn next_deadline(&self) -> Option<Duration> {
        if self.finished {
            return None;
        }
        let looks = self.settings.configured() || self.holding || !self.kernel.present.is_empty();
        let observe = looks.then_some(self.kernel.next_observe);
        let lease_end = self.sentinels.hold_until.filter(|_| self.holding);
        // A promise given as a replica ends: a promoted node may claim then.
        let promise_end = self
            .witnesses
            .promised_until
            .filter(|_| self.role == Some(Role::Master) && !self.holding);
        [
            observe,
            self.schedule.next_deadline(),
            lease_end,
            promise_end,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Handle one event; return the actions to carry out, in order. The worker stops a
    /// batch at its first failing action and reports it with `Event::Failed`.
    pub fn handle(&mut self, event: Event, now: Now) -> Vec<Action> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        self.now = now.mono;
        self.dispatch(event, now, &mut out);
        if self.shutting_down && !self.kernel.first_look_pending {
            self.finished = true;
        }
        self.sync_adapters(&mut out);
        // Act first, write about it after: a log line (a file write in Redis) must not
        // delay the address or the first announcement. The order among each kind stays.
        out.sort_by_key(|a| matches!(a, Action::Log { .. }));
        out
    }

    fn dispatch(&mut self, event: Event, now: Now, out: &mut Vec<Action>) {
        match event {
            Event::Role { role, at, loaded } => self.role_seen(role, at, loaded, now, out),
            Event::Settings(new) => self.apply_settings(*new, now, out),
            Event::Tick => self.tick(false, now, out),
            Event::NetChanged => self.tick(true, now, out),
            Event::Observed(obs) => {
                self.apply_observation(obs, now, out);
                self.decide(now, out);
            }
            Event::ObserveFailed(error) => self.observe_failed(error, now, out),
            Event::Added(vip) => self.added(vip, now, out),
            Event::Announced { at } => self.announced(at, out),
            Event::Failed { action, error } => self.action_failed(action, error, now, out),
            Event::Identity(me) => {
                self.sentinels.view.set_me(me);
                self.after_sentinel_news(now, out);
            }
            Event::SentinelAnswer { from, heard } => {
                self.sentinels.view.record(&from, *heard, MAX_SENTINELS);
                self.after_sentinel_news(now, out);
            }
            Event::SentinelFailed { from, at, error } => {
                self.sentinels.view.failed(&from, at, error);
                self.after_sentinel_news(now, out);
            }
            Event::Conflict { ip, mac } => self.conflict(ip, mac, now, out),
            Event::Listening(result) => self.listening(result, now, out),
            Event::Clients(listening) => {
                let vips: Vec<IpAddr> = self.vip_addrs();
                self.clients.heard(listening, &vips, out);
            }
            Event::Replication(r) => {
                self.witnesses.set_replication(*r);
                if self.settings.mode() == Mode::Sentinel && self.role == Some(Role::Master) {
                    self.decide(now, out);
                }
            }
            Event::WitnessAnswer { from, sent, result } => {
                self.witness_answer(from, sent, result, now, out)
            }
            Event::Witnessed { until } => self.witnessed(until),
            Event::Shutdown => self.shutdown(now, out),
        }
    }

    fn role_seen(
        &mut self,
        role: Role,
        at: Duration,
        loaded: bool,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let changed = self.role != Some(role);
        self.role = Some(role);
        if changed {
            // A new role: no lapse to come back from, no failsafe to be in, no witness's
            // answer about the history we had.
            self.witnesses.lapsed = false;
            self.witnesses.forget_answers();
        }
        if changed || loaded {
            if role == Role::Master {
                self.latency.start(at);
            }
            self.reason = match (loaded, role) {
                (true, Role::Master) => "loaded as master",
                (true, Role::Replica) => "loaded as replica",
                (false, Role::Master) => "role changed to master",
                (false, Role::Replica) => "role changed to replica",
            }
            .into();
        }
        self.sentinel_fault(now, out);
        if changed && self.settings.mode() == Mode::Sentinel {
            // The answers already in hand usually decide (a leader flags its chosen
            // replica before sending it REPLICAOF NO ONE); ask again all the same.
            out.push(Action::PollNow);
        }
        self.decide(now, out);
    }

    /// A deadline passed, or netlink said something changed (`look`: look now).
    fn tick(&mut self, look: bool, now: Now, out: &mut Vec<Action>) {
        if look || now.mono >= self.kernel.next_observe {
            self.observe_now(now, out);
        }
        let promise_ended = self.witnesses.promised_until.is_some_and(|u| now.mono >= u);
        if promise_ended {
            self.witnesses.promised_until = None;
        }
        if (self.holding && self.settings.mode() == Mode::Sentinel)
            || (promise_ended && self.role == Some(Role::Master))
        {
            self.decide(now, out);
        }
        self.due_announcements(now, out);
    }

    fn added(&mut self, vip: Vip, now: Now, out: &mut Vec<Action>) {
        self.kernel.note_present(vip);
        if !self.settings.announce {
            // Routed: the address on the interface is the claim.
            self.latency.stop(now.mono);
        }
        if self.holding && self.kernel.all_present(&self.settings.addresses) {
            self.clear_fault(FaultKind::Address, out);
        }
    }

    fn announced(&mut self, sent: Duration, out: &mut Vec<Action>) {
        self.counters.announcements_sent += 1;
        self.latency.stop(sent);
        self.clear_fault(FaultKind::Announce, out);
    }
}

#[cfg(test)]
mod tests;
