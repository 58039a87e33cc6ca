//! The decision core: `(state, event, settings, now) -> (state, actions)`.
//!
//! No Redis, no sockets, no clock in here. The worker feeds events in (role changes,
//! settings, what netlink observed, the outcome of each action) and carries out the
//! actions that come back. Every decision is therefore testable as a table with a fake
//! clock (see the tests at the bottom).
//!
//! Vocabulary: to *claim* is to put the VIPs on the interface and announce them; to
//! *release* is to delete them. *Holding* means we claimed and have not released.

use std::collections::BTreeMap;
use std::time::Duration;

use std::net::IpAddr;

use crate::config::{Mode, SentinelAddr, Settings, Vip};
use crate::error::OsError;
use crate::reach::{self, Listening};
use crate::sentinel::{
    same_sentinels, Fence, Heard, Me, PollError, PollPlan, Rules, SentinelRow, SentinelView,
    Verdict,
};

/// The replication role Redis reports for this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Master,
    Replica,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Replica => "replica",
        }
    }
}

/// The states shown to the operator (VIP.STATUS `state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not configured, or `vip.enabled no`: nothing to do.
    Idle,
    /// Configured, must not hold, holds nothing.
    Standby,
    /// Holds the VIPs.
    Holding,
    /// Something keeps us from doing what we should; retried with backoff.
    Error,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Standby => "standby",
            Phase::Holding => "holding",
            Phase::Error => "error",
        }
    }
}

/// Monotonic time plus wall-clock milliseconds, both supplied by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Now {
    pub mono: Duration,
    pub unix_ms: u64,
}

/// What the interface looks like right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    pub index: u32,
    /// Administratively up and carrier present.
    pub up: bool,
    pub mac: Option<[u8; 6]>,
}

/// The result of looking at the interface: the link (None = no such interface), which of
/// the configured VIPs are on it, and whether the process has the capabilities it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub link: Option<LinkState>,
    pub present: Vec<Vip>,
    /// Every address on this host (any interface): how a Sentinel's entry at one of our own
    /// addresses is recognised after a restart.
    pub local: Vec<IpAddr>,
    pub net_admin: bool,
    pub net_raw: bool,
}

/// What the packet listener should watch: claims of these addresses on this interface by
/// any MAC but ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSpec {
    pub ifindex: u32,
    pub mac: [u8; 6],
    pub addrs: Vec<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The role at load time (`loaded`) or from the role-changed event; `at` is when the
    /// main thread saw it, for the claim latency figure.
    Role {
        role: Role,
        at: Duration,
        loaded: bool,
    },
    Settings(Settings),
    /// A deadline passed.
    Tick,
    /// Netlink said a link or address changed: look again now.
    NetChanged,
    Observed(Observation),
    ObserveFailed(OsError),
    /// An `Add` succeeded (the address is on the interface with a fresh lifetime).
    Added(Vip),
    /// One announcement frame left the host at `at` (monotonic).
    Announced {
        at: Duration,
    },
    Failed {
        action: Action,
        error: OsError,
    },
    /// A frame on the wire (ARP or NA) from another MAC claiming an address.
    Claimed {
        ip: IpAddr,
        mac: [u8; 6],
    },
    /// The packet listener opened (conflict detection works) or could not be opened.
    Listening(Result<(), OsError>),
    /// This process as the server knows it (`INFO server`: run id, port, age): how the
    /// Sentinels' answers are matched to this node.
    Identity(Me),
    /// A Sentinel answered a poll.
    SentinelAnswer {
        from: SentinelAddr,
        heard: Box<Heard>,
    },
    /// A poll of a Sentinel failed.
    SentinelFailed {
        from: SentinelAddr,
        at: Duration,
        error: PollError,
    },
    /// What the server listens on and whom it lets in (at load, and after `CONFIG SET`).
    Clients(Listening),
    /// Server shutdown or module unload.
    Shutdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Notice,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Look up the interface and the VIPs on it; answer with `Observed` or `ObserveFailed`.
    Observe,
    /// Add the address, or refresh its lifetime if it is there (one netlink request).
    Add {
        vip: Vip,
        ifindex: u32,
        lifetime_s: u32,
        label: Option<String>,
    },
    Delete {
        vip: Vip,
        ifindex: u32,
    },
    /// Send one gratuitous ARP (IPv4) or unsolicited NA (IPv6) for the VIP.
    Announce {
        vip: Vip,
        ifindex: u32,
        mac: [u8; 6],
    },
    Log {
        level: Level,
        message: String,
    },
    /// Poll exactly these Sentinels with these credentials (None: poll none).
    Sentinels(Option<PollPlan>),
    /// Poll every Sentinel now (a role change: the answer may decide a claim).
    PollNow,
    /// Poll this often from now on.
    PollInterval(Duration),
    /// Watch the wire for other hosts claiming our addresses (None: stop watching).
    Listen(Option<ListenSpec>),
    /// Tell subscribers of `__vip__:events` (one line, see `Notice`).
    Publish(String),
}

/// What the module tells subscribers of its Pub/Sub channel, one line each:
/// `<event> <addresses> <epoch> <time_ms> <reason>` — the event word, the addresses
/// comma-separated, the config epoch under which the Sentinels name this node master (`-`
/// when unknown, or in basic mode), unix milliseconds, and the reason to the end of the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Claim,
    Release,
    Fence,
    Conflict,
    Error,
}

impl Notice {
    pub fn as_str(self) -> &'static str {
        match self {
            Notice::Claim => "claim",
            Notice::Release => "release",
            Notice::Fence => "fence",
            Notice::Conflict => "conflict",
            Notice::Error => "error",
        }
    }
}

/// What failed, so that each kind clears on its own kind of success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum FaultKind {
    Capability,
    Observe,
    Link,
    Address,
    Announce,
    /// The Sentinel-confirmed mode cannot work as configured (master name missing,
    /// authentication refused, no such master, no Sentinel answering).
    Sentinel,
    /// The packet listener cannot be opened: conflict detection is off.
    Listen,
}

/// A fault in force: its text (with the fix) and when it was raised (unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fault {
    message: String,
    since_ms: u64,
}

