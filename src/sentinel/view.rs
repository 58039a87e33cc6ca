//! What the Sentinels said, and whether this node may hold the VIP now. Pure: answers and
//! the clock come in as arguments.
//!
//! The rule (docs/safety.md has the reasoning):
//! - **Quorum.** Enough distinct Sentinels *support* this node: each either names it master
//!   (by run id) and does not report it down, or is merely behind (names another master
//!   under an *older* config epoch than the one naming us). At least one must name us.
//!   A Sentinel's support lasts from the moment the poll was *sent* for the lease, and never
//!   past the moment that Sentinel could declare us down: `down-after-milliseconds` after
//!   its oldest unanswered PING (sentinel.c, `sentinelCheckSubjectivelyDown`).
//! - **Promotion.** A Sentinel running a failover has chosen this node as its promoted
//!   replica, and no Sentinel names another node under a newer config epoch.
//! - **Fences**, checked first: a failover promoting another node; another master named
//!   under a newer config epoch than any naming us. A Sentinel's latest answer stays in
//!   force until it answers again, however old: silence never lifts a fence.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use super::answer::{Answer, Endpoint, Instance, Peer};
use super::why::{Counts, Down, Why};
use crate::config::SentinelAddr;

/// sentinel.c's election timeout (`SENTINEL_ELECTION_TIMEOUT`): a failover not won within
/// min(this, failover-timeout) is aborted.
const ELECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Hellos go out every 2 s; a configuration reaches every Sentinel that hears its sender within
/// two of them.
const HELLO_SPREAD: Duration = Duration::from_secs(4);
/// A peer whose last hello is at most this old is alive and heard by the Sentinel listing it.
const HEARD_RECENTLY: Duration = Duration::from_secs(10);
/// How long an answer showing a failover (or the master down) keeps the fast poll rate.
const UNDERWAY_MEMORY: Duration = Duration::from_secs(5);
/// A node has one or two addresses as Sentinels see it; more are not kept.
const MAX_LEARNED: usize = 8;
/// A peer that every Sentinel answering us has found unreachable (`s_down`) and silent (no
/// hello) for this long, and that does not answer us either, is a ghost: a Sentinel that was
/// replaced or removed without `SENTINEL RESET`. At least this, and at least
/// `GHOST_DOWN_AFTERS` down-after periods.
const GHOST_AFTER: Duration = Duration::from_secs(60);
const GHOST_DOWN_AFTERS: u32 = 3;

/// The operator's overrides (0 = derive from what the Sentinels report).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rules {
    pub quorum: u32,
    pub lease_ms: u64,
}

/// Why this node must not hold the VIP: a fixed vocabulary for `last_fence_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fence {
    /// A Sentinel's failover promotes another node.
    FailoverPromotesOther,
    /// A Sentinel names another master under a newer config epoch.
    NewerConfigNamesOther,
    /// A quorum of Sentinels names another master.
    QuorumNamesOther,
    /// The Sentinels report this master down, or start a failover of it.
    ReportedDown,
    /// Too few Sentinels confirmed within the lease (cut off, Sentinels stopped).
    LeaseExpired,
}

impl Fence {
    pub fn as_str(self) -> &'static str {
        match self {
            Fence::FailoverPromotesOther => "failover_promotes_other",
            Fence::NewerConfigNamesOther => "newer_config_names_other",
            Fence::QuorumNamesOther => "quorum_names_other",
            Fence::ReportedDown => "reported_down",
            Fence::LeaseExpired => "lease_expired",
        }
    }
}

/// The decision for a node whose role is master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Hold until `until` unless a new answer says otherwise.
    Hold { until: Duration, why: Why },
    /// Do not hold. `fence` is None while simply not (yet) confirmed.
    Refuse { fence: Option<Fence>, why: Why },
}

