//! The NETLINK_ROUTE socket both the requests and the monitor use.

use netlink_sys::{protocols::NETLINK_ROUTE, Socket};

use crate::error::{Op, OsError};

/// Receive buffer; grown on demand when the kernel sends a bigger datagram.
pub(super) const RECV_BUF: usize = 64 * 1024;

pub(super) fn open_socket(op: Op) -> Result<Socket, OsError> {
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(|e| OsError::from_io(op, &e))?;
    socket.bind_auto().map_err(|e| OsError::from_io(op, &e))?;
    Ok(socket)
}
