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
//!
//! `rule` runs these as named steps (`verdict`); `identity`, `count` and `fences` hold what
//! the steps ask: is this entry us, how many Sentinels must confirm, does a silent one's
//! fence still stand.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use super::answer::{Answer, Endpoint, Instance, Peer};
pub use super::error::{PollError, PollErrorKind};
use super::why::Why;
use crate::config::SentinelAddr;

/// How long an answer showing a failover (or the master down) keeps the fast poll rate.
const UNDERWAY_MEMORY: Duration = Duration::from_secs(5);
/// How long every Sentinel must fail before "none answers" is a fault.
const SILENCE_GRACE: Duration = Duration::from_secs(5);

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
    /// A replica asked as a witness answers that it was promoted, follows another master, or
    /// (in failsafe) hears the Sentinels report this master down.
    WitnessDenies,
}

impl Fence {
    pub fn as_str(self) -> &'static str {
        match self {
            Fence::FailoverPromotesOther => "failover_promotes_other",
            Fence::NewerConfigNamesOther => "newer_config_names_other",
            Fence::QuorumNamesOther => "quorum_names_other",
            Fence::ReportedDown => "reported_down",
            Fence::LeaseExpired => "lease_expired",
            Fence::WitnessDenies => "witness_denies",
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
    /// Since when every poll has failed (None: its last poll was answered).
    failing_since: Option<Duration>,
}

impl Target {
    fn new(addr: SentinelAddr, learned_as: Option<String>) -> Target {
        Target {
            addr,
            learned_as,
            heard: None,
            peers: None,
            error: None,
            failing_since: None,
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

    /// Its `failover-state`, `?` when it gave none.
    fn failover_state(&self) -> String {
        self.heard
            .answer
            .master
            .failover_state
            .clone()
            .unwrap_or_else(|| "?".into())
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
}

/// How the Sentinels' support of this node stands (`SentinelView::support`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Support {
    /// Sentinels whose latest answer supports this node now.
    pub fresh: usize,
    /// Of those, the ones that answered within the recent window (still answering).
    pub recent: usize,
    /// How many must support (the quorum in force).
    pub required: usize,
    /// How many Sentinels exist (ghosts left out).
    pub known: usize,
}

impl Support {
    /// Time to ask the witnesses: a Sentinel has stopped answering, or one more falling
    /// silent would end the support. (When every Sentinel is cut off at once, their supports
    /// all end one lease after the last answers: the witnesses must have answered by then.)
    pub fn no_spare(&self) -> bool {
        self.recent < self.known || self.recent <= self.required
    }

    /// Every Sentinel that exists supports this node: none of them can be running a failover.
    pub fn all(&self) -> bool {
        self.known > 0 && self.fresh >= self.known
    }
}

/// A Sentinel's recent report against a master: failing it over, or it down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterReport {
    pub master: Endpoint,
    pub failing_over: bool,
    pub text: String,
}

/// The first report of this kind about `master` (the master a replica follows, as its own
/// `INFO replication` names it: a report about the master it followed before a move does
/// not count).
pub fn against<'a>(
    reports: &'a [MasterReport],
    failing_over: bool,
    master: &Endpoint,
) -> Option<&'a str> {
    reports
        .iter()
        .find(|r| &r.master == master && r.failing_over == failing_over)
        .map(|r| r.text.as_str())
}

