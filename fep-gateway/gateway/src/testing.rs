//! Helpers shared by the engine's unit tests.

use std::future::Future;
use std::time::Duration;

/// Waits for `fut`, bounded in real time (20 s). Meanwhile a paused clock stands still: a
/// blocking task inhibits tokio's auto-advance, so virtual time cannot leap ahead while the
/// engine waits for something outside the runtime (the journal's thread, a socket). Time then
/// moves only by `tokio::time::advance`.
pub(crate) async fn within<T>(fut: impl Future<Output = T>) -> T {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let guard = tokio::task::spawn_blocking(move || {
        stopped.recv_timeout(Duration::from_secs(20))
            == Err(std::sync::mpsc::RecvTimeoutError::Timeout)
    });
    tokio::select! {
        v = fut => {
            drop(stop);
            v
        }
        timed_out = guard => panic!("not done within 20 s of real time ({timed_out:?})"),
    }
}
