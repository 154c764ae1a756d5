//! Loading errors (with TOML lines), the decode tool, codegen and the Markdown doc on a small
//! made-up family. The derive-equality tests live in `specs/tests/toml_twin.rs`.

use super::*;
use crate::{FieldKind, Value};

const DEMO: &str = r#"[family]
name = "demo"
label = "데모"
charset = "euc-kr"

[framing]
length = "ascii"
width = 4

[dispatch]
header = "Head"
keys = ["kind", "biz"]

[[structs]]
name = "Head"
label = "공통부"
len = 10
fields = [
  { name = "kind", label = "전문구분", type = "AN", len = 4, offset = 0 },
  { name = "biz",  label = "업무구분", type = "N",  len = 2, offset = 4 },
  { name = "no",   label = "전문번호", type = "N",  len = 4, offset = 6 },
]

[[structs]]
name = "Pay"
label = "지급"
len = 33
fields = [
  { name = "header",  struct = "Head", offset = 0 },
  { name = "account", label = "계좌번호", type = "AN", len = 10, offset = 10, mask = true },
  { name = "amount",  label = "금액",     type = "N",  len = 7,  offset = 20 },
  { name = "name",    label = "성명",     type = "AN", len = 6,  offset = 27, optional = true },
]

[[messages]]
key = ["0200", "1"]
name = "PayRequest"
label = "지급 요구"
struct = "Pay"
response = ["0210", "1"]

[[messages]]
key = ["0210", "1"]
name = "PayResponse"
struct = "Pay"
"#;

fn demo() -> Family {
    Family::from_toml_str(DEMO).unwrap_or_else(|e| panic!("{e}"))
}

fn pay_bytes() -> Vec<u8> {
    let mut b = b"0200010042".to_vec();
    b.extend_from_slice(b"1101234567");
    b.extend_from_slice(b"0050000");
    b.extend_from_slice(&[0xC8, 0xAB, 0xB1, 0xE6, 0xB5, 0xBF]); // 홍길동
    b
}

/// Loads `DEMO` with `from` replaced by `to`; the error it must give.
fn broken(from: &str, to: &str) -> SpecError {
    assert!(DEMO.contains(from), "{from}");
    match Family::from_toml_str(&DEMO.replacen(from, to, 1)) {
        Ok(_) => panic!("{to:?} loaded"),
        Err(e) => e,
    }
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map_or(0, |i| i + 1)
}

#[test]
fn loads_layouts_and_metadata() {
    let f = demo();
    let pay = f.message("0200/1").unwrap();
    assert_eq!(pay.layout.len(), Some(33));
    let amount = pay.layout.field("amount").unwrap();
    assert_eq!(
        (amount.offset, amount.len, &amount.kind),
        (Some(20), Some(7), &FieldKind::UInt)
    );
    let no = pay.layout.field("header.no").unwrap();
    assert_eq!((no.offset, no.depth), (Some(6), 1));
    assert!(pay.layout.field("account").unwrap().mask);
    assert!(pay.layout.field("name").unwrap().optional);
    assert_eq!(f.response_to(&["0200", "1"]).unwrap().name, "PayResponse");
    assert_eq!(f.key_fields()[1].path, "header.biz");
    assert!(f.key_fields()[1].right_aligned);
}

#[test]
fn identify_matches_padded_keys() {
    let f = demo();
    let b = pay_bytes();
    assert_eq!(f.identify(&b).unwrap().name, "PayRequest");
    let mut other = b.clone();
    other[..4].copy_from_slice(b"0210");
    assert_eq!(f.identify(&other).unwrap().name, "PayResponse");
    other[4..6].copy_from_slice(b"02");
    let e = f.identify(&other).unwrap_err();
    assert_eq!(e.path(), "header.kind");
    assert!(e.to_string().contains("0210/02"), "{e}");
}

#[test]
fn syntax_errors_point_at_the_line() {
    let e = broken("width = 4", "width = four");
    assert_eq!(e.line(), Some(line_of(DEMO, "width = 4")));
    let e = broken("mask = true", "masked = true");
    assert!(matches!(e, SpecError::Syntax { .. }), "{e}");
    assert_eq!(e.line(), Some(line_of(DEMO, "name = \"account\"")));
    assert!(e.to_string().contains("masked"), "{e}");
}

