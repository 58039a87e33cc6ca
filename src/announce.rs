//! The raw-socket side of announcements: send a GARP or unsolicited NA on one
//! interface, and listen for claims other hosts make on it.
//!
//! Frames are built by [`crate::packet`]; this file only owns the AF_PACKET sockets, and
//! `filter` the kernel filter the listener attaches.
//! Both need CAP_NET_RAW: without it `socket()` fails with EPERM, which the caller turns
//! into an operator message. Errors keep the kernel's errno.

use std::io;
use std::mem;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

use crate::error::{Op, OsError};
use crate::packet;

const OP_OPEN: Op = Op::OpenPacketSocket;
const OP_SEND: Op = Op::SendAnnouncement;
const OP_FILTER: Op = Op::FilterPacketSocket;
const OP_BIND: Op = Op::BindPacketSocket;
const OP_RECV: Op = Op::ReceiveClaim;

/// Ethernet header: destination MAC, source MAC, ethertype.
const ETH_HEADER_LEN: usize = 14;

/// Sends announcement frames. One socket serves every interface: the interface is
/// chosen per frame.
#[derive(Debug)]
pub struct Announcer {
    fd: OwnedFd,
}

impl Announcer {
    /// Opens an AF_PACKET `SOCK_RAW` socket with protocol 0: it can send on any
    /// interface but is bound to no protocol, so the kernel queues nothing to it.
    pub fn open() -> Result<Announcer, OsError> {
        Ok(Announcer {
            fd: packet_socket(SockFlag::empty())?,
        })
    }

    /// Sends one complete Ethernet frame on interface `ifindex`.
    ///
    /// Never blocks (MSG_DONTWAIT): the worker thread must not hang on a stuck link, and
    /// announcements are repeated anyway. Kernel answers seen here: ENETDOWN when the
    /// interface is down, ENXIO for an unknown ifindex, EAGAIN if the socket's send
    /// buffer is full. A frame shorter than an Ethernet header is refused with EINVAL
    /// before any system call.
    pub fn send(&self, ifindex: u32, frame: &[u8]) -> Result<(), OsError> {
        let Some(header) = frame.get(..ETH_HEADER_LEN) else {
            return Err(OsError::new(OP_SEND, libc::EINVAL));
        };
        let mut addr = link_address(OP_SEND, ifindex, [header[12], header[13]])?;
        // The kernel takes the frame as is (SOCK_RAW); sll_addr only documents the
        // destination, as the packet(7) man page asks.
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&header[..6]);
        loop {
            // SAFETY: the pointers cover `frame` and `addr`, which outlive the call; the
            // length passed is the size of `addr`.
            let sent = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    frame.as_ptr().cast(),
                    frame.len(),
                    libc::MSG_DONTWAIT,
                    (&addr as *const libc::sockaddr_ll).cast(),
                    sockaddr_ll_len(),
                )
            };
            if sent < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(OsError::from_io(OP_SEND, &err));
            }
            // A packet socket sends the whole frame or nothing; check rather than assume.
            if sent as usize != frame.len() {
                return Err(OsError::protocol(
                    OP_SEND,
                    format!("sent {sent} of {} bytes", frame.len()),
                ));
            }
            return Ok(());
        }
    }

    /// Announces that `ip` is at `mac` on interface `ifindex`: a gratuitous ARP for IPv4,
    /// an unsolicited Neighbor Advertisement for IPv6.
    pub fn announce(&self, ifindex: u32, mac: [u8; 6], ip: IpAddr) -> Result<(), OsError> {
        match ip {
            IpAddr::V4(ip) => self.send(ifindex, &packet::gratuitous_arp(mac, ip)),
            IpAddr::V6(ip) => self.send(ifindex, &packet::unsolicited_na(mac, ip)),
        }
    }
}

/// Receives, on one interface, the frames that can claim an address: ARP, and ICMPv6
/// Neighbor Advertisements. Decode them with [`packet::arp_claim`] and
/// [`packet::na_claim`].
///
/// The socket is nonblocking: wait on [`Listener::as_raw_fd`] with poll(2), then call
/// [`Listener::recv`] until it answers `Ok(None)`. Frames this host sends itself are not
/// delivered, so our own announcements never look like a conflict.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
}

