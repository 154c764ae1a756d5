//! Unit tests of the API's pieces; the black-box contract tests are in
//! `fep-gateway/cli/tests/http_api.rs`.

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use fep_codec::spec::Family;

use super::error::{ApiError, ErrorCode};
use super::extract::{check_content_type, parse};
use super::message::{build_telegram, masked, to_record};
use super::SendBody;
use crate::profile::{HectoContract, Profile};

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

/// The JSON type of an N field follows the layout (`fep_codec::spec::json_type`), never the
/// value: an N(20) is a string of digits even when the value is small, an N(8) a number
/// (before: serde's own rule, a number while the value fits u64, a string above).
#[test]
fn json_types_follow_the_layout_not_the_value() {
    let spec = r#"
[family]
name = "t"
[[structs]]
name = "W"
fields = [
  { name = "wide", type = "N", len = 20, rust = "u128" },
  { name = "narrow", type = "N", len = 8, rust = "u64" },
]
"#;
    let family = Family::from_toml_str(spec).unwrap_or_else(|e| panic!("{e}"));
    let layout = &family.struct_spec("W").expect("struct W").layout;
    for (wire, wide) in [
        (&b"0000000000000000000700000042"[..], "7"),
        (&b"9999999999999999999900000042"[..], "99999999999999999999"),
    ] {
        let record = layout.decode_record(wire).unwrap_or_else(|e| panic!("{e}"));
        let json = masked(layout, &record);
        assert_eq!(json["wide"], serde_json::json!(wide), "{json}");
        assert_eq!(json["narrow"], serde_json::json!(42), "{json}");
    }
}

fn hecto() -> Profile {
    Profile::hecto(HectoContract {
        company_no: "COMPANY01",
        bank_code: "004",
    })
}

