//! Minimal AWS Private CA client (JSON 1.1 protocol) for the simulated
//! aws-privateca-issuer. The endpoint is a local emulator (moto), which
//! does not verify signatures, so requests carry a dummy Authorization.

use serde_json::Value;

pub async fn call(
    endpoint: &str,
    region: &str,
    action: &str,
    body: &Value,
) -> Result<Value, String> {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=test/20260101/{region}/acm-pca/aws4_request, SignedHeaders=host, Signature=0"
    );
    let resp = reqwest::Client::new()
        .post(endpoint.trim_end_matches('/').to_string() + "/")
        .header("X-Amz-Target", format!("ACMPrivateCA.{action}"))
        .header("Content-Type", "application/x-amz-json-1.1")
        .header("Authorization", auth)
        .header("X-Amz-Date", "20260101T000000Z")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| format!("{action}: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| format!("{action}: {e}"))?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !status.is_success() {
        let ty = v["__type"].as_str().unwrap_or("UnknownError");
        let ty = ty.rsplit('#').next().unwrap_or(ty);
        let msg = v["message"]
            .as_str()
            .or(v["Message"].as_str())
            .unwrap_or(&text);
        return Err(format!("{action} failed: {ty}: {msg}"));
    }
    Ok(v)
}
