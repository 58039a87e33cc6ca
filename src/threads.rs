//! What every module thread shares, below everything else: how it starts (`spawn`: a name
//! that shows in `ps -T` and crash reports, and the signal mask Redis gives its own
//! background threads) and the one monotonic clock (`mono`) the worker, the pollers and the
//! Redis glue stamp their events with.

use std::io;
use std::sync::LazyLock;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Monotonic time since the first call: the module's one clock for the core's `now`.
pub fn mono() -> Duration {
    EPOCH.elapsed()
}

/// Start a named thread that never receives SIGALRM: Redis' software watchdog (and
/// `DEBUG SLEEP`-style tooling around it) expects that signal on the main thread only,
/// exactly as bio.c blocks it in Redis' own background threads.
pub fn spawn<F>(name: &str, f: F) -> io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            block_watchdog_signal();
            f()
        })
}

fn block_watchdog_signal() {
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGALRM);
    // Failure leaves the default mask: the thread still works, as before.
    let _ = nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_BLOCK,
        Some(&set),
        None,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawned_threads_block_sigalrm() {
        let (tx, rx) = std::sync::mpsc::channel();
        let t = spawn("vip-test", move || {
            let mut old = nix::sys::signal::SigSet::empty();
            nix::sys::signal::pthread_sigmask(
                nix::sys::signal::SigmaskHow::SIG_BLOCK,
                None,
                Some(&mut old),
            )
            .unwrap();
            let name = std::thread::current().name().map(str::to_string);
            tx.send((old.contains(nix::sys::signal::Signal::SIGALRM), name))
                .unwrap();
        })
        .unwrap();
        t.join().unwrap();
        let (blocked, name) = rx.recv().unwrap();
        assert!(blocked);
        assert_eq!(name.as_deref(), Some("vip-test"));
    }
}
