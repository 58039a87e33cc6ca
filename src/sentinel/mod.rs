//! The Sentinel-confirmed mode: asking the Sentinels who the master is.
//!
//! - `answer`: their replies, parsed into the few facts that matter (pure);
//! - `error`: what went wrong while asking, as types (an error reply sorted once) (pure);
//! - `view`: every Sentinel's latest answer, and whether this node may hold (pure; the rule's
//!   steps in `view/rule.rs`);
//! - `poller`: the threads that ask (one per Sentinel, with timeouts);
//! - `tls`: TLS to the Sentinels (the client context, the handshake, its errors);
//! - `acl`: a command a Sentinel's ACL refuses, worded with the rule to add.

pub mod acl;
pub mod answer;
pub mod error;
pub mod poller;
pub mod tls;
pub mod view;
pub mod why;

pub use answer::Answer;

use crate::config::{Secret, SentinelAddr};

/// Which Sentinels to poll, about which master, with which credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollPlan {
    pub targets: Vec<SentinelAddr>,
    pub master_name: String,
    pub auth_user: Option<String>,
    pub auth_pass: Option<Secret>,
    /// TLS to every Sentinel (`vip.sentinel-tls yes`); None: plaintext.
    pub tls: Option<tls::TlsPlan>,
}
pub use view::{
    same_sentinels, Fence, Heard, Me, PollError, PollErrorKind, Rules, SentinelRow, SentinelView,
    Summary, Support, Verdict,
};
