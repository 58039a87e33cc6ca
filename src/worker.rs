//! The worker thread: runs the core, carries out its actions, publishes the status.
//!
//! ```text
//!  Redis main thread                      worker thread ("vip-worker")
//!  ─────────────────                      ────────────────────────────
//!  role event ─┐                          loop {
//!  CONFIG SET ─┼─ Event ──channel──────▶    recv until the core's next deadline (Tick)
//!  hello filter┤                            core.handle(event, now) -> actions
//!  shutdown  ──┘                            run each action: netlink / AF_PACKET
//!                                            feed results back as events
//!  VIP.STATUS ◀── Mutex<Status> ◀──────────  publish the status snapshot
//!  INFO vip                               }
//!                                         watcher thread ("vip-watch")
//!                                           netlink link/address notifications,
//!                                           ARP/NA seen on the wire ── Event ──▶ worker
//! ```
//!
//! The main thread only sends; all I/O happens here. A failing action stops its batch and
//! comes back to the core as `Event::Failed`, which decides about retries.

use std::collections::VecDeque;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::announce::{Announcer, Listener};
use crate::config::{Settings, Vip};
use crate::core::{Action, Core, Event, LinkState, Now, Observation, Status};
use crate::error::OsError;
use crate::netlink::{Monitor, Netlink};
use crate::packet;

pub use crate::core::Level;

/// Where log lines go (the Redis log in production, a Vec in tests).
pub trait Log: Send {
    fn log(&self, level: Level, message: &str);
}

/// The side effects the core asks for. One implementation talks to the kernel; tests
/// can substitute their own.
pub trait Network: Send {
    fn observe(&mut self, interface: &str, vips: &[Vip]) -> Result<Observation, OsError>;
    fn add(
        &mut self,
        ifindex: u32,
        vip: Vip,
        lifetime_s: u32,
        label: Option<&str>,
    ) -> Result<(), OsError>;
    fn delete(&mut self, ifindex: u32, vip: Vip) -> Result<(), OsError>;
    fn announce(&mut self, ifindex: u32, mac: [u8; 6], vip: Vip) -> Result<(), OsError>;
}

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Monotonic time since the first call, and wall-clock milliseconds.
pub fn now() -> Now {
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Now {
        mono: mono(),
        unix_ms,
    }
}

pub fn mono() -> Duration {
    EPOCH.elapsed()
}

/// The kernel, via netlink and an AF_PACKET socket, each opened on first use and reopened
/// after a failure (so a capability granted later is picked up).
#[derive(Default)]
pub struct SystemNetwork {
    netlink: Option<Netlink>,
    announcer: Option<Announcer>,
}

impl SystemNetwork {
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
            if e.errno == libc::EAGAIN || e.errno == libc::ETIMEDOUT || e.errno == 0 {
                self.netlink = None;
            }
        }
        result
    }
}

impl Network for SystemNetwork {
    fn observe(&mut self, interface: &str, vips: &[Vip]) -> Result<Observation, OsError> {
        let (net_admin, net_raw) = capabilities();
        if self.announcer.is_none() && net_raw {
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
            let local_addrs: Vec<IpAddr> = all.iter().map(|(_, a)| a.addr).collect();
            Ok(Observation {
                link: link.map(|l| LinkState {
                    index: l.index,
                    up: l.up && l.running,
                    mac: l.mac,
                }),
                present,
                net_admin,
                net_raw,
                local_addrs,
            })
        })
    }

    fn add(
        &mut self,
        ifindex: u32,
        vip: Vip,
        lifetime_s: u32,
        label: Option<&str>,
    ) -> Result<(), OsError> {
        self.with_netlink(|nl| nl.ensure_address(ifindex, vip.addr, vip.prefix, lifetime_s, label))
    }

    fn delete(&mut self, ifindex: u32, vip: Vip) -> Result<(), OsError> {
        self.with_netlink(|nl| nl.delete_address(ifindex, vip.addr, vip.prefix).map(|_| ()))
    }

    fn announce(&mut self, ifindex: u32, mac: [u8; 6], vip: Vip) -> Result<(), OsError> {
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
    let text = match std::fs::read_to_string("/proc/self/status") {
        Ok(t) => t,
        Err(_) => return (true, true),
    };
    let eff = text
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok());
    match eff {
        Some(bits) => (bits & (1 << 12) != 0, bits & (1 << 13) != 0),
        None => (true, true),
    }
}

