//! Client-side pacing: one token bucket per API operation, so that a stack with many
//! resources, or a fleet of them, slows itself down instead of being throttled.
//!
//! AWS counts its quotas per account and region, not per process or per stack, so the
//! buckets live in one process-wide [`PacerRegistry`] keyed by [`PacerKey`]: every stack a
//! process drives (a fleet of clusters, say) draws on the same budget when it calls the
//! same account and region, and a hundred stacks stay under the quota that one would.
//!
//! Where an operation has a known quota (Private CA's), its bucket is held to it from the
//! first call. IAM and EKS document none, so their operations are not held to a guessed
//! figure: as the AWS SDKs' adaptive retry mode does, they go unpaced until the service
//! answers one with a throttle, which cuts that operation's rate to half of what was being
//! sent; the rate then grows back while no throttle comes. A throttle is the service's own
//! word that nothing was done, so the throttled call is sent again, paced (see
//! `Clients::call`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use tokio::sync::OnceCell;
use tokio::time::Instant;

/// The requests per second an operation (named `service:Action` as in IAM policies) is
/// held to from its first call: Private CA's documented default quotas, and 10/s for its
/// operations without a figure here (every Private CA operation has a quota). IAM and EKS
/// publish no per-action rates: `None`, paced only once throttled.
pub fn quota(operation: &str) -> Option<f64> {
    match operation {
        "acm-pca:CreateCertificateAuthority" => Some(1.0),
        "acm-pca:IssueCertificate" => Some(25.0),
        "acm-pca:GetCertificate" => Some(75.0),
        "acm-pca:DescribeCertificateAuthority"
        | "acm-pca:ListCertificateAuthorities"
        | "acm-pca:GetCertificateAuthorityCertificate" => Some(20.0),
        _ if operation.starts_with("acm-pca:") => Some(10.0),
        _ => None,
    }
}

/// Whether an operation's quota is regional. IAM is a global service: its quotas are the
/// account's, whatever region a client names.
pub fn is_regional(operation: &str) -> bool {
    !operation.starts_with("iam:")
}

/// A throttle cuts the rate to this fraction of what was being sent.
const CUT: f64 = 0.5;
/// The lowest rate a cut goes to, in requests per second.
const MIN_RATE: f64 = 0.5;
/// After a cut, the rate grows back by the cut rate every `REGAIN` without a throttle.
const REGAIN: Duration = Duration::from_secs(10);
/// The window over which the rate being sent is measured when a throttle comes.
const WINDOW: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Bucket {
    /// The operation's quota, if it has one: the rate never goes above it.
    quota: Option<f64>,
    /// The last throttle's cut: the rate it set, and when.
    cut: Option<(f64, Instant)>,
    tokens: f64,
    updated: Instant,
    /// Release times of the calls of the last `WINDOW` (and later ones reserved).
    recent: VecDeque<Instant>,
    granted: u64,
    throttled: u64,
    first: Instant,
    last_release: Instant,
}

impl Bucket {
    fn new(operation: &str, now: Instant) -> Bucket {
        let quota = quota(operation);
        Bucket {
            quota,
            cut: None,
            // One second's worth up front.
            tokens: quota.map_or(0.0, |r| r.max(1.0)),
            updated: now,
            recent: VecDeque::new(),
            granted: 0,
            throttled: 0,
            first: now,
            last_release: now,
        }
    }

    /// The rate calls are held to at `now` (`None`: not held).
    fn rate(&self, now: Instant) -> Option<f64> {
        let regained = self.cut.map(|(rate, at)| {
            let since = now.saturating_duration_since(at).as_secs_f64();
            rate * (1.0 + since / REGAIN.as_secs_f64())
        });
        match (self.quota, regained) {
            (Some(p), Some(r)) => Some(p.min(r)),
            (p, r) => p.or(r),
        }
    }

    /// Takes one token, possibly borrowing from the future; returns when the call may go.
    fn reserve(&mut self, now: Instant) -> Instant {
        let wait = match self.rate(now) {
            None => Duration::ZERO,
            Some(rate) => {
                let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
                // Bursts up to one second's worth of calls.
                self.tokens = (self.tokens + elapsed * rate).min(rate.max(1.0));
                self.tokens -= 1.0;
                if self.tokens >= 0.0 {
                    Duration::ZERO
                } else {
                    Duration::from_secs_f64(-self.tokens / rate)
                }
            }
        };
        self.updated = now;
        let release = now + wait;
        if self.granted == 0 {
            self.first = now;
        }
        self.granted += 1;
        self.last_release = self.last_release.max(release);
        while self.recent.front().is_some_and(|t| *t + WINDOW < now) {
            self.recent.pop_front();
        }
        self.recent.push_back(release);
        release
    }

