//! Routed mode (`vip.announce no`): the address is the claim, nothing is announced.

use super::*;

// ---- routed mode (vip.announce no) ----

fn routed() -> World {
    let mut s = settings("198.51.100.10/32,2001:db8::10/128");
    s.interface = "lo".into();
    s.announce = false;
    let mut w = World::new(s);
    // lo: no MAC; and no CAP_NET_RAW granted
    w.link = Some(LinkState {
        index: 1,
        up: true,
        mac: None,
    });
    w.caps = (true, false);
    w
}

#[test]
fn routed_mode_claims_on_an_interface_without_mac_and_announces_nothing() {
    let mut w = routed();
    w.role(Role::Master, true);
    assert_eq!(w.phase(), "holding", "{:?}", w.logs);
    assert_eq!(w.present.len(), 2);
    w.run_until(10_000);
    assert!(w.announced.is_empty(), "no ARP/NA in routed mode");
    assert!(
        w.listening.is_none(),
        "no listener: conflict detection is off"
    );
    let s = w.core.status(at(10_000));
    assert!(!s.announce && s.last_error.is_empty(), "{s:?}");
    w.role(Role::Replica, false);
    assert!(w.present.is_empty());
}

#[test]
fn routed_mode_refuses_a_permanent_address() {
    let mut w = routed();
    let mut s = w.core.settings().clone();
    s.address_lifetime_s = 0;
    w.feed(Event::Settings(Box::new(s)));
    w.role(Role::Master, true);
    assert_eq!(w.phase(), "error");
    assert!(w.present.is_empty());
    assert!(
        w.core
            .status(at(0))
            .last_error
            .contains("refused with vip.announce no"),
        "{}",
        w.core.status(at(0)).last_error
    );
}

#[test]
fn announcing_mode_still_needs_cap_net_raw_and_a_mac() {
    let mut w = routed();
    let mut s = w.core.settings().clone();
    s.announce = true;
    w.feed(Event::Settings(Box::new(s)));
    w.role(Role::Master, true);
    assert_eq!(w.phase(), "error");
    let e = w.core.status(at(0)).last_error;
    assert!(e.contains("CAP_NET_RAW") || e.contains("no MAC"), "{e}");
}
