//! Why the rule decided what it did, as data, and the one place it becomes words for the
//! operator (`reason`, the log, `VIP.EVENTS`). Every sentence names who said what, the numbers
//! that decided (Sentinels supporting / needed / known), and the fix where there is one.
//! docs/operations.md#troubleshooting lists each sentence; a test keeps the two in step.

use std::fmt;

use super::answer::Endpoint;
use crate::config::SentinelAddr;

/// How a Sentinel reports this master, when it does not confirm it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Down {
    /// `s_down`: its PINGs go unanswered for down-after.
    Subjectively,
    /// `o_down`: enough Sentinels agree.
    Objectively,
    /// `failover_in_progress` on this master.
    FailingOver,
}

/// The counts behind a decision: they are the `VIP.STATUS` fields of the same names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// `sentinels_confirming`.
    pub confirming: usize,
    /// `quorum`: confirmations needed.
    pub required: usize,
    /// `sentinels_known`.
    pub known: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Enough Sentinels confirm this node as master.
    Confirmed(Counts),
    /// A Sentinel's running failover chose this node.
    Promoted { by: SentinelAddr },
    /// A failover the operator forced chose this node, and its leader has not seen the
    /// promotion yet (no claim before it commits).
    PromotionNotCommitted { by: SentinelAddr, state: String },
    /// A Sentinel's failover promotes another node.
    FailoverPromotesOther {
        by: SentinelAddr,
        to: Endpoint,
        state: String,
    },
    /// A Sentinel names another master under a newer config epoch.
    NewerConfigNamesOther {
        by: SentinelAddr,
        master: Endpoint,
        epoch: u64,
        ours: u64,
    },
    /// Sentinels that name this node report it down or fail it over.
    ReportedDown {
        how: Down,
        /// How many report it so.
        reporting: usize,
        /// One of them, for the operator to look at.
        by: SentinelAddr,
        counts: Counts,
    },
    /// Enough Sentinels name another node master.
    QuorumNamesOther {
        naming: usize,
        master: Endpoint,
        counts: Counts,
    },
    /// Too few confirmations within the lease.
    TooFewConfirm { counts: Counts, reachable: usize },
}

impl Why {
    /// The sentence, as `reason` shows it (after `fenced: ` or `waiting: ` where the core
    /// adds one).
    pub fn sentence(&self) -> String {
        match self {
            Why::Confirmed(c) => format!(
                "confirmed as master by {} of {} Sentinels ({} needed)",
                c.confirming, c.known, c.required
            ),
            Why::Promoted { by } => format!("promoted by the failover of Sentinel {by}"),
            Why::PromotionNotCommitted { by, state } => format!(
                "promoted by the forced failover of Sentinel {by} (state {state}): claiming once it reports the promotion seen (reconf_slaves)"
            ),
            Why::FailoverPromotesOther { by, to, state } => {
                format!("Sentinel {by} is failing over to {to} (state {state})")
            }
            Why::NewerConfigNamesOther {
                by,
                master,
                epoch,
                ours,
            } => format!(
                "Sentinel {by} names {master} master under config epoch {epoch}, newer than {ours}"
            ),
            Why::ReportedDown {
                how,
                reporting: k,
                by,
                counts,
            } => {
                let n = counts.known;
                match how {
                    Down::Subjectively => format!(
                        "{k} of {n} Sentinels report this master subjectively down (s_down), {by} among them: they cannot reach it: check that this node answers them (protected-mode, bind, requirepass with the Sentinels' auth-pass, a firewall) and is not blocked (SLOWLOG, a long command)"
                    ),
                    Down::Objectively => format!(
                        "{k} of {n} Sentinels report this master objectively down (o_down), {by} among them: they agree they cannot reach it and may fail it over: check that this node answers them (protected-mode, bind, requirepass with the Sentinels' auth-pass, a firewall)"
                    ),
                    Down::FailingOver => format!(
                        "{k} of {n} Sentinels report this master being failed over (failover_in_progress), {by} among them: a failover of this master is under way"
                    ),
                }
            }
            Why::QuorumNamesOther {
                naming,
                master,
                counts,
            } => format!(
                "{naming} of {} Sentinels name {master} master, not this node ({} would be needed to confirm it)",
                counts.known, counts.required
            ),
            Why::TooFewConfirm { counts, reachable } => format!(
                "{} of {} Sentinels confirm this node as master within the lease, {} needed ({reachable} reachable)",
                counts.confirming, counts.known, counts.required
            ),
        }
    }
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sentence())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentinel::view::tests::{node, sentinel as s};

    const C: Counts = Counts {
        confirming: 1,
        required: 2,
        known: 3,
    };

    #[test]
    fn each_hold_and_fence_has_its_sentence() {
        // (decision, the sentence the operator reads)
        let cases = [
            (
                Why::Confirmed(Counts {
                    confirming: 3,
                    required: 2,
                    known: 3,
                }),
                "confirmed as master by 3 of 3 Sentinels (2 needed)",
            ),
            (
                Why::Promoted { by: s(1) },
                "promoted by the failover of Sentinel 192.0.2.21:26379",
            ),
            (
                Why::PromotionNotCommitted {
                    by: s(1),
                    state: "wait_promotion".into(),
                },
                "promoted by the forced failover of Sentinel 192.0.2.21:26379 (state wait_promotion): claiming once it reports the promotion seen (reconf_slaves)",
            ),
            (
                Why::FailoverPromotesOther {
                    by: s(1),
                    to: node(2),
                    state: "wait_promotion".into(),
                },
                "Sentinel 192.0.2.21:26379 is failing over to 192.0.2.12:6379 (state wait_promotion)",
            ),
            (
                Why::NewerConfigNamesOther {
                    by: s(2),
                    master: node(2),
                    epoch: 3,
                    ours: 2,
                },
                "Sentinel 192.0.2.22:26379 names 192.0.2.12:6379 master under config epoch 3, newer than 2",
            ),
        ];
        for (why, text) in cases {
            assert_eq!(why.to_string(), text);
        }
    }

    #[test]
    fn each_refusal_by_count_has_its_sentence() {
        // (decision, the sentence the operator reads)
        let cases = [
            (
                Why::ReportedDown {
                    how: Down::Subjectively,
                    reporting: 3,
                    by: s(1),
                    counts: C,
                },
                "3 of 3 Sentinels report this master subjectively down (s_down), 192.0.2.21:26379 among them: they cannot reach it: check that this node answers them (protected-mode, bind, requirepass with the Sentinels' auth-pass, a firewall) and is not blocked (SLOWLOG, a long command)",
            ),
            (
                Why::ReportedDown {
                    how: Down::FailingOver,
                    reporting: 1,
                    by: s(3),
                    counts: C,
                },
                "1 of 3 Sentinels report this master being failed over (failover_in_progress), 192.0.2.23:26379 among them: a failover of this master is under way",
            ),
            (
                Why::QuorumNamesOther {
                    naming: 2,
                    master: node(2),
                    counts: C,
                },
                "2 of 3 Sentinels name 192.0.2.12:6379 master, not this node (2 would be needed to confirm it)",
            ),
            (
                Why::TooFewConfirm {
                    counts: C,
                    reachable: 1,
                },
                "1 of 3 Sentinels confirm this node as master within the lease, 2 needed (1 reachable)",
            ),
        ];
        for (why, text) in cases {
            assert_eq!(why.to_string(), text);
        }
    }
}
