//! The hold decision: should this node hold the VIPs now, and acting on the answer (claim,
//! keep the addresses and their lifetimes, release).

use std::time::Duration;

use super::{Action, Core, FaultKind, Level, Now, Publication, Role};
use crate::config::{Mode, Vip};
use crate::sentinel::Fence;

/// Whether this node should hold the VIPs now, and why (for the log and VIP.STATUS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Decision {
    /// Hold; in Sentinel mode until the lease runs out. `failsafe`: on the replicas' word
    /// alone (the Sentinels' support has lapsed).
    Hold {
        until: Option<Duration>,
        why: String,
        failsafe: bool,
    },
    /// Do not hold. A refusal may carry a fence: the Sentinels' reason to take the VIPs
    /// away. `explains_standby`: the sentence is what a master that does not hold shows.
    Refuse {
        why: String,
        fence: Option<Fence>,
        explains_standby: bool,
    },
}

fn refuse(why: &str) -> Decision {
    Decision::Refuse {
        why: why.to_string(),
        fence: None,
        explains_standby: false,
    }
}

/// From the role event that led to a claim to its first announcement (or, in routed mode,
/// to the address on the interface).
#[derive(Debug, Default)]
pub(super) struct ClaimLatency {
    /// When the role event that led to the current claim was seen.
    trigger: Option<Duration>,
    pub(super) last_us: u64,
}

impl ClaimLatency {
    pub(super) fn start(&mut self, at: Duration) {
        self.trigger = Some(at);
    }

    pub(super) fn cancel(&mut self) {
        self.trigger = None;
    }

    /// The claim took effect at `at`: the figure, once per claim.
    pub(super) fn stop(&mut self, at: Duration) {
        if let Some(start) = self.trigger.take() {
            self.last_us = at.saturating_sub(start).as_micros().min(u64::MAX as u128) as u64;
        }
    }
}

impl Core {
    /// Should this node hold the VIPs now? Reads the state, changes nothing.
    pub(super) fn should_hold(&self, now: Now) -> Decision {
        let s = &self.settings;
        if !s.enabled {
            return refuse("disabled by vip.enabled");
        }
        if !s.configured() {
            return refuse("not configured");
        }
        if self.shutting_down {
            return refuse("shutdown");
        }
        match self.role {
            Some(Role::Master) => {}
            Some(Role::Replica) => return refuse(&self.reason),
            None => return refuse("role unknown"),
        }
        if let Some(until) = self.promise_in_force(now.mono) {
            // As a replica we told our master we follow it: it may hold on that word until
            // the promise runs out (docs/safety.md, "Failsafe").
            return Decision::Refuse {
                why: format!(
                    "waiting: this node confirmed to its master, as a replica, that it follows it; no claim for {} ms more (vip.witness-lease-ms)",
                    until.saturating_sub(now.mono).as_millis()
                ),
                fence: None,
                explains_standby: true,
            };
        }
        if !s.announce && s.address_lifetime_s == 0 {
            return refuse("a permanent address is refused in routed mode");
        }
        if s.mode() == Mode::Basic {
            return Decision::Hold {
                until: None,
                why: self.reason.clone(),
                failsafe: false,
            };
        }
        if s.master_name.is_none() {
            return refuse("vip.master-name is not set");
        }
        self.with_witnesses(self.sentinel_decision(now), now)
    }

    /// Compare what should be with what was observed, and act on the difference.
    pub(super) fn decide(&mut self, now: Now, out: &mut Vec<Action>) {
        if !self.kernel.observed && self.settings.configured() && !self.shutting_down {
            // First look at the interface (ifindex, what is there, our addresses); the
            // answer comes right back and decides.
            if !self.kernel.first_look_pending {
                self.kernel.first_look_pending = true;
                self.observe_now(now, out);
            }
            return;
        }
        match self.should_hold(now) {
            Decision::Hold {
                until,
                why,
                failsafe,
            } => {
                self.sentinels.hold_until = until;
                self.hold(&why, now, out);
                if self.holding {
                    self.witnesses.lapsed = false;
                    if failsafe || self.witnesses.failsafe_since.is_some() {
                        // Entering, in, or leaving failsafe: the basis changed, say which.
                        self.reason = why.clone();
                    }
                }
                self.note_failsafe(failsafe && self.holding, &why, now, out);
            }
            Decision::Refuse {
                why,
                fence,
                explains_standby,
            } => {
                self.sentinels.hold_until = None;
                if explains_standby && !self.holding {
                    // Show why a master is not claiming (stale start, awaiting confirmation).
                    self.reason = why.clone();
                }
                if !self.leftover_can_wait(fence) {
                    if self.holding
                        && self.role == Some(Role::Master)
                        && self.settings.mode() == Mode::Sentinel
                    {
                        // A master that lets go comes back only with every Sentinel's
                        // support or every witness's word (docs/safety.md, "After a lapse").
                        self.witnesses.lapsed = true;
                    }
                    self.release(&why, fence, now, out);
                }
                self.note_failsafe(false, &why, now, out);
            }
        }
    }

    /// Claim if not holding yet, then keep every address on with a fresh lifetime.
    fn hold(&mut self, why: &str, now: Now, out: &mut Vec<Action>) {
        // No interface, or one without a MAC where we must announce: apply_observation has
        // already raised the link fault.
        let announce = self.settings.announce;
        let Some(index) = self
            .kernel
            .link
            .as_ref()
            .filter(|l| l.mac.is_some() || !announce)
            .map(|l| l.index)
        else {
            return;
        };
        let fresh_claim = !self.holding;
        if fresh_claim {
            self.claim(why, now, out);
        }
        self.keep_addresses(index, fresh_claim, now, out);
        if !self.faults.any() {
            self.kernel.next_observe = self.kernel.next_observe.min(now.mono + self.interval());
        }
        self.due_announcements(now, out);
    }

