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

/// The exit status of a service's `main` for what it ran: success, or failure with the error and
/// its causes written to standard error (before, or without, a log subscriber, the only place a
/// start-up failure can be reported), as `<name>: <error>: <cause>...`.
pub fn exit_code<E: std::fmt::Display>(
    name: &str,
    result: Result<(), E>,
) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("{name}: {error:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
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
