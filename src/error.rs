//! Errors from the adapters keep the kernel's errno; the core turns them into
//! operator-facing faults with the fix in the message.

use std::fmt;
use std::io;

/// A failed system call or netlink request: what we tried, and the errno the kernel gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsError {
    /// What was attempted, in the operator's words ("add address", "open packet socket").
    pub op: &'static str,
    /// The raw errno (positive). 0 when the failure was not an errno (protocol error).
    pub errno: i32,
    /// Extra detail (kernel extended ack message, decode error), may be empty.
    pub detail: String,
}

impl OsError {
    pub fn new(op: &'static str, errno: i32) -> Self {
        OsError {
            op,
            errno,
            detail: String::new(),
        }
    }

    pub fn protocol(op: &'static str, detail: impl Into<String>) -> Self {
        OsError {
            op,
            errno: 0,
            detail: detail.into(),
        }
    }

    /// Keep the errno of an `io::Error`; `ErrorKind` alone loses ENODEV and friends.
    pub fn from_io(op: &'static str, err: &io::Error) -> Self {
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
            write!(f, "{}: {}", self.op, text)?;
        } else {
            write!(f, "{}: protocol error", self.op)?;
        }
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for OsError {}
