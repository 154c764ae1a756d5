//! JSON fields ⇄ telegrams for `POST /v1/institutions/{name}/messages`.
//!
//! A request is built from named fields by the message type's layout. Every field must be
//! accounted for, so that nothing the caller forgot goes out as zeros or blanks: a field is
//! **filled by the gateway** ([`Profile::owns`]: 전문번호, 전송일자/시간, the message key and
//! the config's header constants — a caller may not set those), **optional** in the spec
//! (`optional = true` or `blank = "zero"`: blank is a valid value), **defaulted** by the spec
//! (`default = "…"`), or **required**: present and not blank, else the request is refused
//! with every missing field named and nothing is sent.

use fep_codec::{FieldKind, FieldLayout, Layout, Record, Value};
use serde_json::json;

use super::error::ApiError;
use crate::domain::MsgKey;
use crate::profile::Profile;

/// JSON fields → the request telegram of `msg_type`, header filled; nothing is sent here.
pub(crate) fn build_telegram(
    profile: &Profile,
    msg_type: &MsgKey,
    layout: &Layout,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<u8>, ApiError> {
    let record = to_record(profile, msg_type, layout, fields)?;
    let mut telegram = layout
        .encode_record(&record)
        .map_err(|e| ApiError::InvalidValue {
            field: e.path().to_owned(),
            reason: e.kind().to_string(),
        })?;
    // The header's constants and the message type come from the gateway, not the caller.
    profile.fill_header(&mut telegram, msg_type);
    Ok(telegram)
}

/// Whether a field may be left out by the caller: the gateway fills it, the spec allows a
/// blank, or the codec computes it (`auto_len`, `rest`, repeat groups by their count).
fn may_be_absent(profile: &Profile, f: &FieldLayout) -> bool {
    profile.owns(f)
        || f.optional
        || f.blank_zero
        || f.rest
        || f.auto_len.is_some()
        || matches!(f.kind, FieldKind::Group { .. })
}

/// JSON fields → record, with the spec's defaults for absent fields. Unknown, gateway-owned
/// and missing required fields are errors; JSON `null` counts as absent.
pub(crate) fn to_record(
    profile: &Profile,
    msg_type: &MsgKey,
    layout: &Layout,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Result<Record, ApiError> {
    let defaults = profile.defaults_for(msg_type);
    let mut record = Record::new();
    for (name, v) in fields {
        let Some(f) = layout.field(name) else {
            return Err(ApiError::UnknownField {
                msg_type: msg_type.to_string(),
                name: name.clone(),
            });
        };
        if profile.owns(f) {
            return Err(ApiError::GatewayOwnedField(name.clone()));
        }
        if let Some(value) = to_value(f, v)? {
            record.set(name, value);
        }
    }
    let mut missing = Vec::new();
    for f in layout.fields() {
        let default = defaults.iter().find(|(p, _)| *p == f.path).map(|(_, d)| d);
        let given = record.get(&f.path);
        let blank = match given {
            None | Some(Value::Null) => true,
            Some(Value::Text(s)) => s.trim().is_empty(),
            Some(_) => false,
        };
        if !blank || may_be_absent(profile, f) {
            continue;
        }
        match (default, given) {
            (Some(d), None | Some(Value::Null)) => record.set(&f.path, Value::Text(d.clone())),
            (Some(_), Some(_)) => {} // a blank the spec's default allows
            (None, None | Some(Value::Null)) => missing.push(f.path.clone()),
            (None, Some(_)) => return Err(ApiError::InvalidValue {
                field: f.path.clone(),
                reason:
                    "must not be blank: the spec neither marks it optional nor gives it a default"
                        .into(),
            }),
        }
    }
    if missing.is_empty() {
        Ok(record)
    } else {
        Err(ApiError::MissingFields(missing))
    }
}

/// One JSON value → the codec value for `f`: strings stay text, numbers become N values.
/// `null` is `None` (absent).
fn to_value(f: &FieldLayout, v: &serde_json::Value) -> Result<Option<Value>, ApiError> {
    let bad = |reason: &str| ApiError::InvalidValue {
        field: f.path.clone(),
        reason: reason.to_owned(),
    };
    Ok(Some(match (v, &f.kind) {
        (serde_json::Value::Null, _) => return Ok(None),
        (_, FieldKind::Group { .. }) => {
            return Err(bad("repeat groups cannot be sent over the HTTP API yet"))
        }
        (serde_json::Value::String(s), _) => Value::Text(s.clone()),
        (serde_json::Value::Number(n), FieldKind::Int) => {
            Value::Int(n.as_i64().ok_or_else(|| bad("expected an integer"))?.into())
        }
        (serde_json::Value::Number(n), _) => Value::UInt(
            n.as_u64()
                .ok_or_else(|| bad("expected an unsigned integer"))?
                .into(),
        ),
        _ => return Err(bad("expected a string or a number")),
    }))
}

/// A telegram (an answer, a notice) as JSON: its type, and its fields decoded by the layout
/// of *its own* message key (a response's layout may differ from its request's), `mask =
/// true` fields masked unless `unmask`; null when there is no telegram.
pub(crate) fn telegram_json(
    profile: &Profile,
    telegram: &[u8],
    unmask: bool,
) -> Option<serde_json::Value> {
    if telegram.is_empty() {
        return None;
    }
    let Some(key) = profile.msg_key(telegram) else {
        return Some(json!({ "type": "" }));
    };
    let response_type = key.to_string();
    // The variant its own key and `when` values select (a response's layout may differ).
    Some(match profile.layout_of(telegram) {
        Some(layout) => match layout.decode_record(telegram) {
            Ok(r) => json!({ "type": response_type, "fields": record_json(layout, &r, unmask) }),
            Err(e) => json!({ "type": response_type, "error": e.to_string() }),
        },
        None => json!({ "type": response_type }),
    })
}

/// A record as JSON with the layout's `mask` fields masked, numbers included (an account
/// number may be an N field), and repeat-group elements masked by the element layout.
#[cfg(test)]
pub(crate) fn masked(layout: &Layout, record: &Record) -> serde_json::Value {
    record_json(layout, record, false)
}

/// A record as JSON, its `mask` fields masked unless `unmask` (see [`masked`]).
pub(crate) fn record_json(layout: &Layout, record: &Record, unmask: bool) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (path, value) in record.iter() {
        let field = layout.field(path);
        let mask = field.is_some_and(|f| f.mask) && !unmask;
        let v = match (value, field) {
            (Value::Group(items), Some(f)) => match &f.kind {
                FieldKind::Group { element, .. } => items
                    .iter()
                    .map(|item| record_json(element, item, unmask))
                    .collect(),
                _ => serde_json::Value::Null,
            },
            // The JSON type follows the layout (as in `fep decode --json`), never the value.
            (value, Some(f)) => fep_codec::spec::field_json(Some(value), f, unmask),
            (Value::Text(s), None) if mask => json!(fep_codec::mask_value(s)),
            (other, None) => serde_json::to_value(other).unwrap_or(serde_json::Value::Null),
        };
        out.insert(path.to_owned(), v);
    }
    serde_json::Value::Object(out)
}
