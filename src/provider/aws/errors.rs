//! AWS SDK failures turned into messages a person can act on: which action on which
//! resource was refused, what state a CA is in and what to do about it, how to set a region.

use aws_sdk_acmpca::types::CertificateAuthorityStatus;
use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};

use crate::provider::ProviderError;

/// One failed AWS call, before it becomes a [`ProviderError`]. Call sites inspect `code`
/// to treat "not found" or "already exists" as outcomes rather than failures.
#[derive(Debug, Clone)]
pub struct CallError {
    /// IAM action name, e.g. `acm-pca:IssueCertificate`.
    pub operation: &'static str,
    /// What the call was about (an ARN, a role name).
    pub resource: String,
    pub code: Option<String>,
    pub message: String,
    /// The request never got a service answer (connection refused, timeout).
    pub transport: bool,
    /// HTTP status of the answer, when there was one.
    pub status: Option<u16>,
    /// The answer's `Retry-After`, in seconds.
    pub retry_after: Option<std::time::Duration>,
}

impl CallError {
    pub fn from_sdk<E>(
        operation: &'static str,
        resource: &str,
        err: SdkError<E, HttpResponse>,
    ) -> CallError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let transport = matches!(
            err,
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
        );
        let code = err.code().map(str::to_string);
        let message = match (&err, err.message()) {
            (SdkError::ServiceError(_), Some(m)) => m.to_string(),
            // An answer the SDK cannot read (a proxy's error page): its status says more
            // than the parse error.
            (SdkError::ServiceError(se), None) => {
                format!("unexpected answer, HTTP {}", se.raw().status().as_u16())
            }
            (SdkError::ResponseError(re), _) => {
                format!("unreadable answer, HTTP {}", re.raw().status().as_u16())
            }
            _ => crate::provider::cause_chain(&err),
        };
        CallError {
            operation,
            resource: resource.to_string(),
            code,
            message,
            transport,
            status: err.raw_response().map(|r| r.status().as_u16()),
            retry_after: err
                .raw_response()
                .and_then(|r| r.headers().get("retry-after"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(std::time::Duration::from_secs),
        }
    }

    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// PCA, EKS: ResourceNotFoundException; IAM: NoSuchEntity.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("ResourceNotFoundException" | "NoSuchEntity" | "NoSuchEntityException")
        )
    }

    /// The service asked to slow down: nothing was done.
    pub fn is_throttling(&self) -> bool {
        is_throttling_code(self.code.as_deref()) || self.status == Some(429)
    }
}

/// Error codes AWS services answer a throttled request with.
fn is_throttling_code(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "ThrottlingException"
                | "Throttling"
                | "TooManyRequestsException"
                | "RequestLimitExceeded"
                | "ThrottledException"
        )
    )
}

impl From<CallError> for ProviderError {
    fn from(e: CallError) -> ProviderError {
        let CallError {
            operation,
            resource,
            code,
            message,
            transport,
            status,
            retry_after,
        } = &e;
        let on = if resource.is_empty() {
            String::new()
        } else {
            format!(" on {resource}")
        };
        let code_str = code.as_deref().unwrap_or("");
        match code_str {
            "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "UnauthorizedException" => {
                ProviderError::new(format!("access denied: {operation}{on}: {message}")).with_help(format!(
                    "allow the action {operation} on {} for the identity trustplane runs as",
                    if resource.is_empty() { "the resource" } else { resource }
                ))
            }
            "InvalidClientTokenId" | "UnrecognizedClientException" | "SignatureDoesNotMatch" | "ExpiredToken"
            | "ExpiredTokenException" | "InvalidSignatureException" => ProviderError::new(format!(
                "AWS rejected the credentials for {operation}: {message}"
            ))
            .with_help(CREDENTIALS_HELP),
            "InvalidStateException" => ProviderError::new(format!(
                "{operation}{on} is not allowed in the certificate authority's current state: {message}"
            ))
            .with_help("run `trustplane drift STACK` to see the CA's state; a PENDING_CERTIFICATE CA is finished by applying again, a DISABLED one is re-enabled with `enabled: true`"),
            // Already tried again, paced, where the call was made (see Clients::call).
            _ if e.is_throttling() => {
                ProviderError::new(format!("AWS throttled {operation}{on}: {message}"))
                    .with_help("trustplane slowed down and tried again, and AWS kept throttling; if other tools share the account's quota, run again when they are quieter")
            }
            _ if message.contains("region") && code.is_none() && !*transport => {
                ProviderError::new(format!("no AWS region is configured for {operation}")).with_help(REGION_HELP)
            }
            _ if message.to_ascii_lowercase().contains("credentials") && code.is_none() => {
                // The SDK's error for a missing token file names no file.
                let token = super::credentials::unreadable_web_identity_token()
                    .map(|why| format!(" ({why})"))
                    .unwrap_or_default();
                ProviderError::new(format!("no usable AWS credentials for {operation}: {message}{token}"))
                    .with_help(CREDENTIALS_HELP)
            }
            _ if *transport => ProviderError::new(format!("cannot reach AWS for {operation}{on}: {message}"))
                .with_help("check the network, or `providers.aws.endpoint` / AWS_ENDPOINT_URL if an endpoint override is set")
                .retryable(),
            // The SDK already retried; a server error may still pass on a later apply.
            _ if status.is_some_and(|s| s >= 500) => ProviderError::new(format!(
                "{operation}{on} failed on the service side: {message}"
            ))
            .retry_after(*retry_after),
            _ => {
                let what = if code_str.is_empty() { String::new() } else { format!(" ({code_str})") };
                ProviderError::new(format!("{operation}{on} failed{what}: {message}"))
            }
        }
    }
}

