//! Notifications of link and address changes.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use netlink_sys::Socket;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::socket::{open_socket, RECV_BUF};
use crate::error::{Op, OsError};

const OP_OPEN: Op = Op::OpenNetlink;
const OP_WATCH: Op = Op::WatchNetlink;

/// Notifications: a second socket subscribed to RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR and
/// RTNLGRP_IPV6_IFADDR.
pub struct Monitor {
    socket: Socket,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("fd", &self.socket.as_raw_fd())
            .finish()
    }
}

/// The socket, for a caller that polls several descriptors at once.
impl AsFd for Monitor {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl Monitor {
    pub fn open() -> Result<Monitor, OsError> {
        let socket = open_socket(OP_OPEN)?;
        for group in [
            libc::RTNLGRP_LINK,
            libc::RTNLGRP_IPV4_IFADDR,
            libc::RTNLGRP_IPV6_IFADDR,
        ] {
            socket
                .add_membership(group)
                .map_err(|e| OsError::from_io(OP_OPEN, &e))?;
        }
        Ok(Monitor {
            socket,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    /// Block up to `timeout` for any notification, then drain what is queued.
    /// `Ok(true)` if anything arrived, `Ok(false)` on timeout. ENOBUFS (the kernel dropped
    /// notifications because the queue overran) counts as "something changed".
    pub fn wait(&mut self, timeout: Duration) -> Result<bool, OsError> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => timeout,
            };
            let mut fds = [PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
            let rc = match poll(&mut fds, poll_millis(left)) {
                Ok(rc) => rc,
                Err(Errno::EINTR) if left.is_zero() => return Ok(false),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(OsError::from_nix(OP_WATCH, e)),
            };
            if rc == 0 {
                return Ok(false);
            }
            return self.drain();
        }
    }

    /// Read everything queued without blocking; `Ok(true)` if anything was there.
    pub fn drain(&mut self) -> Result<bool, OsError> {
        let mut got = false;
        // Bounded: a storm of notifications must not keep us here forever.
        for _ in 0..10_000 {
            self.buf.clear();
            match self.socket.recv(&mut self.buf, libc::MSG_DONTWAIT) {
                Ok(_) => got = true,
                Err(e) => match e.raw_os_error() {
                    Some(libc::EAGAIN) => return Ok(got),
                    Some(libc::EINTR) => continue,
                    Some(libc::ENOBUFS) => got = true,
                    _ => return Err(OsError::from_io(OP_WATCH, &e)),
                },
            }
        }
        Ok(got)
    }
}

pub(super) fn poll_millis(d: Duration) -> PollTimeout {
    // Round up so a sub-millisecond wait does not become a busy loop.
    let ms = d.as_micros().div_ceil(1000);
    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
}