/// While a failover runs, every node polls this often: the old master must see the
/// leader's choice, and the new one its promotion, within milliseconds.
const FAILOVER_POLL: Duration = Duration::from_millis(10);

/// A conflict is answered with at most one announcement burst per this period, or per
/// burst when a burst lasts longer (`vip.announce-count` × `vip.announce-interval-ms`).
/// One burst answers every claim heard while it goes out; a host that keeps claiming the
/// address (a second holder that defends it too) then gets one answer a second, not one per
/// frame, so two defending hosts cannot drive each other into a storm of announcements.
/// RFC 5227 §2.4 (b) sets the same kind of limit for address defence (DEFEND_INTERVAL,
/// 10 s); a database's clients cannot wait 10 s on the wrong MAC, and a burst of 5 frames a
/// second is nothing on a LAN.
const REANNOUNCE_HOLDOFF: Duration = Duration::from_secs(1);

const RETRY_FIRST_MS: u64 = 250;
const RETRY_MAX_MS: u64 = 5000;

/// Counters and figures that only go up or get replaced; copied into the status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub claims: u64,
    pub releases: u64,
    pub announcements_sent: u64,
    pub errors: u64,
    pub fences: u64,
    pub conflicts: u64,
    /// Announcement bursts sent in answer to a conflict (at most one per
    /// `REANNOUNCE_HOLDOFF`).
    pub reannounced: u64,
}

/// The snapshot behind VIP.STATUS and INFO vip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub state: &'static str,
    pub mode: &'static str,
    pub role: &'static str,
    pub addresses: String,
    pub interface: String,
    pub holding: bool,
    pub announce: bool,
    /// `on`, `off` (routed mode) or `failing` (the listener cannot be opened).
    pub conflict_detection: &'static str,
    pub reason: String,
    pub last_transition_ms: u64,
    pub last_claim_latency_us: u64,
    pub counters: Counters,
    /// A fault is in force now (state `error`).
    pub error_active: bool,
    /// The fault in force, else the last one raised (kept after it clears); empty: none
    /// since the module loaded.
    pub last_error: String,
    /// When `last_error` was raised, unix ms; 0: never.
    pub last_error_ms: u64,
    pub sentinels_known: u64,
    pub sentinels_reachable: u64,
    pub sentinels_confirming: u64,
    /// Ghost entries in the Sentinels' own lists (replaced or removed, no RESET since).
    pub sentinels_ghosts: u64,
    /// Replica entries the Sentinels list that cannot be used (e.g. `ip:0` backup clients).
    pub sentinel_entries_skipped: u64,
    pub quorum: u64,
    pub lease_ms: u64,
    pub lease_remaining_ms: u64,
    pub last_fence_reason: &'static str,
    /// The last fence's sentence, as `reason` said it then (empty before the first).
    pub last_fence: String,
    /// Why clients could not connect through the VIP (`bind`, protected mode); empty: they can.
    pub clients_problem: String,
    pub last_conflict_mac: String,
    pub sentinels: Vec<SentinelRow>,
    /// Events from the pollers or the watcher that did not fit the worker's queue.
    pub inbox_dropped: u64,
}

/// The decision core. One instance lives on the worker thread.
#[derive(Debug)]
pub struct Core {
    settings: Settings,
    role: Option<Role>,
    /// Last observation of the interface; `None` until the first one.
    link: Option<LinkState>,
    observed: bool,
    present: Vec<Vip>,
    holding: bool,
    /// The claim decision is waiting for a fresh observation (ifindex, what is present).
    claim_pending: bool,
    faults: BTreeMap<FaultKind, Fault>,
    /// The fault in force, or when none the last one raised, and when it was raised (unix
    /// ms, 0 never): kept after it clears, so the operator who looks later still sees it.
    last_error: String,
    last_error_ms: u64,
    retry_ms: u64,
    next_observe: Duration,
    next_refresh: Option<Duration>,
    /// Pending announcements: (when, which VIP).
    announces: Vec<(Duration, Vip)>,
    next_announce_refresh: Option<Duration>,
    /// When the role event that led to the current claim was seen; cleared at the first
    /// announcement, which sets `last_claim_latency_us`.
    claim_trigger: Option<Duration>,
    reason: String,
    last_transition_ms: u64,
    last_claim_latency_us: u64,
    counters: Counters,
    sentinels: SentinelView,
    /// Until when the Sentinels' answers allow holding (Sentinel mode, while holding).
    hold_until: Option<Duration>,
    last_fence_reason: Option<Fence>,
    last_fence: String,
    /// A `vip.quorum` that cannot work or weakens the guarantee (logged once, shown in
    /// `reason`).
    quorum_warning: Option<String>,
    /// What the server's `bind` / protected mode say about clients reaching the VIP.
    listening: Option<Listening>,
    /// Why clients could not connect through the VIP, as last said (None: they can).
    clients_problem: Option<String>,
    /// What was last said about cruft in the Sentinels' state (ghosts, unusable entries).
    cruft_said: Option<(bool, String)>,
    last_conflict_mac: String,
    /// When the last burst in answer to a conflict started (the rate limit).
    last_reannounce: Option<Duration>,
    /// What the pollers and the listener were last told, so that only changes go out.
    plan_sent: Option<Option<PollPlan>>,
    interval_sent: Option<Duration>,
    listen_sent: Option<Option<ListenSpec>>,
    now: Duration,
    shutting_down: bool,
    finished: bool,
}