/// Carry out one action; `Ok(Some(event))` feeds a result back to the core.
fn perform(
    net: &mut dyn Network,
    core: &Core,
    action: &Action,
    log: &dyn Log,
) -> Result<Option<Event>, OsError> {
    match action {
        Action::Observe => {
            let s = core.settings();
            match net.observe(&s.interface, &s.addresses) {
                Ok(obs) => Ok(Some(Event::Observed(obs))),
                Err(e) => Ok(Some(Event::ObserveFailed(e))),
            }
        }
        Action::Add {
            vip,
            ifindex,
            lifetime_s,
            label,
        } => net
            .add(*ifindex, *vip, *lifetime_s, label.as_deref())
            .map(|_| Some(Event::Added(*vip))),
        Action::Delete { vip, ifindex } => net.delete(*ifindex, *vip).map(|_| None),
        Action::Announce { vip, ifindex, mac } => net
            .announce(*ifindex, *mac, *vip)
            .map(|_| Some(Event::Announced { at: mono() })),
        Action::Log { level, message } => {
            log.log(*level, message);
            Ok(None)
        }
    }
}

/// Feed one event through the core and run everything that follows from it.
pub fn process(core: &mut Core, event: Event, net: &mut dyn Network, log: &dyn Log) {
    let mut queue = VecDeque::from([event]);
    // Every feedback event is an answer to an action; the bound only guards against a
    // logic error turning into an endless loop on the worker.
    let mut budget = 10_000u32;
    while let Some(event) = queue.pop_front() {
        budget = budget.saturating_sub(1);
        if budget == 0 {
            log.log(
                Level::Warning,
                "internal: event loop did not settle; continuing at the next tick",
            );
            return;
        }
        let actions = core.handle(event, now());
        let mut failed = false;
        for action in actions {
            // After a failure only the log lines of the batch still run.
            if failed && !matches!(action, Action::Log { .. }) {
                continue;
            }
            match perform(net, core, &action, log) {
                Ok(Some(feedback)) => queue.push_back(feedback),
                Ok(None) => {}
                Err(error) => {
                    queue.push_back(Event::Failed { action, error });
                    failed = true;
                }
            }
        }
    }
}

/// The running worker, owned by the Redis glue.
pub struct Handle {
    tx: Sender<Event>,
    thread: Option<JoinHandle<()>>,
    watcher: Option<(JoinHandle<()>, Arc<StopSignal>)>,
}

impl Handle {
    /// Never blocks: the channel is unbounded.
    pub fn send(&self, event: Event) {
        let _ = self.tx.send(event);
    }

    /// Ask the worker to shut down (releasing per vip.release-on-shutdown) and wait for it.
    /// Bounded: every netlink request has a receive timeout.
    pub fn stop(mut self) {
        let _ = self.tx.send(Event::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some((t, stop)) = self.watcher.take() {
            stop.raise();
            let _ = t.join();
        }
    }
}

/// An eventfd the watcher polls next to its sockets, so stopping it is immediate.
pub struct StopSignal {
    fd: Option<OwnedFd>,
    raised: AtomicBool,
}

impl StopSignal {
    fn new() -> StopSignal {
        // SAFETY: plain syscall; the result is checked before being owned.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        let fd = if raw >= 0 {
            // SAFETY: a fresh descriptor that nothing else owns.
            Some(unsafe { OwnedFd::from_raw_fd(raw) })
        } else {
            None
        };
        StopSignal {
            fd,
            raised: AtomicBool::new(false),
        }
    }

    fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
        if let Some(fd) = &self.fd {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a valid u64 to our own eventfd.
            unsafe {
                libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8);
            }
        }
    }

    fn raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }
}

/// Start the worker (and the watcher) with the events known at load.
pub fn spawn(
    settings: Settings,
    first: Vec<Event>,
    log: Box<dyn Log>,
    status: Arc<Mutex<Status>>,
) -> io::Result<Handle> {
    let (tx, rx) = crossbeam_channel::unbounded();
    for e in first {
        let _ = tx.send(e);
    }
    let interface = settings.interface.clone();
    let thread = std::thread::Builder::new()
        .name("vip-worker".into())
        .spawn(move || {
            run(
                Core::new(settings),
                rx,
                SystemNetwork::default(),
                log,
                status,
            )
        })?;
    let stop = Arc::new(StopSignal::new());
    let watcher = {
        let tx = tx.clone();
        let signal = stop.clone();
        std::thread::Builder::new()
            .name("vip-watch".into())
            .spawn(move || watch(tx, signal, interface))
            .ok()
            .map(|t| (t, stop))
    };
    Ok(Handle {
        tx,
        thread: Some(thread),
        watcher,
    })
}