/// What kind of failure a poll met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollErrorKind {
    /// Connection refused, unreachable, timed out while connecting.
    Connect,
    /// The Sentinel refused our credentials (or wants some).
    Auth,
    /// No answer within the read timeout.
    Timeout,
    /// The Sentinel does not monitor a master of that name.
    NoSuchMaster,
    /// Any other error reply, or a reply that does not parse.
    Reply,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollError {
    pub kind: PollErrorKind,
    pub text: String,
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One answer, with our own clock: `sent` is when the poll left (the lease counts from
/// there, since the Sentinel may have formed its view any time after).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heard {
    pub sent: Duration,
    pub received: Duration,
    pub answer: Answer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    addr: SentinelAddr,
    /// Learned from a peer list: the run id that list gave it (empty when configured).
    learned_as: Option<String>,
    heard: Option<Heard>,
    /// The latest peer list it gave (asked every few seconds, so kept apart from `heard`).
    peers: Option<Vec<Peer>>,
    error: Option<(Duration, PollError)>,
}

impl Target {
    fn new(addr: SentinelAddr, learned_as: Option<String>) -> Target {
        Target {
            addr,
            learned_as,
            heard: None,
            peers: None,
            error: None,
        }
    }

    fn learned(&self) -> bool {
        self.learned_as.is_some()
    }

    /// The last poll failed (after the last answer, if any).
    fn failing(&self) -> bool {
        match (&self.error, &self.heard) {
            (Some((at, _)), Some(h)) => *at >= h.received,
            (Some(_), None) => true,
            _ => false,
        }
    }
}

/// One Sentinel as `VIP.SENTINELS` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentinelRow {
    pub addr: String,
    pub runid: String,
    pub learned: bool,
    pub reachable: bool,
    /// ms since its last answer; -1 before the first.
    pub last_answer_ms_ago: i64,
    pub master: String,
    pub names_this_node: bool,
    pub config_epoch: u64,
    pub master_flags: String,
    pub failover_state: String,
    pub promoted: String,
    pub confirms: bool,
    pub last_error: String,
    /// Entries of its lists that could not be used (skipped), and why the first was.
    pub skipped_replicas: u32,
    pub skipped_peers: u32,
    pub skipped_reason: String,
    /// Peers in its list that are ghosts (see `GHOST_AFTER`).
    pub ghosts: u32,
}

/// Figures for `VIP.STATUS`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Sentinels counted for the quorum: ghosts left out.
    pub known: u64,
    /// Peers in the Sentinels' lists that are ghosts (replaced or removed, no RESET since).
    pub ghosts: u64,
    /// Unusable entries in the Sentinels' latest lists (summed over Sentinels).
    pub skipped: u64,
    pub reachable: u64,
    pub confirming: u64,
    pub quorum: u64,
    pub lease_ms: u64,
}

/// What this process knows of itself, from the server (`INFO server`) and the clock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Me {
    /// `run_id`.
    pub runid: String,
    /// `tcp_port`: the port Sentinels reach us on (0: unknown).
    pub port: u16,
    /// How old this process was (`.1`) at a moment of the worker's monotonic clock (`.0`),
    /// never less than its true age (None: unknown).
    pub age: Option<(Duration, Duration)>,
}

/// This node as the Sentinels know it: its run id, the addresses under which they have
/// reported that run id (learned, so that NAT and announce-ip need no configuration), and
/// this host's own addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Identity {
    me: Me,
    learned: BTreeSet<Endpoint>,
    /// This host's addresses, loopback and VIPs left out.
    local: BTreeSet<IpAddr>,
}

impl Identity {
    /// Is this instance entry this very process? A matching run id says so. An empty run id
    /// (a Sentinel that has not sent INFO there yet, as right after a switch) counts at an
    /// address already learned for our run id. And an entry at one of this host's own
    /// addresses with our port is us when its run id cannot be another live process's: empty,
    /// or shown by a Sentinel whose last INFO of it predates our start. That is a restart at
    /// the same address (a crash restarted by systemd): Sentinel refreshes the run id only
    /// with its INFO, every 10 s, and meanwhile its PINGs reach the new process. Another run
    /// id seen after our start never matches: that is not this process.
    fn is(&self, inst: &Instance, received: Duration) -> bool {
        if self.me.runid.is_empty() {
            return false;
        }
        if inst.runid == self.me.runid
            || (inst.runid.is_empty() && self.learned.contains(&inst.endpoint))
        {
            return true;
        }
        self.at_own_address(&inst.endpoint)
            && (inst.runid.is_empty() || self.seen_before_our_start(inst, received))
    }

    fn at_own_address(&self, e: &Endpoint) -> bool {
        self.me.port != 0
            && e.port == self.me.port
            && e.ip
                .parse::<IpAddr>()
                .is_ok_and(|ip| self.local.contains(&ip))
    }

    /// The Sentinel's last INFO of `inst` came before this process started. It answered at
    /// some moment before `received`, so its INFO was at most `received - info-refresh`, and
    /// we started at `received - our age then`.
    fn seen_before_our_start(&self, inst: &Instance, received: Duration) -> bool {
        let Some((at, age)) = self.me.age else {
            return false;
        };
        let age_then = age + received.saturating_sub(at);
        inst.info_refresh_ms > 0 && Duration::from_millis(inst.info_refresh_ms) > age_then
    }