    /// Start holding: count, tell, and schedule the announcements and lifetime refreshes.
    fn claim(&mut self, why: &str, now: Now, out: &mut Vec<Action>) {
        self.holding = true;
        self.counters.claims += 1;
        self.transition(why, now);
        self.publish(Publication::Claim, why, now, out);
        out.push(self.log_addresses("claiming", why));
        if let Some(problem) = &self.clients.problem {
            out.push(Action::Log {
                level: Level::Warning,
                message: problem.clone(),
            });
        }
        self.schedule.start(now.mono, &self.settings);
        self.kernel.next_refresh = self.refresh_period_ms().map(|_| now.mono);
    }

    /// Add what is missing (drift: announced again) and refresh the lifetimes when due.
    fn keep_addresses(&mut self, index: u32, fresh_claim: bool, now: Now, out: &mut Vec<Action>) {
        let refresh_due = self.kernel.next_refresh.is_some_and(|t| now.mono >= t);
        for vip in self.settings.addresses.clone() {
            let present = self.kernel.present.contains(&vip);
            if !present && !fresh_claim && !self.faults.has(FaultKind::Address) {
                // Drift: it was ours and vanished (deleted by hand, link flap).
                out.push(Action::Log {
                    level: Level::Warning,
                    message: format!(
                        "{} was missing from {}: adding it back",
                        vip, self.settings.interface
                    ),
                });
                self.schedule.burst(vip, now.mono, &self.settings);
            }
            if !present || refresh_due {
                out.push(self.add(vip, index));
                self.kernel.note_present(vip);
            }
        }
        if refresh_due {
            self.kernel.next_refresh = self
                .refresh_period_ms()
                .map(|ms| now.mono + Duration::from_millis(ms));
        }
    }

    /// "claiming|releasing <addresses> on <interface> (<why>)".
    fn log_addresses(&self, verb: &str, why: &str) -> Action {
        Action::Log {
            level: Level::Notice,
            message: format!(
                "{verb} {} on {} ({why})",
                self.settings.addresses_text(),
                self.settings.interface,
            ),
        }
    }

    /// Add `vip`, or refresh its lifetime.
    fn add(&self, vip: Vip, ifindex: u32) -> Action {
        Action::Add {
            vip,
            ifindex,
            lifetime_s: self.settings.address_lifetime_s,
            label: if vip.is_ipv4() {
                self.settings.label.clone()
            } else {
                None
            },
        }
    }

    /// Stop holding and delete what is on the interface.
    pub(super) fn release(
        &mut self,
        why: &str,
        fence: Option<Fence>,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let was_holding = self.holding;
        self.holding = false;
        self.kernel.first_look_pending = false;
        self.schedule.stop();
        self.kernel.next_refresh = None;
        self.latency.cancel();
        // Nothing left to announce or to watch: those faults end with the hold (a missing
        // CAP_NET_RAW stays visible as the capability fault of every look).
        self.drop_fault(FaultKind::Announce);
        self.drop_fault(FaultKind::Listen);
        if was_holding {
            self.tell_release(why, fence, now, out);
        }
        self.delete_present(why, was_holding, out);
    }

    /// Count, publish and log a release (a fence when the Sentinels gave one).
    fn tell_release(&mut self, why: &str, fence: Option<Fence>, now: Now, out: &mut Vec<Action>) {
        self.counters.releases += 1;
        if let Some(f) = fence {
            self.counters.fences += 1;
            self.sentinels.last_fence = Some((f, why.to_string()));
        }
        self.transition(why, now);
        let what = if fence.is_some() {
            Publication::Fence
        } else {
            Publication::Release
        };
        self.publish(what, why, now, out);
        out.push(self.log_addresses("releasing", why));
    }

    /// Delete every VIP on the interface; one we did not hold is worth a warning.
    fn delete_present(&mut self, why: &str, was_holding: bool, out: &mut Vec<Action>) {
        let Some(index) = self.kernel.link.as_ref().map(|l| l.index) else {
            return;
        };
        for vip in std::mem::take(&mut self.kernel.present) {
            if !was_holding && !self.shutting_down {
                out.push(Action::Log {
                    level: Level::Warning,
                    message: format!(
                        "{} is on {} but this node must not hold it ({}): deleting it",
                        vip, self.settings.interface, why
                    ),
                });
            }
            out.push(Action::Delete {
                vip,
                ifindex: index,
            });
        }
    }

    /// An address this node does not hold yet but finds on its interface (left by the process
    /// before a restart of this server) is left alone, not deleted, while nothing is known
    /// against it: the role has not been read yet, or in Sentinel mode every Sentinel that
    /// answered names this node and reports nothing against it, only too few have confirmed
    /// yet (none at all, or fewer than the quorum within the lease). A crash
    /// restarted at once then keeps its address until the answers confirm it or not, instead
    /// of a delete and a re-add 1-2 ms apart. It lasts no longer than a killed process's
    /// address: its lifetime runs out unless claimed. A permanent address
    /// (`vip.address-lifetime-s 0`) is never left.
    fn leftover_can_wait(&self, fence: Option<Fence>) -> bool {
        let waiting = match self.role {
            None => true,
            Some(Role::Master) => {
                self.settings.mode() == Mode::Sentinel
                    && matches!(fence, None | Some(Fence::LeaseExpired))
                    && self.sentinels.view.none_names_other()
            }
            Some(Role::Replica) => false,
        };
        waiting
            && !self.holding
            && !self.shutting_down
            && self.settings.enabled
            && self.settings.address_lifetime_s > 0
    }
}