impl Core {
    pub fn new(settings: Settings) -> Core {
        let mut sentinels = SentinelView::default();
        sentinels.set_configured(&settings.sentinels);
        Core {
            settings,
            role: None,
            link: None,
            observed: false,
            present: Vec::new(),
            holding: false,
            claim_pending: false,
            faults: BTreeMap::new(),
            last_error: String::new(),
            last_error_ms: 0,
            retry_ms: 0,
            next_observe: Duration::ZERO,
            next_refresh: None,
            announces: Vec::new(),
            next_announce_refresh: None,
            claim_trigger: None,
            reason: "loaded".to_string(),
            last_transition_ms: 0,
            last_claim_latency_us: 0,
            counters: Counters::default(),
            sentinels,
            hold_until: None,
            last_fence_reason: None,
            last_fence: String::new(),
            quorum_warning: None,
            listening: None,
            clients_problem: None,
            cruft_said: None,
            last_conflict_mac: String::new(),
            last_reannounce: None,
            plan_sent: None,
            interval_sent: None,
            listen_sent: None,
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
        let mut next = None::<Duration>;
        let mut consider = |t: Option<Duration>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        if self.settings.configured() || self.holding || !self.present.is_empty() {
            consider(Some(self.next_observe));
        }
        consider(self.announces.iter().map(|(t, _)| *t).min());
        consider(self.next_announce_refresh);
        if self.holding {
            consider(self.hold_until);
        }
        next
    }

    /// Handle one event; return the actions to carry out, in order. The worker stops a
    /// batch at its first failing action and reports it with `Event::Failed`.
    pub fn handle(&mut self, event: Event, now: Now) -> Vec<Action> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        self.now = now.mono;
        match event {
            Event::Role { role, at, loaded } => {
                let changed = self.role != Some(role);
                self.role = Some(role);
                if role == Role::Master && (changed || loaded) {
                    self.claim_trigger = Some(at);
                }
                if changed || loaded {
                    self.reason = match (loaded, role) {
                        (true, Role::Master) => "loaded as master".into(),
                        (true, Role::Replica) => "loaded as replica".into(),
                        (false, Role::Master) => "role changed to master".into(),
                        (false, Role::Replica) => "role changed to replica".into(),
                    };
                }
                self.sentinel_fault(now, &mut out);
                if changed && self.settings.mode() == Mode::Sentinel {
                    // The answers already in hand usually decide (a leader flags its chosen
                    // replica before sending it REPLICAOF NO ONE); ask again all the same.
                    out.push(Action::PollNow);
                }
                self.decide(now, &mut out);
            }
            Event::Settings(new) => self.apply_settings(new, now, &mut out),
            Event::Tick | Event::NetChanged => {
                if matches!(event, Event::NetChanged) || now.mono >= self.next_observe {
                    self.observe_now(now, &mut out);
                }
                if self.holding && self.settings.mode() == Mode::Sentinel {
                    self.decide(now, &mut out);
                }
                self.due_announcements(now, &mut out);
            }
            Event::Observed(obs) => {
                self.apply_observation(obs, now, &mut out);
                self.decide(now, &mut out);
            }
            Event::ObserveFailed(error) => {
                let msg = describe(&error, "", &self.settings.interface);
                self.set_fault(FaultKind::Observe, msg, now, &mut out);
            }
            Event::Added(vip) => {
                if !self.present.contains(&vip) {
                    self.present.push(vip);
                }
                if !self.settings.announce {
                    // Routed: the address on the interface is the claim.
                    if let Some(at) = self.claim_trigger.take() {
                        self.last_claim_latency_us =
                            now.mono
                                .saturating_sub(at)
                                .as_micros()
                                .min(u64::MAX as u128) as u64;
                    }
                }
                if self.holding && self.all_present() {
                    self.clear_fault(FaultKind::Address, &mut out);
                }
            }
            Event::Announced { at: sent } => {
                self.counters.announcements_sent += 1;
                if let Some(at) = self.claim_trigger.take() {
                    self.last_claim_latency_us =
                        sent.saturating_sub(at).as_micros().min(u64::MAX as u128) as u64;
                }
                self.clear_fault(FaultKind::Announce, &mut out);
            }
            Event::Failed { action, error } => self.action_failed(action, error, now, &mut out),
            Event::Identity(me) => {
                self.sentinels.set_me(me);
                self.sentinel_fault(now, &mut out);
                self.decide_if_sentinel_mode(now, &mut out);
            }
            Event::SentinelAnswer { from, heard } => {
                self.sentinels
                    .record(&from, *heard, crate::config::MAX_SENTINELS);
                self.sentinel_fault(now, &mut out);
                self.decide_if_sentinel_mode(now, &mut out);
            }
            Event::SentinelFailed { from, at, error } => {
                self.sentinels.failed(&from, at, error);
                self.sentinel_fault(now, &mut out);
                self.decide_if_sentinel_mode(now, &mut out);
            }
            Event::Claimed { ip, mac } => self.conflict(ip, mac, now, &mut out),
            Event::Listening(Ok(())) => self.clear_fault(FaultKind::Listen, &mut out),
            Event::Listening(Err(error)) => {
                let msg = format!(
                    "conflict detection is off: {}",
                    describe(&error, "", &self.settings.interface)
                );
                self.set_fault(FaultKind::Listen, msg, now, &mut out);
            }
            Event::Clients(listening) => {
                self.listening = Some(listening);
                self.check_clients(&mut out);
            }
            Event::Shutdown => self.shutdown(now, &mut out),
        }
        if self.shutting_down && !self.claim_pending {
            self.finished = true;
        }
        self.sync_adapters(&mut out);
        // Act first, write about it after: a log line (a file write in Redis) must not
        // delay the address or the first announcement. The order among each kind stays.
        out.sort_by_key(|a| matches!(a, Action::Log { .. }));
        out
    }

    fn rules(&self) -> Rules {
        Rules {
            quorum: self.settings.quorum,
            lease_ms: self.settings.lease_ms,
        }
    }

    fn decide_if_sentinel_mode(&mut self, now: Now, out: &mut Vec<Action>) {
        if self.settings.mode() == Mode::Sentinel {
            self.decide(now, out);
        }
    }

