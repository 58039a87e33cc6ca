//! Announcement frames, encoded and decoded as bytes: no sockets, no clock.
//!
//! Claiming a VIP means telling the segment "this IP now lives at this MAC":
//! a gratuitous ARP for IPv4 (RFC 5227 §3, as keepalived sends it) and an
//! unsolicited Neighbor Advertisement for IPv6 (RFC 4861 §7.2.6). The decoders
//! read the same claim back from frames someone else sent, so the worker can
//! notice another host announcing our VIP.
//!
//! Every frame here is a complete Ethernet II frame, ready for an AF_PACKET
//! `SOCK_RAW` socket (no VLAN tag: the kernel adds or strips those).

use std::net::{Ipv4Addr, Ipv6Addr};

/// Length of a gratuitous ARP frame: Ethernet header (14) + ARP for IPv4 over Ethernet (28).
pub const GARP_LEN: usize = 42;

/// Length of our unsolicited NA frame: Ethernet (14) + IPv6 (40) + NA (24) + one option (8).
pub const NA_LEN: usize = ETH_LEN + IPV6_LEN + NA_MSG_LEN + TLLA_LEN;

const ETH_LEN: usize = 14;
const IPV6_LEN: usize = 40;
/// ICMPv6 type, code, checksum, flags+reserved, target address (RFC 4861 §4.4).
const NA_MSG_LEN: usize = 24;
/// Target link-layer address option for Ethernet: type, length, 6-byte MAC (RFC 4861 §4.6.1).
const TLLA_LEN: usize = 8;

const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

const ARP_HTYPE_ETHERNET: u16 = 1;
const ARP_OP_REQUEST: u16 = 1;
const ARP_OP_REPLY: u16 = 2;

const IPPROTO_ICMPV6: u8 = 58;
const ICMPV6_NEIGHBOR_ADVERTISEMENT: u8 = 136;
/// RFC 4861 §4.6: option type 2 is Target Link-Layer Address.
const ND_OPT_TARGET_LINK_ADDR: u8 = 2;
/// RFC 4861 §4.4 flags byte: R = 0x80, S = 0x40, O = 0x20.
const NA_FLAG_OVERRIDE: u8 = 0x20;
/// RFC 4861 §7.1.2 / §7.2.6: ND packets are sent, and only accepted, with hop limit 255,
/// which proves they were not forwarded by a router.
const ND_HOP_LIMIT: u8 = 255;

const BROADCAST_MAC: [u8; 6] = [0xff; 6];
/// RFC 2464 §7: IPv6 multicast ff02::1 maps to 33:33 + its low 32 bits.
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0x00, 0x00, 0x00, 0x01];
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// A gratuitous ARP claiming `ip` for `mac`.
///
/// Sent as a broadcast ARP *request* (op 1) with sender IP = target IP = the VIP and
/// target MAC zero, as keepalived does (RFC 5227 §3 "ARP Announcement"). Linux updates
/// an existing neighbour entry from it at once; a reply (op 2) would only count as
/// gratuitous if its target MAC equalled the sender's.
pub fn gratuitous_arp(mac: [u8; 6], ip: Ipv4Addr) -> [u8; GARP_LEN] {
    let ip = ip.octets();
    let mut f = [0u8; GARP_LEN];
    // Ethernet II header.
    f[0..6].copy_from_slice(&BROADCAST_MAC);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    // ARP (RFC 826): hardware Ethernet, protocol IPv4.
    f[14..16].copy_from_slice(&ARP_HTYPE_ETHERNET.to_be_bytes());
    f[16..18].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    f[18] = 6; // hardware address length
    f[19] = 4; // protocol address length
    f[20..22].copy_from_slice(&ARP_OP_REQUEST.to_be_bytes());
    f[22..28].copy_from_slice(&mac); // sender hardware address
    f[28..32].copy_from_slice(&ip); // sender protocol address
    f[32..38].fill(0); // target hardware address: zero in a request
    f[38..42].copy_from_slice(&ip); // target protocol address
    f
}

