//! What the Sentinels believe, learned from their hellos (safe mode).
//!
//! Every Sentinel publishes a hello every 2 s to `__sentinel__:hello` on each instance it
//! monitors (sentinel.c, sentinelSendHello):
//! `<s_ip>,<s_port>,<s_runid>,<s_current_epoch>,<master_name>,<master_ip>,<master_port>,<master_config_epoch>`.
//! The view below keeps the latest hello per Sentinel run id and answers one question:
//! may this node hold the VIP now? Pure: time comes in as an argument.
//!
//! Two separate signals (issue "No split brain", property 2):
//! - *contact*: hellos are arriving from enough distinct Sentinels within the lease;
//! - *contradiction*: a hello names another master under a config epoch newer than any
//!   seen so far, i.e. the Sentinels failed over to someone else.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::config::Settings;

/// Sentinels say hello every 2 s (SENTINEL_PUBLISH_PERIOD).
pub const HELLO_PERIOD: Duration = Duration::from_millis(2000);
/// A Sentinel confirms this node once hellos naming it arrived at least this far apart:
/// half a hello period, so two consecutive hellos (2 s apart) are enough, and a burst of
/// queued ones (milliseconds apart) is not.
pub const CONFIRM_SPAN: Duration = Duration::from_millis(1000);
/// Nothing legitimate comes near this; a larger payload is rejected unparsed.
pub const MAX_HELLO_LEN: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub sentinel_ip: String,
    pub sentinel_port: u16,
    pub runid: String,
    pub current_epoch: u64,
    pub master_name: String,
    pub master_ip: IpAddr,
    pub master_port: u16,
    pub config_epoch: u64,
}

/// Parse a hello payload. Errors are short reasons; the caller only counts them.
pub fn parse_hello(payload: &[u8]) -> Result<Hello, &'static str> {
    if payload.len() > MAX_HELLO_LEN {
        return Err("oversized");
    }
    let text = std::str::from_utf8(payload).map_err(|_| "not UTF-8")?;
    let fields: Vec<&str> = text.split(',').collect();
    if fields.len() != 8 {
        return Err("expected 8 fields");
    }
    let port = |s: &str| s.parse::<u16>().ok().filter(|p| *p != 0).ok_or("bad port");
    let epoch = |s: &str| s.parse::<u64>().map_err(|_| "bad epoch");
    let runid = fields[2];
    if runid.len() != 40 || !runid.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("bad run id");
    }
    let master_name = fields[4];
    if master_name.is_empty() || master_name.len() > 128 {
        return Err("bad master name");
    }
    if fields[0].is_empty() || fields[0].len() > 255 {
        return Err("bad sentinel address");
    }
    Ok(Hello {
        sentinel_ip: fields[0].to_string(),
        sentinel_port: port(fields[1])?,
        runid: runid.to_ascii_lowercase(),
        current_epoch: epoch(fields[3])?,
        master_name: master_name.to_string(),
        master_ip: fields[5].parse().map_err(|_| "bad master address")?,
        master_port: port(fields[6])?,
        config_epoch: epoch(fields[7])?,
    })
}

/// The safe-mode rules, from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quorum {
    pub quorum: usize,
    pub lease: Duration,
    pub master_name: Option<String>,
}

impl Quorum {
    pub fn from_settings(s: &Settings) -> Quorum {
        Quorum {
            quorum: s.quorum as usize,
            lease: Duration::from_millis(s.lease_ms),
            master_name: s.master_name.clone(),
        }
    }
}

/// How Sentinels would name this node: `replica-announce-ip`/`-port` when set, else the
/// node's own (non-VIP) addresses and its port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub addrs: Vec<IpAddr>,
    pub port: u16,
}

impl Identity {
    pub fn is(&self, ip: &IpAddr, port: u16) -> bool {
        port == self.port && self.addrs.contains(ip)
    }
}

/// The latest hello of one Sentinel (keyed by its run id).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    last: Duration,
    /// Arrival of the first hello of the current run naming this node (None: the latest
    /// names another).
    streak_since: Option<Duration>,
    addr: String,
    current_epoch: u64,
    master_name: String,
    master_ip: IpAddr,
    master_port: u16,
    config_epoch: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub hold: bool,
    pub reason: String,
}