    fn learn(&mut self, inst: &Instance) {
        if !self.me.runid.is_empty()
            && inst.runid == self.me.runid
            && self.learned.len() < MAX_LEARNED
        {
            self.learned.insert(inst.endpoint.clone());
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct SentinelView {
    targets: Vec<Target>,
    identity: Identity,
}

/// A latest answer and what it means for this node.
struct Reading<'a> {
    target: &'a Target,
    heard: &'a Heard,
    addr: &'a SentinelAddr,
    names_us: bool,
    lease: Duration,
}

impl Reading<'_> {
    fn master(&self) -> &Instance {
        &self.heard.answer.master.instance
    }

    fn epoch(&self) -> u64 {
        self.heard.answer.master.config_epoch
    }

    fn fresh_until(&self) -> Duration {
        self.heard.sent + self.lease
    }

    /// How long this Sentinel's word that we are master holds: the lease, and never past
    /// the moment it could declare us subjectively down. sentinel.c does so when its oldest
    /// unanswered PING is older than down-after; while its link is broken and no PING is
    /// pending, it counts from the last valid reply instead.
    fn guard(&self) -> Duration {
        let m = &self.heard.answer.master;
        let pending = if m.instance.flags.disconnected {
            m.instance
                .last_ping_sent_ms
                .max(m.instance.last_ok_ping_reply_ms)
        } else {
            m.instance.last_ping_sent_ms
        };
        let down_in = Duration::from_millis(m.down_after_ms.saturating_sub(pending));
        self.heard.sent + self.lease.min(down_in)
    }

    /// Names us master and reports nothing against it.
    fn confirms(&self) -> bool {
        let f = self.master().flags;
        self.names_us && !f.s_down && !f.o_down && !f.failover_in_progress
    }

    fn fresh(&self, now: Duration) -> bool {
        self.fresh_until() > now
    }

    fn failover_timeout(&self) -> Duration {
        Duration::from_millis(self.heard.answer.master.failover_timeout_ms.max(1000))
    }

    /// The last moment a failover this answer shows can still promote a replica: sentinel.c
    /// aborts an election not won within min(10 s, failover-timeout), and a promotion not seen
    /// within failover-timeout of `REPLICAOF NO ONE` (`send_slaveof_noone`, `wait_promotion`).
    fn promotion_deadline(&self) -> Duration {
        let ft = self.failover_timeout();
        self.heard.sent + ft.min(ELECTION_TIMEOUT) + ft
    }

    /// The last moment that failover can still show its promoted replica: the replicas'
    /// reconfiguration (`reconf_slaves`) ends within failover-timeout more.
    fn failover_end(&self) -> Duration {
        self.promotion_deadline() + self.failover_timeout()
    }

    /// Time for a configuration to reach the Sentinels that hear its sender, and for a
    /// supporter's word given before that to lapse.
    fn grace(&self) -> Duration {
        self.lease + HELLO_SPREAD
    }

    /// This answer's Sentinel lists `peer` as alive and heard lately (its hellos reach it).
    fn hears(&self, peer_runid: &str) -> bool {
        self.target.peers.iter().flatten().any(|p| {
            p.runid == peer_runid
                && !p.s_down
                && Duration::from_millis(p.last_hello_ms) <= HEARD_RECENTLY
        })
    }

    /// This answer's Sentinel reaches `e`: a replica of its master, neither down nor
    /// disconnected.
    fn reaches(&self, e: &Endpoint) -> bool {
        self.heard.answer.replicas.iter().any(|r| {
            &r.endpoint == e && !r.flags.s_down && !r.flags.o_down && !r.flags.disconnected
        })
    }
}

/// The lease one answer carries: the operator's, capped at down-after; by default half of
/// down-after (isolation then releases well before any Sentinel can even declare us down).
pub fn lease_for(rules: Rules, down_after_ms: u64) -> Duration {
    let ms = if rules.lease_ms > 0 {
        rules.lease_ms.min(down_after_ms)
    } else {
        down_after_ms / 2
    };
    Duration::from_millis(ms)
}

impl SentinelView {
    /// The configured Sentinels. A changed list starts afresh (learned peers came from the
    /// old list); the same Sentinels, in any order, keep everything.
    pub fn set_configured(&mut self, configured: &[SentinelAddr]) {
        let current: Vec<SentinelAddr> = self
            .targets
            .iter()
            .filter(|t| !t.learned())
            .map(|t| t.addr.clone())
            .collect();
        if same_sentinels(&current, configured) {
            return;
        }
        self.targets = configured
            .iter()
            .map(|a| Target::new(a.clone(), None))
            .collect();
    }

    /// Forget every answer (a new master name: nothing said about the old one counts).
    pub fn forget_answers(&mut self) {
        for t in &mut self.targets {
            t.heard = None;
            t.error = None;
        }
        for t in &mut self.targets {
            t.peers = None;
        }
        self.targets.retain(|t| !t.learned());
    }

    /// Who this process is. A new run id forgets the addresses learned for the old one.
    pub fn set_me(&mut self, me: Me) {
        let me = Me {
            runid: me.runid.to_ascii_lowercase(),
            ..me
        };
        if self.identity.me.runid != me.runid {
            self.identity.learned.clear();
        }
        self.identity.me = me;
    }

