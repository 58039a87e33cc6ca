//! The kernel filter of the claim listener: classic BPF that passes only claims of our
//! own addresses, and an interpreter in the tests that checks it frame by frame.

use std::net::IpAddr;

/// The most addresses of one family the kernel filter compares (`vip.address` allows 16).
const FILTER_MAX_ADDRS: usize = 16;

/// Classic BPF run by the kernel on every frame of the interface; only what it accepts is
/// queued to the listener (`ret #0` drops): ARP packets whose *sender* address is one of
/// `addrs` (every ARP packet updates its receivers' caches for its sender, so any of them is
/// a claim) and ICMPv6 Neighbor Advertisements whose *target* is one of them. Everything
/// else — other hosts' ARP, our own subnet's chatter, other VLANs — never leaves the kernel.
///
/// ```text
///     ld  vlan_avail            ; tag taken off by the NIC or by the kernel
///     jeq #0, next, drop        ; tagged: another VLAN's traffic
///     ldh [12]                  ; ethertype
///     jeq #0x0806, arp, next
///     jeq #0x86dd, na, drop
/// arp: ld [28]                  ; ARP sender protocol address
///     jeq #v4[i], accept, next  ; ... once per IPv4 address
///     ret #0
/// na: ldb [20]; jeq #58         ; IPv6 next header ICMPv6 (no extension header)
///     ldb [54]; jeq #136        ; Neighbor Advertisement
///     ld [62]; jeq #w0 ... ld [74]; jeq #w3, accept   ; target, per IPv6 address
///     ret #0
/// accept: ret #0xffffffff
/// ```
///
/// The VLAN test matters on a trunk: an ETH_P_ALL socket on `eth0` also sees the frames
/// of `eth0.100`, with the tag already removed, so another VLAN's ARP for the same
/// address would otherwise look like a claim on ours. The decoders in `packet` check the
/// rest of each frame in user space.
pub fn claim_filter(addrs: &[IpAddr]) -> Vec<libc::sock_filter> {
    const LD_W: u32 = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    const LD_H: u32 = libc::BPF_LD | libc::BPF_H | libc::BPF_ABS;
    const LD_B: u32 = libc::BPF_LD | libc::BPF_B | libc::BPF_ABS;
    const JEQ: u32 = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    const RET: u32 = libc::BPF_RET | libc::BPF_K;
    let v4: Vec<u32> = addrs
        .iter()
        .filter_map(|a| match a {
            IpAddr::V4(v) => Some(u32::from(*v)),
            IpAddr::V6(_) => None,
        })
        .take(FILTER_MAX_ADDRS)
        .collect();
    let v6: Vec<[u32; 4]> = addrs
        .iter()
        .filter_map(|a| match a {
            IpAddr::V6(v) => {
                let o = v.octets();
                Some(
                    [0, 4, 8, 12].map(|i| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]])),
                )
            }
            IpAddr::V4(_) => None,
        })
        .take(FILTER_MAX_ADDRS)
        .collect();

    // Build with symbolic targets, then resolve them into the relative jumps BPF wants.
    #[derive(Clone, Copy)]
    enum To {
        Next,
        Accept,
        Drop,
        Arp,
        Na,
        /// The instruction `n` ahead of the next one.
        Skip(usize),
    }
    let mut prog: Vec<(u32, u32, To, To)> = vec![
        (
            LD_W,
            SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT,
            To::Next,
            To::Next,
        ),
        (JEQ, 0, To::Next, To::Drop),
        (LD_H, 12, To::Next, To::Next),
        (JEQ, 0x0806, To::Arp, To::Next),
        (JEQ, 0x86dd, To::Na, To::Drop),
    ];
    let arp = prog.len();
    prog.push((LD_W, 28, To::Next, To::Next));
    for a in &v4 {
        prog.push((JEQ, *a, To::Accept, To::Next));
    }
    prog.push((RET, 0, To::Next, To::Next));
    let na = prog.len();
    prog.push((LD_B, 20, To::Next, To::Next));
    prog.push((JEQ, 58, To::Next, To::Drop));
    prog.push((LD_B, 54, To::Next, To::Next));
    prog.push((JEQ, 136, To::Next, To::Drop));
    for words in &v6 {
        for (i, w) in words.iter().enumerate() {
            prog.push((LD_W, 62 + 4 * i as u32, To::Next, To::Next));
            // A mismatch skips the rest of this address's loads and compares.
            let rest = 2 * (3 - i);
            let hit = if i == 3 { To::Accept } else { To::Next };
            prog.push((JEQ, *w, hit, To::Skip(rest)));
        }
    }
    prog.push((RET, 0, To::Next, To::Next));
    let drop = prog.len() - 1;
    let accept = prog.len();
    prog.push((RET, u32::MAX, To::Next, To::Next));

    let target = |at: usize, to: To| -> u8 {
        let dest = match to {
            To::Next => at + 1,
            To::Accept => accept,
            To::Drop => drop,
            To::Arp => arp,
            To::Na => na,
            To::Skip(n) => at + 1 + n,
        };
        // At most 16 addresses of each family keep every jump well below 255.
        u8::try_from(dest - (at + 1)).unwrap_or(0)
    };
    prog.iter()
        .enumerate()
        .map(|(at, (code, k, jt, jf))| {
            if *code == JEQ {
                bpf_jump(*code, *k, target(at, *jt), target(at, *jf))
            } else {
                bpf_stmt(*code, *k)
            }
        })
        .collect()
}