/// One Sentinel as last heard, for `VIP.SENTINELS`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentinelRow {
    pub runid: String,
    pub addr: String,
    pub last_hello_ms_ago: u64,
    pub current_epoch: u64,
    pub master_name: String,
    pub master: String,
    pub config_epoch: u64,
    pub names_this_node: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub seen: u64,
    pub confirming: u64,
    pub lease_remaining_ms: u64,
}

#[derive(Debug, Clone, Default)]
pub struct SentinelView {
    by_runid: BTreeMap<String, Seen>,
    /// The highest config epoch any counted hello carried; `None` before the first.
    highest_epoch: Option<u64>,
    /// (why, epoch): set by a hello naming another master under a newer epoch; cleared by
    /// a hello naming us under that epoch or a newer one.
    contradiction: Option<(String, u64)>,
    /// A role change to master (a Sentinel leader's REPLICAOF NO ONE) starts a grace
    /// period of one lease plus one hello period for the confirmation to arrive.
    promoted_at: Option<Duration>,
    identity: Identity,
}

impl SentinelView {
    pub fn set_identity(&mut self, identity: Identity) {
        self.identity = identity;
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn promoted(&mut self, at: Duration) {
        self.promoted_at = Some(at);
    }

    /// The grace of a promotion ends (fenced, demoted): from now on only hellos count.
    pub fn end_grace(&mut self) {
        self.promoted_at = None;
    }

    fn counts(&self, rules: &Quorum, hello_master_name: &str) -> bool {
        rules
            .master_name
            .as_deref()
            .is_none_or(|n| n == hello_master_name)
    }

    /// Record a hello. Returns false when it was about another Sentinel master name
    /// (ignored, not counted).
    pub fn record(&mut self, hello: Hello, now: Duration, rules: &Quorum) -> bool {
        if !self.counts(rules, &hello.master_name) {
            return false;
        }
        let names_us = self.identity.is(&hello.master_ip, hello.master_port);
        if names_us {
            if self
                .contradiction
                .as_ref()
                .is_some_and(|(_, e)| hello.config_epoch >= *e)
            {
                self.contradiction = None;
            }
        } else if let Some(highest) = self.highest_epoch.filter(|h| hello.config_epoch > *h) {
            self.contradiction = Some((
                format!(
                    "Sentinel {} names {}:{} master under config epoch {}, newer than {}",
                    short(&hello.runid),
                    hello.master_ip,
                    hello.master_port,
                    hello.config_epoch,
                    highest
                ),
                hello.config_epoch,
            ));
        }
        self.highest_epoch = Some(
            self.highest_epoch
                .map_or(hello.config_epoch, |h| h.max(hello.config_epoch)),
        );
        // A run of hellos naming us starts at the first one; another name, or silence
        // longer than the lease, ends it.
        let streak_since = match self.by_runid.get(&hello.runid) {
            _ if !names_us => None,
            Some(prev) if now.saturating_sub(prev.last) <= rules.lease => {
                prev.streak_since.or(Some(now))
            }
            _ => Some(now),
        };
        self.by_runid.insert(
            hello.runid,
            Seen {
                last: now,
                streak_since,
                addr: format!("{}:{}", hello.sentinel_ip, hello.sentinel_port),
                current_epoch: hello.current_epoch,
                master_name: hello.master_name,
                master_ip: hello.master_ip,
                master_port: hello.master_port,
                config_epoch: hello.config_epoch,
            },
        );
        true
    }

    fn fresh<'a>(&'a self, now: Duration, rules: &'a Quorum) -> impl Iterator<Item = &'a Seen> {
        self.by_runid
            .values()
            .filter(move |s| now.saturating_sub(s.last) <= rules.lease)
    }

    /// Sentinels that confirm this node: their latest hello is fresh and names it, and they
    /// have named it in hellos that arrived at least `CONFIRM_SPAN` apart. One hello is not
    /// enough: hellos queued while this node was stopped or cut off (in its input buffers,
    /// or TCP data retransmitted when the link returns) arrive in a burst, all at once, and
    /// say what the Sentinels believed before they failed over.
    fn confirming(&self, now: Duration, rules: &Quorum) -> usize {
        self.fresh(now, rules)
            .filter(|s| {
                self.identity.is(&s.master_ip, s.master_port)
                    && s.streak_since
                        .is_some_and(|t| s.last.saturating_sub(t) >= CONFIRM_SPAN)
            })
            .count()
    }

    /// May this (master) node hold the VIP now?
    pub fn verdict(&self, now: Duration, rules: &Quorum, holding: bool) -> Verdict {
        let q = rules.quorum.max(1);
        if let Some((why, _)) = &self.contradiction {
            return Verdict {
                hold: false,
                reason: format!("fenced: {why}"),
            };
        }
        let confirming = self.confirming(now, rules);
        if confirming >= q {
            return Verdict {
                hold: true,
                reason: format!("confirmed as master by {confirming} Sentinels"),
            };
        }
        let contact = self.fresh(now, rules).count();
        if let (Some(at), true) = (self.promoted_at, contact >= q) {
            if now < at + rules.lease + HELLO_PERIOD {
                return Verdict {
                    hold: true,
                    reason: "promoted; awaiting Sentinel confirmation".into(),
                };
            }
            // The failover leader names us under the newest config epoch: that epoch was
            // granted by a majority vote, so the other Sentinels' hellos that still name
            // the old master are a stale view that will catch up, not a reason to fence.
            if let Some(epoch) = self.newest_names_us(now, rules) {
                return Verdict {
                    hold: true,
                    reason: format!(
                        "promoted; confirmed under config epoch {epoch}, {confirming} of {q} Sentinels caught up"
                    ),
                };
            }
        }
        let lease_ms = rules.lease.as_millis();
        let reason = if !holding {
            format!(
                "waiting: {confirming} of {q} Sentinels confirm this node as master within {lease_ms} ms"
            )
        } else if contact < q {
            format!("fenced: hellos from {contact} of {q} Sentinels within {lease_ms} ms")
        } else {
            format!(
                "fenced: only {confirming} of {q} Sentinels name this node master within {lease_ms} ms"
            )
        };
        Verdict {
            hold: false,
            reason,
        }
    }

    /// The newest config epoch among fresh hellos, if the hellos carrying it name us.
    fn newest_names_us(&self, now: Duration, rules: &Quorum) -> Option<u64> {
        let newest = self.fresh(now, rules).map(|s| s.config_epoch).max()?;
        let mut at_newest = self.fresh(now, rules).filter(|s| s.config_epoch == newest);
        at_newest
            .all(|s| self.identity.is(&s.master_ip, s.master_port))
            .then_some(newest)
    }

    /// When the verdict may change by itself (a hello going stale, a grace ending).
    pub fn next_expiry(&self, now: Duration, rules: &Quorum) -> Option<Duration> {
        let stale = self
            .fresh(now, rules)
            .map(|s| s.last + rules.lease + Duration::from_millis(1))
            .min();
        let grace = self
            .promoted_at
            .map(|at| at + rules.lease + HELLO_PERIOD)
            .filter(|t| *t > now);
        match (stale, grace) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn rows(&self, now: Duration) -> Vec<SentinelRow> {
        self.by_runid
            .iter()
            .map(|(runid, s)| SentinelRow {
                runid: runid.clone(),
                addr: s.addr.clone(),
                last_hello_ms_ago: now.saturating_sub(s.last).as_millis() as u64,
                current_epoch: s.current_epoch,
                master_name: s.master_name.clone(),
                master: format!("{}:{}", s.master_ip, s.master_port),
                config_epoch: s.config_epoch,
                names_this_node: self.identity.is(&s.master_ip, s.master_port),
            })
            .collect()
    }

    pub fn summary(&self, now: Duration, rules: &Quorum) -> Summary {
        let mut lasts: Vec<Duration> = self.fresh(now, rules).map(|s| s.last).collect();
        lasts.sort_unstable_by(|a, b| b.cmp(a));
        let q = rules.quorum.max(1);
        let lease_remaining_ms = lasts
            .get(q - 1)
            .map(|t| (*t + rules.lease).saturating_sub(now).as_millis() as u64)
            .unwrap_or(0);
        Summary {
            seen: lasts.len() as u64,
            confirming: self.confirming(now, rules) as u64,
            lease_remaining_ms,
        }
    }
}

fn short(runid: &str) -> &str {
    runid.get(..8).unwrap_or(runid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccccccccccccccccccccccccccc";

    fn hello(runid: &str, master: &str, epoch: u64) -> Hello {
        parse_hello(
            format!("192.0.2.1,26379,{runid},{epoch},mymaster,{master},6379,{epoch}").as_bytes(),
        )
        .unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn rules(q: usize) -> Quorum {
        Quorum {
            quorum: q,
            lease: ms(5000),
            master_name: None,
        }
    }

    fn view_of(me: &str) -> SentinelView {
        let mut v = SentinelView::default();
        v.set_identity(Identity {
            addrs: vec![me.parse().unwrap()],
            port: 6379,
        });
        v
    }

    #[test]
    fn parses_a_real_hello() {
        let h = parse_hello(
            b"192.0.2.11,26379,0123456789abcdef0123456789abcdef01234567,3,mymaster,192.0.2.12,6379,3",
        )
        .unwrap();
        assert_eq!(h.sentinel_port, 26379);
        assert_eq!(h.master_ip, "192.0.2.12".parse::<IpAddr>().unwrap());
        assert_eq!(h.config_epoch, 3);
        assert_eq!(h.master_name, "mymaster");
    }

    #[test]
    fn rejects_malformed_hellos() {
        let good = format!("192.0.2.11,26379,{A},3,mymaster,192.0.2.12,6379,3");
        assert!(parse_hello(good.as_bytes()).is_ok());
        // (payload, reason)
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "expected 8 fields"),
            ("a,b,c".into(), "expected 8 fields"),
            (format!("{good},extra"), "expected 8 fields"),
            (good.replace(A, "xyz"), "bad run id"),
            (good.replace(",3,mymaster", ",-3,mymaster"), "bad epoch"),
            (good.replace("6379,3", "6379,three"), "bad epoch"),
            (good.replace(",6379,", ",99999,"), "bad port"),
            (
                good.replace("192.0.2.12", "not-an-ip"),
                "bad master address",
            ),
            (good.replace("mymaster", ""), "bad master name"),
            ("x".repeat(600), "oversized"),
        ];
        for (payload, want) in cases {
            assert_eq!(parse_hello(payload.as_bytes()), Err(want), "{payload:?}");
        }
        assert_eq!(parse_hello(&[0xff, 0xfe, b',']), Err("not UTF-8"));
        // Every truncation of a good hello is either rejected or parses: never a panic.
        for n in 0..good.len() {
            let _ = parse_hello(&good.as_bytes()[..n]);
        }
    }

    #[test]
    fn quorum_of_confirming_hellos_lets_a_stale_start_claim() {
        let r = rules(2);
        let mut v = view_of("192.0.2.11");
        assert!(!v.verdict(ms(0), &r, false).hold);
        v.record(hello(A, "192.0.2.11", 1), ms(100), &r);
        v.record(hello(B, "192.0.2.11", 1), ms(200), &r);
        assert!(
            !v.verdict(ms(200), &r, false).hold,
            "one hello each is not yet a run"
        );
        v.record(hello(A, "192.0.2.11", 1), ms(2100), &r);
        assert!(!v.verdict(ms(2100), &r, false).hold, "one of two");
        v.record(hello(B, "192.0.2.11", 1), ms(2200), &r);
        assert!(v.verdict(ms(2200), &r, false).hold);
        // Both hellos go stale after the lease: fenced.
        let verdict = v.verdict(ms(7101), &r, true);
        assert!(!verdict.hold);
        assert!(
            verdict.reason.starts_with("fenced: hellos from 1 of 2"),
            "{}",
            verdict.reason
        );
        let verdict = v.verdict(ms(7201), &r, true);
        assert!(
            verdict.reason.starts_with("fenced: hellos from 0 of 2"),
            "{}",
            verdict.reason
        );
    }

    #[test]
    fn a_burst_of_queued_hellos_does_not_confirm() {
        // Stopped or cut off for 10 s: the Sentinels' hellos of that time (naming this node,
        // before they failed over) arrive all at once when it comes back.
        let r = rules(2);
        let mut v = view_of("192.0.2.11");
        for i in 0..5 {
            v.record(hello(A, "192.0.2.11", 1), ms(10_000 + i), &r);
            v.record(hello(B, "192.0.2.11", 1), ms(10_000 + i), &r);
        }
        assert!(!v.verdict(ms(10_010), &r, false).hold);
        // The next fresh hellos name the promoted replica under a newer epoch.
        v.record(hello(A, "192.0.2.12", 2), ms(11_000), &r);
        let verdict = v.verdict(ms(12_500), &r, false);
        assert!(!verdict.hold);
        assert!(
            verdict.reason.contains("newer than 1"),
            "{}",
            verdict.reason
        );
    }

    #[test]
    fn a_run_is_broken_by_a_hello_naming_another_node() {
        let r = rules(1);
        let mut v = view_of("192.0.2.11");
        v.record(hello(A, "192.0.2.11", 1), ms(0), &r);
        v.record(hello(A, "192.0.2.12", 1), ms(1000), &r);
        v.record(hello(A, "192.0.2.11", 1), ms(2000), &r);
        assert!(!v.verdict(ms(2000), &r, false).hold);
        v.record(hello(A, "192.0.2.11", 1), ms(4000), &r);
        assert!(v.verdict(ms(4000), &r, false).hold);
    }

    #[test]
    fn the_first_failover_from_epoch_zero_contradicts() {
        let r = rules(1);
        let mut v = view_of("192.0.2.11");
        v.record(hello(A, "192.0.2.11", 0), ms(0), &r);
        v.record(hello(A, "192.0.2.11", 0), ms(2000), &r);
        assert!(v.verdict(ms(2000), &r, true).hold);
        v.record(hello(B, "192.0.2.12", 1), ms(2100), &r);
        assert!(!v.verdict(ms(2100), &r, true).hold);
    }

    #[test]
    fn stale_restart_never_confirmed() {
        // The old master restarts; the Sentinels name the promoted replica.
        let r = rules(2);
        let mut v = view_of("192.0.2.11");
        for t in 0..10 {
            v.record(hello(A, "192.0.2.12", 2), ms(t * 2000), &r);
            v.record(hello(B, "192.0.2.12", 2), ms(t * 2000 + 10), &r);
            assert!(!v.verdict(ms(t * 2000 + 20), &r, false).hold);
        }
    }

    #[test]
    fn promotion_holds_through_stale_views_then_needs_confirmation() {
        let r = rules(2);
        let mut v = view_of("192.0.2.12");
        // As a replica it heard the old view: master .11 under epoch 1.
        v.record(hello(A, "192.0.2.11", 1), ms(0), &r);
        v.record(hello(B, "192.0.2.11", 1), ms(0), &r);
        v.promoted(ms(1000));
        // Stale views under the old epoch: not a contradiction; grace holds.
        v.record(hello(A, "192.0.2.11", 1), ms(2000), &r);
        assert!(v.verdict(ms(2000), &r, true).hold);
        // The leader confirms under epoch 2, then the other Sentinel.
        v.record(hello(A, "192.0.2.12", 2), ms(3000), &r);
        v.record(hello(B, "192.0.2.12", 2), ms(4000), &r);
        assert!(v.verdict(ms(7999), &r, true).hold);
        // Without further hellos the confirmation itself expires with the lease.
        assert!(!v.verdict(ms(8001), &r, true).hold);
        v.record(hello(A, "192.0.2.12", 2), ms(5000), &r);
        assert!(v.verdict(ms(8001), &r, true).hold);
    }

    #[test]
    fn leader_confirmation_under_newest_epoch_holds_while_others_catch_up() {
        let r = rules(2);
        let mut v = view_of("192.0.2.12");
        v.record(hello(A, "192.0.2.11", 1), ms(0), &r);
        v.record(hello(B, "192.0.2.11", 1), ms(0), &r);
        v.promoted(ms(0));
        // Only the leader (A) has switched; B still names the old master (stale view).
        for t in 1..6 {
            v.record(hello(A, "192.0.2.12", 2), ms(t * 2000), &r);
            v.record(hello(B, "192.0.2.11", 1), ms(t * 2000), &r);
            let verdict = v.verdict(ms(t * 2000 + 1000), &r, true);
            assert!(
                verdict.hold,
                "at {} ms: {}",
                t * 2000 + 1000,
                verdict.reason
            );
        }
        // Contact lost: the leader's word is not enough.
        let verdict = v.verdict(ms(16_000), &r, true);
        assert!(!verdict.hold);
        assert!(
            verdict.reason.starts_with("fenced: hellos from 0 of 2"),
            "{}",
            verdict.reason
        );
    }

    #[test]
    fn grace_needs_contact() {
        let r = rules(2);
        let mut v = view_of("192.0.2.12");
        v.promoted(ms(0));
        assert!(
            !v.verdict(ms(10), &r, true).hold,
            "no Sentinel heard at all"
        );
    }

    #[test]
    fn unconfirmed_manual_promotion_releases_after_lease_plus_hello_period() {
        let r = rules(2);
        let mut v = view_of("192.0.2.12");
        v.promoted(ms(0));
        for t in 0..5 {
            v.record(hello(A, "192.0.2.11", 1), ms(t * 2000), &r);
            v.record(hello(B, "192.0.2.11", 1), ms(t * 2000), &r);
        }
        assert!(v.verdict(ms(6999), &r, true).hold);
        let verdict = v.verdict(ms(7000), &r, true);
        assert!(!verdict.hold);
        assert!(
            verdict.reason.contains("0 of 2 Sentinels name this node"),
            "{}",
            verdict.reason
        );
    }

    #[test]
    fn newer_epoch_naming_another_master_contradicts_at_once() {
        let r = rules(1);
        let mut v = view_of("192.0.2.11");
        v.record(hello(A, "192.0.2.11", 1), ms(0), &r);
        v.record(hello(A, "192.0.2.11", 1), ms(2000), &r);
        assert!(v.verdict(ms(2000), &r, true).hold);
        v.record(hello(B, "192.0.2.13", 2), ms(2100), &r);
        let verdict = v.verdict(ms(2100), &r, true);
        assert!(!verdict.hold);
        assert!(
            verdict.reason.contains("newer than 1"),
            "{}",
            verdict.reason
        );
        // A confirmation under the new epoch lifts it; an old-epoch one does not.
        v.record(hello(A, "192.0.2.11", 1), ms(4000), &r);
        assert!(!v.verdict(ms(4000), &r, true).hold);
        v.record(hello(A, "192.0.2.11", 2), ms(6000), &r);
        assert!(v.verdict(ms(6000), &r, true).hold);
    }

    #[test]
    fn master_name_filter_ignores_other_masters() {
        let mut r = rules(1);
        r.master_name = Some("other".into());
        let mut v = view_of("192.0.2.11");
        assert!(!v.record(hello(A, "192.0.2.11", 1), ms(0), &r));
        assert!(!v.verdict(ms(0), &r, false).hold);
        assert_eq!(v.summary(ms(0), &r).seen, 0);
    }

    #[test]
    fn summary_counts_and_lease() {
        let r = rules(2);
        let mut v = view_of("192.0.2.11");
        v.record(hello(A, "192.0.2.11", 1), ms(0), &r);
        v.record(hello(B, "192.0.2.11", 1), ms(0), &r);
        v.record(hello(A, "192.0.2.11", 1), ms(1000), &r);
        v.record(hello(B, "192.0.2.11", 1), ms(2000), &r);
        v.record(hello(C, "192.0.2.12", 1), ms(3000), &r);
        let s = v.summary(ms(3000), &r);
        assert_eq!((s.seen, s.confirming), (3, 2));
        let rows = v.rows(ms(3000));
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[2].master, "192.0.2.12:6379");
        assert_eq!(rows[0].last_hello_ms_ago, 2000);
        assert!(rows[0].names_this_node && !rows[2].names_this_node);
        // Second most recent hello at 2000 ms + 5000 ms lease.
        assert_eq!(s.lease_remaining_ms, 4000);
        assert_eq!(v.next_expiry(ms(3000), &r), Some(ms(6001)));
    }
}
