//! Another host announces one of our VIPs on the wire while we hold it.

use std::net::IpAddr;
use std::time::Duration;

use super::{Action, Core, Level, Now, Publication};
use crate::config::Mode;

/// A conflict is answered with at most one announcement burst per this period, or per
/// burst when a burst lasts longer (`vip.announce-count` × `vip.announce-interval-ms`).
/// One burst answers every announcement heard while it goes out; a host that keeps
/// announcing the address (a second holder that defends it too) then gets one answer a
/// second, not one per frame, so two defending hosts cannot drive each other into a storm of
/// announcements. RFC 5227 §2.4 (b) sets the same kind of limit for address defence
/// (DEFEND_INTERVAL, 10 s); a database's clients cannot wait 10 s on the wrong MAC, and a
/// burst of 5 frames a second is nothing on a LAN.
const REANNOUNCE_HOLDOFF: Duration = Duration::from_secs(1);

impl Core {
    /// Another host announced one of our VIPs while we hold it: count it, tell the operator
    /// (once per MAC), and answer with a burst of our own announcements, so that neighbours
    /// which took the other MAC come back (keepalived issues 166, 1528: a split brain that
    /// healed left them on the wrong MAC). At most one burst per `reannounce_holdoff`; in
    /// Sentinel mode the Sentinels are asked at once too, since another holder may mean that
    /// this node is the one that should let go.
    pub(super) fn conflict(&mut self, ip: IpAddr, mac: [u8; 6], now: Now, out: &mut Vec<Action>) {
        let ours = self.kernel.link.as_ref().and_then(|l| l.mac);
        if !self.holding
            || ours == Some(mac)
            || !self.settings.addresses.iter().any(|v| v.addr == ip)
        {
            return;
        }
        self.counters.conflicts += 1;
        self.tell_conflict(ip, mac, now, out);
        self.reannounce(now, out);
    }

    /// Log and publish a conflict, once per MAC in a row.
    fn tell_conflict(&mut self, ip: IpAddr, mac: [u8; 6], now: Now, out: &mut Vec<Action>) {
        let mac_text = format_mac(mac);
        if self.last_conflict_mac != mac_text {
            let message = format!(
                "conflict: {ip} is also claimed by {mac_text} on {}: another host holds this VIP; announcing it again from this node",
                self.settings.interface
            );
            self.publish(Publication::Conflict, &message, now, out);
            out.push(Action::Log {
                level: Level::Warning,
                message,
            });
        }
        self.last_conflict_mac = mac_text;
    }

    /// Answer a conflict with a burst of every VIP, unless one went out within the holdoff.
    fn reannounce(&mut self, now: Now, out: &mut Vec<Action>) {
        let quiet = self
            .schedule
            .last_reannounce
            .is_some_and(|t| now.mono < t + self.reannounce_holdoff());
        if !self.settings.announce || quiet {
            return;
        }
        self.schedule.last_reannounce = Some(now.mono);
        self.counters.reannounced += 1;
        self.schedule.burst_all(now.mono, &self.settings);
        if self.settings.mode() == Mode::Sentinel {
            out.push(Action::PollNow);
        }
        self.due_announcements(now, out);
    }

    /// The rate limit of re-announcements: `REANNOUNCE_HOLDOFF`, or one burst's length.
    fn reannounce_holdoff(&self) -> Duration {
        let step = Duration::from_millis(self.settings.announce_interval_ms);
        let burst = step * self.settings.announce_count.saturating_sub(1);
        burst.max(REANNOUNCE_HOLDOFF)
    }
}

pub fn format_mac(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