#[test]
fn invalid_fields_name_struct_message_field_and_line() {
    // Offset transcription mistake.
    let e = broken("len = 7,  offset = 20", "len = 7,  offset = 21");
    let s = e.to_string();
    assert_eq!(e.line(), Some(line_of(DEMO, "name = \"amount\"")), "{s}");
    assert!(s.contains("struct `Pay`"), "{s}");
    assert!(s.contains("0200/1 PayRequest"), "{s}");
    assert!(s.contains("field `amount`"), "{s}");
    assert!(
        s.contains("declared offset = 21, computed offset = 20"),
        "{s}"
    );

    // A header field names the structs that contain the header.
    let e = broken("len = 4, offset = 6 }", "len = 4, offset = 7 }");
    assert!(
        e.to_string()
            .contains("struct `Head` (used in `Pay`) field `no`: declared offset = 7"),
        "{e}"
    );

    // Struct length.
    let e = broken("len = 33", "len = 34");
    assert_eq!(e.line(), Some(line_of(DEMO, "len = 33")));
    assert!(e.to_string().contains("add up to 33 bytes"), "{e}");

    // Unknown type, missing len, unknown charset, bad sign.
    for (from, to, want) in [
        (
            "type = \"N\",  len = 7",
            "type = \"Q\",  len = 7",
            "unknown `type = \"Q\"`",
        ),
        ("type = \"N\",  len = 7,", "type = \"N\",", "needs `len`"),
        ("mask = true", "charset = \"latin1\"", "unknown charset"),
        (
            "len = 7,  offset = 20",
            "len = 7, offset = 20, sign = \"left\"",
            "`sign = \"left\"`",
        ),
        (
            "optional = true",
            "optional = true, text = true",
            "`text = true` applies to N",
        ),
    ] {
        let e = broken(from, to);
        let s = e.to_string();
        assert!(s.contains(want), "{to}: {s}");
        assert!(e.line().is_some(), "{s}");
        assert!(e.context().is_some_and(|c| c.contains("field `")), "{s}");
    }
}

#[test]
fn invalid_references_are_reported() {
    let e = broken(
        "struct = \"Head\", offset = 0",
        "struct = \"Hed\", offset = 0",
    );
    assert!(e.to_string().contains("struct `Hed` is not defined"), "{e}");
    assert_eq!(e.line(), Some(line_of(DEMO, "name = \"header\"")));

    let e = broken("keys = [\"kind\", \"biz\"]", "keys = [\"kind\", \"bizz\"]");
    assert!(e.to_string().contains("`bizz`"), "{e}");
    assert_eq!(e.line(), Some(line_of(DEMO, "keys = [")));

    let e = broken("key = [\"0210\", \"1\"]", "key = [\"0200\", \"1\"]");
    assert!(e.to_string().contains("same key"), "{e}");

    let e = broken("key = [\"0210\", \"1\"]", "key = [\"0210\", \"X\"]");
    assert!(
        e.to_string()
            .contains("does not fit key field `header.biz`"),
        "{e}"
    );

    let e = broken(
        "response = [\"0210\", \"1\"]",
        "response = [\"0310\", \"1\"]",
    );
    assert!(e.to_string().contains("0310/1 is not a message"), "{e}");

    let e = broken(
        "{ name = \"header\",  struct = \"Head\", offset = 0 },",
        "{ name = \"type\", type = \"AN\", len = 10 },",
    );
    assert!(e.to_string().contains("Rust keyword"), "{e}");
}

