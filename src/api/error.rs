//! API errors as monasca-api writes them: a status and `{"title": …, "description": …}` whose
//! description says what to fix.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub description: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, description: impl Into<String>) -> ApiError {
        ApiError { status, description: description.into() }
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

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        ApiError::from(crate::db::Error::Query(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        (self.status, Json(serde_json::json!({ "title": title, "description": self.description }))).into_response()
    }
}
