//! The credentials of one loaded configuration, resolved once and kept until they near
//! their expiry, for the calls, the EKS tokens and the pacing (which keys its budgets by
//! the account the credentials name) alike.
//!
//! Each of those used to ask the configuration's provider chain for itself: pacing's
//! lookup ran a profile's `credential_process`, or asked STS or SSO, a second time. And it
//! took the one report of a profile's configuration error the chain gives: the profile
//! provider reports why it cannot be built once, then "initialization error already
//! taken", so the call that followed failed without the reason. Configuration errors are
//! kept and told again; errors that may pass (a timeout, a refused request) are not.

use std::error::Error;
use std::fmt;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;

/// Credentials this close to their expiry are resolved again (the SDK's own cache
/// refreshes ahead of expiry by a similar margin).
const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

pub(crate) struct ResolvedOnce {
    inner: SharedCredentialsProvider,
    /// The last resolution, when it is worth keeping. Held across a resolution, so that
    /// callers meanwhile wait for its answer instead of resolving again.
    last: tokio::sync::Mutex<Option<Kept>>,
}

enum Kept {
    Credentials(Credentials),
    /// The chain found no credentials, or a profile is misconfigured: neither changes
    /// while the process runs.
    NotLoaded(String),
    InvalidConfiguration(String),
}

impl ResolvedOnce {
    pub(crate) fn wrap(inner: SharedCredentialsProvider) -> SharedCredentialsProvider {
        SharedCredentialsProvider::new(ResolvedOnce {
            inner,
            last: tokio::sync::Mutex::new(None),
        })
    }

    async fn resolve(&self) -> Result<Credentials, CredentialsError> {
        let mut last = self.last.lock().await;
        match &*last {
            Some(Kept::Credentials(c)) if fresh(c, SystemTime::now()) => return Ok(c.clone()),
            Some(Kept::NotLoaded(why)) => return Err(CredentialsError::not_loaded(why.clone())),
            Some(Kept::InvalidConfiguration(why)) => {
                return Err(CredentialsError::invalid_configuration(why.clone()))
            }
            _ => {}
        }
        let resolved = self.inner.provide_credentials().await;
        *last = match &resolved {
            Ok(c) => Some(Kept::Credentials(c.clone())),
            Err(e @ CredentialsError::CredentialsNotLoaded(_)) => Some(Kept::NotLoaded(causes(e))),
            Err(e @ CredentialsError::InvalidConfiguration(_)) => {
                Some(Kept::InvalidConfiguration(causes(e)))
            }
            Err(_) => None,
        };
        resolved
    }
}

/// Why the web identity token file, when AWS_WEB_IDENTITY_TOKEN_FILE names one (CI's OIDC
/// token, EKS IRSA), cannot be read; `None` when it can or none is named.
pub(super) fn unreadable_web_identity_token() -> Option<String> {
    let path = std::env::var("AWS_WEB_IDENTITY_TOKEN_FILE").ok()?;
    if path.trim().is_empty() {
        return None;
    }
    let e = std::fs::read(&path).err()?;
    Some(format!(
        "the web identity token file {path} (AWS_WEB_IDENTITY_TOKEN_FILE) cannot be read: {e}"
    ))
}

/// Whether `c` may still be used at `now`.
fn fresh(c: &Credentials, now: SystemTime) -> bool {
    c.expiry().is_none_or(|at| now + REFRESH_BEFORE < at)
}

/// The error's sources, which say why (its own text only names its kind).
fn causes(e: &CredentialsError) -> String {
    e.source()
        .map_or_else(|| e.to_string(), crate::provider::cause_chain)
}

impl fmt::Debug for ResolvedOnce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedOnce")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl ProvideCredentials for ResolvedOnce {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.resolve())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A provider that answers from a script of results, counting its calls.
    #[derive(Debug)]
    struct Scripted {
        calls: Arc<AtomicUsize>,
        answer: fn(usize) -> Result<Credentials, CredentialsError>,
    }

    impl ProvideCredentials for Scripted {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            future::ProvideCredentials::ready((self.answer)(n))
        }
    }

    fn wrapped(
        answer: fn(usize) -> Result<Credentials, CredentialsError>,
    ) -> (SharedCredentialsProvider, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let inner = SharedCredentialsProvider::new(Scripted {
            calls: calls.clone(),
            answer,
        });
        (ResolvedOnce::wrap(inner), calls)
    }

    fn creds(expiry: Option<SystemTime>) -> Credentials {
        Credentials::new("AKID", "secret", None, expiry, "test")
    }

    #[tokio::test]
    async fn credentials_are_resolved_once_until_they_near_expiry() {
        let (p, calls) = wrapped(|_| Ok(creds(None)));
        for _ in 0..3 {
            assert_eq!(
                p.provide_credentials().await.unwrap().access_key_id(),
                "AKID"
            );
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // Expiring within the margin: resolved again each time.
        let (p, calls) = wrapped(|_| Ok(creds(Some(SystemTime::now() + Duration::from_secs(60)))));
        p.provide_credentials().await.unwrap();
        p.provide_credentials().await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_configuration_error_is_told_again_with_its_reason() {
        // The profile provider's behaviour: the reason once, then "already taken".
        let (p, calls) = wrapped(|n| {
            Err(if n == 0 {
                CredentialsError::invalid_configuration("credential_process exited with 1")
            } else {
                CredentialsError::unhandled("initialization error already taken")
            })
        });
        for _ in 0..2 {
            let e = p.provide_credentials().await.unwrap_err();
            assert!(
                matches!(e, CredentialsError::InvalidConfiguration(_)),
                "{e:?}"
            );
            assert_eq!(causes(&e), "credential_process exited with 1");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_error_that_may_pass_is_asked_again() {
        let (p, calls) = wrapped(|n| {
            if n == 0 {
                Err(CredentialsError::provider_timed_out(Duration::from_secs(1)))
            } else {
                Ok(creds(None))
            }
        });
        assert!(p.provide_credentials().await.is_err());
        assert!(p.provide_credentials().await.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
