//! Synchronous NETLINK_ROUTE adapter: look up an interface, list, add/refresh and delete
//! addresses, and wait for link/address notifications.
//!
//! `netlink-packet-route` changes its types with every minor release, so it is pinned
//! (`=0.34.0`) and used only inside this file. Requests are built with the crate's types;
//! replies are decoded attribute by attribute so that one attribute the crate cannot parse
//! (a newer kernel, an odd driver) never hides the fields we need.
//!
//! Nothing here panics on kernel input: every length is checked before it is used.

use std::io;
use std::net::IpAddr;
use std::num::NonZeroI32;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use netlink_packet_core::{
    parse_string, ErrorBuffer, NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload,
    NlasIterator, Parseable, ParseableParametrized, NLA_TYPE_MASK, NLMSG_DONE, NLMSG_ERROR,
    NLMSG_NOOP, NLMSG_OVERRUN, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_DUMP_INTR, NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeader, AddressHeaderFlags, AddressMessage,
    AddressScope, CacheInfo,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkHeader, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::error::{Op, OsError};

const OP_OPEN: Op = Op::OpenNetlink;
const OP_LINK: Op = Op::LookUpInterface;
const OP_LIST: Op = Op::ListAddresses;
const OP_ADD: Op = Op::AddAddress;
const OP_DEL: Op = Op::DeleteAddress;
const OP_WATCH: Op = Op::WatchNetlink;

/// How long one `recv` may wait for the kernel's reply (SO_RCVTIMEO).
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// Upper bound for a whole request, however many datagrams it takes.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Receive buffer; grown on demand when the kernel sends a bigger datagram.
const RECV_BUF: usize = 64 * 1024;
/// A dump the kernel marks NLM_F_DUMP_INTR (table changed meanwhile) is retried this often.
const DUMP_ATTEMPTS: usize = 5;

/// Kernel value for "forever" in `struct ifa_cacheinfo`.
const INFINITY_LIFE_TIME: u32 = u32::MAX;
/// `NLMSGERR_ATTR_MSG`: extended-ack text.
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLMSG_HDRLEN: usize = 16;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
/// IFNAMSIZ - 1: no interface name can be longer.
const MAX_IFNAME: usize = 15;

/// One network interface, as RTM_GETLINK reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// IFF_UP is set (administratively up).
    pub up: bool,
    /// IFF_RUNNING: operationally up (carrier).
    pub running: bool,
    /// IFLA_ADDRESS when it is 6 bytes and not all-zero.
    pub mac: Option<[u8; 6]>,
}

/// One address of an interface, as RTM_GETADDR reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrEntry {
    pub addr: IpAddr,
    pub prefix: u8,
    /// Seconds left; `None` = forever.
    pub valid_lft: Option<u32>,
    pub label: Option<String>,
    /// IFA_F_* flags (IFA_FLAGS when present, else the header byte).
    pub flags: u32,
}

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

/// What one decoded reply message was.
pub enum Reply<'a> {
    /// RTM_* payload for the caller, with its netlink message type.
    Data(u16, &'a [u8]),
    /// ACK (`NLMSG_ERROR` with code 0) or `NLMSG_DONE`: the request is complete.
    Done,
}

impl Netlink {
    pub fn open() -> Result<Netlink, OsError> {
        let socket = open_socket(OP_OPEN)?;
        set_recv_timeout(&socket, REPLY_TIMEOUT).map_err(|e| OsError::from_io(OP_OPEN, &e))?;
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
            let mut pfd = libc::pollfd {
                fd: self.socket.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, count 1.
            let rc = unsafe { libc::poll(&mut pfd, 1, poll_millis(left)) };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    if left.is_zero() {
                        return Ok(false);
                    }
                    continue;
                }
                return Err(OsError::from_io(OP_WATCH, &e));
            }
            if rc == 0 {
                return Ok(false);
            }
            return self.drain();
        }
    }

    /// The socket, for a caller that polls several descriptors at once.
    pub fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.socket.as_raw_fd()
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

fn open_socket(op: Op) -> Result<Socket, OsError> {
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(|e| OsError::from_io(op, &e))?;
    socket.bind_auto().map_err(|e| OsError::from_io(op, &e))?;
    Ok(socket)
}

