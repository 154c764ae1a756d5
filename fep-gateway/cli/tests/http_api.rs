//! Black-box tests of the HTTP JSON API: the real `fep` binary on a generated config and spec,
//! a fake institution over TCP. Loopback only; every wait is bounded.

mod support;

use std::time::Duration;

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