#[test]
fn group_and_rest_rules() {
    let base = r#"[family]
name = "g"
[[structs]]
name = "T"
fields = [
  { name = "n", type = "N", len = 1 },
  GROUP
  { name = "tail", type = "AN", rest = true },
]
"#;
    let load = |group: &str| Family::from_toml_str(&base.replace("GROUP", group));
    let f = load("{ name = \"items\", type = \"AN\", len = 2, count = \"n\", max = 3 },")
        .unwrap_or_else(|e| panic!("{e}"));
    let l = &f.struct_spec("T").unwrap().layout;
    let r = l.decode_record(b"2abcdTAIL ").unwrap();
    let Some(Value::Group(items)) = r.get("items") else {
        panic!("no group")
    };
    assert_eq!(items[1].get("items"), Some(&Value::Text("cd".into())));
    assert_eq!(r.get("tail"), Some(&Value::Text("TAIL ".into())));
    for (group, want) in [
        (
            "{ name = \"items\", type = \"AN\", len = 2, count = \"m\", max = 3 },",
            "no earlier field named `m`",
        ),
        (
            "{ name = \"items\", type = \"AN\", len = 2, count = \"n\" },",
            "needs `max",
        ),
        (
            "{ name = \"items\", type = \"AN\", len = 2, count = \"tail\", max = 3 },",
            "no earlier field",
        ),
        (
            "{ name = \"x\", type = \"AN\", rest = true },",
            "must be the last field",
        ),
        (
            "{ name = \"x\", type = \"AN\", len = 2, offset = 5 },",
            "computed offset = 1",
        ),
    ] {
        let e = load(group)
            .err()
            .unwrap_or_else(|| panic!("{group} loaded"));
        assert!(e.to_string().contains(want), "{group}: {e}");
        assert_eq!(e.line(), Some(7), "{e}");
    }
    // `offset` after a group cannot be checked.
    let e = load("{ name = \"items\", type = \"AN\", len = 2, count = \"n\", max = 3 }, { name = \"z\", type = \"AN\", len = 1, offset = 1 },")
        .err()
        .unwrap_or_else(|| panic!("loaded"));
    assert!(
        e.to_string().contains("after a variable-length field"),
        "{e}"
    );
}

#[test]
fn load_names_the_file() {
    let e = Family::load("/nonexistent/spec.toml").unwrap_err();
    assert!(matches!(e, SpecError::Io { .. }));
    assert!(e.to_string().contains("/nonexistent/spec.toml"), "{e}");
}

#[test]
fn framing_strips_and_frames() {
    let f = demo();
    let t = pay_bytes();
    let framed = f.framing().frame(&t).unwrap();
    assert_eq!(&framed[..4], b"0033");
    assert_eq!(f.framing().strip(&framed), Some(t.as_slice()));
    assert_eq!(f.framing().strip(&t), None);
    let binary = Framing {
        length: LengthPrefix::Binary {
            width: 2,
            includes_self: true,
        },
        prefix: b"TR".to_vec(),
        max: None,
    };
    let framed = binary.frame(b"abc").unwrap();
    assert_eq!(framed, b"TR\x00\x05abc");
    assert_eq!(binary.strip(&framed), Some(&b"abc"[..]));
    assert_eq!(binary.overhead(), 4);
}

#[test]
fn decode_tool_renders_table_json_and_masks() {
    let f = demo();
    let mut framed = b"0033".to_vec();
    framed.extend(pay_bytes());
    let table = decode(&f, &framed, &DecodeOptions::default()).unwrap();
    assert!(
        table.contains("0200/1 PayRequest (33 bytes + 4-byte length prefix)"),
        "{table}"
    );
    assert!(table.contains("110*****67"), "{table}");
    assert!(!table.contains("1101234567"), "{table}");
    let amount_row = table.lines().find(|l| l.contains("amount")).unwrap();
    assert!(
        amount_row.starts_with("    20    7  amount"),
        "{amount_row}"
    );
    assert!(amount_row.ends_with("50000"), "{amount_row}");
    assert!(table.contains("\"홍길동\""), "{table}");

    let json = decode(
        &f,
        &framed,
        &DecodeOptions {
            format: OutputFormat::Json,
            ..Default::default()
        },
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["type"], "0200/1");
    assert_eq!(v["header"]["kind"], "0200");
    assert_eq!(v["header"]["no"], 42);
    assert_eq!(v["body"]["amount"], 50000);
    assert_eq!(v["body"]["account"], "110*****67");
    assert_eq!(v["body"]["name"], "홍길동");
    // Field order is wire order.
    assert!(json.find("\"account\"") < json.find("\"amount\""), "{json}");

    let hex: String = pay_bytes().iter().map(|b| format!("{b:02x} ")).collect();
    let clear = decode(
        &f,
        hex.as_bytes(),
        &DecodeOptions {
            hex: true,
            format: OutputFormat::Json,
            unmask: true,
        },
    )
    .unwrap();
    assert!(clear.contains("\"1101234567\""), "{clear}");
}

