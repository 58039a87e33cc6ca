//! The snapshot behind VIP.STATUS and INFO vip, with typed values; the text the operator
//! sees is each type's `as_str`.

use super::{Core, FaultKind, Now, Role, State};
use crate::config::Mode;
use crate::sentinel::{Fence, SentinelRow};

/// Whether another host announcing our VIPs is noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConflictDetection {
    /// The listener watches the wire while this node holds.
    On,
    /// Routed mode (`vip.announce no`): nothing to watch.
    #[default]
    Off,
    /// The listener cannot be opened.
    Failing,
}

impl ConflictDetection {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictDetection::On => "on",
            ConflictDetection::Off => "off",
            ConflictDetection::Failing => "failing",
        }
    }
}

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub state: State,
    pub mode: Mode,
    /// None: not known yet (shown as `unknown`).
    pub role: Option<Role>,
    pub addresses: String,
    pub interface: String,
    pub holding: bool,
    pub announce: bool,
    pub conflict_detection: ConflictDetection,
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
    /// The last fence's kind (None before the first).
    pub last_fence_reason: Option<Fence>,
    /// The last fence's sentence, as `reason` said it then (empty before the first).
    pub last_fence: String,
    /// Why clients could not connect through the VIP (`bind`, protected mode); empty: they can.
    pub clients_problem: String,
    pub last_conflict_mac: String,
    pub sentinels: Vec<SentinelRow>,
    /// Events from the pollers or the watcher that did not fit the worker's queue.
    pub inbox_dropped: u64,
    /// Holding on the replicas' word while the Sentinels' support has lapsed (failsafe).
    pub failsafe: bool,
    /// When the node last entered failsafe, unix ms (0: never); kept after it leaves.
    pub failsafe_since_ms: u64,
    /// The replicas asked (or to be asked) as witnesses, and how many confirm now.
    pub witnesses: u64,
    pub witnesses_confirmed: u64,
    pub witness_lease_ms: u64,
    /// As a replica: ms left of the promise given to the master (no claim before; 0: none).
    pub witnessed_until_ms: u64,
    /// One row per witness (VIP.WITNESSES).
    pub witness_rows: Vec<crate::witness::WitnessRow>,
    /// As a replica: what its Sentinels report against its master (empty: nothing). A
    /// witness that hears this does not confirm (`VIP.WITNESS`).
    pub sentinels_against_master: String,
    /// As a replica: a Sentinel failing its master over (empty: none).
    pub sentinels_failing_over_master: String,
}

/// What VIP.STATUS shows before the worker's first snapshot.
impl Default for Status {
    fn default() -> Status {
        Status {
            state: State::Idle,
            mode: Mode::Basic,
            role: None,
            addresses: String::new(),
            interface: String::new(),
            holding: false,
            announce: false,
            conflict_detection: ConflictDetection::Off,
            reason: String::new(),
            last_transition_ms: 0,
            last_claim_latency_us: 0,
            counters: Counters::default(),
            error_active: false,
            last_error: String::new(),
            last_error_ms: 0,
            sentinels_known: 0,
            sentinels_reachable: 0,
            sentinels_confirming: 0,
            sentinels_ghosts: 0,
            sentinel_entries_skipped: 0,
            quorum: 0,
            lease_ms: 0,
            lease_remaining_ms: 0,
            last_fence_reason: None,
            last_fence: String::new(),
            clients_problem: String::new(),
            last_conflict_mac: String::new(),
            sentinels: Vec::new(),
            inbox_dropped: 0,
            failsafe: false,
            failsafe_since_ms: 0,
            witnesses: 0,
            witnesses_confirmed: 0,
            witness_lease_ms: 0,
            witnessed_until_ms: 0,
            witness_rows: Vec::new(),
            sentinels_against_master: String::new(),
            sentinels_failing_over_master: String::new(),
        }
    }
}