    /// Faults of the Sentinel-confirmed mode that only the operator can fix.
    fn sentinel_fault(&mut self, now: Now, out: &mut Vec<Action>) {
        let fault = if !self.settings.configured() {
            None
        } else if !self.settings.announce && self.settings.address_lifetime_s == 0 {
            Some("vip.address-lifetime-s 0 (permanent) is refused with vip.announce no: a node that crashes would keep announcing the route forever; set a lifetime (the default is 1)".to_string())
        } else if self.settings.mode() != Mode::Sentinel {
            None
        } else if self.settings.master_name.is_none() {
            Some("vip.master-name is required when vip.sentinels is set: set it to the name the Sentinels monitor (sentinel monitor <name> ...)".to_string())
        } else {
            self.sentinels.fault(now.mono)
        };
        let warning = (self.settings.mode() == Mode::Sentinel)
            .then(|| self.sentinels.quorum_warning(self.rules()))
            .flatten();
        if warning != self.quorum_warning {
            if let Some(w) = &warning {
                out.push(Action::Log {
                    level: Level::Warning,
                    message: w.clone(),
                });
            }
            self.quorum_warning = warning;
        }
        let cruft = match (&self.settings.master_name, self.settings.mode()) {
            (Some(name), Mode::Sentinel) => self.sentinels.cruft(name),
            _ => None,
        };
        if cruft != self.cruft_said {
            if let Some((needs_action, text)) = &cruft {
                out.push(Action::Log {
                    level: if *needs_action {
                        Level::Warning
                    } else {
                        Level::Notice
                    },
                    message: text.clone(),
                });
            }
            self.cruft_said = cruft;
        }
        match fault {
            // The same fault again is no failed retry of ours: the pollers retry on their own.
            Some(msg)
                if self
                    .faults
                    .get(&FaultKind::Sentinel)
                    .is_some_and(|f| f.message == msg) => {}
            Some(msg) => self.set_fault(FaultKind::Sentinel, msg, now, out),
            None => self.clear_fault(FaultKind::Sentinel, out),
        }
    }

    /// Tell the pollers and the listener what they should be doing, when that changed.
    fn sync_adapters(&mut self, out: &mut Vec<Action>) {
        let s = &self.settings;
        let plan = match (&s.master_name, s.mode()) {
            (Some(name), Mode::Sentinel) if s.enabled && !self.finished => Some(PollPlan {
                targets: self.sentinels.targets(),
                master_name: name.clone(),
                auth_user: s.auth_user.clone(),
                auth_pass: s.auth_pass.clone(),
                tls: s.sentinel_tls.as_deref().cloned(),
            }),
            _ => None,
        };
        if self.plan_sent.as_ref() != Some(&plan) {
            out.push(Action::Sentinels(plan.clone()));
            self.plan_sent = Some(plan);
        }
        let normal = Duration::from_millis(s.poll_interval_ms.max(1));
        let interval = if self.sentinels.failover_underway(self.now) {
            normal.min(FAILOVER_POLL)
        } else {
            normal
        };
        if self.interval_sent != Some(interval) {
            out.push(Action::PollInterval(interval));
            self.interval_sent = Some(interval);
        }
        let listen = match &self.link {
            Some(LinkState {
                index,
                mac: Some(mac),
                ..
            }) if self.holding && !self.finished && s.announce => Some(ListenSpec {
                ifindex: *index,
                mac: *mac,
                addrs: s.addresses.iter().map(|v| v.addr).collect(),
            }),
            _ => None,
        };
        if self.listen_sent.as_ref() != Some(&listen) {
            out.push(Action::Listen(listen.clone()));
            self.listen_sent = Some(listen);
        }
    }

    fn observe_now(&mut self, now: Now, out: &mut Vec<Action>) {
        out.push(Action::Observe);
        // Until the answer arrives, the next regular look is one interval away.
        self.next_observe = now.mono + self.interval();
    }

    fn interval(&self) -> Duration {
        if self.faults.is_empty() {
            let mut ms = self.settings.check_interval_ms.max(1);
            if self.holding {
                if let Some(refresh) = self.refresh_period_ms() {
                    ms = ms.min(refresh);
                }
            }
            Duration::from_millis(ms)
        } else {
            Duration::from_millis(self.retry_ms.max(RETRY_FIRST_MS))
        }
    }

    /// Refresh the lifetime four times per lifetime: one lost refresh never drops the VIP.
    fn refresh_period_ms(&self) -> Option<u64> {
        match self.settings.address_lifetime_s {
            0 => None,
            s => Some((u64::from(s) * 1000 / 4).max(100)),
        }
    }

    /// Should this node hold the VIPs now, and why (for the log and VIP.STATUS)? A refusal
    /// may carry a fence: the Sentinels' reason to take the VIPs away.
    fn want(&mut self, now: Now) -> (bool, String, Option<Fence>) {
        if !self.settings.enabled {
            return (false, "disabled by vip.enabled".into(), None);
        }
        if !self.settings.configured() {
            return (false, "not configured".into(), None);
        }
        if self.shutting_down {
            return (false, "shutdown".into(), None);
        }
        match self.role {
            Some(Role::Master) => {}
            Some(Role::Replica) => return (false, self.reason.clone(), None),
            None => return (false, "role unknown".into(), None),
        }
        if !self.settings.announce && self.settings.address_lifetime_s == 0 {
            self.hold_until = None;
            return (
                false,
                "a permanent address is refused in routed mode".into(),
                None,
            );
        }
        if self.settings.mode() == Mode::Basic {
            self.hold_until = None;
            return (true, self.reason.clone(), None);
        }
        if self.settings.master_name.is_none() {
            self.hold_until = None;
            return (false, "vip.master-name is not set".into(), None);
        }
        match self.sentinels.verdict(now.mono, self.rules()) {
            Verdict::Hold { until, why } => {
                self.hold_until = Some(until);
                (true, why.to_string(), None)
            }
            Verdict::Refuse { fence, why } => {
                self.hold_until = None;
                let why = if fence.is_some() {
                    format!("fenced: {why}")
                } else {
                    format!("waiting: {why}")
                };
                if !self.holding {
                    // Show why a master is not claiming (stale start, awaiting confirmation).
                    self.reason = why.clone();
                }
                (false, why, fence)
            }
        }
    }

