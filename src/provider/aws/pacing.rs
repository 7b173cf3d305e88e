//! Client-side pacing: one token bucket per API operation, sized under the service quotas,
//! so a stack with many resources slows itself down instead of being throttled.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

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

#[derive(Debug)]
struct Bucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    /// Takes one token, possibly borrowing from the future; returns how long to wait
    /// before the borrowed token becomes real.
    fn reserve(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.updated = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
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
            let bucket = buckets.entry(operation.to_string()).or_insert_with(|| {
                let rate = rate_for(operation);
                let capacity = rate.max(1.0);
                Bucket {
                    rate,
                    capacity,
                    tokens: capacity,
                    updated: now,
                }
            });
            bucket.reserve(now)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
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

    #[test]
    fn quotas_follow_pca_documentation() {
        assert_eq!(rate_for("acm-pca:CreateCertificateAuthority"), 1.0);
        assert_eq!(rate_for("acm-pca:IssueCertificate"), 25.0);
        assert_eq!(rate_for("acm-pca:GetCertificate"), 75.0);
        assert_eq!(rate_for("iam:CreatePolicy"), 10.0);
    }
}
