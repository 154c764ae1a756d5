//! The one error shape of the HTTP API: `{"error": {"code", "message", "field"?}}`, with a
//! stable machine-readable `code` per failure (docs/http-api.md lists them all).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// Every `error.code` the API answers with; the names are a stable contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the body is not JSON (syntax error, truncated, not UTF-8).
    MalformedJson,
    /// 415: an explicit `Content-Type` that is not JSON.
    UnsupportedMediaType,
    /// 413: the body is larger than the API accepts.
    PayloadTooLarge,
    /// 422: valid JSON that does not have the request's shape (missing `type`, a value of
    /// the wrong JSON type, an unknown top-level key).
    InvalidBody,
    /// 404: no institution of that name in the config.
    UnknownInstitution,
    /// 422: the institution's spec has no message of that type.
    UnknownMessageType,
    /// 422: the message type's layout has no field of that name.
    UnknownField,
    /// 422: the gateway writes this field itself (전문번호, dates, header constants).
    GatewayOwnedField,
    /// 422: a field that is neither optional, nor filled by the gateway, nor given a default
    /// in the spec is absent (or blank).
    MissingField,
    /// 422: a value the field cannot hold (too long, not a number, negative …).
    InvalidValue,
    /// 400: a transaction id that is not a decimal `u64`.
    InvalidTransactionId,
    /// 400: a query string without the parameters the route needs.
    InvalidQuery,
    /// 404: no transaction with that id (or idempotency key).
    TransactionNotFound,
    /// 400: an `Idempotency-Key` header that is empty, too long or not printable ASCII.
    InvalidIdempotencyKey,
    /// 409: the `Idempotency-Key` was used for a different request.
    IdempotencyKeyReused,
    /// 404: no such route.
    NotFound,
    /// 405: the route exists, not with this method.
    MethodNotAllowed,
    /// 503: the journal could not answer.
    JournalUnavailable,
    /// 503: the Prometheus recorder is not installed in this process.
    MetricsUnavailable,
    /// 401: clients are configured and the call has no valid credentials (client
    /// certificate of a configured client, or its bearer token); nothing was done.
    Unauthenticated,
    /// 403: the client's rules do not allow this call; nothing was sent.
    Forbidden,
}

