//! What netlink showed of the interface, and when to look at it and refresh the lifetimes
//! again.

use std::net::IpAddr;
use std::time::Duration;

use super::{Action, Core, FaultKind, Level, LinkState, Now, Observation};
use crate::config::Vip;

/// The interface as last observed, and the look and refresh deadlines.
#[derive(Debug, Default)]
pub(super) struct Kernel {
    /// Last observation of the link; `None` until the first one, or no such interface.
    pub(super) link: Option<LinkState>,
    pub(super) observed: bool,
    /// Which configured VIPs are on the interface (as far as we know).
    pub(super) present: Vec<Vip>,
    /// The hold decision waits for a first look at the interface (ifindex, what is there).
    pub(super) first_look_pending: bool,
    pub(super) next_observe: Duration,
    /// When the lifetimes are refreshed next (while holding; None: permanent addresses).
    pub(super) next_refresh: Option<Duration>,
}

impl Kernel {
    pub(super) fn note_present(&mut self, vip: Vip) {
        if !self.present.contains(&vip) {
            self.present.push(vip);
        }
    }

    /// Every one of `vips` is on the interface (as far as we know).
    pub(super) fn all_present(&self, vips: &[Vip]) -> bool {
        vips.iter().all(|v| self.present.contains(v))
    }

    /// The interface changed: nothing seen on the old one counts.
    pub(super) fn forget(&mut self) {
        self.link = None;
        self.observed = false;
        self.present.clear();
    }
}

impl Core {
    pub(super) fn vip_addrs(&self) -> Vec<IpAddr> {
        self.settings.addresses.iter().map(|v| v.addr).collect()
    }

    pub(super) fn observe_now(&mut self, now: Now, out: &mut Vec<Action>) {
        out.push(Action::Observe);
        // Until the answer arrives, the next regular look is one interval away.
        self.kernel.next_observe = now.mono + self.interval();
    }

    /// How long until the next regular look: the check interval (shorter while holding, to
    /// refresh the lifetimes), or the backoff while a fault is in force.
    pub(super) fn interval(&self) -> Duration {
        if self.faults.any() {
            return self.faults.backoff();
        }
        let mut ms = self.settings.check_interval_ms.max(1);
        if self.holding {
            if let Some(refresh) = self.refresh_period_ms() {
                ms = ms.min(refresh);
            }
        }
        Duration::from_millis(ms)
    }

    /// Refresh the lifetime four times per lifetime: one lost refresh never drops the VIP.
    pub(super) fn refresh_period_ms(&self) -> Option<u64> {
        match self.settings.address_lifetime_s {
            0 => None,
            s => Some((u64::from(s) * 1000 / 4).max(100)),
        }
    }

    pub(super) fn apply_observation(&mut self, obs: Observation, now: Now, out: &mut Vec<Action>) {
        self.kernel.first_look_pending = false;
        self.kernel.observed = true;
        let vips = self.vip_addrs();
        self.sentinels.view.set_local(&obs.local, &vips);
        if self.faults.has(FaultKind::Listen) {
            // Try the listener again at each look, which backs off while the fault lasts.
            self.told.forget_listen();
        }
        self.clear_fault(FaultKind::Observe, out);
        self.check_capabilities(&obs, now, out);
        let was_up = self.kernel.link.as_ref().is_some_and(|l| l.up);
        self.check_link(obs.link.as_ref(), now, out);
        let up_again = !was_up && obs.link.as_ref().is_some_and(|l| l.up);
        if up_again && self.kernel.link.is_some() {
            self.link_up_again(now, out);
        }
        self.kernel.link = obs.link;
        self.kernel.present = obs.present;
        let settled = if self.holding {
            self.kernel.all_present(&self.settings.addresses)
        } else {
            self.kernel.present.is_empty()
        };
        if settled {
            self.clear_fault(FaultKind::Address, out);
        }
    }

    /// CAP_NET_ADMIN always, CAP_NET_RAW when announcing.
    fn check_capabilities(&mut self, obs: &Observation, now: Now, out: &mut Vec<Action>) {
        let raw_needed = self.settings.announce;
        if !self.settings.configured() || (obs.net_admin && (obs.net_raw || !raw_needed)) {
            self.clear_fault(FaultKind::Capability, out);
            return;
        }
        let mut missing = Vec::new();
        if !obs.net_admin {
            missing.push("CAP_NET_ADMIN");
        }
        if !obs.net_raw && raw_needed {
            missing.push("CAP_NET_RAW");
        }
        let needs = if raw_needed {
            "CAP_NET_ADMIN and CAP_NET_RAW"
        } else {
            "CAP_NET_ADMIN"
        };
        let msg = format!(
            "redis-server lacks {}: it needs {needs} to manage the VIP (see README#deployment)",
            missing.join(" and ")
        );
        self.set_fault(FaultKind::Capability, msg, now, out);
    }

    /// The interface must exist, and have a MAC when the VIPs are announced.
    fn check_link(&mut self, link: Option<&LinkState>, now: Now, out: &mut Vec<Action>) {
        let s = &self.settings;
        let msg = match link {
            None if s.configured() => format!(
                "interface '{}' not found: create it or set vip.interface to an existing interface",
                s.interface
            ),
            Some(link) if link.mac.is_none() && s.configured() && s.announce => format!(
                "interface '{}' has no MAC address: gratuitous ARP and neighbour advertisements need an Ethernet interface (or set vip.announce no, for a routed VIP)",
                s.interface
            ),
            _ => return self.clear_fault(FaultKind::Link, out),
        };
        self.set_fault(FaultKind::Link, msg, now, out);
    }

    /// The link came back while holding: neighbours may have flushed their entries.
    fn link_up_again(&mut self, now: Now, out: &mut Vec<Action>) {
        if !self.holding || !self.settings.announce {
            return;
        }
        out.push(Action::Log {
            level: Level::Notice,
            message: format!(
                "{} is up again: announcing {}",
                self.settings.interface,
                self.settings.addresses_text()
            ),
        });
        self.schedule.burst_all(now.mono, &self.settings);
    }
}