fn run(
    mut core: Core,
    rx: Receiver<Event>,
    mut net: SystemNetwork,
    log: Box<dyn Log>,
    status: Arc<Mutex<Status>>,
) {
    let mut spins = 0u32;
    loop {
        let event = match core.next_deadline() {
            Some(deadline) => {
                let mut wait = deadline.saturating_sub(mono());
                if wait.is_zero() {
                    spins += 1;
                    if spins > 100 {
                        // Guard against a deadline the core fails to advance.
                        wait = Duration::from_millis(10);
                    }
                } else {
                    spins = 0;
                }
                match rx.recv_timeout(wait) {
                    Ok(e) => e,
                    Err(RecvTimeoutError::Timeout) => Event::Tick,
                    Err(RecvTimeoutError::Disconnected) => Event::Shutdown,
                }
            }
            None => rx.recv().unwrap_or(Event::Shutdown),
        };
        // A bug must not kill the thread silently (or, worse, unwind into Redis): log it
        // and carry on with the next event.
        let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            process(&mut core, event, &mut net, log.as_ref())
        }));
        if let Err(panic) = step {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            log.log(
                Level::Warning,
                &format!("internal error in the worker: {what}"),
            );
        }
        if let Ok(mut s) = status.lock() {
            *s = core.status(now());
        }
        if core.finished() {
            break;
        }
    }
}