    /// This host's own addresses (loopback and the VIPs are left out here).
    pub fn set_local(&mut self, addrs: &[IpAddr], vips: &[IpAddr]) {
        self.identity.local = addrs
            .iter()
            .filter(|a| !a.is_loopback() && !a.is_unspecified() && !vips.contains(a))
            .copied()
            .collect();
    }

    pub fn targets(&self) -> Vec<SentinelAddr> {
        self.targets.iter().map(|t| t.addr.clone()).collect()
    }

    /// Record an answer. Returns true when it taught us a new Sentinel to ask.
    pub fn record(&mut self, addr: &SentinelAddr, heard: Heard, max_targets: usize) -> bool {
        self.identity.learn(&heard.answer.master.instance);
        for r in &heard.answer.replicas {
            self.identity.learn(r);
        }
        let peers = heard.answer.peers.clone();
        if let Some(t) = self.targets.iter_mut().find(|t| &t.addr == addr) {
            let mut heard = heard;
            if heard.answer.peers.is_none() {
                // Peers are asked every few seconds: what was skipped stays until asked again.
                if let Some(old) = &t.heard {
                    heard.answer.skipped_peers = old.answer.skipped_peers.clone();
                }
            }
            t.heard = Some(heard);
            if peers.is_some() {
                t.peers = peers.clone();
            }
        } else {
            return false;
        }
        let ghosts = self.ghosts();
        let mut added = false;
        for p in peers.unwrap_or_default() {
            // One Sentinel under two addresses (announce-ip, a host name, another spelling of
            // an IPv6 address, its TLS port) is asked once: its run id is known already.
            let known_runid = !p.runid.is_empty()
                && self.targets.iter().any(|t| {
                    t.learned_as.as_deref() == Some(p.runid.as_str())
                        || t.heard
                            .as_ref()
                            .is_some_and(|h| h.answer.sentinel_runid == p.runid)
                });
            let addr = SentinelAddr {
                host: p.endpoint.ip.clone(),
                port: p.endpoint.port,
            };
            let known_addr = self.targets.iter().any(|t| t.addr == addr);
            if !known_runid
                && !known_addr
                && !ghosts.contains(&peer_id(&p))
                && self.targets.len() < max_targets
            {
                self.targets.push(Target::new(addr, Some(p.runid.clone())));
                added = true;
            }
        }
        added
    }

    pub fn failed(&mut self, addr: &SentinelAddr, at: Duration, error: PollError) {
        if let Some(t) = self.targets.iter_mut().find(|t| &t.addr == addr) {
            t.error = Some((at, error));
        }
    }

    /// The latest answer of each distinct Sentinel (by its run id): the same Sentinel asked
    /// under two addresses counts once.
    fn readings(&self, rules: Rules) -> Vec<Reading<'_>> {
        let mut out: Vec<Reading<'_>> = Vec::new();
        for t in &self.targets {
            let Some(h) = &t.heard else { continue };
            let reading = Reading {
                target: t,
                heard: h,
                addr: &t.addr,
                names_us: self.identity.is(&h.answer.master.instance, h.received),
                lease: lease_for(rules, h.answer.master.down_after_ms),
            };
            match out
                .iter_mut()
                .find(|r| r.heard.answer.sentinel_runid == h.answer.sentinel_runid)
            {
                Some(r) if r.heard.sent < h.sent => *r = reading,
                Some(_) => {}
                None => out.push(reading),
            }
        }
        out
    }

    /// Ghosts: peers that every Sentinel answering us and listing them reports unreachable
    /// (`s_down`) and silent (no hello) for `GHOST_AFTER`, and that do not answer us now (a
    /// replaced Sentinel we once asked fails every poll). Sentinel keeps such entries until
    /// `SENTINEL RESET`; they can take part in nothing.
    fn ghosts(&self) -> BTreeSet<String> {
        let answering: BTreeSet<&str> = self
            .targets
            .iter()
            .filter(|t| !t.failing())
            .filter_map(|t| t.heard.as_ref())
            .map(|h| h.answer.sentinel_runid.as_str())
            .collect();
        let mut suspects: BTreeSet<String> = BTreeSet::new();
        let mut cleared: BTreeSet<String> = BTreeSet::new();
        for t in &self.targets {
            let (Some(h), Some(peers)) = (&t.heard, &t.peers) else {
                continue;
            };
            let after = GHOST_AFTER
                .max(Duration::from_millis(h.answer.master.down_after_ms) * GHOST_DOWN_AFTERS);
            for p in peers {
                let id = peer_id(p);
                if p.s_down && Duration::from_millis(p.last_hello_ms) > after {
                    suspects.insert(id);
                } else {
                    cleared.insert(id);
                }
            }
        }
        suspects
            .into_iter()
            .filter(|id| !cleared.contains(id) && !answering.contains(id.as_str()))
            .collect()
    }

