//! `wait_for`: after an apply, wait until the objects report a condition
//! (`Ready=True`) or a finished rollout, and explain a timeout with the objects' last
//! conditions and Events.

use std::time::Duration;

use crate::diag::Diagnostic;
use crate::value::Value;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq)]
pub struct WaitSpec {
    /// `(type, status)` of a status condition.
    pub condition: Option<(String, String)>,
    /// A Deployment, StatefulSet or DaemonSet has rolled out.
    pub rollout: bool,
    pub timeout: Duration,
}

impl WaitSpec {
    /// What is awaited, for progress messages: `Ready=True`, `rollout`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some((t, s)) = &self.condition {
            parts.push(format!("{t}={s}"));
        }
        if self.rollout {
            parts.push("rollout".to_string());
        }
        parts.join(" and ")
    }
}

fn parse_condition(text: &str) -> Option<(String, String)> {
    let (t, s) = text.split_once('=')?;
    let (t, s) = (t.trim(), s.trim());
    (!t.is_empty() && !s.is_empty() && !t.contains(char::is_whitespace))
        .then(|| (t.to_string(), s.to_string()))
}

/// The `wait_for` property, if set. Call after [`validate`]: malformed parts are ignored.
pub fn spec(props: &Value) -> Option<WaitSpec> {
    let w = props.get("wait_for").filter(|v| !v.is_null())?;
    let condition = w.get_str("condition").and_then(parse_condition);
    let rollout = w.get("rollout").and_then(Value::as_bool).unwrap_or(false);
    if condition.is_none() && !rollout {
        return None;
    }
    let timeout = timeout(props);
    Some(WaitSpec {
        condition,
        rollout,
        timeout,
    })
}

/// `wait_for.timeout`, or five minutes. Also bounds `wait_for_deletion`.
pub fn timeout(props: &Value) -> Duration {
    props
        .get("wait_for")
        .and_then(|w| w.get_str("timeout"))
        .and_then(|t| crate::duration::parse(t).ok())
        .unwrap_or(DEFAULT_TIMEOUT)
}

pub fn validate(props: &Value) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(w) = props.get("wait_for").filter(|v| !v.is_null()) else {
        return out;
    };
    if let Some(c) = w.get_str("condition") {
        if parse_condition(c).is_none() {
            out.push(
                Diagnostic::error(
                    "k8s::invalid_wait",
                    format!("wait_for.condition {c:?} is not of the form Type=Status"),
                )
                .with_field("wait_for.condition")
                .with_help("e.g. Ready=True, Available=True, Established=True"),
            );
        }
    }
    if let Some(t) = w.get_str("timeout") {
        if let Err(e) = crate::duration::parse(t) {
            out.push(
                Diagnostic::error("k8s::invalid_wait", format!("wait_for.timeout: {e}"))
                    .with_field("wait_for.timeout"),
            );
        }
    }
    let has_condition = w.get("condition").is_some_and(|v| !v.is_null());
    let rollout = w.get("rollout");
    if !has_condition && rollout.is_none_or(|r| r.as_bool() == Some(false)) {
        out.push(
            Diagnostic::error(
                "k8s::invalid_wait",
                "wait_for needs condition (such as Ready=True) or rollout: true",
            )
            .with_field("wait_for"),
        );
    }
    out
}

fn conditions(obj: &Value) -> &[Value] {
    obj.get("status")
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_list)
        .unwrap_or(&[])
}

/// The object has status condition `type` with status `status`.
pub fn condition_is(obj: &Value, type_: &str, status: &str) -> bool {
    conditions(obj)
        .iter()
        .any(|c| c.get_str("type") == Some(type_) && c.get_str("status") == Some(status))
}

fn int(obj: &Value, dotted: &str) -> i64 {
    crate::value::parse_path(dotted)
        .and_then(|p| obj.lookup(&p).and_then(Value::as_i64))
        .unwrap_or(0)
}

