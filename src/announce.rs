//! The raw-socket side of announcements: send a GARP or unsolicited NA on one
//! interface, and listen for claims other hosts make on it.
//!
//! Frames are built by [`crate::packet`]; this file only owns the AF_PACKET sockets.
//! Both need CAP_NET_RAW: without it `socket()` fails with EPERM, which the caller turns
//! into an operator message. Errors keep the kernel's errno.

use std::io;
use std::mem;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

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
            fd: packet_socket(0)?,
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
        let fd = packet_socket(libc::SOCK_NONBLOCK)?;

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

    /// The socket, for poll(2) or epoll. It stays owned by the listener.
    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

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

fn packet_socket(flags: libc::c_int) -> Result<OwnedFd, OsError> {
    // SAFETY: plain system call; the result is checked before use.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | flags,
            0,
        )
    };
    if fd < 0 {
        return Err(last_error(OP_OPEN));
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;
    use std::fs::File;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::process::Command;
    use std::time::{Duration, Instant};

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

    #[test]
    fn ifindex_that_cannot_exist_is_enodev() {
        for ifindex in [0, u32::MAX, 1 << 31] {
            let err = link_address(OP_BIND, ifindex, [0, 3]).unwrap_err();
            assert!(err.is(libc::ENODEV), "{ifindex}: {err}");
        }
    }

    /// A network namespace made for one test, deleted when the guard drops (also when
    /// the test panics). Nothing is ever done to the root namespace.
    struct Netns {
        name: String,
    }

    impl Netns {
        fn create(name: String) -> Netns {
            let ns = Netns { name };
            run(&["netns", "add", &ns.name]);
            ns
        }
    }

    impl Drop for Netns {
        fn drop(&mut self) {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.name])
                .status();
        }
    }

    /// `ip -n NS ...`: works from any thread, whatever namespace it is in.
    fn ip_in(ns: &str, args: &[&str]) {
        let mut all = vec!["-n", ns];
        all.extend_from_slice(args);
        run(&all);
    }

    fn run(args: &[&str]) {
        let out = Command::new("ip").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Moves the calling thread, and only it, into namespace `ns`.
    fn enter(ns: &str) {
        let file = File::open(format!("/run/netns/{ns}")).unwrap();
        // SAFETY: valid namespace fd; setns changes only this thread's network namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", io::Error::last_os_error());
    }

    fn ifindex(name: &CStr) -> u32 {
        // SAFETY: NUL-terminated name.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
        assert_ne!(index, 0, "{name:?}: {}", io::Error::last_os_error());
        index
    }

    /// Waits up to `timeout` for the listener, then drains it.
    fn receive(listener: &Listener, timeout: Duration) -> Vec<Vec<u8>> {
        let mut pfd = libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as libc::c_int) };
        let mut frames = Vec::new();
        let mut buf = [0u8; 2048];
        while let Some(n) = listener.recv(&mut buf).unwrap() {
            frames.push(buf[..n].to_vec());
        }
        frames
    }

    /// The story: in a fresh namespace holding a veth pair `a`–`b`, `a` announces a VIP
    /// for both families and `b` hears exactly the frames `packet.rs` built, while
    /// frames that cannot claim an address never reach the listener.
    #[test]
    #[ignore = "needs root (network namespaces): make test runs it"]
    fn announcements_cross_a_veth_pair_in_a_private_namespace() {
        let ns = Netns::create(format!("vip-announce-{}", std::process::id()));
        ip_in(
            &ns.name,
            &[
                "link", "add", "name", "a", "type", "veth", "peer", "name", "b",
            ],
        );

        // A thread of its own enters the namespace; it ends with the test, so no
        // thread of the test harness is left inside. A panic in it fails the test
        // here, after which `ns` drops and deletes the namespace.
        let name = ns.name.clone();
        let worker = std::thread::spawn(move || {
            enter(&name);
            exchange_frames(&name);
        });
        if let Err(panic) = worker.join() {
            std::panic::resume_unwind(panic);
        }
    }

    fn exchange_frames(ns: &str) {
        let a = ifindex(c"a");
        let b = ifindex(c"b");
        let announcer = Announcer::open().unwrap();

        // Kernel answers the worker will meet.
        let down = announcer.announce(a, MAC, VIP4.into()).unwrap_err();
        assert!(down.is(libc::ENETDOWN), "interface down: {down}");
        assert_eq!(down.op, Op::SendAnnouncement);
        let unknown = announcer
            .announce(a + b + 100, MAC, VIP4.into())
            .unwrap_err();
        assert!(
            unknown.is(libc::ENXIO),
            "unknown ifindex on send: {unknown}"
        );
        let short = announcer.send(a, &[0xff; 13]).unwrap_err();
        assert!(short.is(libc::EINVAL), "short frame: {short}");
        let ours = [IpAddr::V4(VIP4), IpAddr::V6(VIP6)];
        let unknown = Listener::open(a + b + 100, &ours).unwrap_err();
        assert!(
            unknown.is(libc::ENODEV),
            "unknown ifindex on bind: {unknown}"
        );

        ip_in(ns, &["link", "set", "dev", "a", "up"]);
        ip_in(ns, &["link", "set", "dev", "b", "up"]);
        let listener = Listener::open(b, &ours).unwrap();
        // Listening on `a` too: it must not hear its own announcements.
        let sender_side = Listener::open(a, &ours).unwrap();

        let garp = packet::gratuitous_arp(MAC, VIP4).to_vec();
        let na = packet::unsolicited_na(MAC, VIP6);
        // Frames the filter must drop: an unrelated ethertype, a Neighbor Solicitation,
        // and a GARP for another address tagged for VLAN 100.
        let mut other_ethertype = garp.clone();
        other_ethertype[12..14].copy_from_slice(&[0x88, 0xb5]);
        let mut solicitation = packet::unsolicited_na(OTHER_MAC, VIP6);
        solicitation[54] = 135;
        let other_vlan_garp = {
            let inner = packet::gratuitous_arp(OTHER_MAC, Ipv4Addr::new(192, 0, 2, 99));
            let mut f = inner[..12].to_vec();
            f.extend_from_slice(&[0x81, 0x00, 0x00, 100]);
            f.extend_from_slice(&inner[12..]);
            f
        };

        // Right after `link set up` the qdisc may still drop frames: resend until heard.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut heard = Vec::new();
        while !(heard.contains(&garp) && heard.contains(&na)) {
            assert!(Instant::now() < deadline, "not heard in 5 s: {heard:02x?}");
            for frame in [&other_ethertype, &solicitation, &other_vlan_garp] {
                announcer.send(a, frame).unwrap();
            }
            announcer.announce(a, MAC, VIP4.into()).unwrap();
            announcer.announce(a, MAC, VIP6.into()).unwrap();
            heard.extend(receive(&listener, Duration::from_millis(100)));
        }

        // Everything the filter passes is a claim; the noise never arrives. (The
        // untagged bytes are what a tagged frame would look like after the kernel took
        // its tag off.)
        let untagged_other_vlan_garp = [&other_vlan_garp[..12], &other_vlan_garp[16..]].concat();
        for frame in &heard {
            assert!(
                packet::arp_claim(frame).is_some() || packet::na_claim(frame).is_some(),
                "the filter let through {frame:02x?}"
            );
            assert_ne!(frame, &solicitation);
            assert_ne!(frame, &other_ethertype);
            assert_ne!(frame, &untagged_other_vlan_garp, "another VLAN's claim");
        }
        let echoed = receive(&sender_side, Duration::from_millis(50));
        assert!(
            !echoed.contains(&garp) && !echoed.contains(&na),
            "own announcements echoed: {echoed:02x?}"
        );

        neighbours_follow_the_announcements(ns, &announcer, a);
    }

    /// What the frames are for: `b`'s kernel has the VIP cached at another MAC, and our
    /// announcements move both entries to ours. A copy of the NA with a broken checksum
    /// moves nothing, which shows the kernel checks the checksum we compute (veth does
    /// not mark frames as already verified).
    fn neighbours_follow_the_announcements(ns: &str, announcer: &Announcer, a: u32) {
        let other = "00:00:5e:00:53:aa";
        let ours = "00:00:5e:00:53:01";
        let (vip4, vip6) = (VIP4.to_string(), VIP6.to_string());
        ip_in(ns, &["addr", "add", "192.0.2.20/24", "dev", "b"]);
        ip_in(ns, &["addr", "add", "2001:db8::20/64", "dev", "b", "nodad"]);
        for vip in [&vip4, &vip6] {
            let args = [
                "neigh", "add", vip, "lladdr", other, "dev", "b", "nud", "stale",
            ];
            ip_in(ns, &args);
        }
        let neighbour = |vip: &str| {
            let out = Command::new("ip")
                .args(["-n", ns, "neigh", "show", vip, "dev", "b"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };

        let mut bad_checksum = packet::unsolicited_na(MAC, VIP6);
        bad_checksum[57] ^= 0x01;
        announcer.send(a, &bad_checksum).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert!(neighbour(&vip6).contains(other), "{}", neighbour(&vip6));

        announcer.announce(a, MAC, VIP4.into()).unwrap();
        announcer.announce(a, MAC, VIP6.into()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        for vip in [&vip4, &vip6] {
            while !neighbour(vip).contains(ours) {
                assert!(Instant::now() < deadline, "{}", neighbour(vip));
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