/// A failed API call; answered as [`ErrorBody`] with [`ApiError::status`].
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON.
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    /// An explicit non-JSON content type.
    #[error("content type {0:?} is not JSON: send application/json (or no Content-Type)")]
    UnsupportedMediaType(String),
    /// The body exceeds the limit.
    #[error("the body is too large: {0}")]
    PayloadTooLarge(String),
    /// JSON of the wrong shape; `field` is the JSON path when one is to blame.
    #[error("{message}")]
    InvalidBody {
        /// JSON path of the offending value.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// No such institution.
    #[error("unknown institution {0:?}")]
    UnknownInstitution(String),
    /// No such message type.
    #[error("institution {institution} has no message type {msg_type:?} (types: {known})")]
    UnknownMessageType {
        /// The institution.
        institution: String,
        /// The type asked for.
        msg_type: String,
        /// The types its spec has, comma separated.
        known: String,
    },
    /// No such field in the layout.
    #[error("message type {msg_type} has no field {name:?}")]
    UnknownField {
        /// The message type.
        msg_type: String,
        /// The field name as sent.
        name: String,
    },
    /// A field the gateway fills itself.
    #[error("field {0:?} is filled by the gateway (전문번호, dates and times, message type, header constants from the config): leave it out")]
    GatewayOwnedField(String),
    /// Required fields absent; the first one is the `field`.
    #[error("missing required field{}: {}", if .0.len() > 1 { "s" } else { "" }, .0.join(", "))]
    MissingFields(Vec<String>),
    /// A value the field cannot hold.
    #[error("field {field:?}: {reason}")]
    InvalidValue {
        /// Field path (as in `fields`).
        field: String,
        /// Why.
        reason: String,
    },
    /// A transaction id that is not a number.
    #[error("transaction id {0:?} is not a decimal integer below 2^64")]
    InvalidTransactionId(String),
    /// A query string the route cannot use.
    #[error("query: {message}")]
    InvalidQuery {
        /// The parameter to blame.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// No such transaction.
    #[error("no transaction {0}")]
    TransactionNotFound(String),
    /// A malformed `Idempotency-Key` header.
    #[error("Idempotency-Key: {0}")]
    InvalidIdempotencyKey(String),
    /// The key was first used with a different request.
    #[error("Idempotency-Key {key:?} was used for a different request (transaction {tx_id}); nothing was sent")]
    IdempotencyKeyReused {
        /// The key.
        key: String,
        /// The transaction it belongs to.
        tx_id: String,
    },
    /// No such route.
    #[error("no route {0}")]
    NotFound(String),
    /// Wrong method.
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The path.
        path: String,
    },
    /// The journal failed.
    #[error("journal: {0}")]
    Journal(#[from] crate::journal::JournalError),
    /// No metrics recorder.
    #[error("metrics recorder not installed")]
    MetricsUnavailable,
    /// No valid credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// Outside the client's rules.
    #[error("{0}; nothing was sent")]
    Forbidden(crate::auth::Denied),
}

impl ApiError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::MalformedJson(_) => ErrorCode::MalformedJson,
            ApiError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            ApiError::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            ApiError::InvalidBody { .. } => ErrorCode::InvalidBody,
            ApiError::UnknownInstitution(_) => ErrorCode::UnknownInstitution,
            ApiError::UnknownMessageType { .. } => ErrorCode::UnknownMessageType,
            ApiError::UnknownField { .. } => ErrorCode::UnknownField,
            ApiError::GatewayOwnedField(_) => ErrorCode::GatewayOwnedField,
            ApiError::MissingFields(_) => ErrorCode::MissingField,
            ApiError::InvalidValue { .. } => ErrorCode::InvalidValue,
            ApiError::InvalidTransactionId(_) => ErrorCode::InvalidTransactionId,
            ApiError::InvalidQuery { .. } => ErrorCode::InvalidQuery,
            ApiError::TransactionNotFound(_) => ErrorCode::TransactionNotFound,
            ApiError::InvalidIdempotencyKey(_) => ErrorCode::InvalidIdempotencyKey,
            ApiError::IdempotencyKeyReused { .. } => ErrorCode::IdempotencyKeyReused,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            ApiError::Journal(_) => ErrorCode::JournalUnavailable,
            ApiError::MetricsUnavailable => ErrorCode::MetricsUnavailable,
            ApiError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self.code() {
            ErrorCode::MalformedJson
            | ErrorCode::InvalidTransactionId
            | ErrorCode::InvalidQuery
            | ErrorCode::InvalidIdempotencyKey => StatusCode::BAD_REQUEST,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::InvalidBody
            | ErrorCode::UnknownMessageType
            | ErrorCode::UnknownField
            | ErrorCode::GatewayOwnedField
            | ErrorCode::MissingField
            | ErrorCode::InvalidValue => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::UnknownInstitution
            | ErrorCode::TransactionNotFound
            | ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::IdempotencyKeyReused => StatusCode::CONFLICT,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::JournalUnavailable | ErrorCode::MetricsUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// The request field to blame, as a path into the request (`fields.amount`, `type`,
    /// `id`, the `Idempotency-Key` header), when there is one.
    pub fn field(&self) -> Option<String> {
        match self {
            ApiError::InvalidBody { field, .. } => field.clone(),
            ApiError::UnknownMessageType { .. } => Some("type".into()),
            ApiError::UnknownField { name, .. } => Some(format!("fields.{name}")),
            ApiError::GatewayOwnedField(name) => Some(format!("fields.{name}")),
            ApiError::MissingFields(names) => names.first().map(|n| format!("fields.{n}")),
            ApiError::InvalidValue { field, .. } => Some(format!("fields.{field}")),
            ApiError::InvalidTransactionId(_) => Some("id".into()),
            ApiError::InvalidQuery { field, .. } => field.clone(),
            ApiError::InvalidIdempotencyKey(_) | ApiError::IdempotencyKeyReused { .. } => {
                Some("Idempotency-Key".into())
            }
            _ => None,
        }
    }

    /// The JSON body answered for this error.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
                field: self.field(),
            },
        }
    }
}

impl From<crate::idempotency::IdempotencyError> for ApiError {
    fn from(e: crate::idempotency::IdempotencyError) -> Self {
        use crate::idempotency::IdempotencyError as E;
        match e {
            E::InvalidKey => ApiError::InvalidIdempotencyKey(e.to_string()),
            E::Reused { key, tx_id } => ApiError::IdempotencyKeyReused {
                key,
                tx_id: tx_id.to_string(),
            },
            E::Journal(j) => ApiError::Journal(j),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), Json(self.body())).into_response()
    }
}

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// `error` of an [`ErrorBody`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation (may change between versions).
    pub message: String,
    /// The request field to blame (`fields.amount`, `type`, `id`, `Idempotency-Key`), when
    /// one is; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}
