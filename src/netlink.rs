//! Synchronous NETLINK_ROUTE adapter: look up an interface, list, add/refresh and delete
//! addresses, and wait for link/address notifications.
//!
//! - this file: `Netlink`, the requests (link lookup, address dump/add/refresh/delete);
//! - `decode`: reply messages and RTM_NEWLINK / RTM_NEWADDR payloads as data (pure);
//! - `monitor`: `Monitor`, notifications of link and address changes;
//! - `socket`: the NETLINK_ROUTE socket both open.
//!
//! `netlink-packet-route` changes its types with every minor release, so it is pinned
//! (`=0.34.0`) and used only inside this module. Requests are built with the crate's types;
//! replies are decoded attribute by attribute so that one attribute the crate cannot parse
//! (a newer kernel, an odd driver) never hides the fields we need.
//!
//! Nothing here panics on kernel input: every length is checked before it is used.

use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use netlink_packet_core::{
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE,
    NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeader, AddressHeaderFlags, AddressMessage,
    AddressScope, CacheInfo,
};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr};
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::TimeVal;

use crate::error::{Op, OsError};
use decode::{align4, INFINITY_LIFE_TIME, NLMSG_HDRLEN};
use socket::{open_socket, RECV_BUF};

const OP_OPEN: Op = Op::OpenNetlink;
const OP_LINK: Op = Op::LookUpInterface;
const OP_LIST: Op = Op::ListAddresses;
const OP_ADD: Op = Op::AddAddress;
const OP_DEL: Op = Op::DeleteAddress;

/// How long one `recv` may wait for the kernel's reply (SO_RCVTIMEO).
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// Upper bound for a whole request, however many datagrams it takes.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// A dump the kernel marks NLM_F_DUMP_INTR (table changed meanwhile) is retried this often.
const DUMP_ATTEMPTS: usize = 5;

/// IFNAMSIZ - 1: no interface name can be longer.
const MAX_IFNAME: usize = 15;

/// A NETLINK_ROUTE socket for requests, with its own sequence counter.
pub struct Netlink {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netlink")
            .field("fd", &self.socket.as_raw_fd())
            .field("seq", &self.seq)
            .finish()
    }
}

