//! The live side effects: the kernel (netlink, the packet socket), the Sentinel pollers,
//! the witness askers, the watcher's listener, and the Redis log. Everything
//! `worker::process` asks for lands here, on the worker thread.

use std::sync::Arc;
use std::time::Duration;

use super::watch::WatchControl;
use super::{Inbox, Log, System};
use crate::announce::Announcer;
use crate::config::Vip;
use crate::core::{Level, LinkState, ListenSpec, Observation};
use crate::error::OsError;
use crate::netlink::Netlink;
use crate::sentinel::poller::Pollers;
use crate::sentinel::PollPlan;
use crate::witness::asker::Askers;
use crate::witness::WitnessPlan;

/// The kernel, via netlink and an AF_PACKET socket, each opened on first use and reopened
/// after a failure (so a capability granted later is picked up).
#[derive(Default)]
pub struct Kernel {
    netlink: Option<Netlink>,
    announcer: Option<Announcer>,
}

impl Kernel {
    fn netlink(&mut self) -> Result<&mut Netlink, OsError> {
        match &mut self.netlink {
            Some(nl) => Ok(nl),
            slot => Ok(slot.insert(Netlink::open()?)),
        }
    }

    fn with_netlink<T>(
        &mut self,
        f: impl FnOnce(&mut Netlink) -> Result<T, OsError>,
    ) -> Result<T, OsError> {
        let result = f(self.netlink()?);
        if let Err(e) = &result {
            // A timed-out or broken socket may hold a stale reply: start afresh.
            if e.is(libc::EAGAIN) || e.is(libc::ETIMEDOUT) || e.is_protocol() {
                self.netlink = None;
            }
        }
        result
    }

    pub fn observe(
        &mut self,
        interface: &str,
        vips: &[Vip],
        announce: bool,
    ) -> Result<Observation, OsError> {
        let (net_admin, net_raw) = capabilities();
        if !announce {
            // Routed mode: no packet socket at all (and no CAP_NET_RAW needed).
            self.announcer = None;
        } else if self.announcer.is_none() && net_raw {
            // Open the packet socket ahead of the first claim, so that claim pays only
            // for the send. A failure here is reported by the first real announcement.
            self.announcer = Announcer::open().ok();
        }
        self.with_netlink(|nl| {
            let link = nl.link_by_name(interface)?;
            let all = nl.all_addresses()?;
            let present = match &link {
                Some(l) => vips
                    .iter()
                    .filter(|v| {
                        all.iter().any(|(index, a)| {
                            *index == l.index && a.addr == v.addr && a.prefix == v.prefix
                        })
                    })
                    .copied()
                    .collect(),
                None => Vec::new(),
            };
            Ok(Observation {
                link: link.map(|l| LinkState {
                    index: l.index,
                    up: l.up && l.running,
                    mac: l.mac,
                }),
                present,
                local: all.iter().map(|(_, a)| a.addr).collect(),
                net_admin,
                net_raw,
            })
        })
    }

    pub fn add(
        &mut self,
        ifindex: u32,
        vip: Vip,
        lifetime_s: u32,
        label: Option<&str>,
    ) -> Result<(), OsError> {
        self.with_netlink(|nl| nl.ensure_address(ifindex, vip.addr, vip.prefix, lifetime_s, label))
    }

    pub fn delete(&mut self, ifindex: u32, vip: Vip) -> Result<(), OsError> {
        self.with_netlink(|nl| nl.delete_address(ifindex, vip.addr, vip.prefix).map(|_| ()))
    }

    pub fn announce(&mut self, ifindex: u32, mac: [u8; 6], vip: Vip) -> Result<(), OsError> {
        let announcer = match &mut self.announcer {
            Some(a) => a,
            slot => slot.insert(Announcer::open()?),
        };
        announcer.announce(ifindex, mac, vip.addr)
    }
}

/// CAP_NET_ADMIN (12) and CAP_NET_RAW (13) in the effective set, from /proc/self/status.
/// Unknown (file unreadable) counts as present: the kernel will tell us soon enough.
pub fn capabilities() -> (bool, bool) {
    match std::fs::read_to_string("/proc/self/status") {
        Ok(text) => effective_caps(&text),
        Err(_) => (true, true),
    }
}

/// (CAP_NET_ADMIN, CAP_NET_RAW) from the `CapEff:` line of a `/proc/PID/status` text; a
/// missing or unreadable line counts as present.
fn effective_caps(status: &str) -> (bool, bool) {
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok());
    match eff {
        Some(bits) => (bits & (1 << 12) != 0, bits & (1 << 13) != 0),
        None => (true, true),
    }
}