/// An unsolicited Neighbor Advertisement claiming `ip` for `mac` (RFC 4861 §7.2.6).
///
/// Sent from the VIP itself to all-nodes ff02::1 with hop limit 255. Flags: Override set
/// so receivers replace the cached MAC; Solicited clear because nobody asked (§7.2.6);
/// Router clear, we are a host. Carries the Target Link-Layer Address option, which
/// §4.4 requires on NAs sent to a multicast address.
pub fn unsolicited_na(mac: [u8; 6], ip: Ipv6Addr) -> Vec<u8> {
    let src = ip.octets();
    let dst = ALL_NODES.octets();
    let payload_len = (NA_MSG_LEN + TLLA_LEN) as u16;

    let mut f = Vec::with_capacity(NA_LEN);
    // Ethernet II header.
    f.extend_from_slice(&ALL_NODES_MAC);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    // IPv6 header (RFC 8200 §3): version 6, traffic class 0, flow label 0.
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&payload_len.to_be_bytes());
    f.push(IPPROTO_ICMPV6);
    f.push(ND_HOP_LIMIT);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    // Neighbor Advertisement (RFC 4861 §4.4).
    let icmp_start = f.len();
    f.push(ICMPV6_NEIGHBOR_ADVERTISEMENT);
    f.push(0); // code
    f.extend_from_slice(&[0, 0]); // checksum, filled in below
    f.extend_from_slice(&[NA_FLAG_OVERRIDE, 0, 0, 0]); // R S O flags + reserved
    f.extend_from_slice(&src); // target address
    f.extend_from_slice(&[ND_OPT_TARGET_LINK_ADDR, 1]); // option TLLA (§4.6.1), 1 x 8 bytes
    f.extend_from_slice(&mac); // its link-layer address

    let sum = icmpv6_checksum(&src, &dst, &f[icmp_start..]);
    f[icmp_start + 2..icmp_start + 4].copy_from_slice(&sum.to_be_bytes());
    f
}

/// ICMPv6 checksum (RFC 4443 §2.3): the one's complement of the one's complement sum
/// over the IPv6 pseudo-header (RFC 8200 §8.1: source, destination, upper-layer length
/// as 32 bits, three zero bytes, next header 58) followed by the ICMPv6 message with
/// its checksum field zero.
fn icmpv6_checksum(src: &[u8; 16], dst: &[u8; 16], message: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut add = |bytes: &[u8]| {
        for pair in bytes.chunks(2) {
            let hi = pair.first().copied().unwrap_or(0);
            let lo = pair.get(1).copied().unwrap_or(0); // odd length: pad with zero
            sum += u64::from(u16::from_be_bytes([hi, lo]));
        }
    };
    add(src);
    add(dst);
    add(&(message.len() as u32).to_be_bytes());
    add(&[0, 0, 0, IPPROTO_ICMPV6]);
    add(message);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Who claims an IPv4 address: (sender IP, sender MAC) of any ARP request or reply for
/// IPv4 over Ethernet. Every ARP packet updates the receivers' caches for its sender
/// (RFC 826 "merge"), so any of them is a claim, gratuitous or not.
///
/// `None` for anything that is not such a frame. Trailing bytes (Ethernet padding to
/// 60 bytes) are allowed.
pub fn arp_claim(frame: &[u8]) -> Option<(Ipv4Addr, [u8; 6])> {
    if be16(frame, 12)? != ETHERTYPE_ARP
        || be16(frame, 14)? != ARP_HTYPE_ETHERNET
        || be16(frame, 16)? != ETHERTYPE_IPV4
        || *frame.get(18)? != 6
        || *frame.get(19)? != 4
    {
        return None;
    }
    let op = be16(frame, 20)?;
    if op != ARP_OP_REQUEST && op != ARP_OP_REPLY {
        return None;
    }
    let sender_mac: [u8; 6] = bytes(frame, 22)?;
    let sender_ip: [u8; 4] = bytes(frame, 28)?;
    // Make sure the whole ARP body is there, not just the fields we read.
    frame.get(..GARP_LEN)?;
    Some((Ipv4Addr::from(sender_ip), sender_mac))
}

/// Who claims an IPv6 address: (target address, MAC) of a Neighbor Advertisement.
/// The MAC is the Target Link-Layer Address option when present, else the Ethernet
/// source (RFC 4861 §7.2.5 lets a solicited NA omit it).
///
/// Applies the validity checks of RFC 4861 §7.1.2 that need no state: IPv6 without
/// extension headers, next header ICMPv6, hop limit 255, code 0, ICMP length at least
/// 24, target not multicast, no option of length zero. The ICMPv6 checksum is not
/// verified: a frame sent by a local stack (over veth or a bridge) can reach a packet
/// socket before checksum offload has filled it in. `None` for anything else.
pub fn na_claim(frame: &[u8]) -> Option<(Ipv6Addr, [u8; 6])> {
    if be16(frame, 12)? != ETHERTYPE_IPV6 {
        return None;
    }
    let ip = frame.get(ETH_LEN..)?;
    if ip.first()? >> 4 != 6 || *ip.get(6)? != IPPROTO_ICMPV6 || *ip.get(7)? != ND_HOP_LIMIT {
        return None;
    }
    let payload_len = usize::from(be16(ip, 4)?);
    // The payload length bounds the message: anything after it is link padding.
    let icmp = ip.get(IPV6_LEN..)?.get(..payload_len)?;
    if payload_len < NA_MSG_LEN
        || *icmp.first()? != ICMPV6_NEIGHBOR_ADVERTISEMENT
        || *icmp.get(1)? != 0
    {
        return None;
    }
    let target = Ipv6Addr::from(bytes::<16>(icmp, 8)?);
    if target.is_multicast() {
        return None;
    }

    let mut mac = None;
    let mut options = icmp.get(NA_MSG_LEN..)?;
    while !options.is_empty() {
        let kind = *options.first()?;
        // Option length counts 8-byte units; zero is invalid and poisons the packet (§4.6).
        let len = usize::from(*options.get(1)?) * 8;
        if len == 0 {
            return None;
        }
        let option = options.get(..len)?;
        if kind == ND_OPT_TARGET_LINK_ADDR && mac.is_none() {
            mac = Some(bytes::<6>(option, 2)?);
        }
        options = options.get(len..)?;
    }
    let mac = match mac {
        Some(mac) => mac,
        None => bytes::<6>(frame, 6)?,
    };
    Some((target, mac))
}

fn be16(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes(buf, at)?))
}