impl Netlink {
    pub fn open() -> Result<Netlink, OsError> {
        let socket = open_socket(OP_OPEN)?;
        set_recv_timeout(&socket, REPLY_TIMEOUT).map_err(|e| OsError::from_nix(OP_OPEN, e))?;
        // Both are optional niceties (kernel 4.2+/4.12+): error text, and short ACKs.
        let _ = socket.set_ext_ack(true);
        let _ = socket.set_cap_ack(true);
        // Start from a non-trivial value so replies to a previous owner of the
        // port (there is none, but cheap insurance) do not match.
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(1)
            | 1;
        Ok(Netlink {
            socket,
            seq,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    /// None when no interface has that name (not an error).
    pub fn link_by_name(&mut self, name: &str) -> Result<Option<Link>, OsError> {
        if name.is_empty() || name.len() > MAX_IFNAME || name.contains('\0') {
            return Ok(None);
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        let mut found: Option<Link> = None;
        let res = self.request(
            OP_LINK,
            RouteNetlinkMessage::GetLink(msg),
            NLM_F_ACK,
            |kind, payload| {
                if kind == libc::RTM_NEWLINK {
                    if let Some(link) = decode_link(payload) {
                        if link.name == name && found.is_none() {
                            found = Some(link);
                        }
                    }
                }
            },
        );
        match res {
            Ok(_) => Ok(found),
            Err(e) if e.is(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Dump the addresses of both families and keep those of `ifindex`.
    pub fn addresses(&mut self, ifindex: u32) -> Result<Vec<AddrEntry>, OsError> {
        Ok(self
            .all_addresses()?
            .into_iter()
            .filter(|(index, _)| *index == ifindex)
            .map(|(_, entry)| entry)
            .collect())
    }

    /// Dump the addresses of both families on every interface, with their ifindex.
    pub fn all_addresses(&mut self) -> Result<Vec<(u32, AddrEntry)>, OsError> {
        for _ in 0..DUMP_ATTEMPTS {
            let mut out = Vec::new();
            let interrupted = self.request(
                OP_LIST,
                RouteNetlinkMessage::GetAddress(AddressMessage::default()),
                NLM_F_DUMP,
                |kind, payload| {
                    if kind == libc::RTM_NEWADDR {
                        if let Some(found) = decode_addr(payload) {
                            out.push(found);
                        }
                    }
                },
            )?;
            if !interrupted {
                return Ok(out);
            }
        }
        let mut err = OsError::new(OP_LIST, libc::EINTR);
        err.detail = "address table kept changing during the dump".to_string();
        Err(err)
    }

    /// Add the address, or refresh it if present: RTM_NEWADDR with
    /// NLM_F_CREATE|NLM_F_REPLACE|NLM_F_ACK.
    ///
    /// `lifetime_s == 0`: permanent (valid = preferred = forever for IPv4).
    /// `lifetime_s > 0`: IFA_CACHEINFO valid = preferred = `lifetime_s` (IPv4).
    /// IPv6 always: IFA_F_NODAD (in ifa_flags and IFA_FLAGS) and preferred lifetime 0, so the
    /// host never picks the VIP as source and it is usable at once; valid = `lifetime_s` or
    /// forever. `label`: IPv4 only (IFA_LABEL), ignored for IPv6. IPv4 also sets
    /// IFA_LOCAL = IFA_ADDRESS.
    pub fn ensure_address(
        &mut self,
        ifindex: u32,
        addr: IpAddr,
        prefix: u8,
        lifetime_s: u32,
        label: Option<&str>,
    ) -> Result<(), OsError> {
        let valid = if lifetime_s == 0 {
            INFINITY_LIFE_TIME
        } else {
            lifetime_s
        };
        let mut msg = AddressMessage::default();
        msg.header = address_header(ifindex, addr, prefix);
        let mut cache = CacheInfo::default();
        cache.ifa_valid = valid;
        match addr {
            IpAddr::V4(_) => {
                cache.ifa_preferred = valid;
                msg.attributes.push(AddressAttribute::Local(addr));
                msg.attributes.push(AddressAttribute::Address(addr));
                if let Some(label) = label {
                    if label.contains('\0') {
                        let mut err = OsError::new(OP_ADD, libc::EINVAL);
                        err.detail = "label contains a NUL byte".to_string();
                        return Err(err);
                    }
                    msg.attributes
                        .push(AddressAttribute::Label(label.to_string()));
                }
            }
            IpAddr::V6(_) => {
                cache.ifa_preferred = 0;
                msg.header.flags = AddressHeaderFlags::Nodad;
                msg.attributes.push(AddressAttribute::Address(addr));
                msg.attributes
                    .push(AddressAttribute::Flags(AddressFlags::Nodad));
            }
        }
        msg.attributes.push(AddressAttribute::CacheInfo(cache));
        self.request(
            OP_ADD,
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK,
            |_, _| {},
        )
        .map(|_| ())
    }

    /// RTM_DELADDR. `Ok(false)` when the address was not there (EADDRNOTAVAIL) or the
    /// interface is gone (ENODEV): deleting something absent is done.
    pub fn delete_address(
        &mut self,
        ifindex: u32,
        addr: IpAddr,
        prefix: u8,
    ) -> Result<bool, OsError> {
        let mut msg = AddressMessage::default();
        msg.header = address_header(ifindex, addr, prefix);
        if addr.is_ipv4() {
            msg.attributes.push(AddressAttribute::Local(addr));
        }
        msg.attributes.push(AddressAttribute::Address(addr));
        match self.request(
            OP_DEL,
            RouteNetlinkMessage::DelAddress(msg),
            NLM_F_ACK,
            |_, _| {},
        ) {
            Ok(_) => Ok(true),
            Err(e) if e.is(libc::EADDRNOTAVAIL) || e.is(libc::ENODEV) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        if self.seq == 0 {
            self.seq = 1;
        }
        self.seq
    }

    /// Send one request and feed every reply payload to `on_data` until the ACK (plain
    /// request with NLM_F_ACK) or NLMSG_DONE (dump). Returns whether the kernel flagged
    /// the dump as interrupted (NLM_F_DUMP_INTR).
    fn request(
        &mut self,
        op: Op,
        msg: RouteNetlinkMessage,
        flags: u16,
        mut on_data: impl FnMut(u16, &[u8]),
    ) -> Result<bool, OsError> {
        let seq = self.next_seq();
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut out = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut out);

        let kernel = SocketAddr::new(0, 0);
        loop {
            match self.socket.send_to(&out, &kernel, 0) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(OsError::from_io(op, &e)),
            }
        }

        let deadline = Instant::now() + REQUEST_DEADLINE;
        let mut interrupted = false;
        loop {
            self.recv_datagram(op, deadline)?;
            let mut rest: &[u8] = &self.buf;
            while rest.len() >= NLMSG_HDRLEN {
                let nl = NetlinkBuffer::new_checked(rest)
                    .map_err(|e| OsError::protocol(op, format!("bad netlink header: {e}")))?;
                let len = nl.length() as usize;
                let msg_type = nl.message_type();
                let msg_flags = nl.flags();
                let msg_seq = nl.sequence_number();
                let payload = nl.payload();
                rest = rest.get(align4(len)..).unwrap_or(&[]);
                if msg_seq != seq {
                    continue; // a late reply to an earlier request, or a notification
                }
                if msg_flags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                match classify(op, msg_type, msg_flags, payload)? {
                    Reply::Done => return Ok(interrupted),
                    Reply::Data(kind, data) => on_data(kind, data),
                }
            }
        }
    }

    /// Receive one datagram into `self.buf`, growing it when the datagram is bigger.
    fn recv_datagram(&mut self, op: Op, deadline: Instant) -> Result<(), OsError> {
        loop {
            if Instant::now() >= deadline {
                return Err(timeout_error(op));
            }
            self.buf.clear();
            // Peek first to learn the datagram's full size (MSG_TRUNC reports it).
            let size = match self
                .socket
                .recv(&mut self.buf, libc::MSG_PEEK | libc::MSG_TRUNC)
            {
                Ok(n) => n,
                Err(e) => match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EAGAIN) => return Err(timeout_error(op)),
                    _ => return Err(OsError::from_io(op, &e)),
                },
            };
            self.buf.clear();
            if size > self.buf.capacity() {
                self.buf.reserve(size);
            }
            match self.socket.recv(&mut self.buf, 0) {
                Ok(_) => return Ok(()),
                Err(e) => match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EAGAIN) => return Err(timeout_error(op)),
                    _ => return Err(OsError::from_io(op, &e)),
                },
            }
        }
    }
}

fn set_recv_timeout(socket: &Socket, timeout: Duration) -> nix::Result<()> {
    let tv = TimeVal::new(
        timeout.as_secs() as libc::time_t,
        timeout.subsec_micros() as libc::suseconds_t,
    );
    setsockopt(socket, sockopt::ReceiveTimeout, &tv)
}

fn timeout_error(op: Op) -> OsError {
    let mut err = OsError::new(op, libc::ETIMEDOUT);
    err.detail = format!(
        "no reply from the kernel within {} s",
        REPLY_TIMEOUT.as_secs()
    );
    err
}

fn address_header(ifindex: u32, addr: IpAddr, prefix: u8) -> AddressHeader {
    AddressHeader {
        family: match addr {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        },
        prefix_len: prefix,
        flags: AddressHeaderFlags::empty(),
        scope: AddressScope::Universe,
        index: ifindex,
    }
}

mod decode;
mod monitor;
mod socket;

pub use decode::{classify, decode_addr, decode_link, AddrEntry, Link, Reply};
pub use monitor::Monitor;

#[cfg(test)]
mod tests;