fn set_recv_timeout(socket: &Socket, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: valid fd, pointer and length of a timeval.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const libc::timeval as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn poll_millis(d: Duration) -> libc::c_int {
    // Round up so a sub-millisecond wait does not become a busy loop.
    let ms = d.as_micros().div_ceil(1000);
    libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
}

fn timeout_error(op: Op) -> OsError {
    let mut err = OsError::new(op, libc::ETIMEDOUT);
    err.detail = format!(
        "no reply from the kernel within {} s",
        REPLY_TIMEOUT.as_secs()
    );
    err
}

fn align4(len: usize) -> usize {
    len.saturating_add(3) & !3
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

/// Sort one reply message into data, completion, or error.
pub fn classify<'a>(
    op: Op,
    msg_type: u16,
    msg_flags: u16,
    payload: &'a [u8],
) -> Result<Reply<'a>, OsError> {
    match msg_type {
        NLMSG_NOOP => Ok(Reply::Data(NLMSG_NOOP, &[])),
        NLMSG_ERROR => {
            let err = ErrorBuffer::new_checked(payload)
                .map_err(|e| OsError::protocol(op, format!("bad NLMSG_ERROR: {e}")))?;
            match err.code() {
                None => Ok(Reply::Done),
                Some(code) => Err(kernel_error(op, code, msg_flags, err.payload())),
            }
        }
        NLMSG_DONE => {
            // A dump that failed half-way carries a negative errno here.
            let code = payload
                .get(0..4)
                .and_then(|b| b.try_into().ok())
                .map(i32::from_ne_bytes)
                .and_then(NonZeroI32::new);
            match code {
                Some(code) if code.get() < 0 => {
                    // DONE has no echoed request header: TLVs follow the code directly.
                    let tlvs = if msg_flags & NLM_F_ACK_TLVS != 0 {
                        payload.get(4..).unwrap_or(&[])
                    } else {
                        &[]
                    };
                    let mut e = OsError::new(op, code.get().saturating_neg());
                    e.detail = ext_ack_message(tlvs).unwrap_or_default();
                    Err(e)
                }
                _ => Ok(Reply::Done),
            }
        }
        NLMSG_OVERRUN => Err(OsError::protocol(op, "netlink overrun")),
        kind => Ok(Reply::Data(kind, payload)),
    }
}

/// Build the error for a NACK: positive errno, plus the extended-ack text when present.
fn kernel_error(op: Op, code: NonZeroI32, msg_flags: u16, echoed: &[u8]) -> OsError {
    let mut err = OsError::new(op, code.get().saturating_abs());
    if msg_flags & NLM_F_ACK_TLVS != 0 {
        // The echoed request: only its header when capped, else the whole message.
        let skip = if msg_flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            echoed
                .get(0..4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_ne_bytes)
                .map(|l| align4(l as usize))
                .unwrap_or(NLMSG_HDRLEN)
        };
        if let Some(text) = echoed.get(skip..).and_then(ext_ack_message) {
            err.detail = text;
        }
    }
    err
}

fn ext_ack_message(tlvs: &[u8]) -> Option<String> {
    for nla in NlasIterator::new(tlvs) {
        let nla = nla.ok()?;
        if nla.kind() & NLA_TYPE_MASK == NLMSGERR_ATTR_MSG {
            let text = parse_string(nla.value()).ok()?;
            if !text.is_empty() {
                return Some(text);
            }
        }
    }
    None
}

/// Decode an RTM_NEWLINK payload; attributes the crate cannot parse are skipped.
pub fn decode_link(payload: &[u8]) -> Option<Link> {
    let header = LinkHeader::parse(payload).ok()?;
    let attrs = payload.get(16..).unwrap_or(&[]);
    let mut name = None;
    let mut mac = None;
    for nla in NlasIterator::new(attrs) {
        let Ok(nla) = nla else { break };
        // Hand the crate only the two simple attributes we read: its parsers for the
        // nested ones (IFLA_LINKINFO, IFLA_AF_SPEC, ...) change with every release.
        if !matches!(nla.kind() & NLA_TYPE_MASK, IFLA_ADDRESS | IFLA_IFNAME) {
            continue;
        }
        match LinkAttribute::parse_with_param(&nla, header.interface_family) {
            Ok(LinkAttribute::IfName(n)) => name = Some(n),
            Ok(LinkAttribute::Address(bytes)) => {
                if let Ok(m) = <[u8; 6]>::try_from(bytes.as_slice()) {
                    if m != [0u8; 6] {
                        mac = Some(m);
                    }
                }
            }
            _ => {}
        }
    }
    Some(Link {
        index: header.index,
        name: name?,
        up: header.flags.contains(LinkFlags::Up),
        running: header.flags.contains(LinkFlags::Running),
        mac,
    })
}