/// Whether a workload has rolled out: `Ok(())`, or what it is still waiting for. Kinds
/// that do not roll out count as done.
pub fn rollout_state(obj: &Value) -> Result<(), String> {
    let kind = obj.get_str("kind").unwrap_or_default();
    if !matches!(kind, "Deployment" | "StatefulSet" | "DaemonSet") {
        return Ok(());
    }
    let generation = int(obj, "metadata.generation");
    let observed = int(obj, "status.observedGeneration");
    if observed < generation {
        return Err(format!(
            "the controller has not seen generation {generation} yet (observed {observed})"
        ));
    }
    let (want, counts) = if kind == "DaemonSet" {
        (
            int(obj, "status.desiredNumberScheduled"),
            [
                ("updated", int(obj, "status.updatedNumberScheduled")),
                ("ready", int(obj, "status.numberReady")),
                ("available", int(obj, "status.numberAvailable")),
            ],
        )
    } else {
        let want = crate::value::parse_path("spec.replicas")
            .and_then(|p| obj.lookup(&p).and_then(Value::as_i64))
            .unwrap_or(1);
        let available = if kind == "StatefulSet" {
            // Older API servers do not report availableReplicas on StatefulSets.
            obj.get("status")
                .and_then(|s| s.get("availableReplicas"))
                .and_then(Value::as_i64)
                .unwrap_or_else(|| int(obj, "status.readyReplicas"))
        } else {
            int(obj, "status.availableReplicas")
        };
        (
            want,
            [
                ("updated", int(obj, "status.updatedReplicas")),
                ("ready", int(obj, "status.readyReplicas")),
                ("available", available),
            ],
        )
    };
    let behind: Vec<String> = counts
        .iter()
        .filter(|(_, n)| *n != want)
        .map(|(what, n)| format!("{n}/{want} {what}"))
        .collect();
    if behind.is_empty() {
        Ok(())
    } else {
        Err(behind.join(", "))
    }
}

/// Whether the object satisfies the spec: `Ok(())`, or what it still lacks.
pub fn check(spec: &WaitSpec, obj: &Value) -> Result<(), String> {
    if let Some((t, s)) = &spec.condition {
        if !condition_is(obj, t, s) {
            return Err(format!("condition {t} is not {s}"));
        }
    }
    if spec.rollout {
        rollout_state(obj)?;
    }
    Ok(())
}

/// `Ready=False (IssuerNotFound: issuer "pca" not found)`, one per line; or a note that
/// there are none.
pub fn conditions_summary(obj: &Value) -> String {
    let lines: Vec<String> = conditions(obj)
        .iter()
        .map(|c| {
            let mut line = format!(
                "{}={}",
                c.get_str("type").unwrap_or("?"),
                c.get_str("status").unwrap_or("?")
            );
            let reason = c.get_str("reason").unwrap_or_default();
            let message = c.get_str("message").unwrap_or_default();
            match (reason.is_empty(), message.is_empty()) {
                (false, false) => line.push_str(&format!(" ({reason}: {message})")),
                (false, true) => line.push_str(&format!(" ({reason})")),
                (true, false) => line.push_str(&format!(" ({message})")),
                (true, true) => {}
            }
            line
        })
        .collect();
    if lines.is_empty() {
        "no status conditions reported".to_string()
    } else {
        lines.join("; ")
    }
}

/// The last `n` Events, oldest first: `Warning FailedIssue: message`.
pub fn events_summary(events: &[Value], n: usize) -> Vec<String> {
    let time = |e: &Value| {
        ["lastTimestamp", "eventTime", "firstTimestamp"]
            .iter()
            .find_map(|k| e.get_str(k).map(str::to_string))
            .or_else(|| {
                e.get("metadata")
                    .and_then(|m| m.get_str("creationTimestamp"))
                    .map(str::to_string)
            })
            .unwrap_or_default()
    };
    let mut sorted: Vec<&Value> = events.iter().collect();
    sorted.sort_by_key(|e| time(e));
    let skip = sorted.len().saturating_sub(n);
    sorted
        .into_iter()
        .skip(skip)
        .map(|e| {
            format!(
                "{} {}: {}",
                e.get_str("type").unwrap_or("Normal"),
                e.get_str("reason").unwrap_or_default(),
                e.get_str("message").unwrap_or_default()
            )
        })
        .collect()
}

