//! Polling with exponential backoff and a deadline, reporting what is awaited.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::provider::{OpContext, ProviderError, ProviderResult};

/// How long a CA activation step may take before trustplane gives up (PCA usually needs
/// seconds; the deadline only guards against a stuck CA).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Calls `poll` until it returns `Some`, sleeping 250ms, 500ms, ... up to 10s in between.
pub async fn until<T, F, Fut>(
    ctx: &OpContext,
    what: &str,
    timeout: Duration,
    mut poll: F,
) -> ProviderResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ProviderResult<Option<T>>>,
{
    let start = Instant::now();
    let mut delay = Duration::from_millis(250);
    let mut reported = false;
    loop {
        if let Some(v) = poll().await? {
            return Ok(v);
        }
        if start.elapsed() + delay > timeout {
            return Err(ProviderError::new(format!(
                "gave up waiting for {what} after {}",
                crate::duration::format(Duration::from_secs(start.elapsed().as_secs().max(1)))
            ))
            .with_help("apply again: trustplane resumes where it stopped")
            .retryable());
        }
        if !reported {
            ctx.progress(&format!("waiting for {what}"));
            reported = true;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test(start_paused = true)]
    async fn backs_off_and_reports_once() {
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let s = seen.clone();
        let ctx = OpContext::new("a", "s", "l")
            .with_progress(Arc::new(move |m: &str| s.lock().unwrap().push(m.into())));
        let mut calls = 0;
        let start = Instant::now();
        let v = until(&ctx, "PENDING_CERTIFICATE", DEFAULT_TIMEOUT, || {
            calls += 1;
            let done = calls == 4;
            async move { Ok(done.then_some(7)) }
        })
        .await
        .unwrap();
        assert_eq!(v, 7);
        assert_eq!(start.elapsed(), Duration::from_millis(250 + 500 + 1000));
        assert_eq!(
            *seen.lock().unwrap(),
            vec!["waiting for PENDING_CERTIFICATE".to_string()]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_at_the_deadline() {
        let ctx = OpContext::new("a", "s", "l");
        let err = until(&ctx, "the certificate", Duration::from_secs(30), || async {
            Ok(None::<()>)
        })
        .await
        .unwrap_err();
        assert!(err.message.contains("gave up waiting for the certificate"));
        assert!(err.retryable);
    }
}