#[test]
fn decode_tool_errors_carry_offset_and_excerpt() {
    let f = demo();
    let mut b = pay_bytes();
    b[23] = b'X';
    let e = decode(&f, &b, &DecodeOptions::default()).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    let ToolError::BadTelegram { error, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!((error.path(), error.offset()), ("amount", 23));
    let s = e.to_string();
    assert!(s.contains("0200/1 PayRequest"), "{s}");
    assert!(s.contains("offset 23"), "{s}");
    assert!(s.contains("^^ offset 23"), "{s}");
    assert!(s.contains("30 30 35 58"), "{s}");

    let mut framed = b"0033".to_vec();
    framed.extend(&b);
    let s = decode(&f, &framed, &DecodeOptions::default())
        .unwrap_err()
        .to_string();
    assert!(s.contains("(input offset 27)"), "{s}");

    let e = decode(
        &f,
        b"zz",
        &DecodeOptions {
            hex: true,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, ToolError::BadHex { at: 0, .. }), "{e}");
    let e = decode(
        &f,
        b"abc",
        &DecodeOptions {
            hex: true,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("odd number"), "{e}");
    let e = decode(&f, b"99990", &DecodeOptions::default()).unwrap_err();
    assert!(e.to_string().contains("wrong length"), "{e}");
}

#[test]
fn codegen_and_doc_describe_the_family() {
    let f = demo();
    let code = codegen(&f);
    assert!(
        code.contains("#[telegram(charset = \"euc-kr\", len = 33)]"),
        "{code}"
    );
    assert!(
        code.contains("#[telegram(len = 10, offset = 10, mask, label = \"계좌번호\")]\n    pub account: String,"),
        "{code}"
    );
    assert!(code.contains("pub name: Option<String>,"), "{code}");
    assert!(
        code.contains("#[telegram(header = Head, key(kind, biz))]"),
        "{code}"
    );
    assert!(code.contains("pub enum DemoMessage {"), "{code}");
    assert!(
        code.contains("#[telegram(key(\"0200\", \"1\"))]\n    PayRequest(Pay),"),
        "{code}"
    );

    let doc = spec_doc(&f);
    assert!(doc.starts_with("# 데모 — 전문설계서 (`demo`)"), "{doc}");
    assert!(
        doc.contains("| # | Field | 한글명 | Type | Len | Offset | Notes |"),
        "{doc}"
    );
    assert!(
        doc.contains("| 2 | `account` | 계좌번호 | AN | 10 | 10 | masked |"),
        "{doc}"
    );
    assert!(
        doc.contains("| 3 | `amount` | 금액 | N | 7 | 20 |  |"),
        "{doc}"
    );
    assert!(
        doc.contains("## 0200/1 지급 요구, 0210/1 PayResponse — `Pay` (33 bytes)"),
        "{doc}"
    );
    assert!(
        doc.contains("4-byte ASCII decimal length, excluding itself"),
        "{doc}"
    );
}

#[test]
fn absurd_sizes_are_refused_not_overflowed() {
    let spec = |fields: &str| {
        format!(
            "[family]\nname = \"x\"\n[[structs]]\nname = \"E\"\nfields = [{{ name = \"a\", type = \"AN\", len = 1000 }}]\n[[structs]]\nname = \"T\"\nfields = [\n{fields}\n]\n"
        )
    };
    for (fields, want) in [
        ("{ name = \"a\", type = \"AN\", len = 9223372036854775807 }", "larger than"),
        ("{ name = \"a\", type = \"AN\", len = 16000000 }, { name = \"b\", type = \"AN\", len = 16000000 }", "exceed"),
        ("{ name = \"a\", struct = \"E\", repeat = 9223372036854775807 }", "exceed"),
        ("{ name = \"a\", type = \"N\", len = 1, repeat = 200000 }", "more than"),
        ("{ name = \"n\", type = \"N\", len = 18 }, { name = \"g\", struct = \"E\", count = \"n\", max = 9223372036854775807 }", "`max ="),
        ("{ name = \"a\", type = \"AN\", len = -1 }", "invalid"),
    ] {
        let e = Family::from_toml_str(&spec(fields))
            .err()
            .unwrap_or_else(|| panic!("{fields} loaded"));
        assert!(e.to_string().contains(want), "{fields}: {e}");
        assert_eq!(e.line(), Some(9), "{e}");
    }
}

#[test]
fn heartbeat_matches_numeric_and_text_fields() {
    let text = r#"[family]
name = "hb"
charset = "ascii"
[[structs]]
name = "Beat"
len = 9
fields = [
  { name = "code", type = "N",  len = 4, offset = 0 },
  { name = "kind", type = "AN", len = 1, offset = 4 },
  { name = "seq",  type = "N",  len = 4, offset = 5, text = true },
]
[heartbeat]
struct = "Beat"
request = { code = "800", kind = "Q" }
response = { code = "810", kind = "R" }
echo = ["seq"]
"#;
    let f = Family::from_toml_str(text).unwrap_or_else(|e| panic!("{e}"));
    let hb = f.heartbeat().unwrap();
    assert!(hb.is_request(b"0800Q0042"));
    assert!(!hb.is_request(b"0801Q0042"));
    assert!(!hb.is_response(b"0800Q0042"));
    assert_eq!(hb.respond(b"0800Q0042").unwrap(), b"0810R0042");
    assert!(matches!(
        hb.respond(b"08x0Q0042"),
        Err(RecordError::Decode(_))
    ));
    let e =
        Family::from_toml_str(&text.replace("echo = [\"seq\"]", "echo = [\"sq\"]")).unwrap_err();
    assert!(
        e.to_string()
            .contains("field `sq` is not a scalar field of struct `Beat`"),
        "{e}"
    );
}

#[test]
fn json_nests_arrays_groups_and_structs() {
    let text = r#"[family]
name = "nest"
charset = "ascii"
[[structs]]
name = "P"
fields = [{ name = "a", type = "AN", len = 1 }, { name = "b", type = "N", len = 1 }]
[[structs]]
name = "T"
fields = [
  { name = "inner", struct = "P" },
  { name = "pairs", struct = "P", repeat = 2 },
  { name = "codes", type = "N", len = 1, repeat = 3, mask = true },
  { name = "n", type = "N", len = 1 },
  { name = "items", struct = "P", count = "n", max = 3 },
  { name = "tail", type = "B", rest = true },
]
[[messages]]
key = []
name = "T"
struct = "T"
"#;
    let f = Family::from_toml_str(text).unwrap_or_else(|e| panic!("{e}"));
    let bytes = b"x1a2b31232c4d5\x00\xff";
    let json = decode(
        &f,
        bytes,
        &DecodeOptions {
            format: OutputFormat::Json,
            unmask: true,
            ..Default::default()
        },
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["body"],
        serde_json::json!({
            "inner": {"a": "x", "b": 1},
            "pairs": [{"a": "a", "b": 2}, {"a": "b", "b": 3}],
            "codes": [1, 2, 3],
            "n": 2,
            "items": [{"a": "c", "b": 4}, {"a": "d", "b": 5}],
            "tail": "00ff",
        })
    );
    let masked = decode(
        &f,
        bytes,
        &DecodeOptions {
            format: OutputFormat::Json,
            ..Default::default()
        },
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&masked).unwrap();
    assert_eq!(v["body"]["codes"], serde_json::json!(["*", "*", "*"]));
    // A trailing newline that is data (a raw `rest` field) is kept.
    let d = decode_input(&f, b"x1a2b31232c4d5\x00\n", false).unwrap();
    assert_eq!(d.record.get("tail"), Some(&Value::Raw(vec![0, b'\n'])));
    // A trailing newline that is not data (text/key fields) is dropped.
    let d = decode_input(&demo(), &[pay_bytes(), b"\r\n".to_vec()].concat(), false).unwrap();
    assert_eq!(d.telegram, pay_bytes());
    let table = decode(
        &f,
        bytes,
        &DecodeOptions {
            unmask: true,
            ..Default::default()
        },
    )
    .unwrap();
    for row in [
        "     5    1  pairs[1].b",
        "     9    1  n ",
        "    10    -  items",
        "    10    1  items[0].a",
        "    14    2  tail",
    ] {
        assert!(table.contains(row), "{row}\n{table}");
    }
}

#[test]
fn defaults_are_listed_by_flattened_path_and_checked_at_load() {
    let with = |from: &str, to: &str| DEMO.replace(from, to);
    let text = with(
        r#"{ name = "no",   label = "전문번호", type = "N",  len = 4, offset = 6 },"#,
        r#"{ name = "no",   label = "전문번호", type = "N",  len = 4, offset = 6, default = "7" },"#,
    )
    .replace(
        r#"type = "AN", len = 6,  offset = 27, optional = true },"#,
        r#"type = "AN", len = 6,  offset = 27, default = "" },"#,
    );
    let family = Family::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let pay = family.message("0200/1").expect("0200/1");
    assert_eq!(
        family.defaults(pay),
        vec![
            ("header.no".to_owned(), "7".to_owned()),
            ("name".to_owned(), String::new())
        ]
    );
    // A default the field cannot hold does not load.
    let e = broken(
        "len = 7,  offset = 20 }",
        r#"len = 7,  offset = 20, default = "12345678" }"#,
    );
    assert!(e.to_string().contains("does not fit"), "{e}");
    let e = broken(
        "len = 7,  offset = 20 }",
        r#"len = 7,  offset = 20, default = "x" }"#,
    );
    assert!(e.to_string().contains("expected digits"), "{e}");
    // Only scalars take a default.
    let e = broken(
        r#"{ name = "header",  struct = "Head", offset = 0 },"#,
        r#"{ name = "header",  struct = "Head", offset = 0, default = "" },"#,
    );
    assert!(e.to_string().contains("`default` applies to scalar"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// What real telegrams need: a LENGTH inside the header, header flavours, `when`, tolerances,
// and load errors for values that only look valid.

/// A family whose 12-byte header starts with LENGTH (the whole telegram), in two flavours,
/// where one key names two layouts told apart by `dir`.
const REAL: &str = r#"[family]
name = "real"
charset = "ascii"

[framing]
length = "field"
field = "header.length"

[tolerance]
numbers = true
filler = true

[dispatch]
header = ["HeadA", "HeadB"]
keys = ["kind", "code"]

[[structs]]
name = "HeadA"
len = 12
fields = [
  { name = "length", type = "N",  len = 4, offset = 0, auto_len = "telegram" },
  { name = "kind",   type = "N",  len = 4, offset = 4, text = true },
  { name = "code",   type = "AN", len = 2, offset = 8 },
  { name = "dir",    type = "AN", len = 1, offset = 10 },
  { name = "pad",    type = "AN", len = 1, offset = 11 },
]

[[structs]]
name = "HeadB"
len = 12
fields = [
  { name = "length", type = "N",  len = 4, offset = 0, auto_len = "telegram" },
  { name = "kind",   type = "N",  len = 4, offset = 4, text = true },
  { name = "code",   type = "AN", len = 2, offset = 8 },
  { name = "dir",    type = "AN", len = 1, offset = 10 },
  { name = "bank",   type = "AN", len = 1, offset = 11 },
]

[[structs]]
name = "In"
len = 20
fields = [
  { name = "header", struct = "HeadA", offset = 0 },
  { name = "amount", type = "N",  len = 5, offset = 12 },
  { name = "filler", type = "AN", len = 3, offset = 17 },
]

[[structs]]
name = "Out"
len = 20
fields = [
  { name = "header", struct = "HeadB", offset = 0 },
  { name = "count",  type = "N",  len = 2, offset = 12 },
  { name = "filler", type = "AN", len = 6, offset = 14 },
]

[[messages]]
key = ["0200", "DP"]
when = { dir = "6" }
name = "Deposit"
struct = "In"

[[messages]]
key = ["0200", "DP"]
when = { dir = "5" }
name = "Payment"
struct = "Out"

[date]
field = "header.kind"
format = "hhmm"
"#;

fn real() -> Family {
    Family::from_toml_str(REAL).unwrap_or_else(|e| panic!("{e}"))
}

fn broken_real(from: &str, to: &str) -> SpecError {
    assert!(REAL.contains(from), "{from}");
    match Family::from_toml_str(&REAL.replacen(from, to, 1)) {
        Ok(_) => panic!("{to:?} loaded"),
        Err(e) => e,
    }
}

#[test]
fn one_key_two_layouts_by_a_header_field_in_two_header_flavours() {
    let f = real();
    assert_eq!(f.header_structs(), ["HeadA", "HeadB"]);
    let deposit = b"00200200DP6 00042   ";
    let payment = b"00200200DP5B07      ";
    let (spec, r) = f.decode(deposit).unwrap();
    assert_eq!(spec.name, "Deposit");
    assert_eq!(r.get("amount"), Some(&Value::UInt(42)));
    let (spec, r) = f.decode(payment).unwrap();
    assert_eq!(spec.name, "Payment");
    assert_eq!(r.get("header.bank"), Some(&Value::Text("B".into())));
    assert_eq!(r.get("count"), Some(&Value::UInt(7)));
    // By name, the message's `when` value is written whatever the record says.
    let mut r = r;
    r.set("header.dir", Value::Text("6".into()));
    assert_eq!(f.encode("Payment", &r).unwrap(), payment);
    let e = f.identify(b"00200200DP9 00042   ").unwrap_err();
    assert!(e.to_string().contains("0200/DP/9"), "{e}");
    let code = codegen(&f);
    assert!(
        code.contains(r#"#[telegram(key("0200", "DP"), when(dir = "5"))]"#),
        "{code}"
    );
    assert!(
        code.contains("#[telegram(header = HeadA, key(kind, code))]"),
        "{code}"
    );
    assert!(code.contains(r#"auto_len = "telegram""#), "{code}");
    assert!(code.contains("filler"), "{code}");
    let doc = spec_doc(&f);
    assert!(doc.contains("0200/DP when `header.dir` = 5"), "{doc}");
}

#[test]
fn the_length_field_counts_the_telegram_and_frames_it_in_place() {
    let f = real();
    assert_eq!(
        f.framing().length,
        LengthPrefix::Field {
            offset: 0,
            width: 4,
            includes_self: true
        }
    );
    let deposit = b"00200200DP6 00042   ";
    assert_eq!(f.framing().strip(deposit), Some(&deposit[..]));
    assert_eq!(f.framing().frame(deposit).unwrap(), deposit);
    // A wrong LENGTH is reported at the header's field; a short telegram at its end.
    let e = f.decode(b"00990200DP6 00042   ").map(|_| ()).unwrap_err();
    assert_eq!((e.path(), e.offset()), ("header.length", 0));
    let e = f.decode(b"00200200DP6 000").map(|_| ()).unwrap_err();
    assert_eq!(e.offset(), 15);
    // Encoding fills it with the telegram's length.
    let (spec, mut r) = f.decode(deposit).unwrap();
    r.set("header.length", Value::UInt(1));
    assert_eq!(spec.layout.encode_record(&r).unwrap(), deposit);
}

#[test]
fn tolerances_accept_spaces_and_short_or_long_fillers_and_encode_canonically() {
    let f = real();
    let canonical = b"00200200DP6 00042   ".to_vec();
    // Spaces for leading zeros.
    let (spec, r) = f.decode(b"00200200DP6    42   ").unwrap();
    assert_eq!(r.get("amount"), Some(&Value::UInt(42)));
    assert_eq!(spec.layout.encode_record(&r).unwrap(), canonical);
    // A filler one byte short, then two bytes long (LENGTH follows the frame).
    let (_, r) = f.decode(b"00190200DP6 00042  ").unwrap();
    assert_eq!(spec.layout.encode_record(&r).unwrap(), canonical);
    let (_, r) = f.decode(b"00220200DP6 00042     ").unwrap();
    assert_eq!(spec.layout.encode_record(&r).unwrap(), canonical);
    let e = f.decode(b"00220200DP6 00042    X").map(|_| ()).unwrap_err();
    assert_eq!(e.offset(), 21);
    // Off by default: the demo family refuses a space in an N field.
    let mut b = pay_bytes();
    b[20] = b' ';
    assert!(demo().decode(&b).is_err());
}

#[test]
fn nested_total_counts_the_nested_struct_like_the_derive() {
    let text = r#"[family]
name = "nested"
charset = "ascii"
[[structs]]
name = "Head"
fields = [
  { name = "len",  type = "N",  len = 2, auto_len = "total" },
  { name = "rest", type = "N",  len = 2, auto_len = "rest" },
  { name = "x",    type = "AN", len = 3 },
]
[[structs]]
name = "Msg"
fields = [
  { name = "head", struct = "Head" },
  { name = "body", type = "AN", len = 5 },
]
[[messages]]
key = []
name = "M"
struct = "Msg"
"#;
    let f = Family::from_toml_str(text).unwrap_or_else(|e| panic!("{e}"));
    let m = &f.messages()[0];
    // Head is 7 bytes, 3 of them after `rest`: the telegram's 12 bytes are not what they count.
    let r = m.layout.decode_record(b"0703abchello").unwrap();
    assert_eq!(m.layout.encode_record(&r).unwrap(), b"0703abchello");
    let e = m.layout.decode_record(b"1203abchello").unwrap_err();
    assert_eq!((e.path(), e.offset()), ("head.len", 0));
}

#[test]
fn values_that_only_look_valid_are_load_errors_with_file_line_and_column() {
    let cases = [
        (
            "format = \"hhmm\"",
            "format = \"garbage\"",
            "not a date/time pattern",
        ),
        (
            "format = \"hhmm\"",
            "format = \"YYYYMMDD\"",
            "has 8 characters but field `header.kind` is 4 bytes",
        ),
        (
            "charset = \"ascii\"",
            "charset = \"latin1\"",
            "unknown charset",
        ),
        (
            "len = 5, offset = 12",
            "len = 39, offset = 12",
            "at most 38 digits",
        ),
        (
            "len = 3, offset = 17",
            "len = 3, offset = 17, tolerant = true",
            "`tolerant` applies to N fields",
        ),
        (
            "{ name = \"dir\",    type = \"AN\", len = 1, offset = 10 }",
            "{ name = \"dir\",    type = \"AN\", len = 1, offset = 10, filler = true }",
            "must be the last field",
        ),
        (
            "field = \"header.length\"",
            "field = \"header.kind\"",
            "unsigned N field",
        ),
        (
            "length = \"field\"",
            "length = \"ascii\"",
            "`field` goes with `length = \"field\"`",
        ),
        (
            "when = { dir = \"5\" }",
            "when = { dir = \"6\" }",
            "same key and `when`",
        ),
        (
            "when = { dir = \"5\" }",
            "when = { nope = \"5\" }",
            "`when` field `nope`",
        ),
        (
            "when = { dir = \"5\" }",
            "when = { code = \"DP\" }",
            "names the key field `code`",
        ),
        (
            "{ name = \"kind\",   type = \"N\",  len = 4, offset = 4, text = true }",
            "{ name = \"kind\",   type = \"AN\", len = 4, offset = 4 }",
            "key fields are not at the same offsets",
        ),
    ];
    let dir = std::env::temp_dir().join(format!("fep-spec-errors-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    for (i, (from, to, want)) in cases.iter().enumerate() {
        let e = broken_real(from, to);
        assert!(e.to_string().contains(want), "{to}: {e}");
        // Through a file: file:line:col in front.
        let path = dir.join(format!("case{i}.toml"));
        std::fs::write(&path, REAL.replacen(from, to, 1)).unwrap();
        let e = Family::load(&path).unwrap_err();
        let s = e.to_string();
        let prefix = format!("{}:", path.display());
        assert!(s.starts_with(&prefix), "{s}");
        let mut rest = s[prefix.len()..].split(':');
        let line: usize = rest.next().and_then(|l| l.parse().ok()).unwrap_or(0);
        let col: usize = rest.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        assert!(line > 0 && col > 0, "{s}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    // The pattern error points at the pattern itself.
    let e = broken_real("format = \"hhmm\"", "format = \"garbage\"");
    assert_eq!(e.line(), Some(line_of(REAL, "format = \"hhmm\"")));
}

#[test]
fn a_wide_n_field_is_a_string_whatever_its_value_and_a_narrow_one_a_number() {
    let text = r#"[family]
name = "wide"
charset = "ascii"
[[structs]]
name = "W"
fields = [
  { name = "big",   type = "N", len = 28 },
  { name = "small", type = "N", len = 18 },
  { name = "neg",   type = "N", len = 19, sign = "leading" },
]
[[messages]]
key = []
name = "W"
struct = "W"
"#;
    let f = Family::from_toml_str(text).unwrap_or_else(|e| panic!("{e}"));
    let options = DecodeOptions {
        format: OutputFormat::Json,
        ..Default::default()
    };
    for (big, small, neg) in [
        (
            "0000000000000000000000000001",
            "000000000000000001",
            "-000000000000000001",
        ),
        (
            "9999999999999999999999999999",
            "999999999999999999",
            "+999999999999999999",
        ),
    ] {
        let bytes = format!("{big}{small}{neg}");
        let out = decode(&f, bytes.as_bytes(), &options).unwrap();
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(json["body"]["big"].is_string(), "{out}");
        assert!(json["body"]["small"].is_u64(), "{out}");
        assert!(json["body"]["neg"].is_i64(), "{out}");
        assert_eq!(
            json_type(f.messages()[0].layout.field("big").unwrap(), false),
            JsonType::String
        );
    }
}