fn bytes<const N: usize>(buf: &[u8], at: usize) -> Option<[u8; N]> {
    buf.get(at..at.checked_add(N)?)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7042 §2.1.1 documentation MAC range 00:00:5e:00:53:00–ff.
    const MAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x53, 0x01];
    const OTHER_MAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x53, 0xaa];
    const VIP4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
    const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

    #[rustfmt::skip]
    const GARP_192_0_2_10: [u8; 42] = [
        // Ethernet: broadcast dst, our src, ARP
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0x00, 0x00, 0x5e, 0x00, 0x53, 0x01,
        0x08, 0x06,
        // htype 1, ptype IPv4, hlen 6, plen 4, op 1 (request)
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,
        // sender MAC, sender IP 192.0.2.10
        0x00, 0x00, 0x5e, 0x00, 0x53, 0x01, 0xc0, 0x00, 0x02, 0x0a,
        // target MAC zero, target IP 192.0.2.10
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x02, 0x0a,
    ];

    /// Built independently in Python (struct + a hand-rolled RFC 1071 sum); the checksum
    /// 0x4a2a re-sums to 0xffff over pseudo-header + message.
    #[rustfmt::skip]
    const NA_2001_DB8_1: [u8; 86] = [
        // Ethernet: 33:33:00:00:00:01, our src, IPv6
        0x33, 0x33, 0x00, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x5e, 0x00, 0x53, 0x01,
        0x86, 0xdd,
        // IPv6: version 6, payload 32, next header 58, hop limit 255
        0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff,
        // src 2001:db8::1
        0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        // dst ff02::1
        0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        // ICMPv6 type 136 code 0 checksum 0x4a2a; flags O; reserved
        0x88, 0x00, 0x4a, 0x2a, 0x20, 0x00, 0x00, 0x00,
        // target 2001:db8::1
        0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        // option 2 (target link-layer address), length 1, MAC
        0x02, 0x01, 0x00, 0x00, 0x5e, 0x00, 0x53, 0x01,
    ];

    #[test]
    fn garp_matches_the_frame_written_out_by_hand() {
        assert_eq!(gratuitous_arp(MAC, VIP4), GARP_192_0_2_10);
    }

    #[test]
    fn na_matches_the_frame_written_out_by_hand() {
        let na = unsolicited_na(MAC, VIP6);
        assert_eq!(na.len(), NA_LEN);
        assert_eq!(na, NA_2001_DB8_1);
    }

    #[test]
    fn na_checksums_match_an_independent_computation() {
        // (mac, target, checksum computed in Python): all-ones words exercise the carries.
        let cases: [([u8; 6], &str, u16); 4] = [
            (MAC, "2001:db8::1", 0x4a2a),
            (
                [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff],
                "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
                0xfc2d,
            ),
            ([0; 6], "2001:db8::", 0xfb2d),
            (OTHER_MAC, "2001:db8:0:1::42", 0x48fd),
        ];
        for (mac, ip, want) in cases {
            let ip: Ipv6Addr = ip.parse().unwrap();
            let na = unsolicited_na(mac, ip);
            assert_eq!(be16(&na, 56), Some(want), "{ip}");
            // Summing the pseudo-header and the message with its checksum gives 0xffff,
            // so recomputing over the finished message yields zero.
            let src = ip.octets();
            assert_eq!(
                icmpv6_checksum(&src, &ALL_NODES.octets(), &na[54..]),
                0,
                "{ip}"
            );
        }
    }

    #[test]
    fn na_flags_are_override_only() {
        let na = unsolicited_na(MAC, VIP6);
        let flags = na[ETH_LEN + IPV6_LEN + 4];
        assert_eq!(flags & 0x80, 0, "Router must be clear");
        assert_eq!(flags & 0x40, 0, "Solicited must be clear (RFC 4861 §7.2.6)");
        assert_eq!(flags & 0x20, 0x20, "Override must be set");
    }

    #[test]
    fn checksum_pads_an_odd_message() {
        // RFC 1071: an odd trailing byte is summed as the high byte of a zero-padded word.
        let zero = [0u8; 16];
        let odd = icmpv6_checksum(&zero, &zero, &[0x12]);
        let even = icmpv6_checksum(&zero, &zero, &[0x12, 0x00]);
        // Same words, different upper-layer length (1 vs 2) in the pseudo-header.
        assert_eq!(odd.wrapping_sub(even), 1);
    }

    #[test]
    fn round_trips() {
        let v4 = [
            Ipv4Addr::new(192, 0, 2, 0),
            VIP4,
            Ipv4Addr::new(192, 0, 2, 255),
        ];
        for ip in v4 {
            for mac in [MAC, OTHER_MAC, [0xff; 6]] {
                assert_eq!(arp_claim(&gratuitous_arp(mac, ip)), Some((ip, mac)));
            }
        }
        let v6: [Ipv6Addr; 3] = [
            VIP6,
            "2001:db8::".parse().unwrap(),
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap(),
        ];
        for ip in v6 {
            for mac in [MAC, OTHER_MAC, [0; 6]] {
                assert_eq!(na_claim(&unsolicited_na(mac, ip)), Some((ip, mac)));
            }
        }
    }

    #[test]
    fn every_truncation_is_rejected() {
        let garp = gratuitous_arp(MAC, VIP4);
        for len in 0..garp.len() {
            assert_eq!(arp_claim(&garp[..len]), None, "GARP cut to {len} bytes");
        }
        let na = unsolicited_na(MAC, VIP6);
        for len in 0..na.len() {
            assert_eq!(na_claim(&na[..len]), None, "NA cut to {len} bytes");
        }
    }

    #[test]
    fn ethernet_padding_is_accepted() {
        // Short frames are padded to 60 bytes on the wire.
        let mut padded = gratuitous_arp(MAC, VIP4).to_vec();
        padded.resize(60, 0);
        assert_eq!(arp_claim(&padded), Some((VIP4, MAC)));
        let mut padded = unsolicited_na(MAC, VIP6);
        padded.extend_from_slice(&[0xee; 10]);
        assert_eq!(na_claim(&padded), Some((VIP6, MAC)));
    }

    #[test]
    fn arp_reply_is_a_claim_too() {
        let mut reply = gratuitous_arp(OTHER_MAC, VIP4);
        reply[21] = 2;
        reply[32..38].copy_from_slice(&OTHER_MAC);
        assert_eq!(arp_claim(&reply), Some((VIP4, OTHER_MAC)));
    }

    #[test]
    fn arp_with_wrong_fields_is_rejected() {
        // (case, byte offset, replacement value)
        let cases: [(&str, usize, u8); 7] = [
            ("ethertype IPv4", 13, 0x00),
            ("htype 6 (IEEE 802)", 15, 6),
            ("ptype IPv6", 16, 0x86),
            ("hlen 8", 18, 8),
            ("plen 16", 19, 16),
            ("op 3 (RARP request)", 21, 3),
            ("op 0", 21, 0),
        ];
        for (case, at, value) in cases {
            let mut frame = gratuitous_arp(MAC, VIP4);
            frame[at] = value;
            assert_eq!(arp_claim(&frame), None, "{case}");
        }
    }

    #[test]
    fn na_with_wrong_fields_is_rejected() {
        // (case, byte offset, replacement value)
        let cases: [(&str, usize, u8); 8] = [
            ("ethertype ARP", 12, 0x08),
            ("IP version 4", 14, 0x40),
            ("next header 0 (hop-by-hop)", 20, 0),
            ("hop limit 64, i.e. forwarded", 21, 64),
            ("type 135 (solicitation)", 54, 135),
            ("code 1", 55, 1),
            ("multicast target", 62, 0xff),
            ("option of length zero", 79, 0),
        ];
        for (case, at, value) in cases {
            let mut frame = unsolicited_na(MAC, VIP6);
            frame[at] = value;
            assert_eq!(na_claim(&frame), None, "{case}");
        }
        // A payload length running past the frame.
        let mut frame = unsolicited_na(MAC, VIP6);
        frame[19] = 33;
        assert_eq!(na_claim(&frame), None, "payload length past the end");
        // A payload length too short for an NA.
        frame[19] = 23;
        assert_eq!(na_claim(&frame), None, "payload length 23");
    }

    #[test]
    fn na_without_option_falls_back_to_ethernet_source() {
        let mut frame = unsolicited_na(MAC, VIP6);
        frame.truncate(NA_LEN - TLLA_LEN);
        frame[19] = NA_MSG_LEN as u8;
        frame[6..12].copy_from_slice(&OTHER_MAC);
        assert_eq!(na_claim(&frame), Some((VIP6, OTHER_MAC)));
    }

    #[test]
    fn na_option_after_another_option_is_found() {
        // A nonce option (type 14, RFC 3971 §5.3.2) of 8 bytes before the TLLA.
        let mut frame = unsolicited_na(MAC, VIP6);
        let tlla = frame.split_off(NA_LEN - TLLA_LEN);
        frame.extend_from_slice(&[14, 1, 1, 2, 3, 4, 5, 6]);
        frame.extend_from_slice(&tlla);
        frame[19] = (NA_MSG_LEN + 2 * TLLA_LEN) as u8;
        assert_eq!(na_claim(&frame), Some((VIP6, MAC)));
        // An option that claims to run past the payload.
        frame[NA_LEN - TLLA_LEN + 1] = 3;
        assert_eq!(na_claim(&frame), None);
    }

    #[test]
    fn garbage_never_panics() {
        // A small deterministic generator: no extra crates, same bytes every run.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let templates = [
            gratuitous_arp(MAC, VIP4).to_vec(),
            unsolicited_na(MAC, VIP6),
        ];
        for round in 0..20_000 {
            // Mostly-valid frames with a few random bytes changed, and random lengths.
            let mut frame = templates[round % 2].clone();
            let len = (next() % 100) as usize;
            frame.resize(len, (next() & 0xff) as u8);
            for _ in 0..(next() % 4) {
                if !frame.is_empty() {
                    let at = (next() as usize) % frame.len();
                    frame[at] = (next() & 0xff) as u8;
                }
            }
            let _ = arp_claim(&frame);
            let _ = na_claim(&frame);
        }
        // Extreme option lengths: 255 * 8 bytes claimed by a short frame.
        let mut frame = unsolicited_na(MAC, VIP6);
        frame[79] = 255;
        assert_eq!(na_claim(&frame), None);
        frame[19] = 0xff;
        frame[18] = 0xff;
        assert_eq!(na_claim(&frame), None);
    }
}
