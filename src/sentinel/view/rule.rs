//! The rule, step by step, named as the protocol names things (sentinel.c's own habit:
//! `sentinelCheckSubjectivelyDown`, `sentinelCheckObjectivelyDown`, ...). `verdict` runs
//! the fences first, then the bases, then says why not:
//!
//! 1. fence `failover_promotes_other`;
//! 2. fence `newer_config_names_other`;
//! 3. basis `promoted_until`: chosen by a running failover;
//! 4. basis `quorum_until`: a quorum of supporters, at least one naming us;
//! 5. `hold`: the basis that lasts longer decides;
//! 6. `promotion_pending`: chosen by a forced failover not yet committed: wait;
//! 7. else, most specific first: `reported_down`, `quorum_names_other`, `too_few_confirm`.

use std::time::Duration;

use super::{Fence, Reading, Rules, SentinelView, Support, Verdict};
use crate::config::SentinelAddr;
use crate::sentinel::why::{Counts, Down, Why};

/// One decision at `now`: the view, its readings and the confirmations required.
pub(super) struct Rule<'a> {
    view: &'a SentinelView,
    readings: Vec<Reading<'a>>,
    required: usize,
    now: Duration,
}

impl SentinelView {
    /// May this node, whose role is master, hold the VIP at `now`?
    pub fn verdict(&self, now: Duration, rules: Rules) -> Verdict {
        Rule::new(self, now, rules).verdict()
    }

    /// The verdict with one silent Sentinel's answer set aside (its failover undone, as the
    /// node it promoted says: `core::witnesses`). The number required stays as it was: that
    /// Sentinel is still counted among those that exist.
    pub fn verdict_without(&self, now: Duration, rules: Rules, silent: &SentinelAddr) -> Verdict {
        let mut rule = Rule::new(self, now, rules);
        rule.readings.retain(|r| r.addr != silent);
        rule.verdict()
    }

    /// This Sentinel's last poll failed (it does not answer now).
    pub fn silent(&self, addr: &SentinelAddr) -> bool {
        self.targets
            .iter()
            .find(|t| &t.addr == addr)
            .is_none_or(|t| t.failing())
    }
}

impl Rule<'_> {
    /// The steps, in order (module comment).
    fn verdict(&self) -> Verdict {
        if let Some(fenced) = self.failover_promotes_other() {
            return fenced;
        }
        let newest_other = self.newest_other_master();
        if let Some(fenced) = self.newer_config_names_other(newest_other) {
            return fenced;
        }
        let promoted = self.promoted_until(newest_other);
        let quorum = self.quorum_until();
        if let Some(hold) = self.hold(quorum, promoted) {
            return hold;
        }
        if let Some(pending) = self.promotion_pending(newest_other) {
            return pending;
        }
        self.reported_down()
            .or_else(|| self.quorum_names_other())
            .unwrap_or_else(|| self.too_few_confirm())
    }
}

impl SentinelView {
    /// How the support stands at `now`; `recent`: how lately a supporter must have answered
    /// to count as still answering.
    pub fn support(&self, now: Duration, rules: Rules, recent: Duration) -> Support {
        let rule = Rule::new(self, now, rules);
        let epoch_us = rule.epoch_naming_us();
        let supporting: Vec<&Reading<'_>> = rule
            .readings
            .iter()
            .filter(|r| rule.supports_until(r, epoch_us).is_some_and(|t| t > now))
            .collect();
        Support {
            fresh: supporting.len(),
            recent: supporting
                .iter()
                .filter(|r| r.heard.received + recent >= now)
                .count(),
            required: rule.required,
            known: self.known(&rule.readings),
        }
    }
}

/// A failover the operator forced (`SENTINEL FAILOVER`) has no votes and no `o_down` behind
/// it: its promoted replica claims only once the leader has seen the promotion and moved on
/// (`reconf_slaves`, `update_config`): the step at which sentinel.c itself starts telling
/// clients the new master and broadcasts the new configuration. A leader that dies before it
/// (`SENTINEL SIMULATE-FAILURE crash-after-promotion`) leaves a promotion the others undo.
fn promotion_committed(r: &Reading<'_>) -> bool {
    let m = &r.heard.answer.master;
    !m.instance.flags.force_failover
        || matches!(
            m.failover_state.as_deref(),
            Some("reconf_slaves") | Some("update_config")
        )
}

