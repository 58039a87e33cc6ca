//! How many Sentinels there are and how many must confirm: Sentinel's cruft (ghosts, one
//! Sentinel under two addresses, unusable entries) read as Sentinel itself reads it.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{Peer, Reading, Rules, SentinelView};

/// A peer that every Sentinel answering us has found unreachable (`s_down`) and silent (no
/// hello) for this long, and that does not answer us either, is a ghost: a Sentinel that was
/// replaced or removed without `SENTINEL RESET`. At least this, and at least
/// `GHOST_DOWN_AFTERS` down-after periods.
pub(super) const GHOST_AFTER: Duration = Duration::from_secs(60);
pub(super) const GHOST_DOWN_AFTERS: u32 = 3;

impl SentinelView {
    /// Ghosts: peers that every Sentinel answering us and listing them reports unreachable
    /// (`s_down`) and silent (no hello) for `GHOST_AFTER`, and that do not answer us now (a
    /// replaced Sentinel we once asked fails every poll). Sentinel keeps such entries until
    /// `SENTINEL RESET`; they can take part in nothing.
    pub(super) fn ghosts(&self) -> BTreeSet<String> {
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
    pub(super) fn known(&self, readings: &[Reading<'_>]) -> usize {
        let ghosts = self.ghosts();
        let answering: BTreeSet<&str> = readings
            .iter()
            .map(|r| r.heard.answer.sentinel_runid.as_str())
            .collect();
        let counted = answering.iter().filter(|id| !ghosts.contains(**id)).count();
        // Who the answering Sentinels say is at an address (a configured Sentinel this process
        // has never heard may be a ghost, or one that answers under another address).
        let listed_at = |t: &super::Target| -> Option<String> {
            self.targets
                .iter()
                .filter(|o| !o.failing())
                .flat_map(|o| o.peers.iter().flatten())
                .find(|p| p.endpoint.ip == t.addr.host && p.endpoint.port == t.addr.port)
                .map(peer_id)
        };
        let never_heard = self
            .targets
            .iter()
            .filter(|t| t.heard.is_none())
            .filter(|t| {
                let id = t
                    .learned_as
                    .clone()
                    .filter(|id| !id.is_empty())
                    .or_else(|| listed_at(t));
                id.is_none_or(|id| !(answering.contains(id.as_str()) || ghosts.contains(&id)))
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
    pub(super) fn required(&self, rules: Rules, readings: &[Reading<'_>]) -> usize {
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

    /// Distinct Sentinels (by run id) whose last poll was answered: one Sentinel reached under
    /// two addresses counts once, as in `known`.
    pub(super) fn reachable(&self) -> usize {
        self.targets
            .iter()
            .filter(|t| !t.failing())
            .filter_map(|t| t.heard.as_ref())
            .map(|h| h.answer.sentinel_runid.as_str())
            .collect::<BTreeSet<_>>()
            .len()
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
}

/// A peer as the ghost check names it: its run id, or its address when it has none.
pub(super) fn peer_id(p: &Peer) -> String {
    if p.runid.is_empty() {
        p.endpoint.to_string()
    } else {
        p.runid.clone()
    }
}