/// How long this process has run, never less than the truth: the kernel's start time
/// (`/proc/self/stat`, clock ticks since boot, rounded down) against `CLOCK_BOOTTIME` now.
/// None when either cannot be read.
pub fn process_age() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let ticks = start_ticks(&stat)?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()??;
    let hz = u64::try_from(hz).ok().filter(|h| *h > 0)?;
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME).ok()?;
    let now = Duration::new(
        u64::try_from(now.tv_sec()).ok()?,
        u32::try_from(now.tv_nsec()).ok()?,
    );
    let started =
        Duration::from_secs(ticks / hz) + Duration::from_nanos((ticks % hz) * 1_000_000_000 / hz);
    Some(now.saturating_sub(started))
}

/// Field 22 of `/proc/PID/stat` (start time in clock ticks). The command name, field 2,
/// is in parentheses and may hold spaces and parentheses: count from the last ')'.
fn start_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Hands a line to subscribers of `__vip__:events` (the Redis glue queues it for the main
/// thread, the only one allowed to publish). Never blocks.
pub type Sink = Box<dyn Fn(String) + Send>;

/// The real thing, as the worker thread runs it.
pub struct Live {
    pub kernel: Kernel,
    pub pollers: Pollers,
    pub askers: Askers,
    pub watch: Option<Arc<WatchControl>>,
    pub sink: Sink,
    pub log: Box<dyn Log>,
}

impl Live {
    pub fn new(
        inbox: Inbox,
        watch: Option<Arc<WatchControl>>,
        log: Box<dyn Log>,
        sink: Sink,
    ) -> Live {
        Live {
            kernel: Kernel::default(),
            pollers: Pollers::new(Box::new(inbox.clone())),
            askers: Askers::new(Box::new(inbox)),
            watch,
            sink,
            log,
        }
    }
}

impl System for Live {
    fn observe(
        &mut self,
        interface: &str,
        vips: &[Vip],
        announce: bool,
    ) -> Result<Observation, OsError> {
        self.kernel.observe(interface, vips, announce)
    }

    fn add(
        &mut self,
        ifindex: u32,
        vip: Vip,
        lifetime_s: u32,
        label: Option<&str>,
    ) -> Result<(), OsError> {
        self.kernel.add(ifindex, vip, lifetime_s, label)
    }

    fn delete(&mut self, ifindex: u32, vip: Vip) -> Result<(), OsError> {
        self.kernel.delete(ifindex, vip)
    }

    fn announce(&mut self, ifindex: u32, mac: [u8; 6], vip: Vip) -> Result<(), OsError> {
        self.kernel.announce(ifindex, mac, vip)
    }

    fn sentinels(&mut self, plan: Option<PollPlan>) {
        self.pollers.apply(plan);
    }

    fn witnesses(&mut self, plan: Option<WitnessPlan>) {
        self.askers.apply(plan);
    }

    fn poll_now(&mut self) {
        self.pollers.poll_now();
    }

    fn poll_interval(&mut self, interval: Duration) {
        self.pollers.set_interval(interval);
    }

    fn listen(&mut self, spec: Option<ListenSpec>) {
        if let Some(w) = &self.watch {
            w.listen(spec);
        }
    }

    fn publish(&mut self, line: String) {
        (self.sink)(line);
    }

    fn log(&self, level: Level, message: &str) {
        self.log.log(level, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_field_22_after_the_name() {
        // (stat line, start ticks)
        let cases = [
            ("1234 (redis-server) S 1 1234 1234 0 -1 4194560 1 0 0 0 5 3 0 0 20 0 5 0 987654 1 2", Some(987_654)),
            ("1 (a) b) c) S 1 1 1 0 -1 4 1 0 0 0 5 3 0 0 20 0 5 0 42 1 2", Some(42)),
            ("1 (short) S 1", None),
            ("no parenthesis", None),
        ];
        for (stat, want) in cases {
            assert_eq!(start_ticks(stat), want, "{stat}");
        }
        let age = process_age().unwrap();
        assert!(age < Duration::from_secs(24 * 3600), "{age:?}");
    }

    #[test]
    fn capabilities_are_read_from_the_effective_set() {
        // (status text, (net_admin, net_raw))
        let cases = [
            (
                "Name:\tredis-server\nCapEff:\t0000000000003000\n",
                (true, true),
            ),
            ("CapEff:\t0000000000001000\n", (true, false)),
            ("CapEff:\t0000000000002000\n", (false, true)),
            (
                "CapInh:\t0000000000003000\nCapEff:\t0000000000000000\n",
                (false, false),
            ),
            ("CapEff:\tzz\n", (true, true)),
            ("no capability line\n", (true, true)),
        ];
        for (text, want) in cases {
            assert_eq!(effective_caps(text), want, "{text:?}");
        }
    }
}
