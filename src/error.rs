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

/// An errno the kernel gave (positive), as an error of its own: the source of an `OsError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", io::Error::from_raw_os_error(self.0))
    }
}

impl std::error::Error for Errno {}

/// Why an operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The kernel refused, with this errno.
    Errno(Errno),
    /// The kernel's answer could not be used (a malformed or unexpected netlink message, a
    /// short send): there is no errno, `detail` says what.
    Protocol,
}

/// A failed system call or netlink request: what we tried, and why it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsError {
    /// What was attempted.
    pub op: Op,
    /// The kernel's errno, or a protocol error.
    pub cause: Cause,
    /// Extra detail (kernel extended ack message, decode error), may be empty.
    pub detail: String,
}

impl OsError {
    /// The kernel said `errno` (positive).
    pub fn new(op: Op, errno: i32) -> Self {
        OsError {
            op,
            cause: Cause::Errno(Errno(errno)),
            detail: String::new(),
        }
    }

    pub fn protocol(op: Op, detail: impl Into<String>) -> Self {
        OsError {
            op,
            cause: Cause::Protocol,
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

    /// Keep the errno of a failed `nix` call.
    pub fn from_nix(op: Op, err: nix::errno::Errno) -> Self {
        OsError::new(op, err as i32)
    }

    /// The same failure, attributed to another operation.
    pub fn during(self, op: Op) -> Self {
        OsError { op, ..self }
    }

    /// The kernel's errno; None for a protocol error.
    pub fn errno(&self) -> Option<i32> {
        match self.cause {
            Cause::Errno(Errno(errno)) => Some(errno),
            Cause::Protocol => None,
        }
    }

    pub fn is(&self, errno: i32) -> bool {
        self.errno() == Some(errno)
    }

    pub fn is_protocol(&self) -> bool {
        self.cause == Cause::Protocol
    }
}

impl fmt::Display for OsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            Cause::Errno(errno) => write!(f, "{}: {errno}", self.op.as_str())?,
            Cause::Protocol => write!(f, "{}: protocol error", self.op.as_str())?,
        }
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for OsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.cause {
            Cause::Errno(errno) => Some(errno),
            Cause::Protocol => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn an_errno_is_the_source_and_a_protocol_error_has_none() {
        // (error, text, errno)
        let mut acked = OsError::new(Op::AddAddress, libc::EPERM);
        acked.detail = "ext ack".into();
        let cases = [
            (
                acked,
                "add address: Operation not permitted (os error 1) (ext ack)",
                Some(libc::EPERM),
            ),
            (
                OsError::protocol(Op::ListAddresses, "netlink overrun"),
                "list addresses: protocol error (netlink overrun)",
                None,
            ),
            (
                OsError::from_io(Op::SendAnnouncement, &io::Error::other("short")),
                "send announcement: protocol error (short)",
                None,
            ),
        ];
        for (e, text, errno) in cases {
            assert_eq!(e.to_string(), text);
            assert_eq!(e.errno(), errno, "{e}");
            assert_eq!(e.is_protocol(), errno.is_none(), "{e}");
            assert_eq!(
                e.source().map(|s| s.to_string()),
                errno.map(|n| io::Error::from_raw_os_error(n).to_string()),
                "{e}"
            );
        }
        assert!(OsError::new(Op::LookUpInterface, libc::ENODEV)
            .during(Op::BindPacketSocket)
            .is(libc::ENODEV));
    }
}
