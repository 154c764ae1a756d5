//! The HTTP JSON API (axum): send a message by type and fields, look up a transaction,
//! status, Prometheus metrics and the OpenAPI document (`/v1/openapi.json`).
//!
//! Contract (docs/http-api.md): every error is `{"error": {"code", "message", "field"?}}`
//! ([`error::ErrorBody`]) with a stable code; transaction ids are JSON strings everywhere (a
//! `u64` does not fit a JavaScript number).

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{self, Access, Caller, Denied, PeerCert};
use crate::domain::MsgKey;
use crate::idempotency::{self, Idempotency};
use crate::institution::ShutdownRx;
use crate::journal::{Journal, TxRecord};
use crate::protocol::Outcome;
use crate::server::Registry;
use crate::tls::{LinkStream, LinkTls};

pub mod error;
mod extract;
pub(crate) mod message;
mod openapi;

use error::ApiError;
use extract::JsonBody;

/// Bucket bounds of `fep_request_duration_seconds`.
const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder once per process; `None` if another recorder is installed.
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("fep_request_duration_seconds".into()),
                    DURATION_BUCKETS,
                )
                .ok()?
                .install_recorder()
                .ok()
        })
        .as_ref()
}

#[derive(Clone)]
struct AppState {
    registry: Registry,
    journal: Journal,
    idempotency: Idempotency,
    access: Arc<Access>,
}

/// Request header naming a request for idempotency.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Response header set (`true`) when the answer is an earlier request's with the same key.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// Which routes a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Routes {
    /// Everything (no `admin_listen`).
    All,
    /// Everything but `/v1/status` and `/metrics` (they are on `admin_listen`).
    Api,
    /// Only `/v1/status` and `/metrics` (`admin_listen`).
    Admin,
}

/// The API's routes, fallbacks included (unknown route → 404 JSON, wrong method → 405 JSON),
/// behind the authentication of [`authenticate`]: every handler finds the [`Caller`] in the
/// request's extensions.
fn router(
    registry: Registry,
    journal: Journal,
    idempotency: Idempotency,
    access: Arc<Access>,
    routes: Routes,
) -> Router {
    let state = AppState {
        registry,
        journal,
        idempotency,
        access,
    };
    let mut r = Router::new();
    if routes != Routes::Admin {
        r = r
            .route("/v1/institutions/{name}/messages", post(send_message))
            .route("/v1/transactions", get(find_transaction))
            .route("/v1/transactions/{id}", get(transaction))
            .route("/v1/openapi.json", get(openapi::document));
    }
    if routes != Routes::Api {
        r = r
            .route("/v1/status", get(status))
            .route("/metrics", get(metrics));
    }
    r.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ))
        .with_state(state)
}

/// The bearer token of an `Authorization` header, if any; a header that is not one is an
/// authentication failure.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, Denied> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| Some(t.trim()))
        .ok_or_else(|| {
            Denied::Unauthenticated("the Authorization header is not \"Bearer <token>\"".into())
        })
}

/// Finds who calls (certificate of the connection, or bearer token) and puts the [`Caller`]
/// in the request's extensions; refuses (401) a call without valid credentials when clients
/// are configured.
async fn authenticate(
    State(app): State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let cert = request
        .extensions()
        .get::<axum::extract::ConnectInfo<PeerInfo>>()
        .and_then(|c| c.0.cert.clone());
    let caller =
        bearer(request.headers()).and_then(|token| app.access.authenticate(cert.as_ref(), token));
    match caller {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(denied) => {
            auth::record_denial("http", &denied);
            let mut answer = ApiError::Unauthenticated(denied.to_string()).into_response();
            answer.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
            answer
        }
    }
}

/// A refusal by the access rules: counted, logged, answered 403.
fn forbidden(denied: Denied) -> ApiError {
    auth::record_denial("http", &denied);
    ApiError::Forbidden(denied)
}

/// What the HTTP layer knows of a connection: the peer's address and, over TLS, what its
/// client certificate says (`ConnectInfo<PeerInfo>` in a request's extensions).
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// The peer's address.
    pub addr: SocketAddr,
    /// Its client certificate's names, when it presented one.
    pub cert: Option<PeerCert>,
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, ApiListener>>
    for PeerInfo
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, ApiListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// The HTTP listener: plain TCP, or TLS whose handshakes run in their own tasks (one slow
/// client does not hold the others) and whose finished connections are handed to axum (and
/// hyper) one by one, so graceful shutdown works as over TCP.
pub(crate) enum ApiListener {
    /// Plain TCP.
    Plain(tokio::net::TcpListener),
    /// Connections whose TLS handshake succeeded.
    Tls {
        /// From the accepting task.
        ready: tokio::sync::mpsc::Receiver<(LinkStream, PeerInfo)>,
        /// The bound address.
        local: SocketAddr,
    },
}