    /// Compare what should be with what was observed, and act on the difference.
    fn decide(&mut self, now: Now, out: &mut Vec<Action>) {
        if !self.observed && self.settings.configured() && !self.shutting_down {
            // First look at the interface (ifindex, what is there, our addresses); the
            // answer comes right back and decides.
            if !self.claim_pending {
                self.claim_pending = true;
                self.observe_now(now, out);
            }
            return;
        }
        let (want, why, fence) = self.want(now);
        if !want {
            if self.leftover_can_wait(fence) {
                return;
            }
            self.release(&why, fence, now, out);
            return;
        }
        // No interface, or one without a MAC where we must announce: apply_observation has
        // already raised the link fault.
        let Some(link) = self
            .link
            .clone()
            .filter(|l| l.mac.is_some() || !self.settings.announce)
        else {
            return;
        };
        let fresh_claim = !self.holding;
        if fresh_claim {
            self.holding = true;
            self.counters.claims += 1;
            self.transition(&why, now);
            self.notify(Notice::Claim, &why, now, out);
            out.push(Action::Log {
                level: Level::Notice,
                message: format!(
                    "claiming {} on {} ({})",
                    self.settings.addresses_text(),
                    self.settings.interface,
                    why
                ),
            });
            if let Some(problem) = &self.clients_problem {
                out.push(Action::Log {
                    level: Level::Warning,
                    message: problem.clone(),
                });
            }
            self.announces.clear();
            for vip in self.settings.addresses.clone() {
                self.schedule_burst(vip, now.mono);
            }
            self.next_announce_refresh = self.announce_refresh_period().map(|p| now.mono + p);
            self.next_refresh = self.refresh_period_ms().map(|_| now.mono);
        }
        let refresh_due = self.next_refresh.is_some_and(|t| now.mono >= t);
        for vip in self.settings.addresses.clone() {
            let present = self.present.contains(&vip);
            if !present && !fresh_claim && !self.faults.contains_key(&FaultKind::Address) {
                // Drift: it was ours and vanished (deleted by hand, link flap).
                out.push(Action::Log {
                    level: Level::Warning,
                    message: format!(
                        "{} was missing from {}: adding it back",
                        vip, self.settings.interface
                    ),
                });
                self.schedule_burst(vip, now.mono);
            }
            if !present || refresh_due {
                out.push(Action::Add {
                    vip,
                    ifindex: link.index,
                    lifetime_s: self.settings.address_lifetime_s,
                    label: if vip.is_ipv4() {
                        self.settings.label.clone()
                    } else {
                        None
                    },
                });
                if !present {
                    self.present.push(vip);
                }
            }
        }
        if refresh_due {
            self.next_refresh = self
                .refresh_period_ms()
                .map(|ms| now.mono + Duration::from_millis(ms));
        }
        if self.faults.is_empty() {
            self.next_observe = self.next_observe.min(now.mono + self.interval());
        }
        self.due_announcements(now, out);
    }

    fn release(&mut self, why: &str, fence: Option<Fence>, now: Now, out: &mut Vec<Action>) {
        let was_holding = self.holding;
        self.holding = false;
        self.claim_pending = false;
        self.announces.clear();
        self.next_announce_refresh = None;
        self.next_refresh = None;
        self.claim_trigger = None;
        // Nothing left to announce or to watch: those faults end with the hold (a missing
        // CAP_NET_RAW stays visible as the capability fault of every look).
        self.drop_fault(FaultKind::Announce);
        self.drop_fault(FaultKind::Listen);
        if was_holding {
            self.counters.releases += 1;
            if let Some(f) = fence {
                self.counters.fences += 1;
                self.last_fence_reason = Some(f);
                self.last_fence = why.to_string();
            }
            self.transition(why, now);
            let notice = if fence.is_some() {
                Notice::Fence
            } else {
                Notice::Release
            };
            self.notify(notice, why, now, out);
            out.push(Action::Log {
                level: Level::Notice,
                message: format!(
                    "releasing {} on {} ({})",
                    self.settings.addresses_text(),
                    self.settings.interface,
                    why
                ),
            });
        }
        if let Some(link) = &self.link {
            let index = link.index;
            for vip in std::mem::take(&mut self.present) {
                if !was_holding && !self.shutting_down {
                    out.push(Action::Log {
                        level: Level::Warning,
                        message: format!(
                            "{} is on {} but this node must not hold it ({}): deleting it",
                            vip, self.settings.interface, why
                        ),
                    });
                }
                out.push(Action::Delete {
                    vip,
                    ifindex: index,
                });
            }
        }
    }

    fn schedule_burst(&mut self, vip: Vip, start: Duration) {
        let s = &self.settings;
        if !s.announce {
            return;
        }
        let step = Duration::from_millis(s.announce_interval_ms);
        for i in 0..s.announce_count {
            self.announces.push((start + step * i, vip));
        }
        if s.announce_repeat_delay_ms > 0 {
            let again = start + Duration::from_millis(s.announce_repeat_delay_ms);
            for i in 0..s.announce_count {
                self.announces.push((again + step * i, vip));
            }
        }
    }