    /// How many Sentinels exist for this master: the most any of them reports (less the
    /// ghosts in its list), or the ones we know ourselves (those that never answered
    /// included, unless learned as a ghost or as a Sentinel answering under another
    /// address), whichever is larger.
    fn known(&self, readings: &[Reading<'_>]) -> usize {
        let ghosts = self.ghosts();
        let answering: BTreeSet<&str> = readings
            .iter()
            .map(|r| r.heard.answer.sentinel_runid.as_str())
            .collect();
        let counted = answering.iter().filter(|id| !ghosts.contains(**id)).count();
        let never_heard = self
            .targets
            .iter()
            .filter(|t| t.heard.is_none())
            .filter(|t| {
                t.learned_as.as_deref().is_none_or(|id| {
                    id.is_empty() || !(answering.contains(id) || ghosts.contains(id))
                })
            })
            .count();
        let reported = self
            .targets
            .iter()
            .filter_map(|t| {
                let h = t.heard.as_ref()?;
                if ghosts.contains(&h.answer.sentinel_runid) {
                    return None; // a ghost's last word, from before it was replaced
                }
                let listed_ghosts = t
                    .peers
                    .iter()
                    .flatten()
                    .filter(|p| ghosts.contains(&peer_id(p)))
                    .count();
                Some((h.answer.master.other_sentinels as usize + 1).saturating_sub(listed_ghosts))
            })
            .max()
            .unwrap_or(0);
        reported.max(counted + never_heard).max(1)
    }

    /// Confirmations needed: the operator's quorum, else a majority of the Sentinels known,
    /// and more when Sentinel's own quorum is small: with N Sentinels of which q must agree
    /// that a master is down, N - q + 1 supporters leave no q-set that could agree without
    /// one of them.
    fn required(&self, rules: Rules, readings: &[Reading<'_>]) -> usize {
        if rules.quorum > 0 {
            return rules.quorum as usize;
        }
        let n = self.known(readings);
        let q_s = readings
            .iter()
            .map(|r| r.heard.answer.master.quorum as usize)
            .min()
            .unwrap_or(n / 2 + 1)
            .clamp(1, n);
        (n / 2 + 1).max(n - q_s + 1)
    }

    /// The newest config epoch under which a Sentinel names this node master.
    pub fn epoch_naming_us(&self, rules: Rules) -> Option<u64> {
        self.readings(rules)
            .iter()
            .filter(|r| r.names_us)
            .map(|r| r.epoch())
            .max()
    }

    /// Cruft in the Sentinels' own state, worded with what to run (None: nothing to say).
    /// Ghosts need the operator (they can raise the count of Sentinels); unusable entries
    /// are only skipped, and said once.
    pub fn cruft(&self, master_name: &str) -> Option<(bool, String)> {
        let ghosts = self.ghosts();
        if !ghosts.is_empty() {
            let list: Vec<&str> = ghosts.iter().map(String::as_str).collect();
            return Some((
                true,
                format!(
                    "the Sentinels list {} Sentinel(s) that none of them has reached or heard for over {} s ({}): left from a Sentinel replaced or removed without a reset. They are not counted for the quorum; remove them with SENTINEL RESET {master_name} on each Sentinel, one at a time, 30 s apart",
                    ghosts.len(),
                    GHOST_AFTER.as_secs(),
                    list.join(", ")
                ),
            ));
        }
        let (t, skipped) = self.targets.iter().find_map(|t| {
            let h = t.heard.as_ref()?;
            [&h.answer.skipped_replicas, &h.answer.skipped_peers]
                .into_iter()
                .find(|s| s.count > 0)
                .map(|s| (t, s))
        })?;
        Some((
            false,
            format!(
                "Sentinel {} lists {} entry(ies) that cannot be used, skipped ({}); a replication client without a listening port (redis-cli --rdb or --replica) leaves one as ip:0 until SENTINEL RESET {master_name}",
                t.addr,
                skipped.count,
                skipped.first.as_deref().unwrap_or("")
            ),
        ))
    }

    /// An operator's `vip.quorum` that cannot work or weakens the guarantee, in words.
    pub fn quorum_warning(&self, rules: Rules) -> Option<String> {
        if rules.quorum == 0 {
            return None;
        }
        let readings = self.readings(rules);
        if readings.is_empty() {
            return None;
        }
        let n = self.known(&readings);
        let q = rules.quorum as usize;
        if q > n {
            Some(format!(
                "vip.quorum {q} is more than the {n} Sentinels known: no node can ever be confirmed"
            ))
        } else if q < n / 2 + 1 {
            Some(format!(
                "vip.quorum {q} is below a majority of the {n} Sentinels known: a master cut off with a minority of them keeps the VIP (docs/safety.md); set vip.quorum 0"
            ))
        } else {
            None
        }
    }

    /// A Sentinel that has left: its polls fail, its last answer is older than a ghost's
    /// silence, and every other Sentinel answering now either does not list it or lists it
    /// unreachable and silent as long (a Sentinel stopped for good, or rebuilt elsewhere).
    fn departed(&self, x: &Reading<'_>, readings: &[Reading<'_>], now: Duration) -> bool {
        let after = GHOST_AFTER
            .max(Duration::from_millis(x.heard.answer.master.down_after_ms) * GHOST_DOWN_AFTERS);
        let id = &x.heard.answer.sentinel_runid;
        let mut others = readings
            .iter()
            .filter(|o| o.fresh(now) && &o.heard.answer.sentinel_runid != id)
            .peekable();
        x.target.failing()
            && now.saturating_sub(x.heard.received) > after
            && others.peek().is_some()
            && others.all(|o| {
                o.target
                    .peers
                    .iter()
                    .flatten()
                    .filter(|p| &p.runid == id)
                    .all(|p| p.s_down && Duration::from_millis(p.last_hello_ms) > after)
            })
    }

    /// Does the stale fence of `x` (a failover promoting `e`, or `e` named under a newer
    /// epoch) still stand? It does while `x` answers us. Once it is silent, it falls:
    /// - when `x` has departed and another Sentinel reaches `e`: had `x` been reaching `e`
    ///   (to promote it), its hellos on `e` would reach that Sentinel too;
    /// - when `required` other Sentinels that hear `x` and reach `e` confirm this node in
    ///   answers sent a `grace` after the moment its word could still change anything (its
    ///   configuration, if it had won, would have reached them);
    /// - when sentinel.c itself has ended that failover (`failover_end`).
    fn stale_fence_stands(
        &self,
        x: &Reading<'_>,
        e: &Endpoint,
        promotion: bool,
        readings: &[Reading<'_>],
        required: usize,
        now: Duration,
    ) -> bool {
        if x.fresh(now) {
            return true;
        }
        if promotion && now > x.failover_end() + x.grace() {
            return false;
        }
        let id = &x.heard.answer.sentinel_runid;
        let others = || {
            readings
                .iter()
                .filter(move |o| o.fresh(now) && &o.heard.answer.sentinel_runid != id)
        };
        if self.departed(x, readings, now) && others().any(|o| o.reaches(e)) {
            return false;
        }
        let from = if promotion {
            x.promotion_deadline()
        } else {
            x.heard.sent
        } + x.grace();
        let settled = others()
            .filter(|o| o.confirms() && o.heard.sent > from && o.hears(id) && o.reaches(e))
            .count();
        !(now > from && required > 0 && settled >= required)
    }

    /// May this node, whose role is master, hold the VIP at `now`?
    pub fn verdict(&self, now: Duration, rules: Rules) -> Verdict {
        let readings = self.readings(rules);
        let required = self.required(rules, &readings);

        // Fence 1: a failover promotes another node (while its Sentinel still answers, or,
        // once silent, until that failover cannot matter any more).
        for r in &readings {
            let m = &r.heard.answer.master;
            if let Some(p) = r.heard.answer.promoted() {
                if !self.identity.is(p, r.heard.received)
                    && self.stale_fence_stands(r, &p.endpoint, true, &readings, required, now)
                {
                    return Verdict::Refuse {
                        fence: Some(Fence::FailoverPromotesOther),
                        why: Why::FailoverPromotesOther {
                            by: r.addr.clone(),
                            to: p.endpoint.clone(),
                            state: m.failover_state.clone().unwrap_or_else(|| "?".into()),
                        },
                    };
                }
            }
        }

        // Fence 2: another master under a newer config epoch than any naming us.
        let epoch_us = readings
            .iter()
            .filter(|r| r.names_us)
            .map(|r| r.epoch())
            .max();
        let newest_other = readings
            .iter()
            .filter(|r| !r.names_us)
            .filter(|r| {
                self.stale_fence_stands(r, &r.master().endpoint, false, &readings, required, now)
            })
            .max_by_key(|r| r.epoch());
        if let (Some(us), Some(other)) = (epoch_us, &newest_other) {
            if other.epoch() > us {
                return Verdict::Refuse {
                    fence: Some(Fence::NewerConfigNamesOther),
                    why: Why::NewerConfigNamesOther {
                        by: other.addr.clone(),
                        master: other.master().endpoint.clone(),
                        epoch: other.epoch(),
                        ours: us,
                    },
                };
            }
        }

        // Basis 1: chosen by a running failover.
        let promoted_until = readings
            .iter()
            .filter(|r| {
                r.heard
                    .answer
                    .promoted()
                    .is_some_and(|p| self.identity.is(p, r.heard.received))
            })
            .filter(|r| newest_other.as_ref().is_none_or(|o| o.epoch() <= r.epoch()))
            .map(|r| (r.fresh_until(), r.addr))
            .filter(|(until, _)| *until > now)
            .max_by_key(|(until, _)| *until);

        // Basis 2: a quorum of supporters, at least one of them naming us.
        let confirmer_until = readings
            .iter()
            .filter(|r| r.confirms())
            .map(|r| r.guard())
            .filter(|g| *g > now)
            .max();
        let mut support: Vec<Duration> = readings
            .iter()
            .filter_map(|r| {
                if r.confirms() {
                    Some(r.guard())
                } else if !r.names_us
                    && epoch_us.is_some_and(|us| r.epoch() < us)
                    && !r.master().flags.failover_in_progress
                {
                    Some(r.fresh_until())
                } else {
                    None
                }
            })
            .filter(|t| *t > now)
            .collect();
        support.sort_unstable_by(|a, b| b.cmp(a));
        let quorum_until = match (confirmer_until, support.get(required.saturating_sub(1))) {
            (Some(c), Some(q)) if required > 0 => Some(c.min(*q)),
            _ => None,
        };
        let confirming = readings
            .iter()
            .filter(|r| r.confirms() && r.guard() > now)
            .count();
        let counts = Counts {
            confirming,
            required,
            known: self.known(&readings),
        };

        match (quorum_until, promoted_until) {
            (Some(q), p) if p.is_none_or(|(p, _)| q >= p) => {
                return Verdict::Hold {
                    until: q,
                    why: Why::Confirmed(counts),
                }
            }
            (_, Some((until, by))) => {
                return Verdict::Hold {
                    until,
                    why: Why::Promoted { by: by.clone() },
                }
            }
            _ => {}
        }

        // Not holding: say why, most specific first.
        let fresh: Vec<&Reading<'_>> = readings.iter().filter(|r| r.fresh_until() > now).collect();
        let down: Vec<(Down, &Reading<'_>)> = fresh
            .iter()
            .filter(|r| r.names_us && !r.confirms())
            .map(|r| {
                let f = r.master().flags;
                let how = if f.failover_in_progress {
                    Down::FailingOver
                } else if f.o_down {
                    Down::Objectively
                } else {
                    Down::Subjectively
                };
                (how, *r)
            })
            .collect();
        if let Some((how, r)) = down.iter().max_by_key(|(how, _)| *how) {
            return Verdict::Refuse {
                fence: Some(Fence::ReportedDown),
                why: Why::ReportedDown {
                    how: *how,
                    reporting: down.len(),
                    by: r.addr.clone(),
                    counts,
                },
            };
        }
        let naming_other: Vec<&&Reading<'_>> = fresh.iter().filter(|r| !r.names_us).collect();
        if naming_other.len() >= required {
            if let Some(first) = naming_other.first() {
                return Verdict::Refuse {
                    fence: Some(Fence::QuorumNamesOther),
                    why: Why::QuorumNamesOther {
                        naming: naming_other.len(),
                        master: first.master().endpoint.clone(),
                        counts,
                    },
                };
            }
        }
        let ever_named_us = readings.iter().any(|r| r.names_us);
        Verdict::Refuse {
            fence: ever_named_us.then_some(Fence::LeaseExpired),
            why: Why::TooFewConfirm {
                counts,
                reachable: self.reachable(),
            },
        }
    }

    /// While a failover is running somewhere, or the master is reported down, poll fast:
    /// the old master must see the leader's choice, the new one its promotion, at once.
    /// Only recent answers count: a Sentinel that went silent in the middle of a failover
    /// must not keep every poller at the fast rate for ever.
    pub fn failover_underway(&self, now: Duration) -> bool {
        self.targets
            .iter()
            .filter_map(|t| t.heard.as_ref())
            .filter(|h| now.saturating_sub(h.received) <= UNDERWAY_MEMORY)
            .any(|h| {
                let f = h.answer.master.instance.flags;
                f.failover_in_progress || f.s_down || f.o_down
            })
    }

    /// A configuration problem that only the operator can fix, worded with the fix.
    pub fn fault(&self) -> Option<String> {
        if let Some((t, e)) = self.targets.iter().find_map(|t| {
            t.error
                .as_ref()
                .filter(|(_, e)| {
                    matches!(e.kind, PollErrorKind::Auth | PollErrorKind::NoSuchMaster)
                })
                .filter(|_| t.failing())
                .map(|(_, e)| (t, e))
        }) {
            let fix = match e.kind {
                PollErrorKind::Auth => {
                    "authentication failed: check vip.sentinel-auth-user and vip.sentinel-auth-pass"
                }
                _ => "it monitors no master of that name: check vip.master-name",
            };
            return Some(format!("Sentinel {}: {fix} ({})", t.addr, e.text));
        }
        if !self.targets.is_empty() && self.targets.iter().all(Target::failing) {
            let first = self
                .targets
                .iter()
                .find_map(|t| t.error.as_ref().map(|(_, e)| format!("{}: {e}", t.addr)))
                .unwrap_or_default();
            return Some(format!(
                "none of the {} Sentinels answers ({first}): check vip.sentinels and the network",
                self.targets.len()
            ));
        }
        None
    }

    pub fn summary(&self, now: Duration, rules: Rules) -> Summary {
        let readings = self.readings(rules);
        let lease = readings
            .iter()
            .map(|r| r.lease)
            .min()
            .unwrap_or(Duration::from_millis(rules.lease_ms));
        Summary {
            known: self.known(&readings) as u64,
            ghosts: self.ghosts().len() as u64,
            skipped: self
                .targets
                .iter()
                .filter_map(|t| t.heard.as_ref())
                .map(|h| {
                    u64::from(h.answer.skipped_replicas.count)
                        + u64::from(h.answer.skipped_peers.count)
                })
                .sum(),
            reachable: self.reachable() as u64,
            confirming: readings
                .iter()
                .filter(|r| r.confirms() && r.guard() > now)
                .count() as u64,
            quorum: self.required(rules, &readings) as u64,
            lease_ms: lease.as_millis() as u64,
        }
    }

    /// Distinct Sentinels (by run id) whose last poll was answered: one Sentinel reached under
    /// two addresses counts once, as in `known`.
    fn reachable(&self) -> usize {
        self.targets
            .iter()
            .filter(|t| !t.failing())
            .filter_map(|t| t.heard.as_ref())
            .map(|h| h.answer.sentinel_runid.as_str())
            .collect::<BTreeSet<_>>()
            .len()
    }

    pub fn rows(&self, now: Duration, rules: Rules) -> Vec<SentinelRow> {
        let ghosts = self.ghosts();
        self.targets
            .iter()
            .map(|t| {
                let mut row = SentinelRow {
                    addr: t.addr.to_string(),
                    learned: t.learned(),
                    reachable: t.heard.is_some() && !t.failing(),
                    last_answer_ms_ago: -1,
                    last_error: t
                        .error
                        .as_ref()
                        .filter(|_| t.failing())
                        .map(|(_, e)| e.text.clone())
                        .unwrap_or_default(),
                    ..SentinelRow::default()
                };
                if let Some(h) = &t.heard {
                    let r = Reading {
                        target: t,
                        heard: h,
                        addr: &t.addr,
                        names_us: self.identity.is(&h.answer.master.instance, h.received),
                        lease: lease_for(rules, h.answer.master.down_after_ms),
                    };
                    let m = &h.answer.master;
                    row.runid = h.answer.sentinel_runid.clone();
                    row.last_answer_ms_ago =
                        i64::try_from(now.saturating_sub(h.received).as_millis()).unwrap_or(-1);
                    row.master = m.instance.endpoint.to_string();
                    row.names_this_node = r.names_us;
                    row.config_epoch = m.config_epoch;
                    row.master_flags = flags_text(&m.instance);
                    row.failover_state = m.failover_state.clone().unwrap_or_default();
                    row.promoted = h
                        .answer
                        .promoted()
                        .map(|p| p.endpoint.to_string())
                        .unwrap_or_default();
                    row.confirms = r.confirms() && r.guard() > now;
                    row.skipped_replicas = h.answer.skipped_replicas.count;
                    row.skipped_peers = h.answer.skipped_peers.count;
                    row.skipped_reason = h
                        .answer
                        .skipped_replicas
                        .first
                        .clone()
                        .or_else(|| h.answer.skipped_peers.first.clone())
                        .unwrap_or_default();
                    row.ghosts = t
                        .peers
                        .iter()
                        .flatten()
                        .filter(|p| ghosts.contains(&peer_id(p)))
                        .count() as u32;
                }
                row
            })
            .collect()
    }
}

/// The same Sentinels, whatever the order.
pub fn same_sentinels(a: &[SentinelAddr], b: &[SentinelAddr]) -> bool {
    let key = |l: &[SentinelAddr]| {
        let mut v: Vec<String> = l.iter().map(|x| x.to_string()).collect();
        v.sort_unstable();
        v
    };
    key(a) == key(b)
}

/// A peer as the ghost check names it: its run id, or its address when it has none.
fn peer_id(p: &Peer) -> String {
    if p.runid.is_empty() {
        p.endpoint.to_string()
    } else {
        p.runid.clone()
    }
}

fn flags_text(inst: &Instance) -> String {
    let f = inst.flags;
    [
        (f.s_down, "s_down"),
        (f.o_down, "o_down"),
        (f.disconnected, "disconnected"),
        (f.failover_in_progress, "failover_in_progress"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| *name)
    .collect::<Vec<_>>()
    .join(",")
}

#[cfg(test)]
pub(crate) mod tests;
