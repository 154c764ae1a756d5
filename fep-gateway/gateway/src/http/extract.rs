//! The JSON body extractor: every way a body can be wrong becomes an [`ApiError`] (axum's own
//! `Json` answers some of them in plain text).
//!
//! A body without `Content-Type` is read as JSON, and so is one sent as
//! `application/x-www-form-urlencoded` — what `curl -d` labels any body with — since this API
//! has no form endpoints; any other explicit type that is not JSON is refused with 415.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A request body parsed as JSON into `T`.
pub(crate) struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        check_content_type(req.headers())?;
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            let status = e.status();
            let text = e.body_text();
            if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(text)
            } else {
                // The body could not be read (client went away, bad chunking …).
                ApiError::MalformedJson(text)
            }
        })?;
        parse(&bytes).map(JsonBody)
    }
}

/// Accepts no `Content-Type`, JSON (`application/json`, `application/*+json`, any parameters)
/// and `application/x-www-form-urlencoded` (`curl -d`); refuses everything else.
pub(crate) fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
    let essence = text
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
        || essence == "application/x-www-form-urlencoded";
    if json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(text))
    }
}

/// JSON text → `T`: text that is not JSON is [`ApiError::MalformedJson`]; valid JSON of the
/// wrong shape is [`ApiError::InvalidBody`] naming the JSON path of the offending value.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let json: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    serde_path_to_error::deserialize(json).map_err(|e| {
        let path = e.path().to_string();
        ApiError::InvalidBody {
            field: (path != ".").then_some(path),
            message: e.into_inner().to_string(),
        }
    })
}
