//! Extractors whose rejections use the API's `{code, detail}` format.

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use serde::Deserialize;

use crate::error::ApiError;
use crate::store::IdempotencyKey;

/// JSON body; malformed or mistyped input becomes a 4xx `{code, detail}`.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for ApiJson<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// Path parameters; a malformed id is a 404 (it names nothing).
#[derive(Debug, Clone, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// Query string.
#[derive(Debug, Clone, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `?limit=&offset=` pagination (limit 1–500, default 50).
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Paging {
    #[serde(default = "default_limit")]
    pub limit: u32,
    #[serde(default)]
    pub offset: u32,
}

fn default_limit() -> u32 {
    50
}

impl Paging {
    /// Rejects out-of-range values.
    pub fn checked(self) -> Result<Self, ApiError> {
        if self.limit == 0 || self.limit > 500 {
            return Err(ApiError::validation("limit must be between 1 and 500"));
        }
        Ok(self)
    }
}

/// The request id set by the request-id middleware.
#[derive(Debug, Clone)]
pub struct RequestId(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestId(
            parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ))
    }
}

/// The `Idempotency-Key` of a retryable write, bound to the caller and the request.
pub fn idempotency_key(
    headers: &HeaderMap,
    actor: &str,
    method: &str,
    path: &str,
    body: &impl serde::Serialize,
) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = raw
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::validation("Idempotency-Key must be 1 to 255 visible characters")
        })?;
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(method.as_bytes());
    h.update(b" ");
    h.update(path.as_bytes());
    h.update(b" ");
    h.update(serde_json::to_vec(body).unwrap_or_default());
    Ok(Some(IdempotencyKey {
        actor: actor.to_owned(),
        key: key.to_owned(),
        fingerprint: hex::encode(h.finalize()),
    }))
}