    /// A call released at `sent` was throttled, answered at `now`.
    fn throttled(&mut self, sent: Instant, now: Instant) {
        self.throttled += 1;
        // Sent before the last cut: that cut already answered the rate it was sent at.
        if self.cut.is_some_and(|(_, at)| sent < at) {
            return;
        }
        let sent_in_window = self
            .recent
            .iter()
            .filter(|t| **t <= now && **t + WINDOW >= now)
            .count()
            .max(1) as f64;
        let current = self.rate(now);
        // What the bucket earned since it was last counted, then empty: calls already
        // let through keep their turns, the next one waits.
        if let Some(rate) = current {
            let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
            self.tokens = (self.tokens + elapsed * rate).min(rate.max(1.0));
        }
        self.tokens = self.tokens.min(0.0);
        self.updated = now;
        let rate = (CUT * current.unwrap_or(f64::INFINITY).min(sent_in_window)).max(MIN_RATE);
        self.cut = Some((rate, now));
    }

    fn grants(&self) -> Grants {
        Grants {
            count: self.granted,
            span: self.last_release.saturating_duration_since(self.first),
            throttled: self.throttled,
        }
    }
}

/// What a pacer let through for one operation: how many calls, released over how long
/// (from the first call to the moment the last one was allowed to go), and how many of
/// them the service throttled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grants {
    pub count: u64,
    pub span: Duration,
    pub throttled: u64,
}

impl Grants {
    /// Whether these calls kept to `rate` a second: no more than one second's burst
    /// plus the rate over the span.
    pub fn within(&self, rate: f64) -> bool {
        let allowed = rate.max(1.0) + rate * self.span.as_secs_f64();
        // A microsecond of slack for the float arithmetic of the release times.
        self.count as f64 <= allowed + rate * 1e-6
    }
}

/// Token buckets keyed by operation name.
#[derive(Debug, Default)]
pub struct Pacer {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Pacer {
    /// Waits until a call to `operation` fits under its rate; returns when it went.
    pub async fn acquire(&self, operation: &str) -> Instant {
        let release = {
            let mut buckets = self.buckets.lock().expect("pacer lock");
            let now = Instant::now();
            buckets
                .entry(operation.to_string())
                .or_insert_with(|| Bucket::new(operation, now))
                .reserve(now)
        };
        tokio::time::sleep_until(release).await;
        release
    }

    /// The service throttled a call of `operation` released at `sent`.
    pub fn throttled(&self, operation: &str, sent: Instant) {
        let mut buckets = self.buckets.lock().expect("pacer lock");
        let now = Instant::now();
        buckets
            .entry(operation.to_string())
            .or_insert_with(|| Bucket::new(operation, now))
            .throttled(sent, now);
    }

    /// The rate `operation`'s calls are held to now (`None`: not held).
    pub fn rate(&self, operation: &str) -> Option<f64> {
        let buckets = self.buckets.lock().expect("pacer lock");
        match buckets.get(operation) {
            Some(b) => b.rate(Instant::now()),
            None => quota(operation),
        }
    }

    /// What this pacer let through for `operation` so far (`None`: no call yet).
    pub fn grants(&self, operation: &str) -> Option<Grants> {
        let buckets = self.buckets.lock().expect("pacer lock");
        buckets.get(operation).map(Bucket::grants)
    }

