//! Retrying provider calls: errors the provider marks retryable (throttling, 429, 5xx, a
//! reset or refused connection, a timeout) are tried again with jittered exponential
//! backoff, honouring a `Retry-After` the service sent, up to the provider's
//! `max_attempts` (a throttled call gets at least [`THROTTLED_ATTEMPTS`]: the service did
//! nothing and the caller slows down). A read is also bounded by an overall deadline, so a hung endpoint
//! turns into an error in bounded time. Refresh, plan-time reads and apply all call
//! providers through here.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::diag::Diagnostic;
use crate::provider::{
    DiffResult, Limits, OpContext, Provider, ProviderError, ProviderResult, ResourceSchema,
    Snapshot,
};
use crate::value::Value;

/// The first wait between attempts; each later wait doubles, up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Attempts a throttled call gets at least: a throttle means nothing was done and the
/// caller is slowing down (see the AWS provider's pacing), not that the call fails.
pub const THROTTLED_ATTEMPTS: u32 = 8;

/// What kind of call is being retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// A read (refresh, a data source, import): bounded by `Limits::deadline`.
    Read,
    /// A create, update or delete: it may wait on purpose (a CA's activation, a rollout),
    /// so only each request is bounded, by the provider's clients.
    Change,
}

/// One call to a provider, retried within `limits`. `endpoint` names where the requests
/// go, for messages; `notify` hears of each retry ("retrying in 1.2s ...").
pub struct Retry<'a> {
    pub limits: Limits,
    pub call: Call,
    pub endpoint: Option<String>,
    pub notify: &'a (dyn Fn(&str) + Send + Sync),
}

impl<'a> Retry<'a> {
    /// Calls to `provider`, within its configured limits.
    pub fn of(
        provider: &dyn Provider,
        call: Call,
        notify: &'a (dyn Fn(&str) + Send + Sync),
    ) -> Retry<'a> {
        Retry {
            limits: provider.limits(),
            call,
            endpoint: provider.endpoint(),
            notify,
        }
    }

    pub async fn run<T, F, Fut>(&self, mut op: F) -> ProviderResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ProviderResult<T>>,
    {
        let deadline = match self.call {
            Call::Read => Some(Instant::now() + self.limits.deadline()),
            Call::Change => None,
        };
        let max = self.limits.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let result = match deadline {
                Some(d) => match tokio::time::timeout_at(d, op()).await {
                    Ok(r) => r,
                    Err(_) => return Err(self.deadline_passed(None)),
                },
                None => op().await,
            };
            let e = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let allowed = if e.throttled {
                max.max(THROTTLED_ATTEMPTS)
            } else {
                max
            };
            if !e.retryable || attempt >= allowed {
                return Err(self.named(e));
            }
            let wait = e.retry_after.unwrap_or_else(|| backoff(attempt));
            if let Some(d) = deadline {
                if Instant::now() + wait >= d {
                    return Err(self.deadline_passed(Some(e)));
                }
            }
            (self.notify)(&format!(
                "retrying in {} (attempt {} of {allowed}): {}",
                seconds(wait),
                attempt + 1,
                e.message
            ));
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// The error, naming the endpoint when it does not already.
    fn named(&self, mut e: ProviderError) -> ProviderError {
        if let Some(endpoint) = &self.endpoint {
            if !e.message.contains(endpoint.as_str()) {
                e.message = format!("{} (endpoint {endpoint})", e.message);
            }
        }
        e
    }

    fn deadline_passed(&self, last: Option<ProviderError>) -> ProviderError {
        let total = crate::duration::format(self.limits.deadline());
        let mut message = format!("no usable answer within {total}");
        if let Some(endpoint) = &self.endpoint {
            message = format!("no usable answer from {endpoint} within {total}");
        }
        if let Some(e) = &last {
            message.push_str(&format!("; last error: {}", e.message));
        }
        ProviderError::new(message).with_help(
            "check that the endpoint is reachable and answering; raise the provider's \
             `timeout` or `max_attempts` setting if it is only slow",
        )
    }
}

/// Where retries are reported outside an apply (plan-time reads), as `address: message`.
#[derive(Clone)]
pub struct Notify(pub Arc<dyn Fn(&str) + Send + Sync>);

impl std::fmt::Debug for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Notify")
    }
}

/// A provider whose calls are retried within its limits, reporting retries on the
/// operation's progress line. Reads (`read`, `import`, `read_data`) are also bounded by
/// the deadline; creates, updates and deletes only by attempts, as they may wait on
/// purpose.
pub struct Retrying(pub Arc<dyn Provider>);