impl<'a> Rule<'a> {
    pub(super) fn new(view: &'a SentinelView, now: Duration, rules: Rules) -> Rule<'a> {
        let readings = view.readings(rules);
        let required = view.required(rules, &readings);
        Rule {
            view,
            readings,
            required,
            now,
        }
    }

    /// The Sentinel names `p`'s entry as this node, as of its answer.
    fn is_us(&self, r: &Reading<'_>, p: &crate::sentinel::answer::Instance) -> bool {
        self.view.identity.is(p, r.heard.received)
    }

    /// Fence 1: a failover promotes another node (while its Sentinel still answers, or,
    /// once silent, until that failover cannot matter any more).
    pub(super) fn failover_promotes_other(&self) -> Option<Verdict> {
        self.readings.iter().find_map(|r| {
            let p = r.heard.answer.promoted()?;
            let stands = !self.is_us(r, p)
                && self.view.stale_fence_stands(
                    r,
                    &p.endpoint,
                    true,
                    &self.readings,
                    self.required,
                    self.now,
                );
            stands.then(|| Verdict::Refuse {
                fence: Some(Fence::FailoverPromotesOther),
                why: Why::FailoverPromotesOther {
                    by: r.addr.clone(),
                    to: p.endpoint.clone(),
                    state: r.failover_state(),
                },
            })
        })
    }

    /// The newest config epoch under which a Sentinel names this node master.
    pub(super) fn epoch_naming_us(&self) -> Option<u64> {
        super::epoch_naming_us(&self.readings)
    }

    /// The newest-epoch answer naming another master whose fence still stands.
    pub(super) fn newest_other_master(&self) -> Option<&Reading<'a>> {
        self.readings
            .iter()
            .filter(|r| !r.names_us)
            .filter(|r| {
                self.view.stale_fence_stands(
                    r,
                    &r.master().endpoint,
                    false,
                    &self.readings,
                    self.required,
                    self.now,
                )
            })
            .max_by_key(|r| r.epoch())
    }

    /// Fence 2: another master under a newer config epoch than any naming us.
    pub(super) fn newer_config_names_other(
        &self,
        newest_other: Option<&Reading<'_>>,
    ) -> Option<Verdict> {
        let (us, other) = (self.epoch_naming_us()?, newest_other?);
        (other.epoch() > us).then(|| Verdict::Refuse {
            fence: Some(Fence::NewerConfigNamesOther),
            why: Why::NewerConfigNamesOther {
                by: other.addr.clone(),
                master: other.master().endpoint.clone(),
                epoch: other.epoch(),
                ours: us,
            },
        })
    }

    /// Basis 1: chosen by a running failover, under no older epoch than the newest other
    /// master's: until when, and by which Sentinel.
    pub(super) fn promoted_until(
        &self,
        newest_other: Option<&Reading<'_>>,
    ) -> Option<(Duration, &'a SentinelAddr)> {
        self.chose_us(newest_other)
            .filter(|r| promotion_committed(r))
            .map(|r| (r.fresh_until(), r.addr))
            .max_by_key(|(until, _)| *until)
    }

