//! The replicas as witnesses (docs/safety.md, "Failsafe"): what this node knows of its own
//! replication, what each witness answered, the promise this node gave as a replica, and the
//! failsafe's part of the hold decision.

use std::time::Duration;

use super::{Action, Core, Decision, Level, Now, Publication, Role};
use crate::config::Mode;
use crate::sentinel::why::Why;
use crate::sentinel::{Fence, Support, Verdict};
use crate::witness::{
    valid_replid, Denial, Endpoint, Question, Replication, Reply, WitnessPlan, WitnessRow,
};

/// How often the witnesses are asked while the master needs them: a failover led by a
/// Sentinel it cannot hear reaches it through them, and must before the promotion.
const ASK_MS: u64 = 10;

/// One witness: its latest answer and its latest failure to answer.
#[derive(Debug, Clone)]
struct Asked {
    endpoint: Endpoint,
    /// (when the question was sent, the reply).
    reply: Option<(Duration, Reply)>,
    /// (when, why) the last question that could not be asked or answered.
    error: Option<(Duration, String)>,
}

/// Who must confirm, and why: `info` (attached now), `sentinel` (a Sentinel lists it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Witness {
    pub(super) endpoint: Endpoint,
    pub(super) source: &'static str,
}

#[derive(Debug, Default)]
pub(super) struct Witnesses {
    /// This server's `INFO replication`, as last read.
    replication: Option<Replication>,
    asked: Vec<Asked>,
    /// As a replica: no claim before this (monotonic), even if promoted.
    pub(super) promised_until: Option<Duration>,
    /// Holding on the witnesses' word: since when (unix ms).
    pub(super) failsafe_since: Option<u64>,
    /// When the failsafe was last entered (unix ms; 0: never), kept after it ends.
    pub(super) failsafe_last_entered: u64,
    /// Released while master (a lapse): claiming again needs every Sentinel, or every witness.
    pub(super) lapsed: bool,
}

impl Witnesses {
    pub(super) fn set_replication(&mut self, r: Replication) {
        let same_history = self
            .replication
            .as_ref()
            .is_some_and(|old| old.is_master == r.is_master && old.replid == r.replid);
        if !same_history {
            // Every answer was to a question about the history we had: none answers ours now.
            self.asked.clear();
        }
        self.replication = Some(r);
    }

    /// A new role: nothing asked before counts (the history asked about is another).
    pub(super) fn forget_answers(&mut self) {
        self.asked.clear();
    }

    /// Our own replication history, when known (a master's `master_replid`).
    fn replid(&self) -> Option<&str> {
        self.replication
            .as_ref()
            .filter(|r| r.is_master)
            .map(|r| r.replid.as_str())
            .filter(|id| valid_replid(id))
    }

    pub(super) fn record(&mut self, from: Endpoint, sent: Duration, result: Result<Reply, String>) {
        let i = match self.asked.iter().position(|a| a.endpoint == from) {
            Some(i) => i,
            None => {
                self.asked.push(Asked {
                    endpoint: from,
                    reply: None,
                    error: None,
                });
                self.asked.len() - 1
            }
        };
        let a = &mut self.asked[i];
        match result {
            // An older question's reply never replaces a newer one's.
            Ok(reply) if a.reply.as_ref().is_none_or(|(s, _)| *s <= sent) => {
                a.reply = Some((sent, reply));
                a.error = None;
            }
            Ok(_) => {}
            Err(why) => a.error = Some((sent, why)),
        }
    }

    fn latest(&self, e: &Endpoint) -> Option<&Asked> {
        self.asked.iter().find(|a| &a.endpoint == e)
    }