pub const REGION_HELP: &str =
    "set `region` under `providers.aws` in the stack, or AWS_REGION in the environment, or a region in the AWS profile";

pub const CREDENTIALS_HELP: &str = "provide credentials through the standard AWS chain: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE (or `profile` under `providers.aws`), SSO, or an instance/pod role";

/// The error for an operation that needs the CA in another state, with what to do next.
pub fn invalid_state(arn: &str, state: &CertificateAuthorityStatus, wanted: &str) -> ProviderError {
    use CertificateAuthorityStatus as Status;
    let help = match state {
        Status::PendingCertificate => "the CA has no certificate yet: apply again to finish its activation",
        Status::Creating => "the CA is still being created: apply again in a minute",
        Status::Disabled => "set `enabled: true` on the resource and apply, or enable it in the console",
        Status::Deleted => "the CA is scheduled for deletion: restore it (`aws acm-pca restore-certificate-authority`) within its restore window, or remove it from the stack",
        Status::Expired => "the CA's certificate has expired: replace the CA (change a property that forces replacement, or taint it)",
        Status::Failed => "the CA failed to create: delete it and apply again",
        _ => "run `trustplane drift STACK` and check the CA in the AWS console",
    };
    ProviderError::new(format!(
        "certificate authority {arn} is {}, but {wanted}",
        state.as_str()
    ))
    .with_help(help)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: Option<&str>, message: &str, transport: bool) -> ProviderError {
        CallError {
            operation: "acm-pca:IssueCertificate",
            resource: "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/x".into(),
            code: code.map(str::to_string),
            message: message.into(),
            transport,
            status: None,
            retry_after: None,
        }
        .into()
    }

    #[test]
    fn access_denied_names_action_and_resource() {
        let e = err(Some("AccessDeniedException"), "not authorized", false);
        assert!(
            e.message
                .contains("acm-pca:IssueCertificate on arn:aws:acm-pca"),
            "{}",
            e.message
        );
        assert!(e
            .help
            .unwrap()
            .contains("allow the action acm-pca:IssueCertificate"));
        assert!(!e.retryable);
    }

    #[test]
    fn transport_failures_are_retryable_and_a_throttle_that_outlasted_its_attempts_is_not() {
        assert!(err(None, "connection refused", true).retryable);
        // Clients::call already tried it again, paced; the engine must not multiply that.
        let throttled = err(Some("ThrottlingException"), "rate exceeded", false);
        assert!(!throttled.retryable);
        assert!(
            throttled.message.starts_with("AWS throttled"),
            "{}",
            throttled.message
        );
    }

    #[test]
    fn server_errors_are_retryable() {
        let e: ProviderError = CallError {
            operation: "iam:GetRole",
            resource: "r".into(),
            code: None,
            message: "unexpected answer, HTTP 503".into(),
            transport: false,
            status: Some(503),
            retry_after: None,
        }
        .into();
        assert!(e.retryable);
        assert!(e.message.contains("failed on the service side"));
    }

    #[test]
    fn missing_region_says_how_to_set_it() {
        let e = err(
            None,
            "failed to construct request: no region was configured",
            false,
        );
        assert!(e.help.unwrap().contains("providers.aws"));
    }

    #[test]
    fn invalid_state_says_what_to_do() {
        let e = invalid_state(
            "arn:x",
            &CertificateAuthorityStatus::Disabled,
            "issuing needs it ACTIVE",
        );
        assert!(e.message.contains("is DISABLED"));
        assert!(e.help.unwrap().contains("enabled: true"));
    }
}
