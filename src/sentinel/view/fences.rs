//! When a silent Sentinel's fence ends: with the failover or the configuration it came from
//! (docs/safety.md, "Fences").

use std::time::Duration;

use super::count::{GHOST_AFTER, GHOST_DOWN_AFTERS};
use super::{Endpoint, Reading, SentinelView};

/// sentinel.c's election timeout (`SENTINEL_ELECTION_TIMEOUT`): a failover not won within
/// min(this, failover-timeout) is aborted.
pub(super) const ELECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Hellos go out every 2 s; a configuration reaches every Sentinel that hears its sender within
/// two of them.
pub(super) const HELLO_SPREAD: Duration = Duration::from_secs(4);
/// A peer whose last hello is at most this old is alive and heard by the Sentinel listing it.
pub(super) const HEARD_RECENTLY: Duration = Duration::from_secs(10);

impl Reading<'_> {
    pub(super) fn fresh(&self, now: Duration) -> bool {
        self.fresh_until() > now
    }

    pub(super) fn failover_timeout(&self) -> Duration {
        Duration::from_millis(self.heard.answer.master.failover_timeout_ms.max(1000))
    }

    /// The last moment a failover this answer shows can still promote a replica: sentinel.c
    /// aborts an election not won within min(10 s, failover-timeout), and a promotion not seen
    /// within failover-timeout of `REPLICAOF NO ONE` (`send_slaveof_noone`, `wait_promotion`).
    pub(super) fn promotion_deadline(&self) -> Duration {
        let ft = self.failover_timeout();
        self.heard.sent + ft.min(ELECTION_TIMEOUT) + ft
    }

    /// The last moment that failover can still show its promoted replica: the replicas'
    /// reconfiguration (`reconf_slaves`) ends within failover-timeout more.
    pub(super) fn failover_end(&self) -> Duration {
        self.promotion_deadline() + self.failover_timeout()
    }

    /// Time for a configuration to reach the Sentinels that hear its sender, and for a
    /// supporter's word given before that to lapse.
    pub(super) fn grace(&self) -> Duration {
        self.lease + HELLO_SPREAD
    }

    /// This answer's Sentinel lists `peer` as alive and heard lately (its hellos reach it).
    pub(super) fn hears(&self, peer_runid: &str) -> bool {
        self.target.peers.iter().flatten().any(|p| {
            p.runid == peer_runid
                && !p.s_down
                && Duration::from_millis(p.last_hello_ms) <= HEARD_RECENTLY
        })
    }

    /// This answer's Sentinel reaches `e`: a replica of its master, neither down nor
    /// disconnected.
    pub(super) fn reaches(&self, e: &Endpoint) -> bool {
        self.heard.answer.replicas.iter().any(|r| {
            &r.endpoint == e && !r.flags.s_down && !r.flags.o_down && !r.flags.disconnected
        })
    }
}

impl SentinelView {
    /// A Sentinel that has left: its polls fail, its last answer is older than a ghost's
    /// silence, and every other Sentinel answering now either does not list it or lists it
    /// unreachable and silent as long (a Sentinel stopped for good, or rebuilt elsewhere).
    pub(super) fn departed(
        &self,
        x: &Reading<'_>,
        readings: &[Reading<'_>],
        now: Duration,
    ) -> bool {
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
    pub(super) fn stale_fence_stands(
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
}
