//! One way for every service to learn that it should stop.

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// A token cancelled on the first SIGINT or SIGTERM the process receives (logged with the signal's
/// name). The handlers are installed before this returns, so a signal that arrives right after is
/// not lost; an error means they could not be installed, and the service should not start. Must be
/// called inside a tokio runtime.
pub fn cancel_on_signals() -> std::io::Result<CancellationToken> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        tracing::info!(signal = name, "shutting down");
        on_signal.cancel();
    });
    Ok(cancel)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sigterm_cancels_the_token() {
        let cancel = cancel_on_signals().unwrap();
        assert!(!cancel.is_cancelled());
        // The signal a service manager sends, to this test process (nextest runs each test alone).
        let status = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        tokio::time::timeout(Duration::from_secs(10), cancel.cancelled())
            .await
            .expect("SIGTERM cancels the token");
    }
}
