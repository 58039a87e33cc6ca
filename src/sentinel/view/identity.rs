//! Who "this node" is in the Sentinels' answers: by run id, by addresses learned for it, and
//! by this host's own address after a restart.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use super::{Endpoint, Instance};

/// A node has one or two addresses as Sentinels see it; more are not kept.
pub(super) const MAX_LEARNED: usize = 8;

/// What this process knows of itself, from the server (`INFO server`) and the clock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Me {
    /// `run_id`.
    pub runid: String,
    /// `tcp_port`: the port Sentinels reach us on (0: unknown).
    pub port: u16,
    /// How old this process was (`.1`) at a moment of the worker's monotonic clock (`.0`),
    /// never less than its true age (None: unknown).
    pub age: Option<(Duration, Duration)>,
}

/// This node as the Sentinels know it: its run id, the addresses under which they have
/// reported that run id (learned, so that NAT and announce-ip need no configuration), and
/// this host's own addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Identity {
    pub(super) me: Me,
    pub(super) learned: BTreeSet<Endpoint>,
    /// This host's addresses, loopback and VIPs left out.
    pub(super) local: BTreeSet<IpAddr>,
}

impl Identity {
    /// Is this instance entry this very process? A matching run id says so. An empty run id
    /// (a Sentinel that has not sent INFO there yet, as right after a switch) counts at an
    /// address already learned for our run id. And an entry at one of this host's own
    /// addresses with our port is us when its run id cannot be another live process's: empty,
    /// or shown by a Sentinel whose last INFO of it predates our start. That is a restart at
    /// the same address (a crash restarted by systemd): Sentinel refreshes the run id only
    /// with its INFO, every 10 s, and meanwhile its PINGs reach the new process. Another run
    /// id seen after our start never matches: that is not this process.
    pub(super) fn is(&self, inst: &Instance, received: Duration) -> bool {
        if self.me.runid.is_empty() {
            return false;
        }
        if inst.runid == self.me.runid
            || (inst.runid.is_empty() && self.learned.contains(&inst.endpoint))
        {
            return true;
        }
        self.at_own_address(&inst.endpoint)
            && (inst.runid.is_empty() || self.seen_before_our_start(inst, received))
    }

    pub(super) fn at_own_address(&self, e: &Endpoint) -> bool {
        self.me.port != 0
            && e.port == self.me.port
            && e.ip
                .parse::<IpAddr>()
                .is_ok_and(|ip| self.local.contains(&ip))
    }

    /// The Sentinel's last INFO of `inst` came before this process started. It answered at
    /// some moment before `received`, so its INFO was at most `received - info-refresh`, and
    /// we started at `received - our age then`.
    pub(super) fn seen_before_our_start(&self, inst: &Instance, received: Duration) -> bool {
        let Some((at, age)) = self.me.age else {
            return false;
        };
        let age_then = age + received.saturating_sub(at);
        inst.info_refresh_ms > 0 && Duration::from_millis(inst.info_refresh_ms) > age_then
    }

    pub(super) fn learn(&mut self, inst: &Instance) {
        if !self.me.runid.is_empty()
            && inst.runid == self.me.runid
            && self.learned.len() < MAX_LEARNED
        {
            self.learned.insert(inst.endpoint.clone());
        }
    }
}
