//! A frame from the packet listener: `packet::arp_claim` and `packet::na_claim`.
//!
//! Besides "never panics": a claim read from a frame, announced again with the module's own
//! encoder, reads back as the same claim.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redis_vip::packet;

fuzz_target!(|frame: &[u8]| {
    if let Some((ip, mac)) = packet::arp_claim(frame) {
        assert!(frame.len() >= packet::GARP_LEN);
        assert_eq!(
            packet::arp_claim(&packet::gratuitous_arp(mac, ip)),
            Some((ip, mac))
        );
    }
    if let Some((ip, mac)) = packet::na_claim(frame) {
        assert!(!ip.is_multicast());
        assert_eq!(
            packet::na_claim(&packet::unsolicited_na(mac, ip)),
            Some((ip, mac))
        );
    }
});