    /// Fresh answers of Sentinels whose running failover chose this node, under no older
    /// epoch than the newest other master's: the promotion basis, committed or not yet.
    fn chose_us<'r>(
        &'r self,
        newest_other: Option<&'r Reading<'_>>,
    ) -> impl Iterator<Item = &'r Reading<'a>> + 'r {
        self.readings
            .iter()
            .filter(|r| r.heard.answer.promoted().is_some_and(|p| self.is_us(r, p)))
            .filter(move |r| newest_other.is_none_or(|o| o.epoch() <= r.epoch()))
            .filter(|r| r.fresh(self.now))
    }

    /// Until when this answer supports us: a confirmation until its guard; a Sentinel
    /// merely behind (another master under an older epoch than ours, no failover) for its
    /// lease. None: no support.
    fn supports_until(&self, r: &Reading<'_>, epoch_us: Option<u64>) -> Option<Duration> {
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
    }

    /// Basis 2: a quorum of supporters, at least one of them naming us: until the
    /// `required`-th support (and the last confirmation) runs out.
    pub(super) fn quorum_until(&self) -> Option<Duration> {
        let now = self.now;
        let confirmer_until = self
            .readings
            .iter()
            .filter(|r| r.confirms())
            .map(|r| r.guard())
            .filter(|g| *g > now)
            .max();
        let epoch_us = self.epoch_naming_us();
        let mut support: Vec<Duration> = self
            .readings
            .iter()
            .filter_map(|r| self.supports_until(r, epoch_us))
            .filter(|t| *t > now)
            .collect();
        support.sort_unstable_by(|a, b| b.cmp(a));
        match (
            confirmer_until,
            support.get(self.required.saturating_sub(1)),
        ) {
            (Some(c), Some(q)) if self.required > 0 => Some(c.min(*q)),
            _ => None,
        }
    }

    /// Chosen by a forced failover whose leader has not seen the promotion yet: wait for it
    /// (no fence: nothing speaks against us).
    pub(super) fn promotion_pending(&self, newest_other: Option<&Reading<'_>>) -> Option<Verdict> {
        self.chose_us(newest_other)
            .find(|r| !promotion_committed(r))
            .map(|r| Verdict::Refuse {
                fence: None,
                why: Why::PromotionNotCommitted {
                    by: r.addr.clone(),
                    state: r.failover_state(),
                },
            })
    }

    /// The figures behind every sentence.
    pub(super) fn counts(&self) -> Counts {
        Counts {
            confirming: self
                .readings
                .iter()
                .filter(|r| r.confirms() && r.guard() > self.now)
                .count(),
            required: self.required,
            known: self.view.known(&self.readings),
        }
    }

    /// Hold on the basis that lasts longer (the quorum when both last as long).
    pub(super) fn hold(
        &self,
        quorum: Option<Duration>,
        promoted: Option<(Duration, &SentinelAddr)>,
    ) -> Option<Verdict> {
        match (quorum, promoted) {
            (Some(q), p) if p.is_none_or(|(p, _)| q >= p) => Some(Verdict::Hold {
                until: q,
                why: Why::Confirmed(self.counts()),
            }),
            (_, Some((until, by))) => Some(Verdict::Hold {
                until,
                why: Why::Promoted { by: by.clone() },
            }),
            _ => None,
        }
    }

    fn fresh(&self) -> impl Iterator<Item = &Reading<'a>> {
        self.readings.iter().filter(|r| r.fresh(self.now))
    }

    /// Sentinels that name us, in answers still fresh, report us down or fail us over: the
    /// gravest report decides the wording.
    pub(super) fn reported_down(&self) -> Option<Verdict> {
        let down: Vec<(Down, &Reading<'_>)> = self
            .fresh()
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
                (how, r)
            })
            .collect();
        let (how, r) = down.iter().max_by_key(|(how, _)| *how)?;
        Some(Verdict::Refuse {
            fence: Some(Fence::ReportedDown),
            why: Why::ReportedDown {
                how: *how,
                reporting: down.len(),
                by: r.addr.clone(),
                counts: self.counts(),
            },
        })
    }

    /// At least `required` fresh answers name another master.
    pub(super) fn quorum_names_other(&self) -> Option<Verdict> {
        let naming_other: Vec<&Reading<'_>> = self.fresh().filter(|r| !r.names_us).collect();
        if naming_other.len() < self.required {
            return None;
        }
        let first = naming_other.first()?;
        Some(Verdict::Refuse {
            fence: Some(Fence::QuorumNamesOther),
            why: Why::QuorumNamesOther {
                naming: naming_other.len(),
                master: first.master().endpoint.clone(),
                counts: self.counts(),
            },
        })
    }

    /// Too few confirm: a fence (the lease ran out) once any Sentinel ever named us, else
    /// simply not confirmed yet.
    pub(super) fn too_few_confirm(&self) -> Verdict {
        let ever_named_us = self.readings.iter().any(|r| r.names_us);
        Verdict::Refuse {
            fence: ever_named_us.then_some(Fence::LeaseExpired),
            why: Why::TooFewConfirm {
                counts: self.counts(),
                reachable: self.view.reachable(),
            },
        }
    }
}
