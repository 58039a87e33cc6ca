//! The announcement schedule: bursts after a claim, a link coming back or a conflict, and
//! the periodic refresh; what is due goes out as `Announce` actions.

use std::time::Duration;

use super::{Action, Core, LinkState, Now};
use crate::config::{Settings, Vip};

/// Pending announcements and the deadlines that add more.
#[derive(Debug, Default)]
pub(super) struct Schedule {
    /// Pending announcements: (when, which VIP).
    pending: Vec<(Duration, Vip)>,
    /// When every VIP is announced again (`vip.announce-refresh-ms`; None: never).
    next_refresh: Option<Duration>,
    /// When the last burst in answer to a conflict started (the rate limit).
    pub(super) last_reannounce: Option<Duration>,
}

impl Schedule {
    /// `vip.announce-count` announcements of `vip` from `start`, and as many again after
    /// `vip.announce-repeat-delay-ms`; nothing in routed mode.
    pub(super) fn burst(&mut self, vip: Vip, start: Duration, s: &Settings) {
        if !s.announce {
            return;
        }
        let step = Duration::from_millis(s.announce_interval_ms);
        for i in 0..s.announce_count {
            self.pending.push((start + step * i, vip));
        }
        if s.announce_repeat_delay_ms > 0 {
            let again = start + Duration::from_millis(s.announce_repeat_delay_ms);
            for i in 0..s.announce_count {
                self.pending.push((again + step * i, vip));
            }
        }
    }

    /// A burst of every configured VIP.
    pub(super) fn burst_all(&mut self, start: Duration, s: &Settings) {
        for vip in &s.addresses {
            self.burst(*vip, start, s);
        }
    }

    /// A fresh claim: bursts of every VIP, then the periodic refresh.
    pub(super) fn start(&mut self, start: Duration, s: &Settings) {
        self.pending.clear();
        self.burst_all(start, s);
        self.next_refresh = refresh_period(s).map(|p| start + p);
    }

    /// A release: nothing more goes out.
    pub(super) fn stop(&mut self) {
        self.pending.clear();
        self.next_refresh = None;
    }

    /// Not holding: whatever was pending is moot.
    pub(super) fn drop_pending(&mut self) {
        self.pending.clear();
    }

    /// Drop what is due for `vip` (its address could not be added).
    pub(super) fn forget(&mut self, vip: Vip) {
        self.pending.retain(|(_, v)| *v != vip);
    }

    /// Drop what is due by `now` without sending it (the link is down).
    pub(super) fn drop_due(&mut self, now: Duration) {
        self.pending.retain(|(t, _)| *t > now);
    }

    pub(super) fn next_deadline(&self) -> Option<Duration> {
        let first = self.pending.iter().map(|(t, _)| *t).min();
        first.into_iter().chain(self.next_refresh).min()
    }

    /// Take what is due by `now` (the periodic refresh included), in time order.
    pub(super) fn take_due(&mut self, now: Duration, s: &Settings) -> Vec<Vip> {
        if self.next_refresh.is_some_and(|t| now >= t) {
            for vip in &s.addresses {
                self.pending.push((now, *vip));
            }
            self.next_refresh = refresh_period(s).map(|p| now + p);
        }
        let mut due: Vec<(Duration, Vip)> = Vec::new();
        self.pending.retain(|(t, vip)| {
            if *t <= now {
                due.push((*t, *vip));
                false
            } else {
                true
            }
        });
        due.sort();
        due.into_iter().map(|(_, vip)| vip).collect()
    }
}

fn refresh_period(s: &Settings) -> Option<Duration> {
    match s.announce_refresh_ms {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    }
}

impl Core {
    /// Send what the schedule says is due, for the VIPs on the interface.
    pub(super) fn due_announcements(&mut self, now: Now, out: &mut Vec<Action>) {
        if !self.holding {
            self.schedule.drop_pending();
            return;
        }
        let (index, mac) = match &self.kernel.link {
            Some(LinkState {
                index,
                mac: Some(mac),
                up: true,
            }) => (*index, *mac),
            Some(LinkState { up: false, .. }) => {
                // Nothing leaves a link that is down (the kernel answers ENETDOWN, which is
                // no fault of ours): drop what is due. The link coming up starts a burst.
                self.schedule.drop_due(now.mono);
                return;
            }
            _ => return,
        };
        for vip in self.schedule.take_due(now.mono, &self.settings) {
            if self.kernel.present.contains(&vip) {
                out.push(Action::Announce {
                    vip,
                    ifindex: index,
                    mac,
                });
            }
        }
    }
}
