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

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use super::answer::{Answer, Endpoint, Instance, Peer};
use super::why::{Counts, Down, Why};
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
    /// TLS: a certificate refused either way, a file that cannot be used, TLS on one side
    /// only. The text names the cause and the fix (sentinel/tls.rs).
    Tls,
    /// The Sentinel's ACL refuses a command the module needs (NOPERM); the text names the
    /// command and the rule to add (sentinel/acl.rs).
    Denied,
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

    /// The newest config epoch under which a Sentinel names this node master.
    pub fn epoch_naming_us(&self, rules: Rules) -> Option<u64> {
        self.readings(rules)
            .iter()
            .filter(|r| r.names_us)
            .map(|r| r.epoch())
            .max()
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

use count::peer_id;
use identity::Identity;
pub use identity::Me;

#[cfg(test)]
pub(crate) mod tests;