fn fields(json: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match json {
        serde_json::Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn transfer(json: serde_json::Value) -> Result<Vec<u8>, ApiError> {
    let p = hecto();
    let layout = p.layout_for(&transfer_key()).expect("2000/100").clone();
    build_telegram(&p, &transfer_key(), &layout, &fields(json))
}

fn full() -> serde_json::Value {
    serde_json::json!({
        "wd_account": "110123456789", "amount": 50000, "dep_bank": "088",
        "dep_account": "333012345678"
    })
}

#[test]
fn a_transfer_with_its_required_fields_is_built_with_the_spec_defaults() {
    let t = transfer(full()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.len(), 300);
    assert_eq!(&t[24..31], b"2000100", "message key from the type");
    assert_eq!(&t[31..32], b"1", "send_count: the spec's default");
    assert_eq!(&t[129..142], b"0000000050000");
    assert!(
        t[199..213].iter().all(|&b| b == b' '),
        "memo: blank default"
    );
}

#[test]
fn each_required_field_left_out_is_named_and_nothing_is_built() {
    for name in ["wd_account", "amount", "dep_bank", "dep_account"] {
        let mut json = full();
        json.as_object_mut().map(|m| m.remove(name));
        let e = transfer(json).expect_err(name);
        assert_eq!(e.code(), ErrorCode::MissingField, "{e}");
        assert_eq!(
            e.field().as_deref(),
            Some(format!("fields.{name}").as_str())
        );
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let e = transfer(serde_json::json!({})).expect_err("empty");
    assert_eq!(
        e.to_string(),
        "missing required fields: wd_account, amount, dep_bank, dep_account"
    );
    // null and blank text count as absent.
    let mut json = full();
    json["amount"] = serde_json::Value::Null;
    assert_eq!(
        transfer(json).expect_err("null").code(),
        ErrorCode::MissingField
    );
    let mut json = full();
    json["wd_account"] = "   ".into();
    let e = transfer(json).expect_err("blank");
    assert_eq!(e.code(), ErrorCode::InvalidValue, "{e}");
    assert_eq!(e.field().as_deref(), Some("fields.wd_account"));
}

#[test]
fn unknown_owned_and_bad_values_name_the_field() {
    let with = |name: &str, v: serde_json::Value| {
        let mut json = full();
        json[name] = v;
        transfer(json).expect_err(name)
    };
    let e = with("nope", "x".into());
    assert_eq!(
        (e.code(), e.field()),
        (ErrorCode::UnknownField, Some("fields.nope".into()))
    );
    for owned in [
        "header.msg_no",
        "header.send_date",
        "header.company_no",
        "header.msg_type",
    ] {
        let e = with(owned, "1".into());
        assert_eq!(e.code(), ErrorCode::GatewayOwnedField, "{owned}: {e}");
        assert_eq!(e.field(), Some(format!("fields.{owned}")));
    }
    let e = with("amount", (-5).into());
    assert_eq!(
        (e.code(), e.field()),
        (ErrorCode::InvalidValue, Some("fields.amount".into()))
    );
    let e = with("amount", "12x".into());
    assert_eq!(
        (e.code(), e.field()),
        (ErrorCode::InvalidValue, Some("fields.amount".into()))
    );
    let e = with("amount", 12_345_678_901_234_u64.into());
    assert_eq!(
        (e.code(), e.field()),
        (ErrorCode::InvalidValue, Some("fields.amount".into()))
    );
    let e = with("memo", "이 적요는 열네 바이트를 넘습니다".into());
    assert_eq!(
        (e.code(), e.field()),
        (ErrorCode::InvalidValue, Some("fields.memo".into()))
    );
    let e = with("memo", true.into());
    assert_eq!(
        (e.code(), e.field()),
        (ErrorCode::InvalidValue, Some("fields.memo".into()))
    );
}

#[test]
fn optional_and_defaulted_fields_may_be_blank_or_absent() {
    let p = hecto();
    let layout = p.layout_for(&transfer_key()).expect("2000/100").clone();
    let mut json = full();
    json["memo"] = "".into(); // defaulted: blank allowed
    json["fee"] = serde_json::Value::Null; // optional N
    let record =
        to_record(&p, &transfer_key(), &layout, &fields(json)).unwrap_or_else(|e| panic!("{e}"));
    assert!(record.get("fee").is_none());
}

#[test]
fn content_types_json_none_and_curl_form_are_accepted_others_refused() {
    let with = |v: Option<&'static str>| {
        let mut h = HeaderMap::new();
        if let Some(v) = v {
            h.insert(CONTENT_TYPE, HeaderValue::from_static(v));
        }
        check_content_type(&h)
    };
    for ok in [
        None,
        Some("application/json"),
        Some("Application/JSON; charset=utf-8"),
        Some("application/problem+json"),
        Some("application/x-www-form-urlencoded"),
    ] {
        assert!(with(ok).is_ok(), "{ok:?}");
    }
    for refused in ["text/xml", "text/plain", "multipart/form-data; boundary=x"] {
        let e = with(Some(refused)).expect_err(refused);
        assert_eq!(e.code(), ErrorCode::UnsupportedMediaType);
        assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}

#[test]
fn syntax_errors_are_malformed_json_and_shape_errors_name_the_path() {
    let e = parse::<SendBody>(b"{\"type\": ").expect_err("truncated");
    assert_eq!(e.code(), ErrorCode::MalformedJson);
    let e = parse::<SendBody>(b"{} trailing").expect_err("trailing");
    assert_eq!(e.code(), ErrorCode::MalformedJson);
    let e = parse::<SendBody>(b"{}").expect_err("no type");
    assert_eq!((e.code(), e.field()), (ErrorCode::InvalidBody, None));
    assert!(e.to_string().contains("type"), "{e}");
    let e = parse::<SendBody>(br#"{"type":"2000/100","timeout_ms":"soon"}"#).expect_err("type");
    assert_eq!(
        (e.code(), e.field()),
        (ErrorCode::InvalidBody, Some("timeout_ms".into()))
    );
    let e = parse::<SendBody>(br#"{"type":"2000/100","field":{}}"#).expect_err("typo");
    assert_eq!(e.code(), ErrorCode::InvalidBody);
    assert!(e.to_string().contains("field"), "{e}");
}

#[test]
fn the_error_body_has_the_documented_shape() {
    let json = serde_json::to_value(ApiError::MissingFields(vec!["amount".into()]).body())
        .unwrap_or_default();
    assert_eq!(
        json,
        serde_json::json!({"error": {"code": "missing_field", "message": "missing required field: amount", "field": "fields.amount"}})
    );
    let json = serde_json::to_value(ApiError::NotFound("/x".into()).body()).unwrap_or_default();
    assert!(json["error"].get("field").is_none(), "{json}");
}

/// docs/http-api.md lists every error code of the OpenAPI document's `ErrorCode`, each with
/// an example answer.
#[test]
fn every_error_code_is_documented_with_an_example() {
    use utoipa::OpenApi;
    let doc = serde_json::to_value(super::openapi::ApiDoc::openapi()).unwrap_or_default();
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(codes.len() >= 19, "{codes:?}");
    let page = include_str!("../../../../docs/http-api.md");
    for code in codes.iter().filter_map(|c| c.as_str()) {
        assert!(
            page.contains(&format!("| `{code}` |")),
            "{code} is not in the table"
        );
        assert!(
            page.contains(&format!("\"code\":\"{code}\"")),
            "{code} has no example answer"
        );
    }
}

fn transfer_key() -> crate::domain::MsgKey {
    crate::domain::MsgKey::from(("2000", "100"))
}