    /// Every operation this pacer has let through, with its grants.
    pub fn all_grants(&self) -> Vec<(String, Grants)> {
        let buckets = self.buckets.lock().expect("pacer lock");
        let mut all: Vec<(String, Grants)> = buckets
            .iter()
            .map(|(op, b)| (op.clone(), b.grants()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// One call let through by a pacer: tell it if the service throttled the call.
#[derive(Debug)]
pub struct Sent {
    pacer: Arc<Pacer>,
    operation: String,
    at: Instant,
}

impl Sent {
    /// The service answered this call with a throttle: slow its operation down.
    pub fn throttled(&self) {
        self.pacer.throttled(&self.operation, self.at);
    }
}

/// Who makes the calls, as far as the credentials tell without a call of their own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Account {
    /// The account ID the credentials carry (AWS_ACCOUNT_ID, a profile's
    /// `aws_account_id`, SSO, an assumed role).
    Id(String),
    /// Credentials that do not name their account: their access key ID stands in for it,
    /// so stacks signing with the same key share a budget.
    AccessKey(String),
    /// No credentials, or credentials that could not be resolved: such callers share one
    /// budget (their calls fail on the same missing credentials anyway).
    Unresolved,
}

/// One budget: the quotas of one account in one region of one service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PacerKey {
    /// The endpoint override the calls go to (`None`: AWS's own endpoints). An emulator
    /// or a second, separate service has quotas of its own.
    pub endpoint: Option<String>,
    pub account: Account,
    /// `None` for a global service (IAM).
    pub region: Option<String>,
}

/// The process's pacers, one per [`PacerKey`], created on first use and kept for the
/// life of the registry (a handful of account and region pairs).
#[derive(Debug, Default)]
pub struct PacerRegistry {
    pacers: Mutex<HashMap<PacerKey, Arc<Pacer>>>,
}

static GLOBAL: LazyLock<Arc<PacerRegistry>> = LazyLock::new(Arc::default);

impl PacerRegistry {
    /// The registry every `aws` provider of this process uses unless given its own.
    pub fn global() -> Arc<PacerRegistry> {
        GLOBAL.clone()
    }

    /// The pacer of `key`, shared by every caller of the same key.
    pub fn pacer(&self, key: &PacerKey) -> Arc<Pacer> {
        self.pacers
            .lock()
            .expect("pacer registry lock")
            .entry(key.clone())
            .or_default()
            .clone()
    }

    /// The pacer of `key` if any call has used it.
    pub fn get(&self, key: &PacerKey) -> Option<Arc<Pacer>> {
        self.pacers
            .lock()
            .expect("pacer registry lock")
            .get(key)
            .cloned()
    }

    /// How many calls AWS throttled, per operation, over every budget (none: empty).
    pub fn throttled(&self) -> Vec<(String, u64)> {
        let pacers: Vec<Arc<Pacer>> = self
            .pacers
            .lock()
            .expect("pacer registry lock")
            .values()
            .cloned()
            .collect();
        let mut total: std::collections::BTreeMap<String, u64> = Default::default();
        for pacer in pacers {
            for (op, g) in pacer.all_grants() {
                if g.throttled > 0 {
                    *total.entry(op).or_default() += g.throttled;
                }
            }
        }
        total.into_iter().collect()
    }

    /// Every key in use, in order.
    pub fn keys(&self) -> Vec<PacerKey> {
        let mut keys: Vec<PacerKey> = self
            .pacers
            .lock()
            .expect("pacer registry lock")
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    }
}

/// The pacing of one set of clients: which registry, where the calls go, and who makes
/// them.
///
/// The account is taken from the credentials, resolved once per set of clients: their
/// account ID when they carry one, else their access key ID. Asking STS
/// (GetCallerIdentity) would name the account in every case, but it is one more call on
/// the wire per process and credentials, one more thing to fail or hang before the first
/// real call, and it is answered by a service that may not be the one the stack talks
/// to; keys of one account that name no account ID pace separately, and setting
/// AWS_ACCOUNT_ID (or `aws_account_id` in the profile) makes them share.
pub struct Pacing {
    registry: Arc<PacerRegistry>,
    endpoint: Option<String>,
    credentials: Option<SharedCredentialsProvider>,
    account: OnceCell<Account>,
}

impl std::fmt::Debug for Pacing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacing")
            .field("endpoint", &self.endpoint)
            .field("account", &self.account.get())
            .finish_non_exhaustive()
    }
}

impl Pacing {
    /// The pacing of clients built from `config`, drawing on `registry`.
    pub fn new(registry: Arc<PacerRegistry>, config: &aws_config::SdkConfig) -> Pacing {
        Pacing {
            registry,
            endpoint: config.endpoint_url().map(str::to_string),
            credentials: config.credentials_provider(),
            account: OnceCell::new(),
        }
    }