impl Retrying {
    fn retry<'a>(&self, call: Call, ctx: &'a OpContext) -> Retry<'a> {
        Retry {
            limits: self.0.limits(),
            call,
            endpoint: self.0.endpoint(),
            notify: ctx.progress_fn(),
        }
    }
}

#[async_trait]
impl Provider for Retrying {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn schemas(&self) -> Vec<ResourceSchema> {
        self.0.schemas()
    }
    fn validate(&self, type_name: &str, properties: &Value) -> Vec<Diagnostic> {
        self.0.validate(type_name, properties)
    }
    fn settings(&self) -> Vec<crate::provider::Property> {
        self.0.settings()
    }
    async fn configure(&self, settings: &Value) -> ProviderResult<()> {
        self.0.configure(settings).await
    }
    fn limits(&self) -> Limits {
        self.0.limits()
    }
    fn endpoint(&self) -> Option<String> {
        self.0.endpoint()
    }
    fn diff(&self, schema: &ResourceSchema, prior: &Snapshot, desired: &Value) -> DiffResult {
        self.0.diff(schema, prior, desired)
    }
    async fn create(&self, ctx: &OpContext, t: &str, desired: &Value) -> ProviderResult<Snapshot> {
        self.retry(Call::Change, ctx)
            .run(|| self.0.create(ctx, t, desired))
            .await
    }
    async fn read(
        &self,
        ctx: &OpContext,
        t: &str,
        prior: &Snapshot,
    ) -> ProviderResult<Option<Snapshot>> {
        self.retry(Call::Read, ctx)
            .run(|| self.0.read(ctx, t, prior))
            .await
    }
    async fn update(
        &self,
        ctx: &OpContext,
        t: &str,
        prior: &Snapshot,
        desired: &Value,
    ) -> ProviderResult<Snapshot> {
        self.retry(Call::Change, ctx)
            .run(|| self.0.update(ctx, t, prior, desired))
            .await
    }
    async fn delete(&self, ctx: &OpContext, t: &str, prior: &Snapshot) -> ProviderResult<()> {
        self.retry(Call::Change, ctx)
            .run(|| self.0.delete(ctx, t, prior))
            .await
    }
    async fn restart(&self, ctx: &OpContext, t: &str, prior: &Snapshot) -> ProviderResult<()> {
        self.retry(Call::Change, ctx)
            .run(|| self.0.restart(ctx, t, prior))
            .await
    }
    async fn import(&self, ctx: &OpContext, t: &str, id: &str) -> ProviderResult<Option<Snapshot>> {
        self.retry(Call::Read, ctx)
            .run(|| self.0.import(ctx, t, id))
            .await
    }
    async fn find(
        &self,
        ctx: &OpContext,
        t: &str,
        desired: &Value,
    ) -> ProviderResult<Option<Snapshot>> {
        self.retry(Call::Read, ctx)
            .run(|| self.0.find(ctx, t, desired))
            .await
    }
    fn identity(&self, type_name: &str, properties: &Value) -> Option<String> {
        self.0.identity(type_name, properties)
    }
    async fn plan_details(
        &self,
        type_name: &str,
        prior: &Snapshot,
        desired: &Value,
    ) -> ProviderResult<Vec<String>> {
        self.0.plan_details(type_name, prior, desired).await
    }
    async fn read_data(
        &self,
        ctx: &OpContext,
        t: &str,
        properties: &Value,
    ) -> ProviderResult<Value> {
        self.retry(Call::Read, ctx)
            .run(|| self.0.read_data(ctx, t, properties))
            .await
    }
}

/// The wait before attempt `attempt + 1`: exponential, with the upper half jittered so
/// parallel callers do not retry in step.
pub fn backoff(attempt: u32) -> Duration {
    let full = BASE_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    let half = full / 2;
    half + half.mul_f64(random_fraction())
}