    fn announce_refresh_period(&self) -> Option<Duration> {
        match self.settings.announce_refresh_ms {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    fn due_announcements(&mut self, now: Now, out: &mut Vec<Action>) {
        if !self.holding {
            self.announces.clear();
            return;
        }
        let (index, mac) = match &self.link {
            Some(LinkState {
                index,
                mac: Some(mac),
                up: true,
            }) => (*index, *mac),
            Some(LinkState { up: false, .. }) => {
                // Nothing leaves a link that is down (the kernel answers ENETDOWN, which is
                // no fault of ours): drop what is due. The link coming up starts a burst.
                self.announces.retain(|(t, _)| *t > now.mono);
                return;
            }
            _ => return,
        };
        if let Some(t) = self.next_announce_refresh {
            if now.mono >= t {
                for vip in self.settings.addresses.clone() {
                    self.announces.push((now.mono, vip));
                }
                self.next_announce_refresh = self.announce_refresh_period().map(|p| now.mono + p);
            }
        }
        let mut due: Vec<(Duration, Vip)> = Vec::new();
        self.announces.retain(|(t, vip)| {
            if *t <= now.mono {
                due.push((*t, *vip));
                false
            } else {
                true
            }
        });
        due.sort();
        for (_, vip) in due {
            if self.present.contains(&vip) {
                out.push(Action::Announce {
                    vip,
                    ifindex: index,
                    mac,
                });
            }
        }
    }

    fn apply_observation(&mut self, obs: Observation, now: Now, out: &mut Vec<Action>) {
        self.claim_pending = false;
        self.observed = true;
        let vips: Vec<IpAddr> = self.settings.addresses.iter().map(|v| v.addr).collect();
        self.sentinels.set_local(&obs.local, &vips);
        if self.faults.contains_key(&FaultKind::Listen) {
            // Try the listener again at each look, which backs off while the fault lasts.
            self.listen_sent = None;
        }
        self.clear_fault(FaultKind::Observe, out);
        let raw_needed = self.settings.announce;
        if self.settings.configured() && !(obs.net_admin && (obs.net_raw || !raw_needed)) {
            let mut missing = Vec::new();
            if !obs.net_admin {
                missing.push("CAP_NET_ADMIN");
            }
            if !obs.net_raw && raw_needed {
                missing.push("CAP_NET_RAW");
            }
            let needs = if raw_needed {
                "CAP_NET_ADMIN and CAP_NET_RAW"
            } else {
                "CAP_NET_ADMIN"
            };
            let msg = format!(
                "redis-server lacks {}: it needs {needs} to manage the VIP (see README#deployment)",
                missing.join(" and ")
            );
            self.set_fault(FaultKind::Capability, msg, now, out);
        } else {
            self.clear_fault(FaultKind::Capability, out);
        }
        let was_up = self.link.as_ref().is_some_and(|l| l.up);
        match &obs.link {
            None if self.settings.configured() => {
                let msg = format!(
                    "interface '{}' not found: create it or set vip.interface to an existing interface",
                    self.settings.interface
                );
                self.set_fault(FaultKind::Link, msg, now, out);
            }
            Some(link)
                if link.mac.is_none() && self.settings.configured() && self.settings.announce =>
            {
                let msg = format!(
                    "interface '{}' has no MAC address: gratuitous ARP and neighbour advertisements need an Ethernet interface (or set vip.announce no, for a routed VIP)",
                    self.settings.interface
                );
                self.set_fault(FaultKind::Link, msg, now, out);
            }
            _ => self.clear_fault(FaultKind::Link, out),
        }
        if self.holding
            && self.settings.announce
            && !was_up
            && obs.link.as_ref().is_some_and(|l| l.up)
            && self.link.is_some()
        {
            // The link came back: neighbours may have flushed their entries.
            out.push(Action::Log {
                level: Level::Notice,
                message: format!(
                    "{} is up again: announcing {}",
                    self.settings.interface,
                    self.settings.addresses_text()
                ),
            });
            for vip in self.settings.addresses.clone() {
                self.schedule_burst(vip, now.mono);
            }
        }
        self.link = obs.link;
        self.present = obs.present;
        if self.present.is_empty() && !self.holding {
            self.clear_fault(FaultKind::Address, out);
        }
        if self.holding && self.all_present() {
            self.clear_fault(FaultKind::Address, out);
        }
    }

    /// An address this node does not hold yet but finds on its interface (left by the process
    /// before a restart of this server) is left alone, not deleted, while nothing is known
    /// against it: the role has not been read yet, or in Sentinel mode every Sentinel that
    /// answered names this node and reports nothing against it, only too few have confirmed
    /// yet (none at all, or fewer than the quorum within the lease). A crash
    /// restarted at once then keeps its address until the answers confirm it or not, instead
    /// of a delete and a re-add 1-2 ms apart. It lasts no longer than a killed process's
    /// address: its lifetime runs out unless claimed. A permanent address
    /// (`vip.address-lifetime-s 0`) is never left.
    fn leftover_can_wait(&self, fence: Option<Fence>) -> bool {
        let waiting = match self.role {
            None => true,
            Some(Role::Master) => {
                self.settings.mode() == Mode::Sentinel
                    && matches!(fence, None | Some(Fence::LeaseExpired))
                    && self.sentinels.none_names_other()
            }
            Some(Role::Replica) => false,
        };
        waiting
            && !self.holding
            && !self.shutting_down
            && self.settings.enabled
            && self.settings.address_lifetime_s > 0
    }

    /// Compare the server's listening settings with the VIPs; say so when that changes.
    fn check_clients(&mut self, out: &mut Vec<Action>) {
        let vips: Vec<IpAddr> = self.settings.addresses.iter().map(|v| v.addr).collect();
        let problem = self
            .listening
            .as_ref()
            .filter(|_| !vips.is_empty())
            .and_then(|l| reach::problem(l, &vips));
        if problem == self.clients_problem {
            return;
        }
        match &problem {
            Some(text) => out.push(Action::Log {
                level: Level::Warning,
                message: text.clone(),
            }),
            None if self.clients_problem.is_some() => out.push(Action::Log {
                level: Level::Notice,
                message:
                    "clients can connect through the VIP again (bind and protected-mode allow it)"
                        .to_string(),
            }),
            None => {}
        }
        self.clients_problem = problem;
    }

    fn apply_settings(&mut self, new: Settings, now: Now, out: &mut Vec<Action>) {
        let old = std::mem::replace(&mut self.settings, new);
        let moved = old.interface != self.settings.interface;
        if old.addresses != self.settings.addresses {
            self.check_clients(out);
        }
        // Another set of Sentinels, or another master name: nothing they said counts.
        self.sentinels.set_configured(&self.settings.sentinels);
        if old.master_name != self.settings.master_name
            || !same_sentinels(&old.sentinels, &self.settings.sentinels)
        {
            self.sentinels.forget_answers();
        }
        // Release what no longer applies: every old VIP when the interface changed,
        // else the VIPs dropped from the list.
        if let Some(link) = &self.link {
            let index = link.index;
            let dropped: Vec<Vip> = self
                .present
                .iter()
                .filter(|v| moved || !self.settings.addresses.contains(v))
                .copied()
                .collect();
            for vip in &dropped {
                out.push(Action::Log {
                    level: Level::Notice,
                    message: format!(
                        "releasing {} on {} (configuration changed)",
                        vip, old.interface
                    ),
                });
                out.push(Action::Delete {
                    vip: *vip,
                    ifindex: index,
                });
            }
            self.present.retain(|v| !dropped.contains(v));
        }
        let claim_set_changed = moved || old.addresses != self.settings.addresses;
        if claim_set_changed || old.enabled != self.settings.enabled {
            self.reason = if old.enabled != self.settings.enabled {
                if self.settings.enabled {
                    "enabled by vip.enabled".into()
                } else {
                    "disabled by vip.enabled".into()
                }
            } else {
                "configuration changed".into()
            };
        }
        if claim_set_changed && self.holding {
            // Claim the new set afresh (new transition, new announcements).
            self.holding = false;
            self.counters.releases += 1;
            if self.role == Some(Role::Master) {
                self.claim_trigger = Some(now.mono);
            }
        }
        if moved {
            self.link = None;
            self.observed = false;
            self.present.clear();
        }
        // A new configuration does not clear a fault by itself: each kind is looked at again
        // right below (the observation, the Sentinels) and clears on its own kind of success,
        // so one that is still there is the same error, not a new one. Only what the new
        // settings make moot ends here.
        if !self.settings.configured() || !self.settings.enabled {
            for kind in self.faults.keys().copied().collect::<Vec<_>>() {
                self.drop_fault(kind);
            }
        } else if !self.settings.announce {
            self.drop_fault(FaultKind::Announce);
            self.drop_fault(FaultKind::Listen);
        }
        self.retry_ms = 0;
        self.next_observe = now.mono;
        self.sentinel_fault(now, out);
        if !self.settings.configured() || !self.settings.enabled {
            self.decide(now, out);
            return;
        }
        self.observe_now(now, out);
        if self.observed {
            self.decide(now, out);
        }
    }

    fn shutdown(&mut self, now: Now, out: &mut Vec<Action>) {
        self.shutting_down = true;
        if !self.settings.release_on_shutdown {
            out.push(Action::Log {
                level: Level::Notice,
                message:
                    "shutting down; vip.release-on-shutdown is off: leaving the addresses to expire"
                        .into(),
            });
            self.holding = false;
            self.finished = true;
            return;
        }
        // Delete every configured VIP, present or not by the last look: it is cheap and
        // deleting an absent address is not an error.
        if self.link.is_some() {
            for vip in &self.settings.addresses {
                if !self.present.contains(vip) {
                    self.present.push(*vip);
                }
            }
        }
        self.release("shutdown", None, now, out);
        self.finished = true;
    }

    fn action_failed(&mut self, action: Action, error: OsError, now: Now, out: &mut Vec<Action>) {
        let iface = self.settings.interface.clone();
        match &action {
            Action::Add { vip, .. } => {
                self.present.retain(|v| v != vip);
                let msg = describe(&error, &format!("{vip}"), &iface);
                self.set_fault(FaultKind::Address, msg, now, out);
                // Look again soon: the address may need re-adding with its announcements.
                self.announces.retain(|(_, v)| v != vip);
            }
            Action::Delete { vip, .. } => {
                if !self.present.contains(vip) {
                    self.present.push(*vip);
                }
                let msg = describe(&error, &format!("{vip}"), &iface);
                self.set_fault(FaultKind::Address, msg, now, out);
            }
            Action::Announce { vip, .. } => {
                let msg = describe(&error, &format!("{vip}"), &iface);
                self.set_fault(FaultKind::Announce, msg, now, out);
            }
            // Observe answers with ObserveFailed; the others cannot fail.
            Action::Observe
            | Action::Log { .. }
            | Action::Sentinels(_)
            | Action::PollNow
            | Action::PollInterval(_)
            | Action::Listen(_)
            | Action::Publish(_) => {}
        }
        if self.shutting_down {
            self.finished = true;
        }
    }

    /// Raise a fault of `kind`. A kind that comes into force is an error (`errors`); the
    /// same kind again with another wording (another errno, another Sentinel's error first
    /// in line) is the same error, logged and shown but not counted again.
    fn set_fault(&mut self, kind: FaultKind, msg: String, now: Now, out: &mut Vec<Action>) {
        let previous = self.faults.get(&kind).map(|f| f.message.clone());
        if previous.as_ref() != Some(&msg) {
            if previous.is_none() {
                self.counters.errors += 1;
            }
            out.push(Action::Log {
                level: Level::Warning,
                message: msg.clone(),
            });
            self.notify(Notice::Error, &msg, now, out);
            self.last_error = msg.clone();
            self.last_error_ms = now.unix_ms;
            self.faults.insert(
                kind,
                Fault {
                    message: msg,
                    since_ms: now.unix_ms,
                },
            );
            if self.retry_ms == 0 {
                self.retry_ms = RETRY_FIRST_MS;
            }
        } else {
            // The same fault again: back off further, log nothing.
            self.retry_ms = (self.retry_ms * 2).clamp(RETRY_FIRST_MS, RETRY_MAX_MS);
        }
        self.next_observe = now.mono + Duration::from_millis(self.retry_ms);
    }

    fn clear_fault(&mut self, kind: FaultKind, out: &mut Vec<Action>) {
        if let Some(fault) = self.remove_fault(kind) {
            out.push(Action::Log {
                level: Level::Notice,
                message: format!("recovered: {}", fault.message),
            });
        }
    }

    /// End a fault that no longer matters (nothing left to announce or to watch, the
    /// module disabled): no "recovered" line, since it was not fixed.
    fn drop_fault(&mut self, kind: FaultKind) {
        self.remove_fault(kind);
    }

    fn remove_fault(&mut self, kind: FaultKind) -> Option<Fault> {
        let fault = self.faults.remove(&kind)?;
        if self.faults.is_empty() {
            self.retry_ms = 0;
        }
        // `last_error` keeps the cleared fault as history, unless another is still in
        // force: then it names that one (the latest raised), so that `error_active 1` never
        // points at a cause that is gone.
        if let Some(other) = self.faults.values().max_by_key(|f| f.since_ms) {
            self.last_error = other.message.clone();
            self.last_error_ms = other.since_ms;
        }
        Some(fault)
    }

    /// Every configured VIP is on the interface (as far as we know).
    fn all_present(&self) -> bool {
        self.settings
            .addresses
            .iter()
            .all(|v| self.present.contains(v))
    }

    /// One line for `__vip__:events` (format: `Notice`).
    fn notify(&self, notice: Notice, reason: &str, now: Now, out: &mut Vec<Action>) {
        let epoch = match self.sentinels.epoch_naming_us(self.rules()) {
            Some(e) if self.settings.mode() == Mode::Sentinel => e.to_string(),
            _ => "-".to_string(),
        };
        let addresses = match self.settings.addresses_text() {
            a if a.is_empty() => "-".to_string(),
            a => a,
        };
        let reason: String = reason
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        out.push(Action::Publish(format!(
            "{} {addresses} {epoch} {} {reason}",
            notice.as_str(),
            now.unix_ms
        )));
    }

    fn transition(&mut self, why: &str, now: Now) {
        self.reason = why.to_string();
        self.last_transition_ms = now.unix_ms;
    }

    pub fn phase(&self) -> Phase {
        if !self.settings.enabled || !self.settings.configured() {
            Phase::Idle
        } else if !self.faults.is_empty() {
            Phase::Error
        } else if self.holding {
            Phase::Holding
        } else {
            Phase::Standby
        }
    }

    pub fn status(&self, now: Now) -> Status {
        let rules = self.rules();
        let sentinel_mode = self.settings.mode() == Mode::Sentinel;
        let view = if sentinel_mode {
            self.sentinels.summary(now.mono, rules)
        } else {
            Default::default()
        };
        let lease_remaining_ms = match (self.holding, self.hold_until) {
            (true, Some(until)) => until.saturating_sub(now.mono).as_millis() as u64,
            _ => 0,
        };
        Status {
            state: self.phase().as_str(),
            mode: self.settings.mode().as_str(),
            role: self.role.map_or("unknown", Role::as_str),
            addresses: self.settings.addresses_text(),
            interface: self.settings.interface.clone(),
            holding: self.holding,
            announce: self.settings.announce,
            conflict_detection: if !self.settings.announce {
                "off"
            } else if self.faults.contains_key(&FaultKind::Listen) {
                "failing"
            } else {
                "on"
            },
            reason: match &self.quorum_warning {
                Some(w) => format!("{} (warning: {w})", self.reason),
                None => self.reason.clone(),
            },
            last_transition_ms: self.last_transition_ms,
            last_claim_latency_us: self.last_claim_latency_us,
            counters: self.counters.clone(),
            error_active: self.phase() == Phase::Error,
            last_error: self.last_error.clone(),
            last_error_ms: self.last_error_ms,
            sentinels_known: view.known,
            sentinels_reachable: view.reachable,
            sentinels_confirming: view.confirming,
            sentinels_ghosts: view.ghosts,
            sentinel_entries_skipped: view.skipped,
            quorum: view.quorum,
            lease_ms: view.lease_ms,
            lease_remaining_ms,
            last_fence_reason: self.last_fence_reason.map_or("", Fence::as_str),
            last_fence: self.last_fence.clone(),
            clients_problem: self.clients_problem.clone().unwrap_or_default(),
            last_conflict_mac: self.last_conflict_mac.clone(),
            sentinels: if sentinel_mode {
                self.sentinels.rows(now.mono, rules)
            } else {
                Vec::new()
            },
            inbox_dropped: 0,
        }
    }

    /// Another host claimed one of our VIPs on the wire while we hold it: count it, tell
    /// the operator (once per MAC), and answer with a burst of our own announcements, so
    /// that neighbours which took the other MAC come back (keepalived issues 166, 1528: a
    /// split brain that healed left them on the wrong MAC). At most one burst per
    /// `reannounce_holdoff`; in Sentinel mode the Sentinels are asked at once too, since
    /// another holder may mean that this node is the one that should let go.
    fn conflict(&mut self, ip: IpAddr, mac: [u8; 6], now: Now, out: &mut Vec<Action>) {
        let ours = self.link.as_ref().and_then(|l| l.mac);
        if !self.holding
            || ours == Some(mac)
            || !self.settings.addresses.iter().any(|v| v.addr == ip)
        {
            return;
        }
        self.counters.conflicts += 1;
        let mac_text = format_mac(mac);
        if self.last_conflict_mac != mac_text {
            let message = format!(
                "conflict: {ip} is also claimed by {mac_text} on {}: another host holds this VIP; announcing it again from this node",
                self.settings.interface
            );
            self.notify(Notice::Conflict, &message, now, out);
            out.push(Action::Log {
                level: Level::Warning,
                message,
            });
        }
        self.last_conflict_mac = mac_text;
        let quiet = self
            .last_reannounce
            .is_some_and(|t| now.mono < t + self.reannounce_holdoff());
        if !self.settings.announce || quiet {
            return;
        }
        self.last_reannounce = Some(now.mono);
        self.counters.reannounced += 1;
        for vip in self.settings.addresses.clone() {
            self.schedule_burst(vip, now.mono);
        }
        if self.settings.mode() == Mode::Sentinel {
            out.push(Action::PollNow);
        }
        self.due_announcements(now, out);
    }

    /// The rate limit of re-announcements: `REANNOUNCE_HOLDOFF`, or one burst's length.
    fn reannounce_holdoff(&self) -> Duration {
        let step = Duration::from_millis(self.settings.announce_interval_ms);
        let burst = step * self.settings.announce_count.saturating_sub(1);
        burst.max(REANNOUNCE_HOLDOFF)
    }
}

pub fn format_mac(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Turn an errno into a sentence with the fix in it.
pub fn describe(error: &OsError, vip: &str, iface: &str) -> String {
    let op = error.op.as_str();
    let what = if vip.is_empty() {
        op.to_string()
    } else {
        format!("{op} {vip} on {iface}")
    };
    match error.errno {
        libc::EPERM | libc::EACCES => format!(
            "{what}: permission denied: redis-server needs CAP_NET_ADMIN and CAP_NET_RAW (missing {}): see README#deployment",
            error.op.capability().as_str()
        ),
        libc::ENODEV | libc::ENXIO => format!(
            "{what}: interface '{iface}' not found: create it or set vip.interface to an existing interface"
        ),
        libc::EAFNOSUPPORT => format!(
            "{what}: address family not allowed: systemd's RestrictAddressFamilies must allow AF_NETLINK and AF_PACKET (see deploy/)"
        ),
        libc::ENETDOWN => format!("{what}: interface '{iface}' is down"),
        libc::ERANGE => format!("{what}: label too long for the kernel: set vip.label to 15 characters or fewer"),
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests;