/// Whether an Event is about the object `kind name` (client-side fallback for servers
/// that do not take the involvedObject field selector).
pub fn event_is_about(event: &Value, kind: &str, name: &str) -> bool {
    let inv = event
        .get("involvedObject")
        .or_else(|| event.get("regarding"));
    inv.is_some_and(|i| {
        i.get_str("name") == Some(name) && i.get_str("kind").is_none_or(|k| k == kind)
    })
}

/// Why a Certificate's last issuance failed, when it is not Ready and cert-manager counts
/// failed issuance attempts: the Ready (else Issuing) condition's `reason: message`.
pub fn issuance_failure(cert: &Value) -> Option<String> {
    let attempts = cert
        .get("status")
        .and_then(|s| s.get("failedIssuanceAttempts"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if attempts == 0 || condition_is(cert, "Ready", "True") {
        return None;
    }
    let said = |t: &str| {
        conditions(cert)
            .iter()
            .find(|c| c.get_str("type") == Some(t) && c.get_str("status") != Some("True"))
            .map(reason_message)
    };
    Some(
        said("Ready")
            .or_else(|| said("Issuing"))
            .unwrap_or_else(|| format!("{attempts} failed issuance attempt(s)")),
    )
}

fn reason_message(c: &Value) -> String {
    match (c.get_str("reason"), c.get_str("message")) {
        (Some(r), Some(m)) if !m.is_empty() => format!("{r}: {m}"),
        (Some(r), _) => r.to_string(),
        (None, Some(m)) => m.to_string(),
        (None, None) => "no reason given".to_string(),
    }
}

/// cmctl renew's reason and message on the `Issuing` condition: cert-manager issues
/// again at once instead of waiting out its backoff after a failure.
pub const MANUALLY_TRIGGERED: (&str, &str) = (
    "ManuallyTriggered",
    "Certificate re-issuance manually triggered",
);

/// The Certificate with its `Issuing` condition set True, reason ManuallyTriggered, as
/// `cmctl renew` sets it (other conditions kept), to be written to the status subresource.
pub fn with_renew_triggered(cert: &Value, now: &str) -> Value {
    let mut out = cert.clone();
    let generation = cert
        .get("metadata")
        .and_then(|m| m.get("generation"))
        .cloned()
        .unwrap_or(Value::Int(1));
    let mut issuing = Value::map();
    issuing.set_path("type", "Issuing".into());
    issuing.set_path("status", "True".into());
    issuing.set_path("reason", MANUALLY_TRIGGERED.0.into());
    issuing.set_path("message", MANUALLY_TRIGGERED.1.into());
    issuing.set_path("lastTransitionTime", now.into());
    issuing.set_path("observedGeneration", generation);
    let mut list: Vec<Value> = conditions(cert)
        .iter()
        .filter(|c| c.get_str("type") != Some("Issuing"))
        .cloned()
        .collect();
    list.push(issuing);
    out.set_path("status.conditions", Value::List(list));
    out
}

/// The CertificateRequest of a Certificate's current attempt among `requests`: those
/// annotated with its name, the highest `cert-manager.io/certificate-revision` first.
pub fn current_request<'a>(requests: &'a [Value], cert_name: &str) -> Option<&'a Value> {
    let annotation = |cr: &'a Value, k: &str| {
        cr.get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(|a| a.get_str(k))
    };
    requests
        .iter()
        .filter(|cr| annotation(cr, "cert-manager.io/certificate-name") == Some(cert_name))
        .max_by_key(|cr| {
            annotation(cr, "cert-manager.io/certificate-revision")
                .and_then(|r| r.parse::<i64>().ok())
                .unwrap_or(0)
        })
}

