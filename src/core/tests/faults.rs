//! Faults: each names its fix, is counted once, backs off, clears on its own kind of
//! success and stays as history.

use super::*;

#[test]
fn missing_interface_is_an_error_that_recovers() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.link = None;
    w.role(Role::Master, true);
    assert_eq!(w.phase(), "error");
    let s = w.core.status(at(0));
    assert!(
        s.last_error.contains("interface 'eth0' not found"),
        "{}",
        s.last_error
    );
    assert_eq!(s.counters.errors, 1);
    // Retries with backoff, logging the same fault once.
    w.run_until(30_000);
    assert_eq!(w.core.status(at(30_000)).counters.errors, 1);
    let warnings = w.logs.iter().filter(|(l, _)| *l == Level::Warning).count();
    assert_eq!(warnings, 1);
    // The interface appears: claimed without outside help.
    w.link = Some(LinkState {
        index: 7,
        up: true,
        mac: Some(MAC),
    });
    w.run_until(36_000);
    assert_eq!(w.phase(), "holding");
    assert!(w.logged("recovered: interface 'eth0' not found"));
    assert_eq!(w.present.len(), 1);
}

#[test]
fn backoff_grows_to_five_seconds() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.link = None;
    w.role(Role::Master, true);
    let mut ticks = Vec::new();
    while let Some(next) = w.core.next_deadline() {
        let t = next.as_millis() as u64;
        if t > 40_000 {
            break;
        }
        w.now = t;
        ticks.push(t);
        w.feed(Event::Tick);
    }
    let gaps: Vec<u64> = ticks.windows(2).map(|p| p[1] - p[0]).collect();
    assert_eq!(&gaps[..5], &[500, 1000, 2000, 4000, 5000], "{ticks:?}");
}

#[test]
fn missing_capability_says_what_to_do() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.caps = (false, true);
    w.fail_add = Some(libc::EPERM);
    w.role(Role::Master, true);
    assert_eq!(w.phase(), "error");
    let s = w.core.status(at(0));
    assert!(
        s.last_error.contains("CAP_NET_ADMIN") && s.last_error.contains("README#deployment"),
        "{}",
        s.last_error
    );
    assert!(!w.present.contains(&vip("192.0.2.100/24")));
    // Granted later (e.g. the unit file was fixed and capabilities raised): recovers.
    w.caps = (true, true);
    w.fail_add = None;
    w.run_until(10_000);
    assert_eq!(w.phase(), "holding");
    let s = w.core.status(at(10_000));
    assert!(!s.error_active, "{s:?}");
    assert!(
        s.last_error.contains("permission denied") && s.last_error_ms == at(0).unix_ms,
        "a recovered fault stays as history, with its time: {s:?}"
    );
    assert_eq!(s.counters.errors, 2, "the capability and the failed add");
}

/// One step of a story about faults: at `ms`, change the fake world, then deliver what
/// the worker would (a netlink change: a look at the interface now).
#[derive(Clone, Copy)]
enum Step {
    Link(bool),
    Caps(bool, bool),
    FailAnnounce(Option<i32>),
    /// A CONFIG SET that changes nothing the fault depends on.
    Reconfigure,
    Demote,
    /// The interface goes down; it comes back up with `Link(true)`.
    LinkDown,
}

use Step::{Caps, Demote, FailAnnounce, Link, LinkDown, Reconfigure};

const CAP: &str = "lacks CAP_NET_ADMIN";
const NO_LINK: &str = "interface 'eth0' not found";
const ANNOUNCE: &str = "send announcement";

/// (case, steps (ms, step), errors, error_active, last_error contains, last_error_ms (fake
/// clock ms, None: 0 = never), warnings logged)
type Case = (
    &'static str,
    &'static [(u64, Step)],
    u64,
    bool,
    &'static str,
    Option<u64>,
    usize,
);

const ERROR_HISTORY: [Case; 9] = [
    ("no fault", &[], 0, false, "", None, 0),
    (
        "a fault in force",
        &[(1000, Link(false))],
        1,
        true,
        NO_LINK,
        Some(1000),
        1,
    ),
    (
        "a fault that cleared stays, with its time",
        &[(1000, Link(false)), (3000, Link(true))],
        1,
        false,
        NO_LINK,
        Some(1000),
        1,
    ),
    (
        "a fault that clears and comes back is two errors",
        &[(1000, Link(false)), (2000, Link(true)), (3000, Link(false))],
        2,
        true,
        NO_LINK,
        Some(3000),
        2,
    ),
    (
        "two faults, the later clears: last_error names the one in force",
        &[
            (1000, Caps(false, true)),
            (2000, Link(false)),
            (3000, Link(true)),
        ],
        2,
        true,
        CAP,
        Some(1000),
        2,
    ),
    (
        "a CONFIG SET while a fault is in force: the same error",
        &[
            (1000, Link(false)),
            (2000, Reconfigure),
            (2500, Reconfigure),
        ],
        1,
        true,
        NO_LINK,
        Some(1000),
        1,
    ),
    (
        "a CONFIG SET does not hide a fault that is gone",
        &[(1000, Link(false)), (2000, Link(true)), (2500, Reconfigure)],
        1,
        false,
        NO_LINK,
        Some(1000),
        1,
    ),
    (
        "an announce fault ends with the hold",
        &[(1000, FailAnnounce(Some(libc::ENETDOWN))), (2000, Demote)],
        1,
        false,
        ANNOUNCE,
        Some(1000),
        2, // the conflict that made it announce, and the fault
    ),
    (
        "announcements due while the link is down are no error",
        &[
            (1000, LinkDown),
            (1500, FailAnnounce(Some(libc::ENETDOWN))),
            (2000, FailAnnounce(None)),
            (2000, Link(true)),
        ],
        0,
        false,
        "",
        None,
        1, // the conflict that made it announce
    ),
];

