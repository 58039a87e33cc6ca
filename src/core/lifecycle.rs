//! A new configuration (`CONFIG SET vip.*`), and the shutdown.

use super::{Action, Core, FaultKind, Level, Now, Role};
use crate::config::{Settings, Vip};
use crate::sentinel::same_sentinels;

impl Core {
    pub(super) fn apply_settings(&mut self, new: Settings, now: Now, out: &mut Vec<Action>) {
        let old = std::mem::replace(&mut self.settings, new);
        let moved = old.interface != self.settings.interface;
        if old.addresses != self.settings.addresses {
            let vips = self.vip_addrs();
            self.clients.check(&vips, out);
        }
        self.follow_sentinels(&old);
        self.release_what_no_longer_applies(&old, moved, out);
        let claim_set_changed = moved || old.addresses != self.settings.addresses;
        if claim_set_changed || old.enabled != self.settings.enabled {
            self.reason = settings_reason(&old, &self.settings).into();
        }
        if claim_set_changed && self.holding {
            // Claim the new set afresh (new transition, new announcements).
            self.holding = false;
            self.counters.releases += 1;
            if self.role == Some(Role::Master) {
                self.latency.start(now.mono);
            }
        }
        if moved {
            self.kernel.forget();
        }
        self.drop_moot_faults();
        self.faults.restart_backoff();
        self.kernel.next_observe = now.mono;
        self.sentinel_fault(now, out);
        if !self.settings.configured() || !self.settings.enabled {
            self.decide(now, out);
            return;
        }
        self.observe_now(now, out);
        if self.kernel.observed {
            self.decide(now, out);
        }
    }

    /// Another set of Sentinels, or another master name: nothing they said counts.
    fn follow_sentinels(&mut self, old: &Settings) {
        let new = &self.settings;
        self.sentinels.view.set_configured(&new.sentinels);
        if old.master_name != new.master_name || !same_sentinels(&old.sentinels, &new.sentinels) {
            self.sentinels.view.forget_answers();
        }
    }

    /// Release what no longer applies: every old VIP when the interface changed, else the
    /// VIPs dropped from the list.
    fn release_what_no_longer_applies(
        &mut self,
        old: &Settings,
        moved: bool,
        out: &mut Vec<Action>,
    ) {
        let Some(index) = self.kernel.link.as_ref().map(|l| l.index) else {
            return;
        };
        let dropped: Vec<Vip> = self
            .kernel
            .present
            .iter()
            .filter(|v| moved || !self.settings.addresses.contains(v))
            .copied()
            .collect();
        for vip in &dropped {
            out.push(Action::Log {
                level: Level::Notice,
                message: format!(
                    "releasing {} on {} (configuration changed)",
                    vip, old.interface
                ),
            });
            out.push(Action::Delete {
                vip: *vip,
                ifindex: index,
            });
        }
        self.kernel.present.retain(|v| !dropped.contains(v));
    }

    /// A new configuration does not clear a fault by itself: each kind is looked at again
    /// right after (the observation, the Sentinels) and clears on its own kind of success,
    /// so one that is still there is the same error, not a new one. Only what the new
    /// settings make moot ends here.
    fn drop_moot_faults(&mut self) {
        if !self.settings.configured() || !self.settings.enabled {
            for kind in self.faults.kinds() {
                self.drop_fault(kind);
            }
        } else if !self.settings.announce {
            self.drop_fault(FaultKind::Announce);
            self.drop_fault(FaultKind::Listen);
        }
    }

    pub(super) fn shutdown(&mut self, now: Now, out: &mut Vec<Action>) {
        self.shutting_down = true;
        if !self.settings.release_on_shutdown {
            out.push(Action::Log {
                level: Level::Notice,
                message:
                    "shutting down; vip.release-on-shutdown is off: leaving the addresses to expire"
                        .into(),
            });
            self.holding = false;
            self.finished = true;
            return;
        }
        // Delete every configured VIP, present or not by the last look: it is cheap and
        // deleting an absent address is not an error.
        if self.kernel.link.is_some() {
            for vip in self.settings.addresses.clone() {
                self.kernel.note_present(vip);
            }
        }
        self.release("shutdown", None, now, out);
        self.finished = true;
    }
}

/// The reason a new configuration gives (the enabled switch first).
fn settings_reason(old: &Settings, new: &Settings) -> &'static str {
    match (old.enabled != new.enabled, new.enabled) {
        (true, true) => "enabled by vip.enabled",
        (true, false) => "disabled by vip.enabled",
        (false, _) => "configuration changed",
    }
}
