//! The watcher thread ("vip-watch"): netlink notifications (an address deleted by hand, a
//! link going down, coming back or being recreated) and ARP/NA frames from other hosts
//! claiming our addresses. Each becomes an event for the worker. It sleeps in poll(2) on
//! its sockets and an eventfd; nothing wakes it periodically.
//!
//! What to listen on is the core's decision (`Action::Listen`): the worker hands it over
//! through `WatchControl`, so a `CONFIG SET` of the interface or the addresses reaches the
//! listener too.

use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};

use super::Inbox;
use crate::announce::Listener;
use crate::core::{Event, ListenSpec};
use crate::netlink::Monitor;
use crate::packet;

/// How the worker steers the watcher: what to listen for, and when to stop.
pub struct WatchControl {
    wake: Option<EventFd>,
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
        WatchControl {
            wake: EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
                .ok(),
            stop: AtomicBool::new(false),
            spec: Mutex::new(None),
        }
    }

    fn ring(&self) {
        if let Some(fd) = &self.wake {
            // Fails only when the counter would overflow: it is rung already.
            let _ = fd.write(1);
        }
    }

    fn drain(&self) {
        if let Some(fd) = &self.wake {
            // Non-blocking: EAGAIN when nobody rang.
            let _ = fd.read();
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

/// Wait in poll(2) on those of the descriptors that exist: which are ready, in their order
/// (an absent one never is). None on a timeout or an interrupted poll.
fn wait(fds: [Option<BorrowedFd<'_>>; 3], timeout: PollTimeout) -> Option<[bool; 3]> {
    let mut polled: Vec<PollFd<'_>> = fds
        .iter()
        .flatten()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    if !matches!(poll(&mut polled, timeout), Ok(n) if n > 0) {
        return None;
    }
    let mut ready = polled
        .iter()
        .map(|p| p.revents().is_some_and(|r| !r.is_empty()));
    Some(fds.map(|fd| fd.is_some() && ready.next().unwrap_or(false)))
}

/// Open the listener `spec` asks for (None: close it), and tell the core how that went.
/// None: the worker is gone.
fn open_listener(
    spec: Option<ListenSpec>,
    inbox: &Inbox,
) -> Option<Option<(ListenSpec, Listener)>> {
    let Some(s) = spec else { return Some(None) };
    match Listener::open(s.ifindex, &s.addrs) {
        Ok(l) => inbox
            .send_feed(Event::Listening(Ok(())))
            .then_some(Some((s, l))),
        // Told to the core (a visible fault); the core asks again on its next look at the
        // interface.
        Err(e) => inbox.send_feed(Event::Listening(Err(e))).then_some(None),
    }
}

/// Read what the listener queued (at most `FRAMES_PER_WAKE` frames) and report each claim
/// of one of our addresses by another MAC. False: the worker is gone.
fn report_claims(spec: &ListenSpec, l: &Listener, buf: &mut [u8], inbox: &Inbox) -> bool {
    for _ in 0..FRAMES_PER_WAKE {
        let Ok(Some(n)) = l.recv(buf) else { break };
        let frame = buf.get(..n).unwrap_or(&[]);
        let claim = packet::arp_claim(frame)
            .map(|(ip, mac)| (IpAddr::V4(ip), mac))
            .or_else(|| packet::na_claim(frame).map(|(ip, mac)| (IpAddr::V6(ip), mac)));
        if let Some((ip, mac)) = claim {
            if mac != spec.mac
                && spec.addrs.contains(&ip)
                && !inbox.send_feed(Event::Conflict { ip, mac })
            {
                return false;
            }
        }
    }
    true
}

pub fn watch(inbox: Inbox, control: Arc<WatchControl>) {
    let mut monitor = Monitor::open().ok();
    let mut listener: Option<(ListenSpec, Listener)> = None;
    let mut buf = [0u8; 2048];
    while !control.stopping() {
        if let Some(spec) = control.take_spec() {
            match open_listener(spec, &inbox) {
                Some(l) => listener = l,
                None => return,
            }
        }
        if monitor.is_none() {
            monitor = Monitor::open().ok();
        }
        // Without an eventfd, look at the control every second; without a monitor socket
        // (it failed to open), try to open it again in a second.
        let timeout = if control.wake.is_none() || monitor.is_none() {
            PollTimeout::from(1000u16)
        } else {
            PollTimeout::NONE
        };
        let fds = [
            control.wake.as_ref().map(|f| f.as_fd()),
            monitor.as_ref().map(|m| m.as_fd()),
            listener.as_ref().map(|(_, l)| l.as_fd()),
        ];
        let Some([wake, changed, claims]) = wait(fds, timeout) else {
            continue;
        };
        if wake {
            control.drain();
        }
        if changed {
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
        if claims {
            if let Some((spec, l)) = &listener {
                if !report_claims(spec, l, &mut buf, &inbox) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_says_which_descriptors_are_ready_in_their_order() {
        let rung = WatchControl::new();
        let quiet = WatchControl::new();
        let fds = || {
            [
                None,
                rung.wake.as_ref().map(|f| f.as_fd()),
                quiet.wake.as_ref().map(|f| f.as_fd()),
            ]
        };
        assert_eq!(wait(fds(), PollTimeout::ZERO), None, "nothing rang");
        rung.ring();
        assert_eq!(
            wait(fds(), PollTimeout::ZERO),
            Some([false, true, false]),
            "the absent first one is never ready"
        );
        rung.drain();
        assert_eq!(wait(fds(), PollTimeout::ZERO), None, "drained");
    }
}