impl World {
    /// Change the fake world as `step` says, and deliver what the worker would.
    fn take(&mut self, step: Step) {
        match step {
            Step::Link(up) => {
                self.link = up.then_some(LinkState {
                    index: 2,
                    up: true,
                    mac: Some(MAC),
                });
                self.feed(Event::NetChanged);
            }
            Step::Caps(admin, raw) => {
                self.caps = (admin, raw);
                self.feed(Event::NetChanged);
            }
            Step::FailAnnounce(errno) => {
                // A conflict makes it announce at once.
                self.fail_announce = errno;
                self.feed(Event::Conflict {
                    ip: "192.0.2.100".parse().unwrap(),
                    mac: OTHER_MAC,
                });
            }
            Step::Reconfigure => {
                let mut s = self.core.settings().clone();
                s.check_interval_ms += 1;
                self.feed(Event::Settings(Box::new(s)));
            }
            Step::Demote => self.role(Role::Replica, false),
            Step::LinkDown => {
                if let Some(l) = self.link.as_mut() {
                    l.up = false;
                }
                self.feed(Event::NetChanged);
            }
        }
    }
}

#[test]
fn errors_are_counted_once_each_and_kept_as_history_with_their_time() {
    for (case, steps, errors, active, last_error, last_error_ms, warnings) in ERROR_HISTORY {
        let mut w = World::new(settings("192.0.2.100/24"));
        w.role(Role::Master, true);
        for &(ms, step) in steps {
            w.run_until(ms);
            w.take(step);
        }
        w.run_until(4000);
        let s = w.core.status(at(4000));
        assert_eq!(
            (s.counters.errors, s.error_active, s.state == State::Error),
            (errors, active, active),
            "{case}: {s:?}"
        );
        assert!(
            s.last_error.contains(last_error) && (last_error.is_empty() == s.last_error.is_empty()),
            "{case}: {}",
            s.last_error
        );
        assert_eq!(
            s.last_error_ms,
            last_error_ms.map_or(0, |ms| at(ms).unix_ms),
            "{case}"
        );
        let logged = w.logs.iter().filter(|(l, _)| *l == Level::Warning).count();
        assert_eq!(logged, warnings, "{case}: {:?}", w.logs);
    }
}

#[test]
fn a_fault_whose_wording_changes_is_one_error() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.role(Role::Master, true);
    w.run_until(1000);
    // The address is gone and cannot be added back; then the reason changes.
    w.present.clear();
    w.fail_add = Some(libc::EPERM);
    w.run_until(2000);
    let s = w.core.status(at(2000));
    assert!(s.last_error.contains("permission denied"), "{s:?}");
    let first = s.last_error_ms;
    w.fail_add = Some(libc::ENETDOWN);
    w.run_until(10_000);
    let s = w.core.status(at(10_000));
    assert!(s.last_error.contains("is down"), "{s:?}");
    assert!(s.last_error_ms > first, "the time of the wording in force");
    assert_eq!(s.counters.errors, 1, "{s:?}");
    assert!(
        w.logged("permission denied") && w.logged("is down"),
        "each wording logged once"
    );
}

#[test]
fn announce_failure_is_an_error_and_clears_on_success() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.fail_announce = Some(libc::EPERM);
    w.role(Role::Master, true);
    assert_eq!(w.phase(), "error");
    assert!(w.core.status(at(0)).last_error.contains("CAP_NET_RAW"));
    w.fail_announce = None;
    w.run_until(300);
    assert_eq!(w.phase(), "holding");
}

#[test]
fn interface_without_mac_is_refused() {
    let mut w = World::new(settings("192.0.2.100/24"));
    w.link = Some(LinkState {
        index: 3,
        up: true,
        mac: None,
    });
    w.role(Role::Master, true);
    assert_eq!(w.phase(), "error");
    assert!(w
        .core
        .status(at(0))
        .last_error
        .contains("has no MAC address"));
    assert!(w.present.is_empty());
}

#[test]
fn errno_descriptions_name_the_fix() {
    // (op, errno, must contain)
    let cases = [
        (Op::AddAddress, libc::EPERM, "missing CAP_NET_ADMIN"),
        (Op::OpenPacketSocket, libc::EPERM, "missing CAP_NET_RAW"),
        (Op::SendAnnouncement, libc::EACCES, "missing CAP_NET_RAW"),
        (Op::AddAddress, libc::ENODEV, "not found"),
        (
            Op::OpenNetlink,
            libc::EAFNOSUPPORT,
            "RestrictAddressFamilies",
        ),
        (Op::AddAddress, libc::ERANGE, "vip.label"),
    ];
    for (op, errno, want) in cases {
        let text = describe(
            &OsError::new(op, errno),
            Some(vip("192.0.2.100/24")),
            "eth0",
        );
        assert!(text.contains(want), "{op:?} {errno}: {text}");
    }
}
