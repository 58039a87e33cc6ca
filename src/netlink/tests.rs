//! Decoders on hostile bytes, and the requests and the monitor against a real kernel in
//! network namespaces of their own (root only).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::Command;

use netlink_packet_core::{NLMSG_DONE, NLMSG_ERROR};

use super::decode::*;
use super::monitor::*;
use super::*;

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
                // setns affects only this thread, which ends here.
                nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
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
    assert_eq!(i32::from(poll_millis(Duration::from_micros(1))), 1);
    assert_eq!(i32::from(poll_millis(Duration::MAX)), i32::MAX);
}
