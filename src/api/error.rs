//! API errors as monasca-api writes them: a status and `{"title": …, "description": …}` whose
//! description says what to fix.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub description: String,
    /// Seconds to wait before trying again (429, 503), sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, description: impl Into<String>) -> ApiError {
        ApiError { status, description: description.into(), retry_after: None }
    }

    pub fn retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    pub fn unprocessable(description: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, description)
    }

    pub fn bad_request(description: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, description)
    }

    pub fn not_found(what: &str, id: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, format!("No {what} with id {id} exists for this tenant."))
    }

    pub fn conflict(description: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, description)
    }
}

impl From<crate::db::Error> for ApiError {
    fn from(e: crate::db::Error) -> ApiError {
        tracing::error!(error = %e, "config database error while serving the API");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "The config database is unavailable; try again.")
    }
}

/// The rule store's errors where no rule is named (the rule routes say which rule).
impl From<crate::rules::store::Error> for ApiError {
    fn from(e: crate::rules::store::Error) -> ApiError {
        use crate::rules::store::Error;
        match e {
            Error::Db(e) => ApiError::from(e),
            Error::NotFound => ApiError::new(StatusCode::NOT_FOUND, "No such rule exists for this tenant."),
            Error::Conflict(name) => ApiError::conflict(format!("A rule with the name {name} already exists.")),
            Error::Unreadable { id, why } => {
                tracing::error!(rule_id = %id, error = %why, "stored rule is unreadable");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "A stored rule cannot be read; the operator has been told in the log.")
            }
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        ApiError::from(crate::db::Error::Query(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let mut response = (self.status, Json(serde_json::json!({ "title": title, "description": self.description }))).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}