    /// Until when every witness's confirmation counts (None: one does not confirm, or there
    /// is none to ask, or our history is unknown). Each counts from when it was asked.
    pub(super) fn confirmed_until(&self, set: &[Witness], now: Duration) -> Option<Duration> {
        self.replid()?;
        if set.is_empty() {
            return None;
        }
        set.iter()
            .map(|w| match self.latest(&w.endpoint)?.reply.as_ref()? {
                (sent, Reply::Follows { granted_ms }) => {
                    Some(*sent + Duration::from_millis(*granted_ms)).filter(|t| *t > now)
                }
                _ => None,
            })
            .collect::<Option<Vec<Duration>>>()?
            .into_iter()
            .min()
    }

    /// A witness whose latest answer is evidence that another node took over (or, in
    /// failsafe, that the Sentinels it hears report us down).
    /// Only an answer to a question sent within `recent` counts: a witness no longer asked
    /// (the Sentinels confirm again) fences nothing on an old word.
    fn fence(
        &self,
        set: &[Witness],
        in_failsafe: bool,
        now: Duration,
        recent: Duration,
    ) -> Option<(Endpoint, Denial)> {
        let ours = self.replication.as_ref()?;
        set.iter()
            .find_map(|w| match &self.latest(&w.endpoint)?.reply {
                Some((sent, Reply::Denied(d)))
                    if *sent + recent > now
                        && d.fences(&ours.replid, &ours.replid2, in_failsafe) =>
                {
                    Some((w.endpoint.clone(), d.clone()))
                }
                _ => None,
            })
    }

    fn confirming(&self, set: &[Witness], now: Duration) -> usize {
        set.iter()
            .filter(|w| {
                matches!(
                    self.latest(&w.endpoint).and_then(|a| a.reply.as_ref()),
                    Some((sent, Reply::Follows { granted_ms }))
                        if *sent + Duration::from_millis(*granted_ms) > now
                )
            })
            .count()
    }

    /// Answers of replicas that are no witness any more are forgotten.
    fn forget_others(&mut self, set: &[Witness]) {
        self.asked
            .retain(|a| set.iter().any(|w| w.endpoint == a.endpoint));
    }

    fn row(&self, w: &Witness, now: Duration) -> WitnessRow {
        let a = self.latest(&w.endpoint);
        let reply = a.and_then(|a| a.reply.as_ref());
        WitnessRow {
            address: w.endpoint.to_string(),
            source: w.source.to_string(),
            reply: reply.map(|(_, r)| r.to_string()).unwrap_or_default(),
            age_ms: reply.map_or(-1, |(sent, _)| {
                i64::try_from(now.saturating_sub(*sent).as_millis()).unwrap_or(i64::MAX)
            }),
            valid_ms: match reply {
                Some((sent, Reply::Follows { granted_ms })) => (*sent
                    + Duration::from_millis(*granted_ms))
                .saturating_sub(now)
                .as_millis() as u64,
                _ => 0,
            },
            last_error: a
                .and_then(|a| a.error.as_ref())
                .filter(|(at, _)| reply.is_none_or(|(sent, _)| at >= sent))
                .map(|(_, e)| e.clone())
                .unwrap_or_default(),
        }
    }
}

impl Core {
    /// The replicas that could be promoted: the ones attached now (our `INFO replication`)
    /// and every one a Sentinel lists for this master.
    pub(super) fn witness_set(&self) -> Vec<Witness> {
        let mut set: Vec<Witness> = Vec::new();
        if let Some(r) = self.witnesses.replication.as_ref().filter(|r| r.is_master) {
            for e in &r.replicas {
                if !set.iter().any(|w| &w.endpoint == e) {
                    set.push(Witness {
                        endpoint: e.clone(),
                        source: "info",
                    });
                }
            }
        }
        for e in self.sentinels.view.listed_replicas() {
            match set.iter_mut().find(|w| w.endpoint == e) {
                Some(w) => w.source = "info,sentinel",
                None => set.push(Witness {
                    endpoint: e,
                    source: "sentinel",
                }),
            }
        }
        set
    }

