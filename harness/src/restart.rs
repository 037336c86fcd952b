//! Restarting the target (capability `restart`): a trait the session calls at `Op::Restart`.
//!
//! The suite supplies an in-process implementation for the embedded reference hub; against an
//! external target, [`CommandRestarter`] runs the configured `restart_command`. Either way the
//! restart must be complete (the hub accepting connections again) when the future resolves.

use crate::error::HarnessError;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed future, so that [`Restarter`] can be used as `dyn Restarter`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Restarts the target: every connection ends, no membership survives, the hub serves again.
pub trait Restarter: Send + Sync {
    /// Restart, resolving once the target serves again.
    fn restart(&self) -> BoxFuture<'_, Result<(), HarnessError>>;
}

/// Runs a shell command (`sh -c`) and waits for it to exit successfully, at most `timeout`.
#[derive(Clone, Debug)]
pub struct CommandRestarter {
    /// The command line, run with `sh -c`.
    pub command: String,
    /// How long it may take.
    pub timeout: Duration,
}

impl CommandRestarter {
    /// A restarter for `command` with a bound.
    pub fn new(command: impl Into<String>, timeout: Duration) -> Self {
        CommandRestarter {
            command: command.into(),
            timeout,
        }
    }
}

impl Restarter for CommandRestarter {
    fn restart(&self) -> BoxFuture<'_, Result<(), HarnessError>> {
        Box::pin(async move {
            let mut child = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(&self.command)
                .kill_on_drop(true)
                .stdin(std::process::Stdio::null())
                .spawn()
                .map_err(|e| {
                    HarnessError::Restart(format!("cannot run {:?}: {e}", self.command))
                })?;
            match tokio::time::timeout(self.timeout, child.wait()).await {
                Err(_) => {
                    let _ = child.kill().await;
                    Err(HarnessError::Restart(format!(
                        "{:?} did not finish within {} ms",
                        self.command,
                        self.timeout.as_millis()
                    )))
                }
                Ok(Err(e)) => Err(HarnessError::Restart(format!("{:?}: {e}", self.command))),
                Ok(Ok(status)) if status.success() => Ok(()),
                Ok(Ok(status)) => Err(HarnessError::Restart(format!(
                    "{:?} exited with {status}",
                    self.command
                ))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_command_that_succeeds_is_a_restart() {
        CommandRestarter::new("true", Duration::from_secs(5))
            .restart()
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_failing_or_hanging_command_is_an_error_not_a_hang() {
        let err = CommandRestarter::new("exit 3", Duration::from_secs(5))
            .restart()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("exit"), "{err}");
        let err = CommandRestarter::new("sleep 30", Duration::from_millis(100))
            .restart()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("did not finish"), "{err}");
    }
}
