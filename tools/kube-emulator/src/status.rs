//! `Status` error bodies shaped like the real API server's.

use crate::registry::ResourceType;
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    pub fn body(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if !self.details.is_null() {
            v["details"] = self.details.clone();
        }
        v
    }

    fn details(rt: &ResourceType, name: &str) -> Value {
        let mut d = json!({"name": name});
        if !rt.group.is_empty() {
            d["group"] = json!(rt.group);
        }
        d["kind"] = json!(rt.plural);
        d
    }

    /// What the real server answers to a missing or refused credential.
    pub fn unauthorized() -> Self {
        ApiError {
            code: 401,
            reason: "Unauthorized",
            message: "Unauthorized".into(),
            details: Value::Null,
        }
    }

    pub fn not_found(rt: &ResourceType, name: &str) -> Self {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("{} \"{}\" not found", rt.qualified(), name),
            details: Self::details(rt, name),
        }
    }

    pub fn namespace_not_found(ns: &str) -> Self {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("namespaces \"{ns}\" not found"),
            details: json!({"name": ns, "kind": "namespaces"}),
        }
    }

    pub fn already_exists(rt: &ResourceType, name: &str) -> Self {
        ApiError {
            code: 409,
            reason: "AlreadyExists",
            message: format!("{} \"{}\" already exists", rt.qualified(), name),
            details: Self::details(rt, name),
        }
    }

    pub fn conflict(rt: &ResourceType, name: &str) -> Self {
        ApiError {
            code: 409,
            reason: "Conflict",
            message: format!(
                "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                rt.qualified(),
                name
            ),
            details: Self::details(rt, name),
        }
    }

    pub fn apply_conflict(message: String, causes: Vec<Value>) -> Self {
        ApiError {
            code: 409,
            reason: "Conflict",
            message,
            details: json!({"causes": causes}),
        }
    }

    pub fn invalid(rt: &ResourceType, name: &str, field: &str, msg: &str) -> Self {
        let mut details = json!({"name": name, "kind": rt.kind,
            "causes": [{"reason": "FieldValueInvalid", "message": msg, "field": field}]});
        if !rt.group.is_empty() {
            details["group"] = json!(rt.group);
        }
        ApiError {
            code: 422,
            reason: "Invalid",
            message: format!("{} \"{}\" is invalid: {}: {}", rt.kind, name, field, msg),
            details,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            code: 400,
            reason: "BadRequest",
            message: message.into(),
            details: Value::Null,
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError {
            code: 403,
            reason: "Forbidden",
            message: message.into(),
            details: Value::Null,
        }
    }

    pub fn unsupported_media(message: impl Into<String>) -> Self {
        ApiError {
            code: 415,
            reason: "UnsupportedMediaType",
            message: message.into(),
            details: Value::Null,
        }
    }

    pub fn path_not_found(path: &str) -> Self {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("the server could not find the requested resource ({path})"),
            details: Value::Null,
        }
    }
}