    /// How the Sentinels' support stands; a supporter counts as still answering if it
    /// answered within a poll interval and 50 ms.
    pub(super) fn support(&self, now: Duration) -> Support {
        let recent = Duration::from_millis(self.settings.poll_interval_ms.max(1) + 50);
        self.sentinels.view.support(now, self.rules(), recent)
    }

    /// The failsafe's and the witnesses' part of a master's decision, on top of the
    /// Sentinels' (`sentinel`): a witness's evidence of a takeover fences; a hold after a
    /// lapse needs every Sentinel or every witness; a refusal only for want of confirmations
    /// becomes a hold while every witness confirms (failsafe).
    pub(super) fn with_witnesses(&self, sentinel: Decision, now: Now) -> Decision {
        let set = self.witness_set();
        if let Some(undone) = self.undone_promotion(&set, now) {
            return undone;
        }
        let in_failsafe = self.witnesses.failsafe_since.is_some();
        let recent = Duration::from_millis(self.settings.witness_lease_ms);
        if let Some((from, denial)) = self.witnesses.fence(&set, in_failsafe, now.mono, recent) {
            return Decision::Refuse {
                why: format!("fenced: replica {from} answers {}", Reply::Denied(denial)),
                fence: Some(Fence::WitnessDenies),
                explains_standby: true,
            };
        }
        let confirmed = self.witnesses.confirmed_until(&set, now.mono);
        let n = set.len();
        match sentinel {
            Decision::Hold { until, why, .. }
                if self.witnesses.lapsed && !self.holding && !self.support(now.mono).all() =>
            {
                match confirmed {
                    Some(w) => Decision::Hold {
                        until: until.map(|u| u.min(w)),
                        why: format!("{why}; back after a lapse: every replica ({n}) confirms it follows this master"),
                        failsafe: false,
                    },
                    None => Decision::Refuse {
                        why: format!("waiting: back after a lapse, {why}, but not every Sentinel supports this node yet, and not every replica ({n}) has confirmed that it follows it (VIP.WITNESSES)"),
                        fence: None,
                        explains_standby: true,
                    },
                }
            }
            Decision::Refuse {
                why,
                fence: None | Some(Fence::LeaseExpired),
                ..
            } if self.settings.failsafe && self.holding && confirmed.is_some() => {
                let why = why.trim_start_matches("fenced: ").trim_start_matches("waiting: ");
                Decision::Hold {
                    until: confirmed,
                    why: format!(
                        "failsafe: {why}; every replica ({n}) confirms it follows this master"
                    ),
                    failsafe: true,
                }
            }
            other => other,
        }
    }

    /// A silent Sentinel's failover fence, lifted by the word of the node it promoted: that
    /// node is a replica following this master's history again (Sentinel converted it back:
    /// its leader died right after the promotion, `crash-after-promotion`), and every other
    /// witness confirms too. Then hold as the other Sentinels say, while every witness
    /// confirms. The fence would otherwise stand until sentinel.c's own bounds (docs/safety.md,
    /// "A leader that died after the promotion").
    fn undone_promotion(&self, set: &[Witness], now: Now) -> Option<Decision> {
        let view = &self.sentinels.view;
        let Verdict::Refuse {
            fence: Some(Fence::FailoverPromotesOther),
            why: Why::FailoverPromotesOther { by, to, .. },
        } = view.verdict(now.mono, self.rules())
        else {
            return None;
        };
        if !view.silent(&by) || !set.iter().any(|w| w.endpoint == to) {
            return None;
        }
        let confirmed = self.witnesses.confirmed_until(set, now.mono)?;
        match view.verdict_without(now.mono, self.rules(), &by) {
            Verdict::Hold { until, why } => Some(Decision::Hold {
                until: Some(until.min(confirmed)),
                why: format!(
                    "{why}; the failover of silent Sentinel {by} was undone: {to} and every replica ({}) follow this master",
                    set.len()
                ),
                failsafe: false,
            }),
            Verdict::Refuse { .. } => None,
        }
    }