impl ApiListener {
    /// Listens on `listener`, with `tls` when given; the TLS accepting task ends at shutdown.
    fn new(
        listener: tokio::net::TcpListener,
        tls: Option<Arc<LinkTls>>,
        what: &'static str,
        mut shutdown: ShutdownRx,
    ) -> std::io::Result<ApiListener> {
        let Some(tls) = tls else {
            return Ok(ApiListener::Plain(listener));
        };
        let local = listener.local_addr()?;
        let (tx, ready) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = shutdown.changed() => return,
                };
                let (tcp, addr) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "{what} accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let (tls, tx) = (tls.clone(), tx.clone());
                tokio::spawn(async move {
                    match tls.handshake(tcp).await {
                        Ok(stream) => {
                            let cert = stream.peer_certificate().map(|c| PeerCert::of(&c));
                            let _ = tx.send((stream, PeerInfo { addr, cert })).await;
                        }
                        Err(f) => crate::tls::record_failure("-", what, &addr.to_string(), &f),
                    }
                });
            }
        });
        Ok(ApiListener::Tls { ready, local })
    }
}

impl axum::serve::Listener for ApiListener {
    type Io = LinkStream;
    type Addr = PeerInfo;

    async fn accept(&mut self) -> (LinkStream, PeerInfo) {
        match self {
            ApiListener::Plain(l) => loop {
                match tokio::net::TcpListener::accept(l).await {
                    Ok((tcp, addr)) => {
                        let _ = tcp.set_nodelay(true);
                        return (LinkStream::Plain(tcp), PeerInfo { addr, cert: None });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "http accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            },
            ApiListener::Tls { ready, .. } => match ready.recv().await {
                Some(c) => c,
                // The accepting task ended (shutdown): no more connections.
                None => std::future::pending().await,
            },
        }
    }

    fn local_addr(&self) -> std::io::Result<PeerInfo> {
        let addr = match self {
            ApiListener::Plain(l) => l.local_addr()?,
            ApiListener::Tls { local, .. } => *local,
        };
        Ok(PeerInfo { addr, cert: None })
    }
}

/// Binds and serves the API (or part of it, `routes`) until shutdown; returns the bound
/// address. `access` brings TLS and the clients' rules.
pub(crate) async fn serve(
    addr: SocketAddr,
    registry: Registry,
    journal: Journal,
    idempotency: Idempotency,
    access: Arc<Access>,
    routes: Routes,
    shutdown: ShutdownRx,
) -> Result<SocketAddr, std::io::Error> {
    let _ = prometheus();
    let tls = access.tls.clone();
    let app = router(registry, journal, idempotency, access, routes);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let what = if routes == Routes::Admin {
        "admin"
    } else {
        "http"
    };
    let listener = ApiListener::new(listener, tls, what, shutdown.clone())?;
    let mut shutdown = shutdown;
    tokio::spawn(async move {
        let stop = async move {
            let _ = shutdown.changed().await;
        };
        let app = app.into_make_service_with_connect_info::<PeerInfo>();
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "http server stopped");
        }
    });
    Ok(bound)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(uri.path().to_owned())
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}

/// The body of `POST /v1/institutions/{name}/messages`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    /// Message type as `전문구분코드/업무구분코드`, e.g. `"2000/100"`.
    #[serde(rename = "type")]
    #[schema(example = "2000/100")]
    pub msg_type: String,
    /// Field values by name (the spec's field names; header fields as `header.name`):
    /// strings for AN fields, strings or numbers for N fields.
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"wd_account": "110123456789", "amount": 50000, "dep_bank": "088", "dep_account": "333012345678", "memo": "급여"}))]
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// How long to wait for the institution's answer; the institution's `request_timeout`
    /// when absent.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// What happened to a request (docs/protocol.md has the same four).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeView {
    /// The institution answered normally.
    Ok,
    /// The institution answered with an error code (`detail`).
    Declined,
    /// Sent, no final answer in time: the money may have moved; resolved by inquiry.
    Unknown,
    /// Not sent (institution down, overload, breaker open …).
    Rejected,
}

impl From<Outcome> for OutcomeView {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Ok => OutcomeView::Ok,
            Outcome::Declined => OutcomeView::Declined,
            Outcome::Unknown => OutcomeView::Unknown,
            Outcome::Rejected => OutcomeView::Rejected,
        }
    }
}

