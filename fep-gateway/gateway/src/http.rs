//! The HTTP JSON API (axum): send a message by type and fields, look up a transaction,
//! status and Prometheus metrics.

use std::net::SocketAddr;
use std::sync::OnceLock;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fep_codec::{FieldKind, Layout, Record, Value};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Deserialize;
use serde_json::json;

use crate::domain::MsgKey;
use crate::institution::ShutdownRx;
use crate::journal::Journal;
use crate::profile::Profile;
use crate::server::Registry;

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
}

/// Binds and serves the API until shutdown; returns the bound address.
pub(crate) async fn serve(
    addr: SocketAddr,
    registry: Registry,
    journal: Journal,
    mut shutdown: ShutdownRx,
) -> Result<SocketAddr, std::io::Error> {
    let _ = prometheus();
    let app = Router::new()
        .route("/v1/institutions/{name}/messages", post(send_message))
        .route("/v1/transactions/{id}", get(transaction))
        .route("/v1/status", get(status))
        .route("/metrics", get(metrics))
        .with_state(AppState { registry, journal });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        let stop = async move {
            let _ = shutdown.changed().await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "http server stopped");
        }
    });
    Ok(bound)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

#[derive(Deserialize)]
struct SendBody {
    #[serde(rename = "type")]
    msg_type: String,
    #[serde(default)]
    fields: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

async fn send_message(
    State(app): State<AppState>,
    Path(name): Path<String>,
    Json(body): Json<SendBody>,
) -> Response {
    let Some(handle) = app.registry.get(&name) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("unknown institution {name:?}"),
        );
    };
    let profile = handle.profile();
    let key = body.msg_type.parse::<MsgKey>().ok();
    let Some(layout) = key.as_ref().and_then(|k| profile.layout_for(k)) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("unknown message type {:?} for {name}", body.msg_type),
        );
    };
    let record = match to_record(layout, &body.fields) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let mut telegram = match layout.encode_record(&record) {
        Ok(t) => t,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    // The header's constants and the message type come from the gateway, not the caller.
    if let Some(key) = &key {
        profile.fill_header(&mut telegram, key);
    }
    let reply = handle
        .request(
            telegram,
            body.timeout_ms.map(std::time::Duration::from_millis),
        )
        .await;
    let response = response_json(profile, &reply.telegram);
    Json(json!({
        "id": reply.tx_id.to_string(),
        "outcome": reply.outcome.as_str(),
        "detail": reply.detail,
        "response": response,
    }))
    .into_response()
}

/// The answered telegram as JSON: its type, and its fields decoded and masked by the layout of
/// *its own* message key (a response's layout may differ from its request's), or null when
/// nothing was answered.
fn response_json(profile: &Profile, telegram: &[u8]) -> serde_json::Value {
    if telegram.is_empty() {
        return serde_json::Value::Null;
    }
    let Some(key) = profile.msg_key(telegram).map(MsgKey::from) else {
        return json!({ "type": "" });
    };
    let response_type = key.to_string();
    match profile.layout_for(&key) {
        Some(layout) => match layout.decode_record(telegram) {
            Ok(r) => json!({ "type": response_type, "fields": masked(layout, &r) }),
            Err(e) => json!({ "type": response_type, "error": e.to_string() }),
        },
        None => json!({ "type": response_type }),
    }
}

/// JSON fields → record: strings stay text, numbers become N values. Unknown names are errors.
fn to_record(
    layout: &Layout,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Result<Record, String> {
    let mut record = Record::new();
    for (name, v) in fields {
        let Some(f) = layout.field(name) else {
            return Err(format!("unknown field {name:?}"));
        };
        let value = match (v, &f.kind) {
            (serde_json::Value::Null, _) => Value::Null,
            (serde_json::Value::String(s), _) => Value::Text(s.clone()),
            (serde_json::Value::Number(n), FieldKind::Int) => {
                Value::Int(n.as_i64().ok_or(format!("{name}: not an integer"))?.into())
            }
            (serde_json::Value::Number(n), _) => Value::UInt(
                n.as_u64()
                    .ok_or(format!("{name}: not an unsigned integer"))?
                    .into(),
            ),
            _ => return Err(format!("{name}: expected a string or a number")),
        };
        record.set(name, value);
    }
    Ok(record)
}

/// A record as JSON with the layout's `mask` fields masked, numbers included (an account
/// number may be an N field), and repeat-group elements masked by the element layout.
fn masked(layout: &Layout, record: &Record) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (path, value) in record.iter() {
        let field = layout.field(path);
        let mask = field.is_some_and(|f| f.mask);
        let v = match (value, field.map(|f| &f.kind)) {
            (Value::Text(s), _) if mask => json!(fep_codec::mask_value(s)),
            (Value::UInt(n), _) if mask => json!(fep_codec::mask_value(&n.to_string())),
            (Value::Int(n), _) if mask => json!(fep_codec::mask_value(&n.to_string())),
            (Value::Group(items), Some(FieldKind::Group { element, .. })) => {
                items.iter().map(|item| masked(element, item)).collect()
            }
            (other, _) => serde_json::to_value(other).unwrap_or(serde_json::Value::Null),
        };
        out.insert(path.to_owned(), v);
    }
    serde_json::Value::Object(out)
}

async fn transaction(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return error(StatusCode::BAD_REQUEST, "transaction id must be a number");
    };
    match app.journal.get_tx(id).await {
        Ok(Some(tx)) => Json(tx).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no transaction {id}")),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

async fn status(State(app): State<AppState>) -> Response {
    let mut institutions = Vec::new();
    for h in app.registry.values() {
        if let Some(s) = h.status().await {
            institutions.push(s);
        }
    }
    institutions.sort_by(|a, b| a.name.cmp(&b.name));
    Json(json!({ "institutions": institutions })).into_response()
}

async fn metrics() -> Response {
    match prometheus() {
        Some(h) => h.render().into_response(),
        None => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder not installed",
        ),
    }
}

#[cfg(test)]
mod tests {
    use fep_codec::spec::Family;

    use super::*;

    /// A masked N field and a repeat group of structs whose element has a masked field.
    const SPEC: &str = r#"
[family]
name = "m"
[[structs]]
name = "Item"
fields = [
  { name = "acct", type = "N", len = 8, mask = true },
  { name = "memo", type = "AN", len = 2 },
]
[[structs]]
name = "T"
fields = [
  { name = "card", type = "N", len = 8, rust = "u64", mask = true },
  { name = "n", type = "N", len = 1 },
  { name = "items", struct = "Item", count = "n", max = 2 },
]
"#;

    #[test]
    fn masks_numbers_and_group_elements_by_the_layout() {
        let family = Family::from_toml_str(SPEC).unwrap_or_else(|e| panic!("{e}"));
        let layout = &family.struct_spec("T").expect("struct T").layout;
        let record = layout
            .decode_record(b"12345678211112222ab33334444cd")
            .unwrap_or_else(|e| panic!("{e}"));
        let json = masked(layout, &record);
        assert_eq!(json["card"], "123***78", "{json}");
        assert_eq!(json["items"][0]["acct"], "111***22", "{json}");
        assert_eq!(json["items"][1]["acct"], "333***44", "{json}");
        assert_eq!(json["items"][1]["memo"], "cd", "{json}");
    }
}