/// `CertificateRequest NAME: Failed: message` from a request that is not Ready (its
/// reason first: the issuer's message can be long), else its conditions.
pub fn request_summary(cr: &Value) -> String {
    let name = cr
        .get("metadata")
        .and_then(|m| m.get_str("name"))
        .unwrap_or("?");
    let not_ready = conditions(cr)
        .iter()
        .find(|c| c.get_str("type") == Some("Ready") && c.get_str("status") == Some("False"));
    match not_ready {
        Some(c) => format!("CertificateRequest {name}: {}", reason_message(c)),
        None => format!("CertificateRequest {name}: {}", conditions_summary(cr)),
    }
}

/// Polling delays: quick at first (a Deployment is often ready within a second), then
/// every two seconds.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(5)).min(2000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn wait_spec_from_properties() {
        let s = spec(&v(
            r#"{"wait_for":{"condition":"Ready=True","timeout":"30s"}}"#,
        ))
        .unwrap();
        assert_eq!(s.condition, Some(("Ready".into(), "True".into())));
        assert_eq!(s.timeout, Duration::from_secs(30));
        assert_eq!(s.describe(), "Ready=True");
        let r = spec(&v(r#"{"wait_for":{"rollout":true}}"#)).unwrap();
        assert!(r.rollout);
        assert_eq!(r.timeout, DEFAULT_TIMEOUT);
        assert!(spec(&v(r#"{"name":"x"}"#)).is_none());
    }

    #[test]
    fn malformed_wait_for_is_a_plan_time_error() {
        let d = validate(&v(r#"{"wait_for":{"condition":"Ready","timeout":"soon"}}"#));
        let fields: Vec<_> = d.iter().map(|d| d.field.as_deref().unwrap()).collect();
        assert_eq!(fields, ["wait_for.condition", "wait_for.timeout"]);
        assert_eq!(
            validate(&v(r#"{"wait_for":{}}"#))[0].field.as_deref(),
            Some("wait_for")
        );
        assert!(validate(&v(r#"{"wait_for":{"rollout":true}}"#)).is_empty());
    }

    #[test]
    fn conditions_are_checked_and_summarised() {
        let o = v(r#"{"status":{"conditions":[
            {"type":"Ready","status":"False","reason":"Pending","message":"waiting for CA"},
            {"type":"Issuing","status":"True"}]}}"#);
        assert!(!condition_is(&o, "Ready", "True"));
        assert!(condition_is(&o, "Issuing", "True"));
        let s = WaitSpec {
            condition: Some(("Ready".into(), "True".into())),
            rollout: false,
            timeout: DEFAULT_TIMEOUT,
        };
        assert_eq!(check(&s, &o).unwrap_err(), "condition Ready is not True");
        assert_eq!(
            conditions_summary(&o),
            "Ready=False (Pending: waiting for CA); Issuing=True"
        );
        assert_eq!(
            conditions_summary(&v("{}")),
            "no status conditions reported"
        );
    }

    #[test]
    fn rollout_needs_observed_generation_and_all_replicas() {
        let mut d = v(
            r#"{"kind":"Deployment","metadata":{"generation":2},"spec":{"replicas":3},
            "status":{"observedGeneration":1,"updatedReplicas":3,"readyReplicas":3,"availableReplicas":3}}"#,
        );
        assert!(rollout_state(&d).unwrap_err().contains("generation 2"));
        d.set_path("status.observedGeneration", 2.into());
        d.set_path("status.readyReplicas", 2.into());
        assert_eq!(rollout_state(&d).unwrap_err(), "2/3 ready");
        d.set_path("status.readyReplicas", 3.into());
        assert!(rollout_state(&d).is_ok());
        let ds = v(
            r#"{"kind":"DaemonSet","metadata":{"generation":1},"status":{"observedGeneration":1,
            "desiredNumberScheduled":2,"updatedNumberScheduled":2,"numberReady":1,"numberAvailable":1}}"#,
        );
        assert_eq!(rollout_state(&ds).unwrap_err(), "1/2 ready, 1/2 available");
        assert!(rollout_state(&v(r#"{"kind":"ConfigMap"}"#)).is_ok());
    }

    #[test]
    fn events_are_filtered_and_the_last_ones_kept() {
        let evs = vec![
            v(
                r#"{"type":"Warning","reason":"B","message":"second","lastTimestamp":"2024-01-01T00:00:02Z","involvedObject":{"kind":"Certificate","name":"c"}}"#,
            ),
            v(
                r#"{"type":"Normal","reason":"A","message":"first","lastTimestamp":"2024-01-01T00:00:01Z","involvedObject":{"kind":"Certificate","name":"c"}}"#,
            ),
            v(
                r#"{"type":"Normal","reason":"C","message":"third","lastTimestamp":"2024-01-01T00:00:03Z","involvedObject":{"kind":"Secret","name":"c"}}"#,
            ),
        ];
        let about: Vec<Value> = evs
            .into_iter()
            .filter(|e| event_is_about(e, "Certificate", "c"))
            .collect();
        assert_eq!(
            events_summary(&about, 5),
            ["Normal A: first", "Warning B: second"]
        );
        assert_eq!(events_summary(&about, 1), ["Warning B: second"]);
    }

    #[test]
    fn backoff_grows_to_two_seconds() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(3), Duration::from_millis(800));
        assert_eq!(backoff(10), Duration::from_secs(2));
    }

    #[test]
    fn a_failed_issuance_is_named_and_renew_sets_issuing_like_cmctl() {
        let c = v(
            r#"{"metadata":{"name":"ca","generation":3},"status":{"failedIssuanceAttempts":1,
            "conditions":[{"type":"Ready","status":"False","reason":"Failed","message":"AccessDenied"},
            {"type":"Issuing","status":"False","reason":"Failed","message":"will be retried"}]}}"#,
        );
        assert_eq!(issuance_failure(&c).unwrap(), "Failed: AccessDenied");
        let renewed = with_renew_triggered(&c, "2026-01-01T00:00:00Z");
        assert!(condition_is(&renewed, "Issuing", "True"));
        assert!(condition_is(&renewed, "Ready", "False"));
        let issuing = conditions(&renewed)
            .iter()
            .find(|c| c.get_str("type") == Some("Issuing"))
            .unwrap();
        assert_eq!(issuing.get_str("reason"), Some("ManuallyTriggered"));
        assert_eq!(
            issuing.get("observedGeneration").and_then(Value::as_i64),
            Some(3)
        );
        let ready = v(
            r#"{"status":{"failedIssuanceAttempts":1,"conditions":[{"type":"Ready","status":"True"}]}}"#,
        );
        assert!(issuance_failure(&ready).is_none());
        assert!(issuance_failure(&v(r#"{"status":{"conditions":[]}}"#)).is_none());
    }

    #[test]
    fn the_current_request_is_the_certificates_latest_revision() {
        let cr = |name: &str, cert: &str, rev: &str| {
            v(&format!(
                r#"{{"metadata":{{"name":"{name}","annotations":{{"cert-manager.io/certificate-name":"{cert}","cert-manager.io/certificate-revision":"{rev}"}}}},
                "status":{{"conditions":[{{"type":"Ready","status":"False","reason":"Failed","message":"m{name}"}}]}}}}"#
            ))
        };
        let all = [
            cr("ca-1", "ca", "1"),
            cr("ca-2", "ca", "2"),
            cr("other-9", "other", "9"),
        ];
        let found = current_request(&all, "ca").unwrap();
        assert_eq!(
            request_summary(found),
            "CertificateRequest ca-2: Failed: mca-2"
        );
        assert!(current_request(&all, "none").is_none());
    }
}
