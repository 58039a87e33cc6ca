//! The watcher thread ("vip-watch"): netlink notifications (an address deleted by hand, a
//! link going down, coming back or being recreated) and ARP/NA frames from other hosts
//! claiming our addresses. Each becomes an event for the worker. It sleeps in poll(2) on
//! its sockets and an eventfd; nothing wakes it periodically.
//!
//! What to listen on is the core's decision (`Action::Listen`): the worker hands it over
//! through `WatchControl`, so a `CONFIG SET` of the interface or the addresses reaches the
//! listener too.

use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::Inbox;
use crate::announce::Listener;
use crate::core::{Event, ListenSpec};
use crate::netlink::Monitor;
use crate::packet;

/// How the worker steers the watcher: what to listen for, and when to stop.
pub struct WatchControl {
    wake: Option<OwnedFd>,
    stop: AtomicBool,
    spec: Mutex<Option<Option<ListenSpec>>>,
}

impl Default for WatchControl {
    fn default() -> Self {
        Self::new()
    }
}

impl WatchControl {
    pub fn new() -> WatchControl {
        // SAFETY: plain syscall; the result is checked before being owned.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        let wake = if raw >= 0 {
            // SAFETY: a fresh descriptor that nothing else owns.
            Some(unsafe { OwnedFd::from_raw_fd(raw) })
        } else {
            None
        };
        WatchControl {
            wake,
            stop: AtomicBool::new(false),
            spec: Mutex::new(None),
        }
    }

    fn ring(&self) {
        if let Some(fd) = &self.wake {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a valid u64 to our own eventfd.
            unsafe {
                libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8);
            }
        }
    }

    fn drain(&self) {
        if let Some(fd) = &self.wake {
            let mut v: u64 = 0;
            // SAFETY: reads 8 bytes into a valid u64 from our own non-blocking eventfd.
            unsafe {
                libc::read(fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8);
            }
        }
    }

    /// Listen for claims as `spec` says (None: close the listener).
    pub fn listen(&self, spec: Option<ListenSpec>) {
        if let Ok(mut s) = self.spec.lock() {
            *s = Some(spec);
        }
        self.ring();
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.ring();
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn take_spec(&self) -> Option<Option<ListenSpec>> {
        self.spec.lock().ok().and_then(|mut s| s.take())
    }
}

/// At most this many frames are read per wake-up before the other sockets get a turn.
const FRAMES_PER_WAKE: usize = 256;

pub fn watch(inbox: Inbox, control: Arc<WatchControl>) {
    let mut monitor = Monitor::open().ok();
    let mut listener: Option<(ListenSpec, Listener)> = None;
    let mut buf = [0u8; 2048];
    let wake_fd = control.wake.as_ref().map_or(-1, |f| f.as_raw_fd());
    // Without an eventfd, look at the control every second.
    let timeout: libc::c_int = if wake_fd < 0 { 1000 } else { -1 };
    while !control.stopping() {
        if let Some(spec) = control.take_spec() {
            listener = match spec {
                Some(s) => match Listener::open(s.ifindex, &s.addrs) {
                    Ok(l) => {
                        if !inbox.send_feed(Event::Listening(Ok(()))) {
                            return;
                        }
                        Some((s, l))
                    }
                    Err(e) => {
                        // Told to the core (a visible fault); the core asks again on its next
                        // look at the interface.
                        if !inbox.send_feed(Event::Listening(Err(e))) {
                            return;
                        }
                        None
                    }
                },
                None => None,
            };
        }
        if monitor.is_none() {
            monitor = Monitor::open().ok();
        }
        let mut fds = [
            libc::pollfd {
                fd: wake_fd,
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
        // Without a monitor socket (it failed to open), try again in a second.
        let timeout = if monitor.is_none() { 1000 } else { timeout };
        // SAFETY: three valid pollfd structs (negative fds are ignored by poll).
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if rc <= 0 {
            continue;
        }
        if fds[0].revents != 0 {
            control.drain();
        }
        if fds[1].revents != 0 {
            let changed = match monitor.as_mut().map(|m| m.drain()) {
                Some(Ok(changed)) => changed,
                _ => {
                    monitor = None;
                    true
                }
            };
            if changed && !inbox.send_feed(Event::NetChanged) {
                return;
            }
        }
        if fds[2].revents != 0 {
            if let Some((spec, l)) = &listener {
                for _ in 0..FRAMES_PER_WAKE {
                    let Ok(Some(n)) = l.recv(&mut buf) else { break };
                    let frame = buf.get(..n).unwrap_or(&[]);
                    let claim = packet::arp_claim(frame)
                        .map(|(ip, mac)| (IpAddr::V4(ip), mac))
                        .or_else(|| packet::na_claim(frame).map(|(ip, mac)| (IpAddr::V6(ip), mac)));
                    if let Some((ip, mac)) = claim {
                        if mac != spec.mac
                            && spec.addrs.contains(&ip)
                            && !inbox.send_feed(Event::Conflict { ip, mac })
                        {
                            return;
                        }
                    }
                }
            }
        }
    }
}