/// The answer to a sent message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SendResponse {
    /// Transaction id (a decimal string): `GET /v1/transactions/{id}`.
    #[schema(example = "1764601234567000")]
    pub id: String,
    /// What happened.
    pub outcome: OutcomeView,
    /// The institution's response code, or the reason for `rejected`/`unknown`.
    pub detail: String,
    /// The institution's answer, decoded by its own layout and masked; `null` when there is none.
    #[schema(value_type = Option<Object>)]
    pub response: Option<serde_json::Value>,
}

#[utoipa::path(
    post,
    path = "/v1/institutions/{name}/messages",
    tag = "messages",
    summary = "Send a message built from named fields",
    params(
        ("name" = String, Path, description = "Institution name from fep.toml"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters: every request with this key within the institution's idempotency_window answers with the same transaction, sent at most once; the same key with a different request is 409"),
    ),
    request_body(content = SendBody, content_type = "application/json",
        description = "JSON; a body without Content-Type (or with curl -d's form type) is read as JSON too"),
    responses(
        (status = 200, description = "Sent (or rejected before sending): the outcome; with the header Idempotent-Replayed: true when it is an earlier request's with the same key", body = SendResponse),
        (status = 400, description = "malformed_json, invalid_idempotency_key", body = error::ErrorBody),
        (status = 409, description = "idempotency_key_reused: nothing was sent", body = error::ErrorBody),
        (status = 404, description = "unknown_institution", body = error::ErrorBody),
        (status = 413, description = "payload_too_large", body = error::ErrorBody),
        (status = 415, description = "unsupported_media_type", body = error::ErrorBody),
        (status = 422, description = "invalid_body, unknown_message_type, unknown_field, gateway_owned_field, missing_field, invalid_value: nothing was sent", body = error::ErrorBody),
    )
)]
async fn send_message(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SendBody>,
) -> Result<Response, ApiError> {
    // Before anything else, so that a client learns nothing of what it may not use.
    let asked = body.msg_type.parse::<MsgKey>().ok();
    caller.may_send(&name, asked.as_ref()).map_err(forbidden)?;
    let key = match headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(v) => {
            let key = v
                .to_str()
                .map_err(|_| ApiError::from(idempotency::IdempotencyError::InvalidKey))?;
            idempotency::check_key(key)?;
            Some(key.to_owned())
        }
    };
    let handle = app
        .registry
        .get(&name)
        .ok_or_else(|| ApiError::UnknownInstitution(name.clone()))?;
    let profile = handle.profile();
    let msg_key = body.msg_type.parse::<MsgKey>().ok();
    let (msg_key, layout) = msg_key
        .and_then(|k| profile.layout_for(&k).map(|l| (k.clone(), l)))
        .ok_or_else(|| ApiError::UnknownMessageType {
            institution: name.clone(),
            msg_type: body.msg_type.clone(),
            known: profile
                .layouts
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let telegram = message::build_telegram(profile, &msg_key, layout, &body.fields)?;
    let timeout = body.timeout_ms.map(std::time::Duration::from_millis);
    let (reply, replayed) = match &key {
        None => {
            let client = caller.identity.as_ref();
            let reply = auth::request_for(&app.journal, handle, client, telegram, timeout).await;
            (reply, false)
        }
        Some(key) => {
            let keyed = app
                .idempotency
                .submit(
                    &app.journal,
                    handle,
                    key,
                    telegram,
                    timeout,
                    caller.identity.as_ref(),
                )
                .await?;
            (keyed.reply, keyed.replayed)
        }
    };
    let mut answer = Json(SendResponse {
        id: reply.tx_id.to_string(),
        outcome: reply.outcome.into(),
        detail: reply.detail,
        response: message::telegram_json(profile, &reply.telegram, caller.unmasked()),
    })
    .into_response();
    if replayed {
        answer
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(answer)
}

/// A journaled transaction.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TransactionView {
    /// Transaction id (a decimal string, as `POST` returned it).
    #[schema(example = "1764601234567000")]
    pub id: String,
    /// Institution name.
    pub institution: String,
    /// 전송일자 (YYYYMMDD).
    pub day: u32,
    /// 전문번호.
    pub msg_no: u32,
    /// Message type, e.g. `"2000/100"`.
    pub msg_type: String,
    /// `sent` while in flight, then `ok` / `declined` / `unknown` / `rejected`.
    pub outcome: String,
    /// Response code or reason.
    pub detail: String,
    /// For unknowns: what the result inquiry found (`ok` / `declined` / `unresolved`).
    pub resolved: Option<String>,
    /// Unix milliseconds of the last change.
    pub updated_ms: u64,
    /// Who asked for it (client name or certificate identity), when known.
    pub client: Option<String>,
}

impl From<TxRecord> for TransactionView {
    fn from(tx: TxRecord) -> Self {
        TransactionView {
            id: tx.id.to_string(),
            institution: tx.institution,
            day: tx.day,
            msg_no: tx.msg_no,
            msg_type: tx.msg_type.to_string(),
            outcome: tx.outcome.as_str().to_owned(),
            detail: tx.detail,
            resolved: tx.resolved.map(|r| r.as_str().to_owned()),
            updated_ms: tx.updated_ms,
            client: tx.client.map(|c| c.as_str().to_owned()),
        }
    }
}

#[utoipa::path(
    get,
    path = "/v1/transactions/{id}",
    tag = "transactions",
    summary = "A transaction by id",
    params(("id" = String, Path, description = "Transaction id as returned by POST (decimal)")),
    responses(
        (status = 200, description = "The journaled transaction", body = TransactionView),
        (status = 400, description = "invalid_transaction_id", body = error::ErrorBody),
        (status = 404, description = "transaction_not_found", body = error::ErrorBody),
        (status = 503, description = "journal_unavailable", body = error::ErrorBody),
    )
)]
async fn transaction(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<TransactionView>, ApiError> {
    let Ok(n) = id.parse::<u64>() else {
        return Err(ApiError::InvalidTransactionId(id));
    };
    match app.journal.get_tx(n).await? {
        Some(tx) => Ok(Json(visible(&caller, tx)?.into())),
        None => Err(ApiError::TransactionNotFound(id)),
    }
}

/// A transaction, if `caller` may see it: an admin sees every one, another client those of
/// the institutions it may use.
fn visible(caller: &Caller, tx: TxRecord) -> Result<TxRecord, ApiError> {
    match caller.may_administer("transactions") {
        Ok(()) => Ok(tx),
        Err(_) => caller
            .may_use(&tx.institution)
            .map(|()| tx)
            .map_err(forbidden),
    }
}

/// The query of `GET /v1/transactions`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FindQuery {
    /// The `Idempotency-Key` the transaction was sent with.
    pub idempotency_key: String,
}

