//! The vocabulary of the core: what comes in (`Event`), what goes out (`Action`), and the
//! plain values both carry.

use std::net::IpAddr;
use std::time::Duration;

use crate::config::{SentinelAddr, Settings, Vip};
use crate::error::OsError;
use crate::reach::Listening;
use crate::sentinel::{Heard, Me, PollError, PollPlan};
use crate::witness::{Endpoint, Replication, Reply, WitnessPlan};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum State {
    /// Not configured, or `vip.enabled no`: nothing to do.
    #[default]
    Idle,
    /// Configured, must not hold, holds nothing.
    Standby,
    /// Holds the VIPs.
    Holding,
    /// Something keeps us from doing what we should; retried with backoff.
    Error,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Standby => "standby",
            State::Holding => "holding",
            State::Error => "error",
        }
    }

    /// The state as a number (Prometheus keeps numbers only): 0 idle, 1 standby, 2 holding,
    /// 3 error.
    pub fn code(self) -> i64 {
        match self {
            State::Idle => 0,
            State::Standby => 1,
            State::Holding => 2,
            State::Error => 3,
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

/// What the packet listener should watch: announcements of these addresses on this interface by
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
    Settings(Box<Settings>),
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
    /// A frame on the wire (ARP or NA) from another MAC announcing one of our addresses: a
    /// conflict (another host holds it too).
    Conflict {
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
    /// This server's `INFO replication` (at load, then whenever it changes): our history
    /// (replid) and the replicas attached, the witnesses the failsafe asks.
    Replication(Box<Replication>),
    /// A witness answered `VIP.WITNESS` (Ok), or could not be asked (Err: why). `sent` is
    /// when the question left (the witness lease counts from there).
    WitnessAnswer {
        from: Endpoint,
        sent: Duration,
        result: Result<Reply, String>,
    },
    /// This node, a replica, confirmed to its master that it follows it (`VIP.WITNESS`):
    /// it must not claim before `until` (monotonic), even if promoted.
    Witnessed {
        until: Duration,
    },
    /// Server shutdown or module unload.
    Shutdown,
}

/// How loud a log line is: Redis's own levels (`notice`, `warning`).
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
    /// Watch the wire for other hosts announcing our addresses (None: stop watching).
    Listen(Option<ListenSpec>),
    /// Tell subscribers of `__vip__:events` (one line, see `Publication`).
    Publish(String),
    /// Ask these witnesses, every `interval_ms`, from now on (None: ask none).
    Witnesses(Option<WitnessPlan>),
}