/// How long a replica remembers a Sentinel's report of its master down (`against_master`).
const AGAINST_MEMORY: Duration = Duration::from_secs(2);

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

    /// Does no Sentinel's latest answer name another node master? (True before any answer.)
    pub fn none_names_other(&self) -> bool {
        self.targets
            .iter()
            .filter_map(|t| t.heard.as_ref())
            .all(|h| self.identity.is(&h.answer.master.instance, h.received))
    }

    /// Every replica the Sentinels' latest answers list, this node left out: witnesses the
    /// failsafe must ask (the Sentinels could promote any of them).
    pub fn listed_replicas(&self) -> Vec<Endpoint> {
        let mut out: Vec<Endpoint> = Vec::new();
        for h in self.targets.iter().filter_map(|t| t.heard.as_ref()) {
            for r in &h.answer.replicas {
                if !self.identity.is(r, h.received) && !out.contains(&r.endpoint) {
                    out.push(r.endpoint.clone());
                }
            }
        }
        out
    }

    /// What each recent answer reports against the master it names: a failover of it, or
    /// it down (`s_down`/`o_down`). A replica's witness answer uses the ones about the master
    /// it follows (`against`).
    pub fn reports_against_masters(&self, now: Duration) -> Vec<MasterReport> {
        self.targets
            .iter()
            .filter_map(|t| t.heard.as_ref().map(|h| (t, h)))
            .filter(|(_, h)| now.saturating_sub(h.received) <= AGAINST_MEMORY)
            .filter_map(|(t, h)| {
                let f = h.answer.master.instance.flags;
                // Failing over once the leader has chosen a replica (as the master's own
                // `failover_promotes_other` fence): a failover that never gets that far (no
                // good replica, a leader in TILT) takes nothing away from a master its
                // Sentinels still confirm.
                let (failing_over, what) = match h.answer.promoted() {
                    Some(p) => (true, format!("is failing it over to {}", p.endpoint)),
                    None if f.failover_in_progress => {
                        (false, "is starting a failover of it".to_string())
                    }
                    None if f.o_down => (false, "reports it objectively down (o_down)".into()),
                    None if f.s_down => (false, "reports it subjectively down (s_down)".into()),
                    None => return None,
                };
                Some(MasterReport {
                    master: h.answer.master.instance.endpoint.clone(),
                    failing_over,
                    text: format!("Sentinel {} {what}", t.addr),
                })
            })
            .collect()
    }

    /// What a recent answer reports against `master` (a failover of it when `failing_over`,
    /// else it down). The glue picks from `reports_against_masters` itself.
    #[cfg(test)]
    pub fn against_master(
        &self,
        now: Duration,
        failing_over: bool,
        master: &Endpoint,
    ) -> Option<String> {
        against(&self.reports_against_masters(now), failing_over, master).map(str::to_string)
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
            if !t.failing() {
                t.failing_since = Some(at);
            }
            t.error = Some((at, error));
        }
    }

    /// One answer read for this node.
    fn reading<'a>(&self, t: &'a Target, h: &'a Heard, rules: Rules) -> Reading<'a> {
        Reading {
            target: t,
            heard: h,
            addr: &t.addr,
            names_us: self.identity.is(&h.answer.master.instance, h.received),
            lease: lease_for(rules, h.answer.master.down_after_ms),
        }
    }

    /// The latest answer of each distinct Sentinel (by its run id): the same Sentinel asked
    /// under two addresses counts once.
    fn readings(&self, rules: Rules) -> Vec<Reading<'_>> {
        let mut out: Vec<Reading<'_>> = Vec::new();
        for t in &self.targets {
            let Some(h) = &t.heard else { continue };
            let reading = self.reading(t, h, rules);
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

    /// The newest config epoch under which a Sentinel names this node master.
    pub fn epoch_naming_us(&self, rules: Rules) -> Option<u64> {
        epoch_naming_us(&self.readings(rules))
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

    /// A configuration problem that only the operator can fix, worded with the fix. Refused
    /// credentials and an unknown master name are faults at once; no Sentinel answering is
    /// one only after `SILENCE_GRACE` of failing polls everywhere (a Sentinel restarting, or
    /// Redis started before its Sentinels at boot, is no error).
    pub fn fault(&self, now: Duration) -> Option<String> {
        if let Some((t, e)) = self.targets.iter().find_map(|t| {
            t.error
                .as_ref()
                .filter(|(_, e)| {
                    matches!(
                        e.kind,
                        PollErrorKind::Auth
                            | PollErrorKind::NoSuchMaster
                            | PollErrorKind::Tls
                            | PollErrorKind::Denied
                    )
                })
                .filter(|_| t.failing())
                .map(|(_, e)| (t, e))
        }) {
            let fix = match e.kind {
                // the text names the cause and the fix itself
                PollErrorKind::Tls | PollErrorKind::Denied => {
                    return Some(format!("Sentinel {}: {}", t.addr, e.text))
                }
                PollErrorKind::Auth => {
                    "authentication failed: check vip.sentinel-auth-user and vip.sentinel-auth-pass"
                }
                _ => "it monitors no master of that name: check vip.master-name",
            };
            return Some(format!("Sentinel {}: {fix} ({})", t.addr, e.text));
        }
        if !self.targets.is_empty()
            && self.targets.iter().all(|t| {
                t.failing()
                    && t.failing_since
                        .is_some_and(|since| now.saturating_sub(since) >= SILENCE_GRACE)
            })
        {
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

    pub fn rows(&self, now: Duration, rules: Rules) -> Vec<SentinelRow> {
        let ghosts = self.ghosts();
        self.targets
            .iter()
            .map(|t| self.row(t, now, rules, &ghosts))
            .collect()
    }

    /// One Sentinel's row: its connection, then what its latest answer says.
    fn row(
        &self,
        t: &Target,
        now: Duration,
        rules: Rules,
        ghosts: &BTreeSet<String>,
    ) -> SentinelRow {
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
        let Some(h) = &t.heard else { return row };
        let r = self.reading(t, h, rules);
        let (a, m) = (&h.answer, &h.answer.master);
        row.runid = a.sentinel_runid.clone();
        row.last_answer_ms_ago =
            i64::try_from(now.saturating_sub(h.received).as_millis()).unwrap_or(-1);
        row.master = m.instance.endpoint.to_string();
        row.names_this_node = r.names_us;
        row.config_epoch = m.config_epoch;
        row.master_flags = flags_text(&m.instance);
        row.failover_state = m.failover_state.clone().unwrap_or_default();
        row.promoted = a
            .promoted()
            .map(|p| p.endpoint.to_string())
            .unwrap_or_default();
        row.confirms = r.confirms() && r.guard() > now;
        row.skipped_replicas = a.skipped_replicas.count;
        row.skipped_peers = a.skipped_peers.count;
        row.skipped_reason = a
            .skipped_replicas
            .first
            .clone()
            .or_else(|| a.skipped_peers.first.clone())
            .unwrap_or_default();
        row.ghosts = t
            .peers
            .iter()
            .flatten()
            .filter(|p| ghosts.contains(&peer_id(p)))
            .count() as u32;
        row
    }
}

/// The newest config epoch under which one of these answers names this node master.
fn epoch_naming_us(readings: &[Reading<'_>]) -> Option<u64> {
    readings
        .iter()
        .filter(|r| r.names_us)
        .map(|r| r.epoch())
        .max()
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

mod count;
mod fences;
mod identity;
mod rule;

use count::peer_id;
use identity::Identity;
pub use identity::Me;

#[cfg(test)]
pub(crate) mod tests;
