//! Kernel replies as data: one reply message sorted into data, completion or error (with
//! the errno and the extended-ack text), and RTM_NEWLINK / RTM_NEWADDR payloads decoded
//! attribute by attribute. Pure: bytes in, values out; the fuzz targets call these.

use std::net::IpAddr;
use std::num::NonZeroI32;

use netlink_packet_core::{
    parse_string, ErrorBuffer, NlasIterator, Parseable, ParseableParametrized, NLA_TYPE_MASK,
    NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, NLM_F_ACK_TLVS, NLM_F_CAPPED,
};
use netlink_packet_route::address::{AddressAttribute, AddressHeader};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkHeader};

use crate::error::{Op, OsError};

/// Kernel value for "forever" in `struct ifa_cacheinfo`.
pub(super) const INFINITY_LIFE_TIME: u32 = u32::MAX;
/// `NLMSGERR_ATTR_MSG`: extended-ack text.
const NLMSGERR_ATTR_MSG: u16 = 1;
pub(super) const NLMSG_HDRLEN: usize = 16;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
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

/// What one decoded reply message was.
pub enum Reply<'a> {
    /// RTM_* payload for the caller, with its netlink message type.
    Data(u16, &'a [u8]),
    /// ACK (`NLMSG_ERROR` with code 0) or `NLMSG_DONE`: the request is complete.
    Done,
}

pub(super) fn align4(len: usize) -> usize {
    len.saturating_add(3) & !3
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

pub(super) fn ext_ack_message(tlvs: &[u8]) -> Option<String> {
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
