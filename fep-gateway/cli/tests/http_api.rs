//! Black-box tests of the HTTP JSON API: the real `fep` binary on a generated config and spec,
//! a fake institution over TCP. Loopback only; every wait is bounded.

mod support;

use std::time::Duration;

use fep_testkit::sim::SimHandle;
use support::*;

const WAIT: Duration = Duration::from_secs(10);

/// The Hecto spec with a 2100/100 response laid out differently from its 2000/100 request:
/// at 159 the request's masked `dep_account` becomes the response's masked `payee_account`,
/// and the response's *unmasked* `dep_account` sits where the request has `dep_holder`.
/// Masking by field name with the request's layout gets both wrong.
fn spec_with_a_distinct_response_layout() -> String {
    let hecto = std::fs::read_to_string(SPEC).expect("read the Hecto spec");
    let request_struct =
        "name = \"TransferResponse\"\nlabel = \"당/타행이체 응답\"\nstruct = \"Transfer\"";
    assert!(hecto.contains(request_struct), "the Hecto spec changed");
    hecto.replace(
        request_struct,
        "name = \"TransferResponse\"\nlabel = \"당/타행이체 응답\"\nstruct = \"TransferAnswer\"",
    ) + r#"
[[structs]]
name = "TransferAnswer"
label = "이체 응답 (test layout)"
len = 300
fields = [
  { name = "header",        struct = "HectoHeader", offset = 0 },
  { name = "lead",          label = "앞부분",   type = "AN", len = 59, offset = 100 },
  { name = "payee_account", label = "수취계좌", type = "AN", len = 15, offset = 159, mask = true },
  { name = "middle",        label = "중간",     type = "AN", len = 52, offset = 174 },
  { name = "dep_account",   label = "공개참조", type = "AN", len = 12, offset = 226 },
  { name = "tail",          label = "뒷부분",   type = "AN", len = 62, offset = 238 },
]
"#
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_response_is_masked_and_labelled_by_its_own_layout() {
    let fake = bank(Answer::code("0000")).await;
    let dir = tempdir();
    let spec = dir.path().join("hecto-test.toml");
    std::fs::write(&spec, spec_with_a_distinct_response_layout()).expect("write spec");
    let inst = institution("hecto", &duplex_link(fake.addr()), "5s", "1m", "5m")
        .replace(SPEC, &spec.display().to_string());
    let fep = Fep::start(dir.path(), &config(&dir.path().join("data"), &[inst]), &[]);
    let f = &fake;
    assert!(
        eventually(WAIT, || f.seen().iter().any(|s| s.msg_type == "1000")).await,
        "signed on"
    );
    let body = r#"{"type":"2000/100","fields":{"wd_account":"110123456789","amount":70000,"bal_sign":"+","dep_bank":"088","dep_account":"333012345678","memo":"급여","dep_holder":"홍길동"}}"#;
    let mut v = serde_json::Value::Null;
    // The institution may still be signing on: retry a `rejected` for a few seconds.
    for _ in 0..50 {
        let (status, resp) = http(
            fep.http,
            "POST",
            "/v1/institutions/hecto/messages",
            Some(body),
        );
        assert_eq!(status, 200, "{resp}");
        v = serde_json::from_str(&resp).expect("json");
        if v["outcome"] != "rejected" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(v["outcome"], "ok", "{v}");
    let response = &v["response"];
    assert_eq!(response["type"], "2100/100", "{v}");
    let fields = &response["fields"];
    // Decoded with the response's layout: its names, none of the request's.
    assert!(fields.get("payee_account").is_some(), "{v}");
    assert!(fields.get("wd_account").is_none(), "{v}");
    assert!(fields.get("dep_holder").is_none(), "{v}");
    // Masked by the response's `mask` flags: the payee account is hidden…
    let payee = fields["payee_account"].as_str().unwrap_or_default();
    assert!(
        !payee.contains("3012345") && payee.contains('*'),
        "payee_account is masked by the response layout: {v}"
    );
    // …and a field the response layout does not mask is shown, whatever the request calls it.
    assert_eq!(fields["dep_account"], "홍길동", "{v}");
}

/// One HTTP/1.1 exchange with exactly these headers (besides Host, Content-Length and
/// Connection: close); returns (status, body as JSON or `Null`, raw body).
fn exchange(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, serde_json::Value, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("http connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    // The server may answer (413) and stop reading before a large body is written.
    let _ = s.write_all(req.as_bytes());
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, raw) = resp.split_once("\r\n\r\n").unwrap_or((resp.as_str(), ""));
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "answers carry a Content-Length: {head}"
    );
    let json = serde_json::from_str(raw).unwrap_or(serde_json::Value::Null);
    (status, json, raw.to_owned())
}

const JSON: &[(&str, &str)] = &[("Content-Type", "application/json")];

const TRANSFER: &str = r#"{"type":"2000/100","fields":{"wd_account":"110123456789","amount":70000,"dep_bank":"088","dep_account":"333012345678","memo":"급여"}}"#;

/// Waits until `GET /v1/status` says the first institution is signed on (the sign-on answer
/// may still be on its way after the bank saw the request).
async fn wait_signed_on(http: std::net::SocketAddr) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (_, status, _) = exchange(http, "GET", "/v1/status", &[], "");
        if status["institutions"][0]["signed_on"] == true {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not signed on: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A gateway with one Hecto institution on a fake bank that answers `0000`, signed on.
async fn signed_on_gateway() -> (SimHandle, Fep, tempfile::TempDir) {
    let fake = bank(Answer::code("0000")).await;
    let dir = tempdir();
    let inst = institution("hecto", &duplex_link(fake.addr()), "5s", "1m", "5m");
    let fep = Fep::start(dir.path(), &config(&dir.path().join("data"), &[inst]), &[]);
    wait_signed_on(fep.http).await;
    (fake, fep, dir)
}

/// Asserts the documented error shape, the status, the code and the field to blame.
fn assert_error(
    answer: &(u16, serde_json::Value, String),
    status: u16,
    code: &str,
    field: Option<&str>,
) {
    let (got, json, raw) = answer;
    assert_eq!(*got, status, "{raw}");
    let error = json["error"]
        .as_object()
        .unwrap_or_else(|| panic!("not a JSON error: {raw:?}"));
    assert_eq!(
        error.get("code").and_then(|c| c.as_str()),
        Some(code),
        "{raw}"
    );
    assert!(
        error
            .get("message")
            .and_then(|m| m.as_str())
            .is_some_and(|m| !m.is_empty()),
        "{raw}"
    );
    assert_eq!(error.get("field").and_then(|f| f.as_str()), field, "{raw}");
    let known = ["code", "message", "field"];
    assert!(error.keys().all(|k| known.contains(&k.as_str())), "{raw}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_json_with_a_stable_shape() {
    let (fake, fep, _dir) = signed_on_gateway().await;
    let post = |headers: &[(&str, &str)], body: &str| {
        exchange(
            fep.http,
            "POST",
            "/v1/institutions/hecto/messages",
            headers,
            body,
        )
    };
    assert_error(
        &post(JSON, r#"{"type": "2000/100", "fields": "#),
        400,
        "malformed_json",
        None,
    );
    assert_error(&post(JSON, "not json"), 400, "malformed_json", None);
    assert_error(
        &post(&[("Content-Type", "text/xml")], TRANSFER),
        415,
        "unsupported_media_type",
        None,
    );
    let huge = format!("{{\"type\":\"{}\"}}", "x".repeat(3 * 1024 * 1024));
    assert_error(&post(JSON, &huge), 413, "payload_too_large", None);
    assert_error(&post(JSON, r#"{"fields":{}}"#), 422, "invalid_body", None);
    assert_error(
        &post(JSON, r#"{"type":"2000/100","timeout_ms":"soon"}"#),
        422,
        "invalid_body",
        Some("timeout_ms"),
    );
    assert_error(
        &exchange(
            fep.http,
            "POST",
            "/v1/institutions/nope/messages",
            JSON,
            TRANSFER,
        ),
        404,
        "unknown_institution",
        None,
    );
    assert_error(
        &post(JSON, r#"{"type":"9999/999","fields":{}}"#),
        422,
        "unknown_message_type",
        Some("type"),
    );
    assert_error(
        &post(JSON, &TRANSFER.replace("\"memo\"", "\"memmo\"")),
        422,
        "unknown_field",
        Some("fields.memmo"),
    );
    assert_error(
        &post(JSON, &TRANSFER.replace("70000", "-1")),
        422,
        "invalid_value",
        Some("fields.amount"),
    );
    assert_error(
        &post(JSON, &TRANSFER.replace("\"088\"", "\"08x\"")),
        422,
        "invalid_value",
        Some("fields.dep_bank"),
    );
    assert_error(
        &post(JSON, &TRANSFER.replace("\"memo\"", "\"header.msg_no\"")),
        422,
        "gateway_owned_field",
        Some("fields.header.msg_no"),
    );
    assert_error(
        &exchange(fep.http, "GET", "/v2/nothing", &[], ""),
        404,
        "not_found",
        None,
    );
    assert_error(
        &exchange(fep.http, "GET", "/v1/institutions/hecto/messages", &[], ""),
        405,
        "method_not_allowed",
        None,
    );
    assert_error(
        &exchange(fep.http, "DELETE", "/v1/status", &[], ""),
        405,
        "method_not_allowed",
        None,
    );
    assert_error(
        &exchange(fep.http, "GET", "/v1/transactions/abc", &[], ""),
        400,
        "invalid_transaction_id",
        Some("id"),
    );
    assert_error(
        &exchange(
            fep.http,
            "GET",
            "/v1/transactions/18446744073709551616",
            &[],
            "",
        ),
        400,
        "invalid_transaction_id",
        Some("id"),
    );
    assert_error(
        &exchange(fep.http, "GET", "/v1/transactions/42", &[], ""),
        404,
        "transaction_not_found",
        None,
    );
    assert!(
        fake.transfers().is_empty(),
        "no error sent anything: {:?}",
        fake.transfers()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_body_is_accepted_without_a_json_content_type() {
    let (fake, fep, _dir) = signed_on_gateway().await;
    // No Content-Type at all, and curl -d's default type.
    for headers in [
        &[][..],
        &[("Content-Type", "application/x-www-form-urlencoded")][..],
    ] {
        let (status, json, raw) = exchange(
            fep.http,
            "POST",
            "/v1/institutions/hecto/messages",
            headers,
            TRANSFER,
        );
        assert_eq!(status, 200, "{headers:?}: {raw}");
        assert_eq!(json["outcome"], "ok", "{raw}");
    }
    assert_eq!(fake.transfers().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_required_field_is_named_and_nothing_is_sent() {
    let (fake, fep, _dir) = signed_on_gateway().await;
    let without = |name: &str| {
        let mut body: serde_json::Value = serde_json::from_str(TRANSFER).expect("json");
        body["fields"].as_object_mut().map(|f| f.remove(name));
        body.to_string()
    };
    for name in ["amount", "wd_account", "dep_bank", "dep_account"] {
        let answer = exchange(
            fep.http,
            "POST",
            "/v1/institutions/hecto/messages",
            JSON,
            &without(name),
        );
        assert_error(
            &answer,
            422,
            "missing_field",
            Some(&format!("fields.{name}")),
        );
    }
    let answer = exchange(
        fep.http,
        "POST",
        "/v1/institutions/hecto/messages",
        JSON,
        &TRANSFER.replace("\"110123456789\"", "\"\""),
    );
    assert_error(&answer, 422, "invalid_value", Some("fields.wd_account"));
    assert!(fake.transfers().is_empty(), "sent: {:?}", fake.transfers());
    // Fields with a spec default (memo, bal_sign, …) may be left out.
    let (status, json, raw) = exchange(
        fep.http,
        "POST",
        "/v1/institutions/hecto/messages",
        JSON,
        &without("memo"),
    );
    assert_eq!(
        (status, json["outcome"].as_str()),
        (200, Some("ok")),
        "{raw}"
    );
    assert_eq!(fake.transfers().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_ids_are_strings_everywhere() {
    let (_fake, fep, _dir) = signed_on_gateway().await;
    let (status, sent, raw) = exchange(
        fep.http,
        "POST",
        "/v1/institutions/hecto/messages",
        JSON,
        TRANSFER,
    );
    assert_eq!(status, 200, "{raw}");
    let id = sent["id"]
        .as_str()
        .unwrap_or_else(|| panic!("id is a string: {raw}"));
    assert!(id.parse::<u64>().is_ok(), "{raw}");
    // The outcome is journaled after the answer (issue 13 item 1): wait for it.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (status, tx, raw) =
            exchange(fep.http, "GET", &format!("/v1/transactions/{id}"), &[], "");
        assert_eq!(status, 200, "{raw}");
        assert_eq!(
            tx["id"].as_str(),
            Some(id),
            "GET answers the same id, as a string: {raw}"
        );
        if tx["outcome"] == "ok" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{raw}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every route of the API with its method and the error statuses it documents.
const ROUTES: &[(&str, &str, &[u16])] = &[
    (
        "post",
        "/v1/institutions/{name}/messages",
        &[400, 404, 409, 413, 415, 422],
    ),
    ("get", "/v1/transactions/{id}", &[400, 404, 503]),
    ("get", "/v1/transactions", &[400, 404, 503]),
    ("get", "/v1/status", &[]),
    ("get", "/metrics", &[503]),
    ("get", "/v1/openapi.json", &[]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route_and_its_errors() {
    let (_fake, fep, _dir) = signed_on_gateway().await;
    let (status, doc, raw) = exchange(fep.http, "GET", "/v1/openapi.json", &[], "");
    assert_eq!(status, 200, "{raw}");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{raw}"
    );
    let paths = doc["paths"].as_object().expect("paths");
    for (method, path, errors) in ROUTES {
        let op = &paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is not in the document"))[*method];
        assert!(op.is_object(), "{method} {path} is not in the document");
        let responses = op["responses"].as_object().expect("responses");
        assert!(responses.contains_key("200"), "{method} {path}: no 200");
        for code in *errors {
            let r = responses
                .get(&code.to_string())
                .unwrap_or_else(|| panic!("{method} {path}: no {code} response"));
            assert_eq!(
                r["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{method} {path} {code}"
            );
        }
        // The route answers as documented: it exists (not the 404 fallback's `not_found`).
        let concrete = path.replace("{name}", "hecto").replace("{id}", "1");
        let (_, answer, _) = exchange(fep.http, &method.to_uppercase(), &concrete, JSON, "{}");
        assert_ne!(answer["error"]["code"], "not_found", "{method} {concrete}");
    }
    // Every documented path is a route.
    for path in paths.keys() {
        assert!(
            ROUTES.iter().any(|(_, p, _)| p == path),
            "{path} is documented but not tested here"
        );
    }
    let codes: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode enum")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    for code in [
        "malformed_json",
        "missing_field",
        "not_found",
        "method_not_allowed",
    ] {
        assert!(codes.contains(&code), "{code} in {codes:?}");
    }
}

/// POST with an `Idempotency-Key`; returns (status, JSON, raw body, replayed header).
fn post_keyed(
    addr: std::net::SocketAddr,
    key: &str,
    body: &str,
) -> (u16, serde_json::Value, String) {
    exchange(
        addr,
        "POST",
        "/v1/institutions/hecto/messages",
        &[
            ("Content-Type", "application/json"),
            ("Idempotency-Key", key),
        ],
        body,
    )
}

/// Waits until the journal holds a final outcome for `id` (the outcome record trails the
/// answer: issue 13 item 1, another change).
async fn journaled(addr: std::net::SocketAddr, id: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (_, tx, raw) = exchange(addr, "GET", &format!("/v1/transactions/{id}"), &[], "");
        if tx["outcome"] != "sent" && tx["outcome"].is_string() {
            return tx;
        }
        assert!(std::time::Instant::now() < deadline, "{raw}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_survives_kill_9_and_the_bank_sees_one_transfer() {
    let fake = bank(Answer::code("0000")).await;
    let dir = tempdir();
    let inst = institution("hecto", &duplex_link(fake.addr()), "5s", "1m", "5m");
    let config = config(&dir.path().join("data"), &[inst]);
    let fep = Fep::start(dir.path(), &config, &[]);
    wait_signed_on(fep.http).await;
    let (status, first, raw) = post_keyed(fep.http, "order-77", TRANSFER);
    assert_eq!(
        (status, first["outcome"].as_str()),
        (200, Some("ok")),
        "{raw}"
    );
    let id = first["id"].as_str().expect("id").to_owned();
    journaled(fep.http, &id).await;
    assert_eq!(fake.transfers().len(), 1);
    fep.kill();

    let fep = Fep::start(dir.path(), &config, &[]);
    wait_signed_on(fep.http).await;
    let answer = exchange(
        fep.http,
        "POST",
        "/v1/institutions/hecto/messages",
        &[("Idempotency-Key", "order-77")],
        TRANSFER,
    );
    let (status, again, raw) = &answer;
    assert_eq!(*status, 200, "{raw}");
    assert_eq!(
        again["id"].as_str(),
        Some(id.as_str()),
        "the same transaction: {raw}"
    );
    assert_eq!(again["outcome"], "ok", "{raw}");
    assert_eq!(
        again["response"]["type"], "2100/100",
        "the stored answer: {raw}"
    );
    assert_eq!(fake.transfers().len(), 1, "the bank saw one transfer");
    // The same key with a different body: 409, nothing sent.
    let conflict = post_keyed(fep.http, "order-77", &TRANSFER.replace("70000", "70001"));
    assert_error(
        &conflict,
        409,
        "idempotency_key_reused",
        Some("Idempotency-Key"),
    );
    assert_eq!(fake.transfers().len(), 1);
    // Found by its key.
    let (status, tx, raw) = exchange(
        fep.http,
        "GET",
        "/v1/transactions?idempotency_key=order-77",
        &[],
        "",
    );
    assert_eq!(
        (status, tx["id"].as_str()),
        (200, Some(id.as_str())),
        "{raw}"
    );
    assert_error(
        &exchange(
            fep.http,
            "GET",
            "/v1/transactions?idempotency_key=nope",
            &[],
            "",
        ),
        404,
        "transaction_not_found",
        None,
    );
    assert_error(
        &exchange(fep.http, "GET", "/v1/transactions", &[], ""),
        400,
        "invalid_query",
        Some("idempotency_key"),
    );
    assert_error(
        &post_keyed(fep.http, "has space", TRANSFER),
        400,
        "invalid_idempotency_key",
        Some("Idempotency-Key"),
    );
    // A new key is a new transaction.
    let (status, other, raw) = post_keyed(fep.http, "order-78", TRANSFER);
    assert_eq!(status, 200, "{raw}");
    assert_ne!(other["id"].as_str(), Some(id.as_str()));
    assert_eq!(fake.transfers().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_answer_says_so_in_a_header() {
    let (fake, fep, _dir) = signed_on_gateway().await;
    let raw_post = |key: &str| {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(fep.http).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let req = format!(
            "POST /v1/institutions/hecto/messages HTTP/1.1\r\nHost: x\r\nIdempotency-Key: {key}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{TRANSFER}",
            TRANSFER.len()
        );
        s.write_all(req.as_bytes()).expect("write");
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        resp.to_ascii_lowercase()
    };
    let first = raw_post("k-1");
    assert!(first.starts_with("http/1.1 200"), "{first}");
    assert!(!first.contains("idempotent-replayed"), "{first}");
    let second = raw_post("k-1");
    assert!(second.contains("idempotent-replayed: true"), "{second}");
    assert_eq!(fake.transfers().len(), 1);
}