impl Listener {
    /// Opens a listener on interface `ifindex` for claims of `addrs` (at most 16 of each
    /// family are filtered on; see [`claim_filter`]). Unknown ifindex: ENODEV.
    pub fn open(ifindex: u32, addrs: &[IpAddr]) -> Result<Listener, OsError> {
        // Protocol 0 until bind: the socket receives nothing while the filter goes on,
        // so no frame from another interface or protocol can slip in before it.
        let fd = packet_socket(SockFlag::SOCK_NONBLOCK)?;

        // PACKET_IGNORE_OUTGOING (Linux 4.20): drop our own transmissions in the kernel.
        // Older kernels answer ENOPROTOOPT; `recv` skips outgoing frames either way.
        if let Err(err) = set_option(&fd, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, &1i32) {
            if !err.is(libc::ENOPROTOOPT) {
                return Err(err);
            }
        }

        let mut program = claim_filter(addrs);
        let fprog = libc::sock_fprog {
            len: program.len() as libc::c_ushort,
            filter: program.as_mut_ptr(),
        };
        set_option(&fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
            .map_err(|err| err.during(OP_FILTER))?;

        let all = (libc::ETH_P_ALL as u16).to_be_bytes();
        let addr = link_address(OP_BIND, ifindex, all)?;
        // SAFETY: `addr` is a valid sockaddr_ll and the length passed is its size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                sockaddr_ll_len(),
            )
        };
        if rc < 0 {
            return Err(last_error(OP_BIND));
        }
        Ok(Listener { fd })
    }

    /// Reads one frame into `buf`, returning its length, or `Ok(None)` when no frame is
    /// waiting. A frame longer than `buf` is cut to `buf.len()` (the decoders then reject
    /// it): pass at least 1514 bytes, one full Ethernet frame.
    pub fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>, OsError> {
        loop {
            let mut from = link_address_zeroed();
            let mut from_len = sockaddr_ll_len();
            // SAFETY: `buf` and `from` are valid for writes of the lengths passed.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    0,
                    (&mut from as *mut libc::sockaddr_ll).cast(),
                    &mut from_len,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                match err.kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => return Ok(None),
                    _ => return Err(OsError::from_io(OP_RECV, &err)),
                }
            }
            // Only on kernels without PACKET_IGNORE_OUTGOING.
            if from.sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            return Ok(Some(n as usize));
        }
    }
}

/// The socket, for poll(2). It stays owned by the listener.
impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn packet_socket(flags: SockFlag) -> Result<OwnedFd, OsError> {
    // Protocol 0: the socket receives nothing until `bind` names a protocol.
    socket(
        AddressFamily::Packet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC | flags,
        None,
    )
    .map_err(|e| OsError::from_nix(OP_OPEN, e))
}

/// A sockaddr_ll naming interface `ifindex` and a protocol given in network byte order.
fn link_address(op: Op, ifindex: u32, protocol_be: [u8; 2]) -> Result<libc::sockaddr_ll, OsError> {
    // The kernel's ifindex is a positive int; anything else cannot name an interface.
    let ifindex = match i32::try_from(ifindex) {
        Ok(i) if i > 0 => i,
        _ => return Err(OsError::new(op, libc::ENODEV)),
    };
    Ok(libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as libc::c_ushort,
        // Kept in network order: read the two bytes as they lie in memory.
        sll_protocol: u16::from_ne_bytes(protocol_be),
        sll_ifindex: ifindex,
        ..link_address_zeroed()
    })
}

fn link_address_zeroed() -> libc::sockaddr_ll {
    libc::sockaddr_ll {
        sll_family: 0,
        sll_protocol: 0,
        sll_ifindex: 0,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    }
}

fn sockaddr_ll_len() -> libc::socklen_t {
    mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t
}

fn set_option<T>(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> Result<(), OsError> {
    // SAFETY: `value` points to a live T and the length passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(last_error(OP_OPEN));
    }
    Ok(())
}

fn last_error(op: Op) -> OsError {
    OsError::from_io(op, &io::Error::last_os_error())
}

mod filter;

pub use filter::claim_filter;

#[cfg(test)]
mod tests;
