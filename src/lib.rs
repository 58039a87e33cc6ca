//! redis-vip: a Redis/Valkey module that keeps a virtual IP on the master.

pub mod announce;
pub mod error;
pub mod netlink;
pub mod packet;