    /// Whom to ask: while holding with a Sentinel silent (or no spare supporter), in failsafe,
    /// or wanting to claim again after a lapse. `vip.failsafe no` asks too: its witnesses can
    /// only fence.
    pub(super) fn witness_plan(&self) -> Option<WitnessPlan> {
        let s = &self.settings;
        if s.mode() != Mode::Sentinel
            || !s.enabled
            || self.finished
            || self.shutting_down
            || self.role != Some(Role::Master)
        {
            return None;
        }
        let replid = self.witnesses.replid()?.to_string();
        // Asked for their evidence of a failover whatever `vip.failsafe` says: without it the
        // witnesses only ever end a hold sooner, never keep one.
        let asking = (self.holding && self.support(self.now).no_spare())
            || self.witnesses.failsafe_since.is_some()
            || (self.witnesses.lapsed && !self.holding);
        let targets: Vec<Endpoint> = self.witness_set().into_iter().map(|w| w.endpoint).collect();
        if !asking || targets.is_empty() {
            return None;
        }
        Some(WitnessPlan {
            targets,
            question: Question {
                replid,
                lease_ms: s.witness_lease_ms,
            },
            // A witness's "failing over", "promoted" or "reported down" must reach us at once.
            interval_ms: s.poll_interval_ms.clamp(1, ASK_MS),
            auth_user: s.server_replication.user.clone(),
            auth_pass: s.server_replication.pass.clone(),
            tls: s.server_replication.tls_plan(&s.server_tls),
        })
    }

    /// A witness answered (or could not be asked).
    pub(super) fn witness_answer(
        &mut self,
        from: Endpoint,
        sent: Duration,
        result: Result<Reply, String>,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        self.witnesses.record(from, sent, result);
        let set = self.witness_set();
        self.witnesses.forget_others(&set);
        if self.settings.mode() == Mode::Sentinel {
            self.decide(now, out);
        }
    }

    /// This node, a replica, promised its master not to claim before `until`.
    pub(super) fn witnessed(&mut self, until: Duration) {
        self.witnesses.promised_until = Some(
            self.witnesses
                .promised_until
                .map_or(until, |u| u.max(until)),
        );
    }

    /// A promise given as a replica that still stands at `now`.
    pub(super) fn promise_in_force(&self, now: Duration) -> Option<Duration> {
        self.witnesses.promised_until.filter(|u| *u > now)
    }

    /// Enter or leave failsafe after a decision: tell the log and the channel.
    pub(super) fn note_failsafe(
        &mut self,
        failsafe: bool,
        why: &str,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        match (self.witnesses.failsafe_since, failsafe) {
            (None, true) => {
                self.witnesses.failsafe_since = Some(now.unix_ms);
                self.witnesses.failsafe_last_entered = now.unix_ms;
                self.publish(Publication::FailsafeEnter, why, now, out);
                out.push(Action::Log {
                    level: Level::Warning,
                    message: format!("entering failsafe: {why}"),
                });
            }
            (Some(_), false) => {
                self.witnesses.failsafe_since = None;
                let text = if self.holding {
                    format!("leaving failsafe: {}", self.reason)
                } else {
                    "leaving failsafe: released".to_string()
                };
                self.publish(Publication::FailsafeLeave, &text, now, out);
                out.push(Action::Log {
                    level: Level::Notice,
                    message: text,
                });
            }
            _ => {}
        }
    }

    /// The figures for VIP.STATUS and VIP.WITNESSES.
    pub(super) fn witness_rows(&self, now: Duration) -> (u64, u64, Vec<WitnessRow>) {
        if self.settings.mode() != Mode::Sentinel || self.role != Some(Role::Master) {
            return (0, 0, Vec::new());
        }
        let set = self.witness_set();
        let rows = set.iter().map(|w| self.witnesses.row(w, now)).collect();
        (
            set.len() as u64,
            self.witnesses.confirming(&set, now) as u64,
            rows,
        )
    }
}
