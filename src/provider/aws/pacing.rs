//! Client-side pacing: one token bucket per API operation, sized under the service quotas,
//! so a stack with many resources slows itself down instead of being throttled.
//!
//! AWS counts those quotas per account and region, not per process or per stack, so the
//! buckets live in one process-wide [`PacerRegistry`] keyed by [`PacerKey`]: every stack a
//! process drives (a fleet of clusters, say) draws on the same budget when it calls the
//! same account and region, and a hundred stacks stay under the quota that one would.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use tokio::sync::OnceCell;
use tokio::time::Instant;

/// Requests per second allowed for an operation, named `service:Action` as in IAM policies.
/// PCA figures are the documented default quotas; IAM and EKS have no published per-action
/// rates, so they get a conservative 10/s.
pub fn rate_for(operation: &str) -> f64 {
    match operation {
        "acm-pca:CreateCertificateAuthority" => 1.0,
        "acm-pca:IssueCertificate" => 25.0,
        "acm-pca:GetCertificate" => 75.0,
        "acm-pca:DescribeCertificateAuthority"
        | "acm-pca:ListCertificateAuthorities"
        | "acm-pca:GetCertificateAuthorityCertificate" => 20.0,
        _ => 10.0,
    }
}

/// How many calls of an operation may go at once: one second's worth (at least one).
pub fn burst_for(operation: &str) -> f64 {
    rate_for(operation).max(1.0)
}

/// Whether an operation's quota is regional. IAM is a global service: its quotas are the
/// account's, whatever region a client names.
pub fn is_regional(operation: &str) -> bool {
    !operation.starts_with("iam:")
}

#[derive(Debug)]
struct Bucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    updated: Instant,
    granted: u64,
    first: Instant,
    last_release: Instant,
}

impl Bucket {
    fn new(operation: &str, now: Instant) -> Bucket {
        let capacity = burst_for(operation);
        Bucket {
            rate: rate_for(operation),
            capacity,
            tokens: capacity,
            updated: now,
            granted: 0,
            first: now,
            last_release: now,
        }
    }

    /// Takes one token, possibly borrowing from the future; returns how long to wait
    /// before the borrowed token becomes real.
    fn reserve(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.updated = now;
        self.tokens -= 1.0;
        let wait = if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        };
        if self.granted == 0 {
            self.first = now;
        }
        self.granted += 1;
        self.last_release = self.last_release.max(now + wait);
        wait
    }
}

/// What a pacer let through for one operation: how many calls, released over how long
/// (from the first call to the moment the last one was allowed to go).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grants {
    pub count: u64,
    pub span: Duration,
}

impl Grants {
    /// Whether these calls kept to `operation`'s budget: no more than one burst plus
    /// the rate over the span.
    pub fn within_budget(&self, operation: &str) -> bool {
        let allowed = burst_for(operation) + rate_for(operation) * self.span.as_secs_f64();
        // A microsecond of slack for the float arithmetic of the release times.
        self.count as f64 <= allowed + rate_for(operation) * 1e-6
    }
}

/// Token buckets keyed by operation name. Bursts up to one second's worth of calls.
#[derive(Debug, Default)]
pub struct Pacer {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Pacer {
    /// Waits until a call to `operation` fits under its rate.
    pub async fn acquire(&self, operation: &str) {
        let wait = {
            let mut buckets = self.buckets.lock().expect("pacer lock");
            let now = Instant::now();
            buckets
                .entry(operation.to_string())
                .or_insert_with(|| Bucket::new(operation, now))
                .reserve(now)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// What this pacer let through for `operation` so far (`None`: no call yet).
    pub fn grants(&self, operation: &str) -> Option<Grants> {
        let buckets = self.buckets.lock().expect("pacer lock");
        buckets.get(operation).map(|b| Grants {
            count: b.granted,
            span: b.last_release.saturating_duration_since(b.first),
        })
    }

    /// Every operation this pacer has let through, with its grants.
    pub fn all_grants(&self) -> Vec<(String, Grants)> {
        let buckets = self.buckets.lock().expect("pacer lock");
        let mut all: Vec<(String, Grants)> = buckets
            .iter()
            .map(|(op, b)| {
                (
                    op.clone(),
                    Grants {
                        count: b.granted,
                        span: b.last_release.saturating_duration_since(b.first),
                    },
                )
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
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
    pub async fn acquire(&self, operation: &str, region: Option<&str>) {
        let key = self.key(operation, region).await;
        self.registry.pacer(&key).acquire(operation).await;
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
                span: Duration::from_secs(1)
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
        let op = "acm-pca:CreateCertificateAuthority";
        assert!(Grants {
            count: 4,
            span: Duration::from_secs(3)
        }
        .within_budget(op));
        assert!(!Grants {
            count: 4,
            span: Duration::from_secs(2)
        }
        .within_budget(op));
        let pacer = Pacer::default();
        for _ in 0..30 {
            pacer.acquire("acm-pca:IssueCertificate").await;
        }
        let g = pacer.grants("acm-pca:IssueCertificate").unwrap();
        assert_eq!(g.count, 30);
        assert!(g.within_budget("acm-pca:IssueCertificate"), "{g:?}");
        assert_eq!(pacer.grants(op), None);
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
        assert_eq!(rate_for("acm-pca:CreateCertificateAuthority"), 1.0);
        assert_eq!(rate_for("acm-pca:IssueCertificate"), 25.0);
        assert_eq!(rate_for("acm-pca:GetCertificate"), 75.0);
        assert_eq!(rate_for("iam:CreatePolicy"), 10.0);
    }
}
