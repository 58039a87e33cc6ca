//! The link between the main thread and the worker: its handle (set at load, taken at
//! shutdown and unload) and the status snapshot it publishes. Every other file of the glue
//! reaches the worker through here, so none of them needs `lifecycle`.

use std::sync::{Arc, LazyLock, Mutex};

use super::lock;
use crate::core::Status;
use crate::worker::{Control, Handle};

static WORKER: Mutex<Option<Handle>> = Mutex::new(None);
static STATUS: LazyLock<Arc<Mutex<Status>>> = LazyLock::new(Arc::default);

/// Hand a control to the worker, when one runs (not yet while the configs load).
pub fn send(control: Control) {
    if let Some(w) = lock(&WORKER).as_ref() {
        w.send(control);
    }
}

/// The last status the worker published.
pub fn status() -> Status {
    lock(&STATUS).clone()
}

/// The same without waiting (a crash report): `None` when the lock is held or poisoned.
pub fn try_status() -> Option<Status> {
    STATUS.try_lock().ok().map(|s| s.clone())
}

/// Where the worker publishes its status.
pub fn status_slot() -> Arc<Mutex<Status>> {
    STATUS.clone()
}

/// Keep the handle of the worker just started.
pub fn attach(handle: Handle) {
    *lock(&WORKER) = Some(handle);
}

/// Stop the worker (it releases per vip.release-on-shutdown) and wait for it; a no-op when
/// none runs.
pub fn stop() {
    let handle = lock(&WORKER).take();
    if let Some(h) = handle {
        h.stop();
    }
}

/// Forget the last status (after unload).
pub fn reset_status() {
    *lock(&STATUS) = Status::default();
}
