//! Errors from the adapters keep the kernel's errno; the core turns them into
//! operator-facing faults with the fix in the message.

use std::fmt;
use std::io;

/// What the module was doing when the kernel said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    OpenNetlink,
    LookUpInterface,
    ListAddresses,
    AddAddress,
    DeleteAddress,
    WatchNetlink,
    OpenPacketSocket,
    FilterPacketSocket,
    BindPacketSocket,
    SendAnnouncement,
    ReceiveClaim,
}

/// The capability an operation needs (what to grant when the kernel says EPERM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    NetAdmin,
    NetRaw,
}

impl Capability {
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::NetAdmin => "CAP_NET_ADMIN",
            Capability::NetRaw => "CAP_NET_RAW",
        }
    }
}

impl Op {
    /// In the operator's words.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::OpenNetlink => "open netlink socket",
            Op::LookUpInterface => "look up interface",
            Op::ListAddresses => "list addresses",
            Op::AddAddress => "add address",
            Op::DeleteAddress => "delete address",
            Op::WatchNetlink => "watch netlink",
            Op::OpenPacketSocket => "open packet socket",
            Op::FilterPacketSocket => "filter packet socket",
            Op::BindPacketSocket => "bind packet socket",
            Op::SendAnnouncement => "send announcement",
            Op::ReceiveClaim => "receive claim",
        }
    }

    pub fn capability(self) -> Capability {
        match self {
            Op::OpenPacketSocket
            | Op::FilterPacketSocket
            | Op::BindPacketSocket
            | Op::SendAnnouncement
            | Op::ReceiveClaim => Capability::NetRaw,
            _ => Capability::NetAdmin,
        }
    }
}

/// A failed system call or netlink request: what we tried, and the errno the kernel gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsError {
    /// What was attempted.
    pub op: Op,
    /// The raw errno (positive). 0 when the failure was not an errno (protocol error).
    pub errno: i32,
    /// Extra detail (kernel extended ack message, decode error), may be empty.
    pub detail: String,
}

impl OsError {
    pub fn new(op: Op, errno: i32) -> Self {
        OsError {
            op,
            errno,
            detail: String::new(),
        }
    }

    pub fn protocol(op: Op, detail: impl Into<String>) -> Self {
        OsError {
            op,
            errno: 0,
            detail: detail.into(),
        }
    }

    /// Keep the errno of an `io::Error`; `ErrorKind` alone loses ENODEV and friends.
    pub fn from_io(op: Op, err: &io::Error) -> Self {
        match err.raw_os_error() {
            Some(errno) => OsError::new(op, errno),
            None => OsError::protocol(op, err.to_string()),
        }
    }

    pub fn is(&self, errno: i32) -> bool {
        self.errno == errno
    }
}

impl fmt::Display for OsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.errno != 0 {
            let text = io::Error::from_raw_os_error(self.errno);
            write!(f, "{}: {}", self.op.as_str(), text)?;
        } else {
            write!(f, "{}: protocol error", self.op.as_str())?;
        }
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for OsError {}
