//! The API's one error type: every failure becomes `{"code": "...", "detail": "..."}` with the
//! right status. Internal causes are logged, never sent to the client.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answered to an API client.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    detail: &'a str,
}

impl ApiError {
    /// An error with a status, machine code and human sentence.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
        }
    }

    /// 400 with code `validation_error`.
    pub fn validation(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation_error", detail)
    }

    /// 404 `not_found` — also used for other tenants' resources, so their existence never leaks.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 409 with a specific code.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    /// 401 `not_authenticated`.
    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "not_authenticated", detail)
    }

    /// 403 `permission_denied`.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "permission_denied", detail)
    }

    /// 500 `internal`: a fault of the server, never of the request. The cause is logged here
    /// (inside the request's span, with its id) and not returned; the answer carries the
    /// request id (added by the router's error layer) so the log line can be found.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            code: self.code,
            detail: &self.detail,
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        // A malformed id in the path names nothing that exists.
        Self::new(StatusCode::NOT_FOUND, "not_found", clean(r.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::validation(clean(r.body_text()))
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError as E;
        match e {
            E::NotFound(what) => Self::not_found(what),
            E::Conflict { code, detail } => Self::conflict(code, detail),
            E::Invalid(detail) => Self::validation(detail),
            E::Transition(t) => Self::conflict(t.code(), t.to_string()),
            // A duplicate the service did not turn into a conflict of its own is a broken
            // invariant, like every other storage fault.
            other @ (E::Unique(_)
            | E::Backend(_)
            | E::Json(_)
            | E::Internal(_)
            | E::Migration(_)
            | E::Commit(_)
            | E::Closed) => Self::internal(other),
        }
    }
}

/// axum's rejection texts start with a generic prefix; keep the part that names the field.
fn clean(s: String) -> String {
    s.replace(
        "Failed to deserialize the JSON body into the target type: ",
        "",
    )
}

/// Result alias of handlers.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError as E;

    /// Every store error maps to one answer: the request's faults to their 4xx, the server's own
    /// faults to 500 `internal`, whatever their cause.
    #[test]
    fn each_store_error_maps_to_its_answer() {
        let json_error = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let cases: Vec<(E, u16, &str)> = vec![
            (E::NotFound("queue"), 404, "not_found"),
            (E::conflict("queue_full", "full"), 409, "queue_full"),
            (E::Invalid("name: blank".into()), 400, "validation_error"),
            (
                E::Transition(smartqueue_core::lifecycle::TransitionError::NotAllowed {
                    action: smartqueue_core::lifecycle::ActionKind::Recall,
                    status: smartqueue_core::TicketStatus::Closed,
                }),
                409,
                "invalid_transition",
            ),
            (E::Unique("tickets.number".into()), 500, "internal"),
            (E::Backend("disk I/O error".into()), 500, "internal"),
            (E::Json(json_error), 500, "internal"),
            (E::Internal("a read panicked".into()), 500, "internal"),
            (E::Migration("V9".into()), 500, "internal"),
            (E::Commit("SAVEPOINT failed".into()), 500, "internal"),
            (E::Closed, 500, "internal"),
        ];
        for (e, status, code) in cases {
            let shown = e.to_string();
            let a = ApiError::from(e);
            assert_eq!((a.status.as_u16(), a.code), (status, code), "{shown}");
            if status == 500 {
                assert_eq!(a.detail, "internal server error", "no cause leaks: {shown}");
            }
        }
    }
}
