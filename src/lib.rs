//! redis-vip: a Redis/Valkey module that keeps a virtual IP on the master.

pub mod error;
pub mod netlink;
