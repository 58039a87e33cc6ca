//! The sockets against a real kernel: a veth pair in network namespaces of their own
//! (root only).

use super::*;
use std::ffi::CStr;
use std::fs::File;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// RFC 7042 documentation MACs.
const MAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x53, 0x01];
const OTHER_MAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x53, 0xaa];
const VIP4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 10);

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
    // setns changes only this thread's network namespace.
    nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
}

fn ifindex(name: &CStr) -> u32 {
    nix::net::if_::if_nametoindex(name).unwrap_or_else(|e| panic!("{name:?}: {e}"))
}

/// Waits up to `timeout` for the listener, then drains it.
fn receive(listener: &Listener, timeout: Duration) -> Vec<Vec<u8>> {
    let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
    let _ = poll(&mut fds, PollTimeout::try_from(timeout).unwrap());
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