#[utoipa::path(
    get,
    path = "/v1/transactions",
    tag = "transactions",
    summary = "The transaction of an idempotency key",
    params(FindQuery),
    responses(
        (status = 200, description = "The journaled transaction the key names (within its window)", body = TransactionView),
        (status = 400, description = "invalid_query, invalid_idempotency_key", body = error::ErrorBody),
        (status = 404, description = "transaction_not_found: no such key in its window, or its transaction was never sent", body = error::ErrorBody),
        (status = 503, description = "journal_unavailable", body = error::ErrorBody),
    )
)]
async fn find_transaction(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<FindQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TransactionView>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::InvalidQuery {
        field: Some("idempotency_key".into()),
        message: e.body_text(),
    })?;
    let windows: std::collections::HashMap<String, std::time::Duration> = app
        .registry
        .iter()
        .map(|(name, h)| (name.clone(), h.idempotency_window()))
        .collect();
    let key = query.idempotency_key;
    let found =
        idempotency::find(&app.journal, &key, move |inst| windows.get(inst).copied()).await?;
    match found {
        Some((_, Some(tx))) => Ok(Json(visible(&caller, tx)?.into())),
        Some((id, None)) => Err(ApiError::TransactionNotFound(format!(
            "{id} (idempotency key {key:?}): not sent yet"
        ))),
        None => Err(ApiError::TransactionNotFound(format!(
            "for idempotency key {key:?}"
        ))),
    }
}

/// `GET /v1/status`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusView {
    /// Each institution's session, links, in-flight count and counters, by name.
    #[schema(value_type = Vec<Object>)]
    pub institutions: Vec<crate::institution::InstitutionStatus>,
}

#[utoipa::path(
    get,
    path = "/v1/status",
    tag = "operations",
    summary = "Every institution's status",
    responses((status = 200, description = "Status by institution", body = StatusView))
)]
async fn status(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<StatusView>, ApiError> {
    caller.may_administer("/v1/status").map_err(forbidden)?;
    let mut institutions = Vec::new();
    for h in app.registry.values() {
        if let Some(s) = h.status().await {
            institutions.push(s);
        }
    }
    institutions.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(StatusView { institutions }))
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain"),
        (status = 503, description = "metrics_unavailable", body = error::ErrorBody),
    )
)]
async fn metrics(Extension(caller): Extension<Caller>) -> Result<Response, ApiError> {
    caller.may_administer("/metrics").map_err(forbidden)?;
    match prometheus() {
        Some(h) => Ok(h.render().into_response()),
        None => Err(ApiError::MetricsUnavailable),
    }
}

#[cfg(test)]
mod tests;
