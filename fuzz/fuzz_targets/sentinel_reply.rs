//! What a Sentinel sends back: RESP2 or RESP3 bytes, read as the poller reads them (one
//! `redis::Parser` kept across the replies of one exchange; the first reply is exactly
//! `redis::parse_redis_value`), each reply handed to every parser of `sentinel::answer`
//! (MASTER, REPLICAS, SENTINELS, MYID).
#![no_main]

use libfuzzer_sys::fuzz_target;
use redis_vip::sentinel::answer;

/// The poller's longest exchange: SENTINEL MASTER, REPLICAS, SENTINELS (MYID is one more
/// at connect time).
const REPLIES: usize = 4;

fuzz_target!(|data: &[u8]| {
    let mut parser = redis::Parser::new();
    let mut reader = data;
    for _ in 0..REPLIES {
        let Ok(v) = parser.parse_value(&mut reader) else {
            return;
        };
        if let Ok(m) = answer::parse_master(&v) {
            assert_ne!(m.instance.endpoint.port, 0);
        }
        if let Ok(replicas) = answer::parse_replicas(&v) {
            // promoted replicas are kept past the cap
            let promoted = replicas.items.iter().filter(|r| r.flags.promoted).count();
            assert!(replicas.items.len() <= answer::MAX_ENTRIES + promoted);
        }
        if let Ok(peers) = answer::parse_peers(&v) {
            assert!(peers.items.len() <= answer::MAX_ENTRIES);
        }
        if let Ok(id) = answer::parse_myid(&v) {
            assert_eq!(id.len(), 40);
        }
    }
});
