//! What the module tells subscribers of `__vip__:events`, and the transitions behind it.

use super::{Action, Core, Now};

/// What the module tells subscribers of its Pub/Sub channel, one line each:
/// `<event> <addresses> <epoch> <time_ms> <reason>` — the event word, the addresses
/// comma-separated, the config epoch under which the Sentinels name this node master (`-`
/// when unknown, or in basic mode), unix milliseconds, and the reason to the end of the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publication {
    Claim,
    Release,
    Fence,
    Conflict,
    Error,
    /// Holding on the replicas' word: the Sentinels' support lapsed (`vip.failsafe`).
    FailsafeEnter,
    /// The failsafe ended: the Sentinels confirm again, or the VIP was released.
    FailsafeLeave,
}

impl Publication {
    pub fn as_str(self) -> &'static str {
        match self {
            Publication::Claim => "claim",
            Publication::Release => "release",
            Publication::Fence => "fence",
            Publication::Conflict => "conflict",
            Publication::Error => "error",
            Publication::FailsafeEnter => "failsafe-enter",
            Publication::FailsafeLeave => "failsafe-leave",
        }
    }
}

impl Core {
    /// One line for `__vip__:events` (format: `Publication`).
    pub(super) fn publish(&self, what: Publication, reason: &str, now: Now, out: &mut Vec<Action>) {
        let epoch = self.epoch_text();
        let addresses = match self.settings.addresses_text() {
            a if a.is_empty() => "-".to_string(),
            a => a,
        };
        let reason: String = reason
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        out.push(Action::Publish(format!(
            "{} {addresses} {epoch} {} {reason}",
            what.as_str(),
            now.unix_ms
        )));
    }

    /// A claim or a release happened: it is the reason shown now, and its time.
    pub(super) fn transition(&mut self, why: &str, now: Now) {
        self.reason = why.to_string();
        self.last_transition_ms = now.unix_ms;
    }
}
