//! The OpenAPI 3 document of the API, generated from the handlers' `#[utoipa::path]`
//! attributes and the body types' `ToSchema` derives, served at `/v1/openapi.json`.

use axum::Json;
use utoipa::OpenApi;

use super::error::{ErrorBody, ErrorCode, ErrorDetail};
use super::{OutcomeView, SendBody, SendResponse, StatusView, TransactionView};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "fep gateway HTTP API",
        description = "Send telegrams by message type and named fields, look up transactions, status and metrics. Every error is {\"error\": {\"code\", \"message\", \"field\"?}}; ids are decimal strings. See docs/http-api.md."
    ),
    paths(
        super::send_message,
        super::transaction,
        super::find_transaction,
        super::status,
        super::metrics,
        document
    ),
    components(schemas(
        SendBody,
        SendResponse,
        OutcomeView,
        TransactionView,
        StatusView,
        ErrorBody,
        ErrorDetail,
        ErrorCode
    ))
)]
pub struct ApiDoc;

#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "operations",
    summary = "This OpenAPI document",
    responses((status = 200, description = "OpenAPI 3.1 JSON", body = Object))
)]
pub(super) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