    /// Resolved once: a failure is remembered too, rather than paying a slow credential
    /// chain (an instance metadata timeout) before every call that will fail anyway.
    async fn account(&self) -> Account {
        let Some(provider) = &self.credentials else {
            return Account::Unresolved;
        };
        self.account
            .get_or_init(|| async {
                match provider.provide_credentials().await {
                    Ok(c) => match c.account_id() {
                        Some(id) => Account::Id(id.as_str().to_string()),
                        None => Account::AccessKey(c.access_key_id().to_string()),
                    },
                    Err(_) => Account::Unresolved,
                }
            })
            .await
            .clone()
    }

    /// The budget a call of `operation` by a client of `region` draws on.
    pub async fn key(&self, operation: &str, region: Option<&str>) -> PacerKey {
        PacerKey {
            endpoint: self.endpoint.clone(),
            account: self.account().await,
            region: region
                .filter(|_| is_regional(operation))
                .map(str::to_string),
        }
    }

    /// Waits until a call of `operation` by a client of `region` fits its budget.
    pub async fn acquire(&self, operation: &str, region: Option<&str>) -> Sent {
        let key = self.key(operation, region).await;
        let pacer = self.registry.pacer(&key);
        let at = pacer.acquire(operation).await;
        Sent {
            pacer,
            operation: operation.to_string(),
            at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn create_ca_is_held_to_one_per_second() {
        let pacer = Pacer::default();
        let start = Instant::now();
        for _ in 0..4 {
            pacer.acquire("acm-pca:CreateCertificateAuthority").await;
        }
        // One token up front, then one per second.
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn bursts_up_to_the_rate_then_paces() {
        let pacer = Pacer::default();
        let start = Instant::now();
        for _ in 0..25 {
            pacer.acquire("acm-pca:IssueCertificate").await;
        }
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "a one-second burst is free"
        );
        for _ in 0..25 {
            pacer.acquire("acm-pca:IssueCertificate").await;
        }
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(990) && elapsed <= Duration::from_millis(1010),
            "{elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn operations_do_not_share_buckets() {
        let pacer = Pacer::default();
        let start = Instant::now();
        pacer.acquire("acm-pca:CreateCertificateAuthority").await;
        pacer.acquire("iam:CreateRole").await;
        pacer.acquire("acm-pca:GetCertificate").await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_are_spread_out() {
        let pacer = std::sync::Arc::new(Pacer::default());
        let start = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..3 {
            let p = pacer.clone();
            handles.push(tokio::spawn(async move {
                p.acquire("acm-pca:CreateCertificateAuthority").await;
                Instant::now()
            }));
        }
        let mut times: Vec<Duration> = Vec::new();
        for h in handles {
            times.push(h.await.unwrap() - start);
        }
        times.sort();
        assert_eq!(
            times,
            vec![
                Duration::ZERO,
                Duration::from_secs(1),
                Duration::from_secs(2)
            ]
        );
    }

    fn config(region: &str, access_key: &str, account: Option<&str>) -> aws_config::SdkConfig {
        let mut creds = aws_credential_types::Credentials::builder()
            .access_key_id(access_key)
            .secret_access_key("secret")
            .provider_name("test");
        if let Some(a) = account {
            creds = creds.account_id(a);
        }
        aws_config::SdkConfig::builder()
            .region(aws_config::Region::new(region.to_string()))
            .endpoint_url("http://127.0.0.1:9")
            .credentials_provider(SharedCredentialsProvider::new(creds.build()))
            .build()
    }

    const CREATE_CA: &str = "acm-pca:CreateCertificateAuthority";

    /// Two callers each make one CreateCertificateAuthority call (1/s, no burst beyond one).
    async fn two_creates(a: &Pacing, a_region: &str, b: &Pacing, b_region: &str) -> Duration {
        let start = Instant::now();
        tokio::join!(
            a.acquire("acm-pca:CreateCertificateAuthority", Some(a_region)),
            b.acquire("acm-pca:CreateCertificateAuthority", Some(b_region)),
        );
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn two_sets_of_clients_of_one_account_and_region_share_one_budget() {
        let registry = Arc::new(PacerRegistry::default());
        let a = Pacing::new(registry.clone(), &config("us-east-1", "KEY", None));
        let b = Pacing::new(registry.clone(), &config("us-east-1", "KEY", None));
        assert_eq!(
            two_creates(&a, "us-east-1", &b, "us-east-1").await,
            Duration::from_secs(1),
            "the second create waits for the first one's second"
        );
        assert_eq!(registry.keys().len(), 1);
        let grants = registry.get(&registry.keys()[0]).unwrap();
        assert_eq!(
            grants.grants("acm-pca:CreateCertificateAuthority"),
            Some(Grants {
                count: 2,
                span: Duration::from_secs(1),
                throttled: 0,
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn another_region_has_a_budget_of_its_own() {
        let registry = Arc::new(PacerRegistry::default());
        let a = Pacing::new(registry.clone(), &config("us-east-1", "KEY", None));
        let b = Pacing::new(registry.clone(), &config("eu-west-1", "KEY", None));
        assert_eq!(
            two_creates(&a, "us-east-1", &b, "eu-west-1").await,
            Duration::ZERO
        );
        // A CA in another region than its provider's is paced by its own region.
        assert_eq!(
            two_creates(&a, "eu-west-1", &b, "eu-west-1").await,
            Duration::from_secs(2),
            "eu-west-1's bucket already gave its token"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn keys_that_name_one_account_share_and_unnamed_keys_do_not() {
        let registry = Arc::new(PacerRegistry::default());
        let a = Pacing::new(
            registry.clone(),
            &config("us-east-1", "KEY1", Some("111122223333")),
        );
        let b = Pacing::new(
            registry.clone(),
            &config("us-east-1", "KEY2", Some("111122223333")),
        );
        assert_eq!(
            two_creates(&a, "us-east-1", &b, "us-east-1").await,
            Duration::from_secs(1)
        );
        let registry = Arc::new(PacerRegistry::default());
        let c = Pacing::new(registry.clone(), &config("us-east-1", "KEY1", None));
        let d = Pacing::new(registry.clone(), &config("us-east-1", "KEY2", None));
        assert_eq!(
            two_creates(&c, "us-east-1", &d, "us-east-1").await,
            Duration::ZERO
        );
    }

    #[tokio::test(start_paused = true)]
    async fn iam_quotas_are_the_accounts_whatever_the_region() {
        let registry = Arc::new(PacerRegistry::default());
        let a = Pacing::new(registry.clone(), &config("us-east-1", "KEY", None));
        assert_eq!(
            a.key("iam:CreateRole", Some("us-east-1")).await,
            a.key("iam:CreateRole", Some("eu-west-1")).await
        );
        assert_ne!(
            a.key("eks:DescribeCluster", Some("us-east-1")).await,
            a.key("eks:DescribeCluster", Some("eu-west-1")).await
        );
    }

    #[tokio::test(start_paused = true)]
    async fn grants_over_the_budget_are_told_apart() {
        let grants = |count, secs| Grants {
            count,
            span: Duration::from_secs(secs),
            throttled: 0,
        };
        assert!(grants(4, 3).within(1.0));
        assert!(!grants(4, 2).within(1.0));
        let pacer = Pacer::default();
        for _ in 0..30 {
            pacer.acquire("acm-pca:IssueCertificate").await;
        }
        let g = pacer.grants("acm-pca:IssueCertificate").unwrap();
        assert_eq!(g.count, 30);
        assert!(g.within(25.0), "{g:?}");
        assert!(!g.within(20.0), "{g:?}");
        assert_eq!(pacer.grants(CREATE_CA), None);
    }

    const GET_ROLE: &str = "iam:GetRole";

    #[tokio::test(start_paused = true)]
    async fn an_operation_without_a_quota_goes_unpaced_until_throttled() {
        let pacer = Pacer::default();
        let start = Instant::now();
        let mut sent = Vec::new();
        for _ in 0..40 {
            sent.push(pacer.acquire(GET_ROLE).await);
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(pacer.rate(GET_ROLE), None);

        // The service throttles: 40 were sent in the last second, so 20/s from now on,
        // and the bucket starts empty.
        tokio::time::advance(Duration::from_millis(100)).await;
        pacer.throttled(GET_ROLE, sent[30]);
        assert_eq!(pacer.rate(GET_ROLE), Some(20.0));
        let before = Instant::now();
        for _ in 0..10 {
            pacer.acquire(GET_ROLE).await;
        }
        // One every 50 ms (a little less as the rate starts growing back).
        let took = before.elapsed();
        assert!(
            took > Duration::from_millis(450) && took <= Duration::from_millis(500),
            "{took:?}"
        );

        // More throttles of calls sent before the cut change nothing: the cut already
        // answered them.
        for t in &sent {
            pacer.throttled(GET_ROLE, *t);
        }
        let rate = pacer.rate(GET_ROLE).unwrap();
        assert!((20.0..=21.5).contains(&rate), "{rate}");
        assert_eq!(pacer.grants(GET_ROLE).unwrap().throttled, 41);
    }

    #[tokio::test(start_paused = true)]
    async fn throttles_after_a_cut_cut_again_and_quiet_regains_the_rate() {
        let pacer = Pacer::default();
        let first = pacer.acquire(GET_ROLE).await;
        pacer.throttled(GET_ROLE, first);
        // One call in the window: half of it, held up by the floor of 0.5/s.
        assert_eq!(pacer.rate(GET_ROLE), Some(MIN_RATE));

        // Ten quiet seconds regain one cut's worth.
        tokio::time::advance(REGAIN).await;
        assert_eq!(pacer.rate(GET_ROLE), Some(2.0 * MIN_RATE));
        tokio::time::advance(REGAIN * 9).await;
        assert_eq!(pacer.rate(GET_ROLE), Some(11.0 * MIN_RATE));

        // A throttle of a call sent after that cut cuts from the current rate.
        let again = pacer.acquire(GET_ROLE).await;
        pacer.throttled(GET_ROLE, again);
        assert_eq!(pacer.rate(GET_ROLE), Some(MIN_RATE));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_throttled_again_and_again_waits_the_same_at_the_floor() {
        let pacer = Pacer::default();
        let mut last = pacer.acquire(GET_ROLE).await;
        let start = Instant::now();
        for _ in 0..4 {
            pacer.throttled(GET_ROLE, last);
            last = pacer.acquire(GET_ROLE).await;
        }
        // Each attempt waits for one token at 0.5/s: the waits do not pile up.
        assert_eq!(start.elapsed(), Duration::from_secs(8));
    }

    #[tokio::test(start_paused = true)]
    async fn a_quota_is_cut_by_a_throttle_and_never_regained_beyond() {
        let pacer = Pacer::default();
        let mut last = pacer.acquire("acm-pca:IssueCertificate").await;
        for _ in 0..24 {
            last = pacer.acquire("acm-pca:IssueCertificate").await;
        }
        // Another tool shares the account's quota: the service throttles at 25 sent.
        pacer.throttled("acm-pca:IssueCertificate", last);
        assert_eq!(pacer.rate("acm-pca:IssueCertificate"), Some(12.5));
        tokio::time::advance(REGAIN * 5).await;
        assert_eq!(pacer.rate("acm-pca:IssueCertificate"), Some(25.0));
    }

    #[derive(Debug)]
    struct NoCredentials;

    impl ProvideCredentials for NoCredentials {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            aws_credential_types::provider::future::ProvideCredentials::ready(Err(
                aws_credential_types::provider::error::CredentialsError::not_loaded("none"),
            ))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn credentials_that_cannot_be_resolved_share_one_budget() {
        let registry = Arc::new(PacerRegistry::default());
        let config = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(NoCredentials))
            .build();
        let a = Pacing::new(registry.clone(), &config);
        let key = a.key(CREATE_CA, Some("us-east-1")).await;
        assert_eq!(key.account, Account::Unresolved);
        assert_eq!(key.endpoint, None);
        let b = Pacing::new(registry.clone(), &config);
        assert_eq!(
            two_creates(&a, "us-east-1", &b, "us-east-1").await,
            Duration::from_secs(1)
        );
    }

    #[test]
    fn quotas_follow_pca_documentation() {
        assert_eq!(quota("acm-pca:CreateCertificateAuthority"), Some(1.0));
        assert_eq!(quota("acm-pca:IssueCertificate"), Some(25.0));
        assert_eq!(quota("acm-pca:GetCertificate"), Some(75.0));
        assert_eq!(quota("iam:CreatePolicy"), None);
        assert_eq!(quota("eks:DescribeCluster"), None);
        assert_eq!(quota("acm-pca:TagCertificateAuthority"), Some(10.0));
    }
}