/// Decode an RTM_NEWADDR payload into (ifindex, entry).
pub fn decode_addr(payload: &[u8]) -> Option<(u32, AddrEntry)> {
    let header = AddressHeader::parse(payload).ok()?;
    let attrs = payload.get(8..).unwrap_or(&[]);
    let mut local = None;
    let mut address = None;
    let mut label = None;
    let mut flags = None;
    let mut valid_lft = None;
    for nla in NlasIterator::new(attrs) {
        let Ok(nla) = nla else { break };
        match AddressAttribute::parse(&nla) {
            Ok(AddressAttribute::Local(a)) => local = Some(a),
            Ok(AddressAttribute::Address(a)) => address = Some(a),
            Ok(AddressAttribute::Label(l)) => label = Some(l),
            Ok(AddressAttribute::Flags(f)) => flags = Some(f.bits()),
            Ok(AddressAttribute::CacheInfo(ci)) => {
                valid_lft = (ci.ifa_valid != INFINITY_LIFE_TIME).then_some(ci.ifa_valid);
            }
            _ => {}
        }
    }
    // IFA_LOCAL is our own address; IFA_ADDRESS is the peer on point-to-point links.
    let addr = local.or(address)?;
    Some((
        header.index,
        AddrEntry {
            addr,
            prefix: header.prefix_len,
            valid_lft,
            label,
            flags: flags.unwrap_or(u32::from(header.flags.bits())),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::process::Command;

    const IFA_F_NODAD: u32 = 0x02;

    /// A network namespace made for one test, removed on drop (also on panic).
    struct Ns {
        name: String,
    }

    impl Ns {
        fn new(tag: &str) -> Ns {
            let name = format!("vip-netlink-{}-{}", std::process::id(), tag);
            let _ = Command::new("ip")
                .args(["netns", "del", &name])
                .stderr(std::process::Stdio::null())
                .status();
            sh(&["ip", "netns", "add", &name]);
            Ns { name }
        }

        fn ip(&self, args: &[&str]) -> String {
            let mut full = vec!["ip", "-n", self.name.as_str()];
            full.extend_from_slice(args);
            sh(&full)
        }

        /// veth pair a/b inside the namespace; `up` brings both ends up.
        fn veth(&self, a: &str, b: &str, up: bool) {
            self.ip(&["link", "add", "name", a, "type", "veth", "peer", "name", b]);
            if up {
                self.ip(&["link", "set", "dev", a, "up"]);
                self.ip(&["link", "set", "dev", b, "up"]);
            }
        }

        /// Run `f` on a thread that has entered this namespace.
        fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
            let path = format!("/run/netns/{}", self.name);
            std::thread::scope(|s| {
                let handle = s.spawn(move || {
                    let file = std::fs::File::open(&path).expect("open netns");
                    // SAFETY: valid fd; setns affects only this thread, which ends here.
                    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                    assert_eq!(rc, 0, "setns: {}", io::Error::last_os_error());
                    f()
                });
                match handle.join() {
                    Ok(v) => v,
                    Err(p) => std::panic::resume_unwind(p),
                }
            })
        }

        fn addr_json(&self, dev: &str) -> String {
            self.ip(&["-j", "addr", "show", "dev", dev])
        }
    }

    impl Drop for Ns {
        fn drop(&mut self) {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.name])
                .status();
        }
    }

    fn sh(args: &[&str]) -> String {
        let out = Command::new(args[0])
            .args(&args[1..])
            .output()
            .expect("spawn");
        assert!(
            out.status.success(),
            "{:?} failed: {}",
            args,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The flat `addr_info` object of `ip -j addr` that has `"local":"<addr>"`.
    fn addr_obj(json: &str, addr: &str) -> Option<String> {
        let key = format!("\"local\":\"{addr}\"");
        let pos = json.find(&key)?;
        let start = json[..pos].rfind('{')?;
        let end = pos + json[pos..].find('}')?;
        Some(json[start..=end].to_string())
    }

    /// Raw text of a field in a flat JSON object (numbers, true/false, quoted strings).
    fn field(obj: &str, key: &str) -> Option<String> {
        let k = format!("\"{key}\":");
        let pos = obj.find(&k)? + k.len();
        let rest = &obj[pos..];
        let end = rest.find([',', '}'])?;
        Some(rest[..end].trim_matches('"').to_string())
    }

    fn mac_text(mac: [u8; 6]) -> String {
        mac.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    fn stats(mut v: Vec<Duration>) -> String {
        v.sort();
        let n = v.len();
        format!(
            "n={} min={:?} median={:?} p99={:?} max={:?}",
            n,
            v[0],
            v[n / 2],
            v[(n * 99 / 100).min(n - 1)],
            v[n - 1]
        )
    }

    #[test]
    #[ignore = "needs root (network namespaces): make test runs it"]
    fn link_lookup() {
        let ns = Ns::new("link");
        ns.veth("a", "b", true);
        ns.veth("c", "d", false);
        let json = ns.ip(&["-j", "link", "show", "dev", "a"]);
        let want_mac = field(&json, "address").expect("mac in ip output");
        let want_index: u32 = field(&json, "ifindex").unwrap().parse().unwrap();
        ns.run(|| {
            let mut nl = Netlink::open().unwrap();
            let a = nl.link_by_name("a").unwrap().expect("a exists");
            assert_eq!(a.name, "a");
            assert_eq!(a.index, want_index);
            assert_eq!(mac_text(a.mac.expect("a has a MAC")), want_mac);
            assert!(a.up);
            assert!(a.running);
            let c = nl.link_by_name("c").unwrap().expect("c exists");
            assert!(!c.up);
            assert!(!c.running);
            assert!(c.mac.is_some());
            let lo = nl.link_by_name("lo").unwrap().expect("lo exists");
            assert_eq!(lo.mac, None, "all-zero MAC is reported as None");
            assert_eq!(nl.link_by_name("nope").unwrap(), None);
            assert_eq!(nl.link_by_name("").unwrap(), None);
            assert_eq!(nl.link_by_name("a-very-long-interface").unwrap(), None);
        });
    }

    #[test]
    #[ignore = "needs root (network namespaces): make test runs it"]
    fn ipv4_add_refresh_list_delete() {
        let ns = Ns::new("v4");
        ns.veth("a", "b", true);
        ns.ip(&["addr", "add", "198.51.100.1/24", "dev", "b"]);
        let peer = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
        let vip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100));
        let idx = ns.run(|| {
            let mut nl = Netlink::open().unwrap();
            let idx = nl.link_by_name("a").unwrap().unwrap().index;
            let t = Instant::now();
            nl.ensure_address(idx, vip, 24, 2, Some("a:vip")).unwrap();
            eprintln!("netlink: first add took {:?}", t.elapsed());
            idx
        });

        let json = ns.addr_json("a");
        let obj = addr_obj(&json, "192.0.2.100").expect("address present");
        assert_eq!(field(&obj, "prefixlen").as_deref(), Some("24"));
        assert_eq!(field(&obj, "label").as_deref(), Some("a:vip"));
        let valid: u32 = field(&obj, "valid_life_time").unwrap().parse().unwrap();
        assert!(valid <= 2, "valid_lft {valid}");

        ns.run(|| {
            let mut nl = Netlink::open().unwrap();
            // Refresh: no EEXIST, no duplicate. Measure the latency on the way.
            let mut lat = Vec::new();
            for _ in 0..200 {
                let t = Instant::now();
                nl.ensure_address(idx, vip, 24, 2, Some("a:vip")).unwrap();
                lat.push(t.elapsed());
            }
            eprintln!("netlink: refresh latency {}", stats(lat));

            let list = nl.addresses(idx).unwrap();
            let mine: Vec<_> = list.iter().filter(|e| e.addr == vip).collect();
            assert_eq!(mine.len(), 1, "{list:?}");
            let e = mine[0];
            assert_eq!(e.prefix, 24);
            assert_eq!(e.label.as_deref(), Some("a:vip"));
            assert!(matches!(e.valid_lft, Some(v) if v <= 2), "{e:?}");
            // Listing is filtered by ifindex: the peer's address is not here.
            assert!(list.iter().all(|e| e.addr != peer), "{list:?}");

            // Refresh to permanent.
            nl.ensure_address(idx, vip, 24, 0, Some("a:vip")).unwrap();
            let list = nl.addresses(idx).unwrap();
            let e = list.iter().find(|e| e.addr == vip).unwrap();
            assert_eq!(e.valid_lft, None, "{e:?}");

            // Kernel errors keep their errno.
            let long = nl
                .ensure_address(idx, vip, 24, 2, Some("a:0123456789abcdef"))
                .unwrap_err();
            assert!(long.is(libc::ERANGE), "{long}");
            assert_eq!(long.op, Op::AddAddress);
            let nodev = nl.ensure_address(999_999, vip, 24, 2, None).unwrap_err();
            assert!(nodev.is(libc::ENODEV), "{nodev}");
            eprintln!("netlink: errors look like: {long} / {nodev}");

            assert!(nl.delete_address(idx, vip, 24).unwrap());
            assert!(!nl.delete_address(idx, vip, 24).unwrap());
            assert!(!nl.delete_address(999_999, vip, 24).unwrap());
            assert!(nl.addresses(idx).unwrap().iter().all(|e| e.addr != vip));
        });
        assert!(addr_obj(&ns.addr_json("a"), "192.0.2.100").is_none());
    }

    #[test]
    #[ignore = "needs root (network namespaces): make test runs it"]
    fn ipv6_nodad_not_preferred() {
        let ns = Ns::new("v6");
        ns.veth("a", "b", true);
        let vip = IpAddr::V6("2001:db8::100".parse::<Ipv6Addr>().unwrap());
        let idx = ns.run(|| {
            let mut nl = Netlink::open().unwrap();
            let idx = nl.link_by_name("a").unwrap().unwrap().index;
            // The label is ignored for IPv6 (the kernel would reject IFA_LABEL otherwise).
            nl.ensure_address(idx, vip, 64, 0, Some("a:vip")).unwrap();
            nl.ensure_address(idx, vip, 64, 0, None).unwrap();
            idx
        });
        let json = ns.addr_json("a");
        let obj = addr_obj(&json, "2001:db8::100").expect("address present");
        assert_eq!(field(&obj, "nodad").as_deref(), Some("true"), "{obj}");
        assert_eq!(field(&obj, "preferred_life_time").as_deref(), Some("0"));
        assert_eq!(field(&obj, "tentative"), None, "{obj}");
        assert_eq!(json.matches("2001:db8::100").count(), 1, "{json}");

        ns.run(|| {
            let mut nl = Netlink::open().unwrap();
            let list = nl.addresses(idx).unwrap();
            let e = list.iter().find(|e| e.addr == vip).expect("listed");
            assert_eq!(e.prefix, 64);
            assert_eq!(e.valid_lft, None);
            assert_ne!(e.flags & IFA_F_NODAD, 0);
            assert_eq!(e.label, None);
            // A finite lifetime for IPv6 as well.
            nl.ensure_address(idx, vip, 64, 30, None).unwrap();
            let list = nl.addresses(idx).unwrap();
            let e = list.iter().find(|e| e.addr == vip).unwrap();
            assert!(matches!(e.valid_lft, Some(v) if v <= 30), "{e:?}");
            assert!(nl.delete_address(idx, vip, 64).unwrap());
            assert!(!nl.delete_address(idx, vip, 64).unwrap());
        });
    }

    #[test]
    #[ignore = "needs root (network namespaces): make test runs it"]
    fn lifetime_expires_unless_refreshed() {
        let ns = Ns::new("lft");
        ns.veth("a", "b", true);
        // Different subnets: expiry of a primary would take its secondaries along.
        let lone = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
        let kept = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 11));
        ns.run(|| {
            let mut nl = Netlink::open().unwrap();
            let idx = nl.link_by_name("a").unwrap().unwrap().index;
            nl.ensure_address(idx, lone, 24, 2, None).unwrap();
            let start = Instant::now();
            let mut refreshed = Instant::now() - Duration::from_secs(1);
            let mut lone_gone_at = None;
            // Refresh `kept` every 500 ms, look at the table every 100 ms.
            while start.elapsed() < Duration::from_millis(3000) {
                if refreshed.elapsed() >= Duration::from_millis(500) {
                    nl.ensure_address(idx, kept, 24, 2, None).unwrap();
                    refreshed = Instant::now();
                }
                std::thread::sleep(Duration::from_millis(100));
                let list = nl.addresses(idx).unwrap();
                if lone_gone_at.is_none() && list.iter().all(|e| e.addr != lone) {
                    lone_gone_at = Some(start.elapsed());
                }
            }
            let list = nl.addresses(idx).unwrap();
            assert!(list.iter().all(|e| e.addr != lone), "{list:?}");
            assert!(list.iter().any(|e| e.addr == kept), "{list:?}");
            let gone = lone_gone_at.expect("expired");
            assert!(gone >= Duration::from_millis(1500), "{gone:?}");
            eprintln!("netlink: unrefreshed 2 s address seen gone after {gone:?} (100 ms polls)");
        });
    }

    #[test]
    #[ignore = "needs root (network namespaces): make test runs it"]
    fn monitor_sees_address_change() {
        let ns = Ns::new("mon");
        // Links stay down: no IPv6 link-local/DAD notifications to race with.
        ns.veth("a", "b", false);
        ns.run(|| {
            let mut mon = Monitor::open().unwrap();
            let mut nl = Netlink::open().unwrap();
            let idx = nl.link_by_name("a").unwrap().unwrap().index;
            let t = Instant::now();
            assert!(!mon.wait(Duration::from_millis(150)).unwrap());
            let waited = t.elapsed();
            assert!(waited >= Duration::from_millis(140), "{waited:?}");

            let vip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100));
            nl.ensure_address(idx, vip, 24, 0, None).unwrap();
            let t = Instant::now();
            assert!(mon.wait(Duration::from_secs(2)).unwrap());
            eprintln!(
                "netlink: monitor woke {:?} after the add's ACK",
                t.elapsed()
            );
            // Drained: nothing more is pending.
            assert!(!mon.wait(Duration::from_millis(50)).unwrap());
            assert!(!mon.wait(Duration::ZERO).unwrap());

            assert!(nl.delete_address(idx, vip, 24).unwrap());
            assert!(mon.wait(Duration::from_secs(2)).unwrap());
            // A link change is seen too.
            ns.ip(&["link", "set", "dev", "b", "up"]);
            assert!(mon.wait(Duration::from_secs(2)).unwrap());
        });
    }

    #[test]
    fn decoders_reject_garbage_without_panicking() {
        assert!(decode_link(&[]).is_none());
        assert!(decode_link(&[0u8; 7]).is_none());
        assert!(decode_addr(&[1, 2, 3]).is_none());
        // Header only, no address attribute.
        assert!(decode_addr(&[2, 24, 0, 0, 1, 0, 0, 0]).is_none());
        // Attribute with a length running past the end.
        assert!(decode_addr(&[2, 24, 0, 0, 1, 0, 0, 0, 200, 0, 1, 0, 1]).is_none());
        assert!(matches!(
            classify(Op::ListAddresses, NLMSG_ERROR, 0, &[1, 2]),
            Err(OsError {
                cause: crate::error::Cause::Protocol,
                ..
            })
        ));
        let code = (-libc::EPERM).to_ne_bytes();
        let e = match classify(Op::ListAddresses, NLMSG_ERROR, 0, &code) {
            Err(e) => e,
            Ok(_) => panic!("expected an error"),
        };
        assert_eq!(e.errno(), Some(libc::EPERM));
        assert!(matches!(
            classify(Op::ListAddresses, NLMSG_DONE, 0, &[]),
            Ok(Reply::Done)
        ));
        assert_eq!(ext_ack_message(&[5, 0]), None);
        assert_eq!(poll_millis(Duration::from_micros(1)), 1);
        assert_eq!(poll_millis(Duration::MAX), libc::c_int::MAX);
    }
}