/// Netlink notifications (an address deleted by hand, a link going down or coming back)
/// and ARP/NA frames from other hosts; each becomes an event for the worker. Sleeps in
/// poll(2) on the sockets and the stop signal: no periodic wake-up but a 2 s look for the
/// interface (it may appear later or be recreated with a new index).
fn watch(tx: Sender<Event>, stop: Arc<StopSignal>, interface: String) {
    let mut monitor = Monitor::open().ok();
    let mut listener: Option<(u32, Listener)> = None;
    let mut own_mac: Option<[u8; 6]> = None;
    let mut buf = [0u8; 2048];
    let mut last_lookup: Option<Instant> = None;
    let stop_fd = stop.fd.as_ref().map_or(-1, |f| f.as_raw_fd());
    while !stop.raised() {
        if !interface.is_empty() && last_lookup.is_none_or(|t| t.elapsed() >= LOOKUP_PERIOD) {
            last_lookup = Some(Instant::now());
            if let Ok(Ok(Some(link))) = Netlink::open().map(|mut nl| nl.link_by_name(&interface)) {
                own_mac = link.mac;
                if listener.as_ref().map(|(i, _)| *i) != Some(link.index) {
                    listener = Listener::open(link.index).ok().map(|l| (link.index, l));
                }
            }
        }
        if monitor.is_none() {
            monitor = Monitor::open().ok();
        }
        let mut fds = [
            libc::pollfd {
                fd: stop_fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: monitor.as_ref().map_or(-1, |m| m.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: listener.as_ref().map_or(-1, |(_, l)| l.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let timeout = LOOKUP_PERIOD.as_millis() as libc::c_int;
        // SAFETY: three valid pollfd structs (negative fds are ignored by poll).
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if rc <= 0 {
            continue;
        }
        if fds[1].revents != 0 {
            let changed = match monitor.as_mut().map(|m| m.drain()) {
                Some(Ok(changed)) => changed,
                _ => {
                    monitor = None;
                    true
                }
            };
            if changed && tx.send(Event::NetChanged).is_err() {
                return;
            }
        }
        if fds[2].revents != 0 {
            if let Some((_, l)) = &listener {
                let mut budget = 1000;
                while let Ok(Some(n)) = l.recv(&mut buf) {
                    budget -= 1;
                    if budget == 0 {
                        break;
                    }
                    let frame = buf.get(..n).unwrap_or(&[]);
                    let claim = packet::arp_claim(frame)
                        .map(|(ip, mac)| (IpAddr::V4(ip), mac))
                        .or_else(|| packet::na_claim(frame).map(|(ip, mac)| (IpAddr::V6(ip), mac)));
                    if let Some((ip, mac)) = claim {
                        if Some(mac) != own_mac && tx.send(Event::Claimed { ip, mac }).is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
}

const LOOKUP_PERIOD: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_addresses;
    use std::sync::Mutex as StdMutex;

    /// Records every call; fails the adds while `fail_add` is set.
    #[derive(Default)]
    struct FakeNet {
        calls: Vec<String>,
        present: Vec<Vip>,
        fail_add: bool,
    }

    impl Network for FakeNet {
        fn observe(&mut self, _i: &str, vips: &[Vip]) -> Result<Observation, OsError> {
            self.calls.push("observe".into());
            Ok(Observation {
                link: Some(LinkState {
                    index: 4,
                    up: true,
                    mac: Some([2, 0, 0, 0, 0, 1]),
                }),
                present: vips
                    .iter()
                    .filter(|v| self.present.contains(v))
                    .copied()
                    .collect(),
                net_admin: true,
                net_raw: true,
                local_addrs: vec![],
            })
        }
        fn add(&mut self, i: u32, vip: Vip, l: u32, _label: Option<&str>) -> Result<(), OsError> {
            self.calls.push(format!("add {vip} if{i} lft{l}"));
            if self.fail_add {
                return Err(OsError::new("add address", libc::EPERM));
            }
            self.present.push(vip);
            Ok(())
        }
        fn delete(&mut self, i: u32, vip: Vip) -> Result<(), OsError> {
            self.calls.push(format!("delete {vip} if{i}"));
            self.present.retain(|v| *v != vip);
            Ok(())
        }
        fn announce(&mut self, i: u32, _mac: [u8; 6], vip: Vip) -> Result<(), OsError> {
            self.calls.push(format!("announce {vip} if{i}"));
            Ok(())
        }
    }

    #[derive(Default)]
    struct VecLog(StdMutex<Vec<String>>);

    impl Log for VecLog {
        fn log(&self, _level: Level, message: &str) {
            if let Ok(mut v) = self.0.lock() {
                v.push(message.to_string());
            }
        }
    }

    fn settings(addresses: &str) -> Settings {
        Settings {
            addresses: parse_addresses(addresses).unwrap(),
            interface: "eth0".into(),
            ..Settings::default()
        }
    }

    fn master(core: &mut Core, net: &mut FakeNet, log: &VecLog) {
        let event = Event::Role {
            role: crate::core::Role::Master,
            at: mono(),
            loaded: true,
        };
        process(core, event, net, log);
    }

    #[test]
    fn a_claim_is_observe_add_then_announce() {
        let mut core = Core::new(settings("192.0.2.100/24,2001:db8::100/64"));
        let mut net = FakeNet::default();
        let log = VecLog::default();
        master(&mut core, &mut net, &log);
        assert_eq!(
            net.calls,
            vec![
                "observe",
                "add 192.0.2.100/24 if4 lft2",
                "add 2001:db8::100/64 if4 lft2",
                "announce 192.0.2.100/24 if4",
                "announce 2001:db8::100/64 if4",
            ]
        );
        let status = core.status(now());
        assert_eq!(status.counters.announcements_sent, 2);
        assert!(status.holding);
    }

    #[test]
    fn a_failed_add_stops_the_batch_and_is_reported_once() {
        let mut core = Core::new(settings("192.0.2.100/24,192.0.2.101/24"));
        let mut net = FakeNet {
            fail_add: true,
            ..FakeNet::default()
        };
        let log = VecLog::default();
        master(&mut core, &mut net, &log);
        // The second add and the announcements never ran.
        assert_eq!(net.calls, vec!["observe", "add 192.0.2.100/24 if4 lft2"]);
        assert_eq!(core.phase().as_str(), "error");
        let lines = log.0.lock().unwrap().clone();
        assert_eq!(
            lines.iter().filter(|l| l.contains("CAP_NET_ADMIN")).count(),
            1,
            "{lines:?}"
        );
        // Fixed: the next tick claims both.
        net.fail_add = false;
        net.calls.clear();
        process(&mut core, Event::NetChanged, &mut net, &log);
        assert!(net.present.len() == 2, "{:?}", net.calls);
        assert_eq!(core.phase().as_str(), "holding");
    }

    #[test]
    fn capabilities_are_read_from_proc() {
        // Whatever this process has, the answer is consistent with /proc/self/status.
        let (admin, raw) = capabilities();
        let text = std::fs::read_to_string("/proc/self/status").unwrap();
        let eff = text
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
            .unwrap();
        assert_eq!(admin, eff & (1 << 12) != 0);
        assert_eq!(raw, eff & (1 << 13) != 0);
    }
}