impl Status {
    /// The role as shown: `master`, `replica`, or `unknown` before the first is known.
    pub fn role_str(&self) -> &'static str {
        self.role.map_or("unknown", Role::as_str)
    }

    /// The last fence's kind as shown (empty before the first).
    pub fn last_fence_reason_str(&self) -> &'static str {
        self.last_fence_reason.map_or("", Fence::as_str)
    }
}

impl Core {
    pub fn state(&self) -> State {
        if !self.settings.enabled || !self.settings.configured() {
            State::Idle
        } else if self.faults.any() {
            State::Error
        } else if self.holding {
            State::Holding
        } else {
            State::Standby
        }
    }

    fn conflict_detection(&self) -> ConflictDetection {
        if !self.settings.announce {
            ConflictDetection::Off
        } else if self.faults.has(FaultKind::Listen) {
            ConflictDetection::Failing
        } else {
            ConflictDetection::On
        }
    }

    pub fn status(&self, now: Now) -> Status {
        let rules = self.rules();
        let sentinel_mode = self.settings.mode() == Mode::Sentinel;
        let view = if sentinel_mode {
            self.sentinels.view.summary(now.mono, rules)
        } else {
            Default::default()
        };
        let lease_remaining_ms = match (self.holding, self.sentinels.hold_until) {
            (true, Some(until)) => until.saturating_sub(now.mono).as_millis() as u64,
            _ => 0,
        };
        let fence = self.sentinels.last_fence.as_ref();
        let (witnesses, witnesses_confirmed, witness_rows) = self.witness_rows(now.mono);
        Status {
            state: self.state(),
            mode: self.settings.mode(),
            role: self.role,
            addresses: self.settings.addresses_text(),
            interface: self.settings.interface.clone(),
            holding: self.holding,
            announce: self.settings.announce,
            conflict_detection: self.conflict_detection(),
            reason: match &self.sentinels.quorum_warning {
                Some(w) => format!("{} (warning: {w})", self.reason),
                None => self.reason.clone(),
            },
            last_transition_ms: self.last_transition_ms,
            last_claim_latency_us: self.latency.last_us,
            counters: self.counters.clone(),
            error_active: self.state() == State::Error,
            last_error: self.faults.last_error.clone(),
            last_error_ms: self.faults.last_error_ms,
            sentinels_known: view.known,
            sentinels_reachable: view.reachable,
            sentinels_confirming: view.confirming,
            sentinels_ghosts: view.ghosts,
            sentinel_entries_skipped: view.skipped,
            quorum: view.quorum,
            lease_ms: view.lease_ms,
            lease_remaining_ms,
            last_fence_reason: fence.map(|(f, _)| *f),
            last_fence: fence.map(|(_, text)| text.clone()).unwrap_or_default(),
            clients_problem: self.clients.problem.clone().unwrap_or_default(),
            last_conflict_mac: self.last_conflict_mac.clone(),
            sentinels: if sentinel_mode {
                self.sentinels.view.rows(now.mono, rules)
            } else {
                Vec::new()
            },
            inbox_dropped: 0,
            failsafe: self.witnesses.failsafe_since.is_some(),
            failsafe_since_ms: self.witnesses.failsafe_last_entered,
            witnesses,
            witnesses_confirmed,
            witness_lease_ms: self.settings.witness_lease_ms,
            witnessed_until_ms: self
                .promise_in_force(now.mono)
                .map_or(0, |u| u.saturating_sub(now.mono).as_millis() as u64),
            witness_rows,
            sentinels_against_master: if sentinel_mode {
                self.sentinels
                    .view
                    .against_master(now.mono, false)
                    .unwrap_or_default()
            } else {
                String::new()
            },
            sentinels_failing_over_master: if sentinel_mode {
                self.sentinels
                    .view
                    .against_master(now.mono, true)
                    .unwrap_or_default()
            } else {
                String::new()
            },
        }
    }
}