/// A number in [0, 1) from the standard library's randomly keyed hasher.
fn random_fraction() -> f64 {
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Mutex;

    fn limits(timeout_s: u64, max_attempts: u32) -> Limits {
        Limits {
            timeout: Duration::from_secs(timeout_s),
            max_attempts,
        }
    }

    fn ignore(_: &str) {}

    /// Retries within `limits`, to no endpoint, reporting nothing.
    fn quiet(limits: Limits, call: Call) -> Retry<'static> {
        Retry {
            limits,
            call,
            endpoint: None,
            notify: &ignore,
        }
    }

    fn transient() -> ProviderError {
        ProviderError::new("HTTP 503").retryable()
    }

    #[test]
    fn backoff_grows_jittered_and_is_capped() {
        for attempt in 1..20 {
            let full = BASE_BACKOFF
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(MAX_BACKOFF);
            let b = backoff(attempt);
            assert!(b >= full / 2 && b <= full, "attempt {attempt}: {b:?}");
        }
        assert!(backoff(30) <= MAX_BACKOFF);
    }

    #[tokio::test(start_paused = true)]
    async fn a_transient_error_is_retried_and_reported() {
        let calls = AtomicU32::new(0);
        let heard = Mutex::new(Vec::new());
        let notify = |m: &str| heard.lock().unwrap().push(m.to_string());
        let r = Retry {
            limits: limits(2, 3),
            call: Call::Read,
            endpoint: Some("http://127.0.0.1:1".into()),
            notify: &notify,
        };
        let out = r
            .run(|| async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(transient()),
                    _ => Ok(7),
                }
            })
            .await;
        assert_eq!(out, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let heard = heard.lock().unwrap();
        assert_eq!(heard.len(), 1);
        assert!(
            heard[0].starts_with("retrying in ") && heard[0].contains("attempt 2 of 3"),
            "{heard:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured() {
        let calls = AtomicU32::new(0);
        let r = quiet(limits(10, 3), Call::Change);
        let start = Instant::now();
        let out = r
            .run(|| async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(ProviderError::new("429").retry_after(Some(Duration::from_secs(4)))),
                    _ => Ok(()),
                }
            })
            .await;
        assert_eq!(out, Ok(()));
        assert_eq!(start.elapsed(), Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn definite_errors_are_not_retried_and_name_the_endpoint() {
        let calls = AtomicU32::new(0);
        let r = Retry {
            limits: limits(2, 3),
            call: Call::Read,
            endpoint: Some("https://k8s.example:6443".into()),
            notify: &|_| {},
        };
        let e = r
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(ProviderError::new("Forbidden (403)"))
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(
            e.message,
            "Forbidden (403) (endpoint https://k8s.example:6443)"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_bounded() {
        let calls = AtomicU32::new(0);
        let r = quiet(limits(30, 2), Call::Change);
        let e = r
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(transient())
            })
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(e.message, "HTTP 503");
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_call_gets_more_attempts_within_the_deadline() {
        let calls = AtomicU32::new(0);
        let r = quiet(limits(30, 2), Call::Change);
        let done = r
            .run(|| async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0..=6 => Err(ProviderError::new("Rate exceeded").throttled(None)),
                    _ => Ok("done"),
                }
            })
            .await;
        assert_eq!(done, Ok("done"));
        assert_eq!(calls.load(Ordering::SeqCst), 8, "2 attempts configured");

        let (e, calls) = always_throttled(&r).await;
        assert_eq!(calls, THROTTLED_ATTEMPTS);
        assert_eq!(e.message, "Rate exceeded");

        // A read stays bounded by its deadline (2 attempts of 1 s) all the same.
        let (e, calls) = always_throttled(&quiet(limits(1, 2), Call::Read)).await;
        assert!(calls < THROTTLED_ATTEMPTS);
        assert!(e.message.contains("within 2s"), "{}", e.message);
    }

    /// Runs `r` over a call throttled every time: its error, and how many calls it made.
    async fn always_throttled(r: &Retry<'_>) -> (ProviderError, u32) {
        let calls = AtomicU32::new(0);
        let e = r
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(ProviderError::new("Rate exceeded").throttled(None))
            })
            .await
            .unwrap_err();
        (e, calls.load(Ordering::SeqCst))
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_read_ends_at_the_deadline() {
        let r = Retry {
            limits: limits(2, 3),
            call: Call::Read,
            endpoint: Some("http://127.0.0.1:9".into()),
            notify: &|_| {},
        };
        let start = Instant::now();
        let e = r
            .run(std::future::pending::<ProviderResult<()>>)
            .await
            .unwrap_err();
        assert_eq!(start.elapsed(), Duration::from_secs(6));
        assert!(
            e.message
                .contains("no usable answer from http://127.0.0.1:9 within 6s"),
            "{}",
            e.message
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_beyond_the_deadline_gives_up_at_once() {
        let r = quiet(limits(1, 3), Call::Read);
        let start = Instant::now();
        let e = r
            .run(|| async {
                Err::<(), _>(ProviderError::new("429").retry_after(Some(Duration::from_secs(60))))
            })
            .await
            .unwrap_err();
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert!(e.message.contains("last error: 429"), "{}", e.message);
    }
}
