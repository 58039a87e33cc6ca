//! One datagram from the kernel on a NETLINK_ROUTE socket: split into messages the way
//! `Netlink::request` splits it (the same `NetlinkBuffer` checks, the same 4-byte
//! alignment), each message sorted by `netlink::classify` (ACK, NLMSG_DONE, NACK with its
//! extended-ack text, data), each data payload decoded by `netlink::decode_link` and
//! `netlink::decode_addr`.
//!
//! Differences from the real loop, all to reach more code per input: the sequence number is
//! not checked, every data payload goes to both decoders whatever its type, and the walk
//! goes on after an ACK or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netlink_packet_core::NetlinkBuffer;
use redis_vip::error::Op;
use redis_vip::netlink::{self, Reply};

/// sizeof(struct nlmsghdr).
const NLMSG_HDRLEN: usize = 16;

fuzz_target!(|datagram: &[u8]| {
    let mut rest = datagram;
    while rest.len() >= NLMSG_HDRLEN {
        let Ok(nl) = NetlinkBuffer::new_checked(rest) else {
            return; // `request` fails the whole request here
        };
        let len = nl.length() as usize;
        let payload = nl.payload();
        match netlink::classify(Op::ListAddresses, nl.message_type(), nl.flags(), payload) {
            Ok(Reply::Data(_, data)) => {
                let _ = netlink::decode_link(data);
                let _ = netlink::decode_addr(data);
            }
            Ok(Reply::Done) => {}
            Err(e) => assert!(e.errno().is_none_or(|errno| errno > 0), "{e:?}"),
        }
        rest = rest.get((len.saturating_add(3) & !3)..).unwrap_or(&[]);
    }
});