/// linux/filter.h: ancillary data lives at negative offsets in classic BPF loads.
const SKF_AD_OFF: u32 = (-0x1000i32) as u32;
const SKF_AD_VLAN_TAG_PRESENT: u32 = 48;

const fn bpf_stmt(code: u32, k: u32) -> libc::sock_filter {
    bpf_jump(code, k, 0, 0)
}

const fn bpf_jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// RFC 7042 documentation MACs.
    const MAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x53, 0x01];
    const OTHER_MAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x53, 0xaa];
    const VIP4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
    const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 10);

    /// Runs the claim filter the way the kernel's classic BPF interpreter would, for the
    /// few instructions it uses: a load past the end of the frame drops it.
    fn run_filter(program: &[libc::sock_filter], frame: &[u8], vlan_tagged: bool) -> u32 {
        const LD_W_ABS: u32 = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
        const LD_H_ABS: u32 = libc::BPF_LD | libc::BPF_H | libc::BPF_ABS;
        const LD_B_ABS: u32 = libc::BPF_LD | libc::BPF_B | libc::BPF_ABS;
        const JEQ_K: u32 = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
        const RET_K: u32 = libc::BPF_RET | libc::BPF_K;
        let mut acc: u32 = 0;
        let mut pc = 0;
        loop {
            let insn = &program[pc];
            let k = insn.k as usize;
            pc += 1;
            match u32::from(insn.code) {
                LD_W_ABS if insn.k == SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT => {
                    acc = u32::from(vlan_tagged)
                }
                LD_W_ABS => match frame.get(k..k + 4) {
                    Some(b) => acc = u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                    None => return 0,
                },
                LD_H_ABS => match frame.get(k..k + 2) {
                    Some(b) => acc = u32::from(u16::from_be_bytes([b[0], b[1]])),
                    None => return 0,
                },
                LD_B_ABS => match frame.get(k) {
                    Some(b) => acc = u32::from(*b),
                    None => return 0,
                },
                JEQ_K => pc += usize::from(if acc == insn.k { insn.jt } else { insn.jf }),
                RET_K => return insn.k,
                other => panic!("instruction {other:#x} not modelled"),
            }
        }
    }

    #[test]
    fn filter_passes_claims_and_drops_the_rest() {
        let garp = packet::gratuitous_arp(MAC, VIP4);
        let na = packet::unsolicited_na(MAC, VIP6);
        let mut solicitation = na.clone();
        solicitation[54] = 135;
        let mut hop_by_hop = na.clone();
        hop_by_hop[20] = 0;
        let mut ipv4 = garp;
        ipv4[12..14].copy_from_slice(&[0x08, 0x00]);
        // (case, frame, tagged, accepted)
        let cases: [(&str, &[u8], bool, bool); 9] = [
            ("GARP", &garp, false, true),
            ("NA", &na, false, true),
            ("GARP from another VLAN", &garp, true, false),
            ("NA from another VLAN", &na, true, false),
            ("NS", &solicitation, false, false),
            (
                "IPv6 with a hop-by-hop header (MLD)",
                &hop_by_hop,
                false,
                false,
            ),
            ("IPv4", &ipv4, false, false),
            ("NA cut before the ICMPv6 type", &na[..54], false, false),
            ("runt", &garp[..12], false, false),
        ];
        let program = claim_filter(&[IpAddr::V4(VIP4), IpAddr::V6(VIP6)]);
        for (case, frame, tagged, accepted) in cases {
            assert_eq!(run_filter(&program, frame, tagged) != 0, accepted, "{case}");
        }
    }

    #[test]
    fn filter_passes_only_claims_of_our_addresses() {
        let ours4 = [Ipv4Addr::new(192, 0, 2, 10), Ipv4Addr::new(192, 0, 2, 11)];
        let ours6 = [
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 10),
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 11),
        ];
        let addrs: Vec<IpAddr> = ours4
            .iter()
            .map(|a| IpAddr::V4(*a))
            .chain(ours6.iter().map(|a| IpAddr::V6(*a)))
            .collect();
        let program = claim_filter(&addrs);
        // (case, frame, accepted)
        let other6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 12);
        let near6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 1, 11);
        let mut arp_for_ours_from_other =
            packet::gratuitous_arp(OTHER_MAC, Ipv4Addr::new(192, 0, 2, 99));
        // a request from .99 asking who has .10 (target ours, sender not): not a claim
        arp_for_ours_from_other[38..42].copy_from_slice(&ours4[0].octets());
        let cases: Vec<(&str, Vec<u8>, bool)> = vec![
            (
                "GARP for the first VIP",
                packet::gratuitous_arp(OTHER_MAC, ours4[0]).to_vec(),
                true,
            ),
            (
                "GARP for the second VIP",
                packet::gratuitous_arp(OTHER_MAC, ours4[1]).to_vec(),
                true,
            ),
            (
                "GARP for another address",
                packet::gratuitous_arp(OTHER_MAC, Ipv4Addr::new(192, 0, 2, 12)).to_vec(),
                false,
            ),
            (
                "ARP asking for our VIP",
                arp_for_ours_from_other.to_vec(),
                false,
            ),
            (
                "NA for the first VIP",
                packet::unsolicited_na(OTHER_MAC, ours6[0]),
                true,
            ),
            (
                "NA for the second VIP",
                packet::unsolicited_na(OTHER_MAC, ours6[1]),
                true,
            ),
            (
                "NA for another address",
                packet::unsolicited_na(OTHER_MAC, other6),
                false,
            ),
            (
                "NA differing only in the third word",
                packet::unsolicited_na(OTHER_MAC, near6),
                false,
            ),
        ];
        for (case, frame, accepted) in cases {
            assert_eq!(run_filter(&program, &frame, false) != 0, accepted, "{case}");
        }
        // no addresses of a family: nothing of it passes
        let v4_only = claim_filter(&[IpAddr::V4(ours4[0])]);
        assert_eq!(
            run_filter(
                &v4_only,
                &packet::unsolicited_na(OTHER_MAC, ours6[0]),
                false
            ),
            0
        );
        // sixteen of each still fit the jumps
        let many: Vec<IpAddr> = (0..16u8)
            .map(|i| IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100 + i)))
            .chain(
                (0..16u16)
                    .map(|i| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100 + i))),
            )
            .collect();
        let big = claim_filter(&many);
        let last6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10f);
        assert_ne!(
            run_filter(&big, &packet::unsolicited_na(OTHER_MAC, last6), false),
            0
        );
        assert_ne!(
            run_filter(
                &big,
                &packet::gratuitous_arp(OTHER_MAC, Ipv4Addr::new(192, 0, 2, 115)),
                false
            ),
            0
        );
    }
}
