//! The TOML twin of the Hecto family (`specs/hecto.toml`) describes exactly the layouts of the
//! derive structs in `fep_specs::hecto`, and the dynamic codec built from it produces the same
//! bytes as the derive. Also: the TOML schema's general features (groups, arrays, rest,
//! signed, per-field charsets, numeric text, optional) against derive structs written here.

use fep_codec::spec::{CodeOutcome, Family, LengthPrefix};
use fep_codec::{FieldKind, Layout, Telegram, TelegramFamily, Value};
use fep_specs::hecto::*;
use proptest::prelude::*;

#[path = "common/twin.rs"]
mod twin;
use twin::{assert_same_layout, assert_structs};

fn hecto() -> Family {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/hecto.toml");
    Family::load(path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_struct_layout_equals_the_derive() {
    let f = hecto();
    let pairs: [(&str, &Layout); 10] = [
        ("HectoHeader", HectoHeader::layout()),
        ("AdminMessage", AdminMessage::layout()),
        ("Transfer", Transfer::layout()),
        ("Collection", Collection::layout()),
        ("TransferFailNotice", TransferFailNotice::layout()),
        ("DepositNotice", DepositNotice::layout()),
        ("AccountNameInquiry", AccountNameInquiry::layout()),
        ("TransferResultInquiry", TransferResultInquiry::layout()),
        ("BalanceInquiry", BalanceInquiry::layout()),
        ("Poll", Poll::layout()),
    ];
    assert_structs(&f, &pairs);
}

#[test]
fn every_message_key_and_layout_equals_the_dispatch_enum() {
    let f = hecto();
    let derive_keys = HectoMessage::keys();
    let toml_keys: Vec<Vec<&str>> = f
        .messages()
        .iter()
        .map(|m| m.key.iter().map(String::as_str).collect())
        .collect();
    let derive_keys: Vec<Vec<&str>> = derive_keys.iter().map(|k| k.to_vec()).collect();
    assert_eq!(toml_keys, derive_keys, "same keys in the same order");
    for m in f.messages() {
        let key: Vec<&str> = m.key.iter().map(String::as_str).collect();
        let derive = HectoMessage::layout_for_key(&key)
            .unwrap_or_else(|| panic!("derive has no {}", m.key_str()));
        assert_same_layout(derive, &m.layout);
        // Header fields nested under "header." exactly like the derive's `header` field.
        assert_eq!(
            m.layout.field("header.msg_no").and_then(|x| x.offset),
            Some(32)
        );
    }
    let key_names: Vec<&str> = f
        .key_fields()
        .iter()
        .map(|k| k.path.trim_start_matches("header."))
        .collect();
    assert_eq!(key_names, HectoMessage::KEY_FIELDS);
    assert_eq!(f.header_layout(), Some(HectoHeader::layout()));
    assert_eq!(f.enum_name(), Some("HectoMessage"));
}

#[test]
fn metadata_matches_the_page() {
    let f = hecto();
    assert_eq!(
        f.framing().length,
        LengthPrefix::Ascii {
            width: 4,
            includes_self: false
        }
    );
    assert_eq!(f.correlation(), ["header.send_date", "header.msg_no"]);
    let seq = f.sequence().expect("sequence");
    assert_eq!(
        (seq.field.as_str(), seq.min, seq.max),
        ("header.msg_no", 1, 950_000)
    );
    assert_eq!(seq.reset.as_deref(), Some("daily"));
    assert_eq!(f.date().map(|d| d.field.as_str()), Some("header.send_date"));
    let rc = f.response_code().expect("response codes");
    assert_eq!(rc.field, "header.resp_code");
    assert_eq!(rc.outcome("0000"), CodeOutcome::Success);
    assert_eq!(rc.outcome(RESP_SESSION_TIMEOUT), CodeOutcome::Unknown);
    // 입금처리중: still being processed, asked again (the page's "처리결과조회요망").
    assert_eq!(rc.outcome("U726"), CodeOutcome::InProgress);
    assert_eq!(rc.outcome(RESP_LIMIT_PER_DAY), CodeOutcome::Declined);
    assert_eq!(rc.meaning("SB03"), Some("1일 이체한도초과"));

    for req in [["2000", "100"], ["2000", "200"]] {
        let inq = f.inquiry_for(&req).expect("inquiry");
        assert_eq!(inq.key, ["7000", "100"]);
        assert_eq!(inq.key_field, "orig_msg_no");
        assert!(inq
            .copy
            .contains(&("orig_msg_no".into(), "header.msg_no".into())));
        assert_eq!(inq.result_field.as_deref(), Some("result"));
    }
    assert!(f.inquiry_for(&["6000", "100"]).is_none());

    let notices: Vec<String> = f.notices().iter().map(|n| n.key.join("/")).collect();
    assert_eq!(notices, ["3000/100", "4000/100"]);
    let n = f.notice(&["4000", "100"]).expect("4000/100 notice");
    assert_eq!(n.ack, ["4100", "100"]);
    assert!(n.copy_all);
    assert_eq!(n.set, [("header.resp_code".into(), "0000".into())]);
    assert!(f.notice(&["2000", "100"]).is_none());

    // Request → response mapping agrees with the derive crate's rule (+100).
    for m in f.messages() {
        if let Some(resp) = &m.response {
            assert_eq!(
                response_msg_type(&m.key[0]).as_deref(),
                Some(resp[0].as_str())
            );
            assert_eq!(resp[1], m.key[1]);
        }
    }
    assert_eq!(
        f.response_to(&["2000", "100"]).map(|m| m.name.as_str()),
        Some("TransferResponse")
    );
}

#[test]
fn heartbeat_matches_the_derive_poll() {
    let f = hecto();
    let hb = f.heartbeat().expect("heartbeat");
    assert_eq!(&hb.layout, Poll::layout());
    assert_eq!(hb.interval_secs, Some(POLL_INTERVAL_SECS));
    let req = Poll::request("1123093015").encode().unwrap();
    assert!(hb.is_request(&req) && !hb.is_response(&req));
    let resp = hb.respond(&req).unwrap();
    assert_eq!(resp, b"HDRRESPOLL1123093015");
    assert_eq!(
        Poll::decode(&resp).unwrap(),
        Poll::response_to(&Poll::request("1123093015"))
    );
    assert_eq!(
        f.framing().frame(&req).unwrap(),
        b"0020HDRREQPOLL1123093015"
    );
}

#[test]
fn identify_reads_the_key_like_the_derive() {
    let f = hecto();
    let mut t = Transfer {
        header: HectoHeader {
            msg_type: "2000".into(),
            biz_type: "100".into(),
            msg_no: 17,
            send_date: "20261123".into(),
            ..Default::default()
        },
        amount: 50_000,
        ..Default::default()
    };
    let bytes = t.encode().unwrap();
    let spec = f.identify(&bytes).unwrap();
    assert_eq!(spec.name, "TransferRequest");
    assert_eq!(
        HectoMessage::decode(&bytes).unwrap().key(),
        spec.key.as_slice()
    );
    t.header.msg_type = "9999".into();
    let bytes = t.encode().unwrap();
    let dyn_err = f.identify(&bytes).unwrap_err();
    let derive_err = HectoMessage::decode(&bytes).unwrap_err();
    assert_eq!(dyn_err.kind(), derive_err.kind());
    assert_eq!(dyn_err.offset(), derive_err.offset());
    assert_eq!(dyn_err.path(), "header.msg_type");
    let short = f.identify(&bytes[..20]).unwrap_err();
    assert_eq!(short.offset(), 20);
}

#[test]
fn dynamic_errors_equal_derive_errors() {
    let f = hecto();
    let spec = f.message("2000/100").unwrap();
    let t = Transfer {
        header: HectoHeader {
            msg_type: "2000".into(),
            biz_type: "100".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let good = t.encode().unwrap();
    // A bad digit in 출금금액, a blank required N field, bad EUC-KR, and a short frame.
    let mut cases = Vec::new();
    let mut b = good.clone();
    b[135] = b'X';
    cases.push(b);
    let mut b = good.clone();
    b[129..142].fill(b' ');
    cases.push(b);
    let mut b = good.clone();
    b[200] = 0xB0;
    b[201] = 0x20;
    cases.push(b);
    cases.push(good[..250].to_vec());
    let mut b = good.clone();
    b.push(b' ');
    cases.push(b);
    for bytes in cases {
        let derive = Transfer::decode(&bytes).unwrap_err();
        let dynamic = spec.layout.decode_record(&bytes).unwrap_err();
        assert_eq!(derive.kind(), dynamic.kind(), "{derive} vs {dynamic}");
        assert_eq!(derive.offset(), dynamic.offset(), "{derive} vs {dynamic}");
        assert_eq!(
            derive.path().rsplit('.').next(),
            dynamic.path().rsplit('.').next()
        );
    }
    // Encode: the same too-long error.
    let mut r = spec.layout.decode_record(&good).unwrap();
    r.set("memo", Value::Text("가나다라마바사아".into()));
    let dynamic = spec.layout.encode_record(&r).unwrap_err();
    let derive = Transfer {
        memo: "가나다라마바사아".into(),
        ..t.clone()
    }
    .encode()
    .unwrap_err();
    assert_eq!(derive.kind(), dynamic.kind());
    assert_eq!(derive.offset(), dynamic.offset());
    assert_eq!(derive.path(), dynamic.path());
}

// ---------------------------------------------------------------------------------------------
// Property: for random valid telegrams of every Hecto type, derive and dynamic agree byte for
// byte.

/// A valid KS X 1001 Hangul syllable (rows 0xB0..=0xC8 are all assigned).
fn hangul() -> impl Strategy<Value = Vec<u8>> {
    (0xB0u8..=0xC8, 0xA1u8..=0xFE).prop_map(|(a, b)| vec![a, b])
}

fn text_bytes(len: usize, korean: bool) -> BoxedStrategy<Vec<u8>> {
    let ascii = (0x20u8..=0x7E).prop_map(|b| vec![b]);
    let unit: BoxedStrategy<Vec<u8>> = if korean {
        prop_oneof![3 => ascii, 1 => hangul()].boxed()
    } else {
        ascii.boxed()
    };
    proptest::collection::vec(unit, 0..=len)
        .prop_map(move |units| {
            let mut out = Vec::with_capacity(len);
            for u in units {
                if out.len() + u.len() <= len {
                    out.extend(u);
                }
            }
            out.resize(len, b' ');
            out
        })
        .boxed()
}

fn digit_bytes(len: usize) -> BoxedStrategy<Vec<u8>> {
    proptest::collection::vec(b'0'..=b'9', len).boxed()
}

fn field_bytes(f: &fep_codec::FieldLayout) -> BoxedStrategy<Vec<u8>> {
    let len = f.len.unwrap_or(0);
    let value = match f.kind {
        FieldKind::Text => text_bytes(len, f.charset != Some(fep_codec::Charset::Ascii)),
        _ => digit_bytes(len),
    };
    if f.optional {
        prop_oneof![1 => Just(vec![b' '; len]), 3 => value].boxed()
    } else {
        value
    }
}

/// Random valid bytes for a fixed layout, with the key fields set to `key`.
fn telegram(f: &Family, key: Vec<String>) -> BoxedStrategy<Vec<u8>> {
    let m = f.message_by_key(&key).expect("message").clone();
    let keys = f.key_fields().to_vec();
    let parts: Vec<_> = m.layout.fields().iter().map(field_bytes).collect();
    parts
        .prop_map(move |parts| {
            let mut bytes = parts.concat();
            for (k, v) in keys.iter().zip(&m.key) {
                let slot = &mut bytes[k.offset..k.offset + k.len];
                slot.fill(b' ');
                slot[..v.len()].copy_from_slice(v.as_bytes());
            }
            bytes
        })
        .boxed()
}

fn any_telegram() -> BoxedStrategy<Vec<u8>> {
    let f = hecto();
    let all: Vec<_> = f
        .messages()
        .iter()
        .map(|m| telegram(&f, m.key.clone()))
        .collect();
    proptest::strategy::Union::new(all).boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn derive_and_dynamic_encode_identically(bytes in any_telegram()) {
        let f = hecto();
        // A random valid value of the derive type …
        let value = HectoMessage::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let derive_bytes = value.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
        // … whose dynamic decode re-encodes to the derive's bytes.
        let (spec, record) = f.decode(&derive_bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(spec.key.as_slice(), value.key());
        let dynamic_bytes = spec.layout.encode_record(&record).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&dynamic_bytes, &derive_bytes);
        // Dynamic decode of the raw input re-encodes identically too, and the derive reads
        // the dynamic bytes back as the same value.
        let raw_record = spec.layout.decode_record(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&raw_record, &record);
        prop_assert_eq!(HectoMessage::decode(&dynamic_bytes).ok(), Some(value));
        // Encoding by key writes the key fields itself.
        prop_assert_eq!(f.encode(&spec.key_str(), &record).ok(), Some(derive_bytes));
    }
}

// ---------------------------------------------------------------------------------------------
// The schema's general features, each against a derive struct written here.

mod general {
    use super::*;

    #[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
    #[telegram(charset = "cp949", len = 12)]
    pub struct Head {
        #[telegram(len = 2, offset = 0)]
        pub len: u16,
        #[telegram(len = 4, offset = 2, label = "거래코드")]
        pub code: String,
        #[telegram(len = 6, offset = 6, numeric, label = "일련번호")]
        pub seq: String,
    }

    #[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
    #[telegram(charset = "euc-kr")]
    pub struct Item {
        #[telegram(len = 3, numeric)]
        pub bank: String,
        #[telegram(len = 10, sign = "trailing")]
        pub amount: i64,
    }

    #[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
    #[telegram(charset = "euc-kr")]
    pub struct Pair {
        #[telegram(len = 2, charset = "ascii")]
        pub a: String,
        #[telegram(len = 1)]
        pub b: u8,
    }

    #[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
    #[telegram(charset = "euc-kr")]
    pub struct Batch {
        pub head: Head,
        #[telegram(len = 12, offset = 12, mask, label = "계좌")]
        pub account: String,
        #[telegram(len = 8, offset = 24, charset = "cp949", label = "이름")]
        pub name: String,
        #[telegram(len = 8, offset = 32, fullwidth, truncate)]
        pub memo: String,
        #[telegram(len = 7, offset = 40, sign = "leading", blank = "zero")]
        pub delta: i32,
        #[telegram(len = 5, offset = 47)]
        pub fee: Option<u32>,
        #[telegram(len = 4, offset = 52)]
        pub raw: Vec<u8>,
        #[telegram(offset = 56)]
        pub pairs: [Pair; 2],
        #[telegram(len = 2, offset = 62)]
        pub codes: [u16; 3],
        #[telegram(len = 2, offset = 68, label = "건수")]
        pub n: u8,
        #[telegram(count = n, max = 5, label = "내역")]
        pub items: Vec<Item>,
        #[telegram(len = 1)]
        pub n_tags: u8,
        #[telegram(len = 3, count = n_tags, max = 4)]
        pub tags: Vec<String>,
        #[telegram(rest)]
        pub filler: String,
    }

    pub const BATCH_TOML: &str = r#"
[family]
name = "batch"
charset = "euc-kr"

[[structs]]
name = "Head"
charset = "cp949"
len = 12
fields = [
  { name = "len",  type = "N",  len = 2, offset = 0 },
  { name = "code", type = "AN", len = 4, offset = 2, label = "거래코드" },
  { name = "seq",  type = "N",  len = 6, offset = 6, text = true, label = "일련번호" },
]

[[structs]]
name = "Item"
fields = [
  { name = "bank",   type = "N", len = 3, text = true },
  { name = "amount", type = "N", len = 10, sign = "trailing" },
]

[[structs]]
name = "Pair"
fields = [
  { name = "a", type = "AN", len = 2, charset = "ascii" },
  { name = "b", type = "N", len = 1 },
]

[[structs]]
name = "Batch"
fields = [
  { name = "head",    struct = "Head" },
  { name = "account", type = "AN", len = 12, offset = 12, mask = true, label = "계좌" },
  { name = "name",    type = "AN", len = 8,  offset = 24, charset = "cp949", label = "이름" },
  { name = "memo",    type = "AN", len = 8,  offset = 32, fullwidth = true, truncate = true },
  { name = "delta",   type = "SN", len = 7,  offset = 40, sign = "leading", blank = "zero" },
  { name = "fee",     type = "N",  len = 5,  offset = 47, optional = true },
  { name = "raw",     type = "B",  len = 4,  offset = 52 },
  { name = "pairs",   struct = "Pair", repeat = 2, offset = 56 },
  { name = "codes",   type = "N", len = 2, repeat = 3, offset = 62 },
  { name = "n",       type = "N", len = 2, offset = 68, label = "건수" },
  { name = "items",   struct = "Item", count = "n", max = 5, label = "내역" },
  { name = "n_tags",  type = "N", len = 1 },
  { name = "tags",    type = "AN", len = 3, count = "n_tags", max = 4 },
  { name = "filler",  type = "AN", rest = true },
]

[[structs]]
name = "Sized"
fields = [
  { name = "total", type = "N", len = 4, auto_len = "total" },
  { name = "after", type = "N", len = 3, auto_len = "rest", lenient = true },
  { name = "body",  type = "AN", rest = true },
]

[[messages]]
key = []
name = "Batch"
struct = "Batch"
"#;

    #[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
    pub struct Sized {
        #[telegram(len = 4, auto_len = "total")]
        pub total: u32,
        #[telegram(len = 3, auto_len = "rest", lenient)]
        pub after: u32,
        #[telegram(rest)]
        pub body: String,
    }

    fn sample() -> Batch {
        Batch {
            head: Head {
                len: 0,
                code: "똠A".into(),
                seq: "000042".into(),
            },
            account: "110123456789".into(),
            name: "똠방각하".into(),
            memo: "AB 1".into(),
            delta: -123,
            fee: None,
            raw: vec![0x01, 0xFF, b'x', b' '],
            pairs: [
                Pair {
                    a: "ab".into(),
                    b: 1,
                },
                Pair {
                    a: "c".into(),
                    b: 9,
                },
            ],
            codes: [1, 22, 99],
            n: 2,
            items: vec![
                Item {
                    bank: "004".into(),
                    amount: -5,
                },
                Item {
                    bank: "088".into(),
                    amount: 1_000,
                },
            ],
            n_tags: 1,
            tags: vec!["가A".into()],
            filler: "  tail 가 ".into(),
        }
    }

    #[test]
    fn general_layout_equals_the_derive() {
        let f = Family::from_toml_str(BATCH_TOML).unwrap_or_else(|e| panic!("{e}"));
        for (name, derive) in [
            ("Head", Head::layout()),
            ("Item", Item::layout()),
            ("Pair", Pair::layout()),
            ("Batch", Batch::layout()),
            ("Sized", Sized::layout()),
        ] {
            assert_same_layout(derive, &f.struct_spec(name).unwrap().layout);
        }
    }

    #[test]
    fn general_dynamic_codec_equals_the_derive() {
        let f = Family::from_toml_str(BATCH_TOML).unwrap_or_else(|e| panic!("{e}"));
        let layout = &f.struct_spec("Batch").unwrap().layout;
        let value = sample();
        let bytes = value.encode().unwrap();
        // No dispatch keys and one message: identify picks it.
        assert_eq!(f.identify(&bytes).unwrap().name, "Batch");
        let record = layout.decode_record(&bytes).unwrap();
        assert_eq!(record.get("delta"), Some(&Value::Int(-123)));
        assert_eq!(record.get("fee"), Some(&Value::Null));
        assert_eq!(record.get("name"), Some(&Value::Text("똠방각하".into())));
        assert_eq!(record.get("pairs[1].b"), Some(&Value::UInt(9)));
        assert_eq!(record.get("codes[2]"), Some(&Value::UInt(99)));
        assert_eq!(record.get("head.seq"), Some(&Value::Text("000042".into())));
        assert_eq!(
            record.get("filler"),
            Some(&Value::Text("  tail 가 ".into()))
        );
        let Some(Value::Group(items)) = record.get("items") else {
            panic!("items")
        };
        assert_eq!(items[0].get("amount"), Some(&Value::Int(-5)));
        assert_eq!(layout.encode_record(&record).unwrap(), bytes);
        assert_eq!(
            Batch::decode(&layout.encode_record(&record).unwrap()).unwrap(),
            value
        );
        // A count over max: the same kind. (The derive points at the count field `n` @68,
        // fep-codec's dynamic codec at the group `items` @70 — a known difference of
        // `Layout::decode_record`, reported to its owner.)
        let mut bad = bytes.clone();
        bad[68..70].copy_from_slice(b"09");
        let d = Batch::decode(&bad).unwrap_err();
        let y = layout.decode_record(&bad).unwrap_err();
        assert_eq!(d.kind(), y.kind());
        assert!(matches!(
            y.kind(),
            fep_codec::DecodeErrorKind::CountOverMax { count: 9, max: 5 }
        ));
        // A bad trailing sign byte inside a group element.
        let mut bad = bytes.clone();
        bad[70 + 12] = b'*';
        let d = Batch::decode(&bad).unwrap_err();
        let y = layout.decode_record(&bad).unwrap_err();
        assert_eq!(
            (d.kind(), d.offset(), d.path()),
            (y.kind(), y.offset(), y.path())
        );
        assert_eq!(y.path(), "items[0].amount");
    }

    #[test]
    fn general_auto_len_equals_the_derive() {
        let f = Family::from_toml_str(BATCH_TOML).unwrap_or_else(|e| panic!("{e}"));
        let layout = &f.struct_spec("Sized").unwrap().layout;
        let v = Sized {
            total: 0,
            after: 0,
            body: "가나 ab".into(),
        };
        let bytes = v.encode().unwrap();
        assert_eq!(&bytes[..7], b"0014007");
        let mut r = fep_codec::Record::new();
        r.set("body", Value::Text("가나 ab".into()));
        assert_eq!(layout.encode_record(&r).unwrap(), bytes);
        let mut bad = bytes.clone();
        bad[3] = b'9';
        let d = Sized::decode(&bad).unwrap_err();
        let y = layout.decode_record(&bad).unwrap_err();
        assert_eq!(
            (d.kind(), d.offset(), d.path()),
            (y.kind(), y.offset(), y.path())
        );
        // `lenient`: a wrong `after` is accepted by both.
        let mut lenient = bytes.clone();
        lenient[6] = b'1';
        assert!(Sized::decode(&lenient).is_ok());
        assert!(layout.decode_record(&lenient).is_ok());
    }
}

// ---------------------------------------------------------------------------------------------
// `fep decode` on Hecto telegrams.

mod decode_tool {
    use super::*;
    use fep_codec::spec::{decode, DecodeOptions, OutputFormat, ToolError};

    fn transfer() -> Vec<u8> {
        Transfer {
            header: HectoHeader {
                id_code: "SETTLEBNK".into(),
                company_no: "CORP0001".into(),
                bank_code: "004".into(),
                msg_type: "2100".into(),
                biz_type: "100".into(),
                send_count: 1,
                msg_no: 17,
                send_date: "20261123".into(),
                send_time: "093015".into(),
                resp_code: "0000".into(),
                ..Default::default()
            },
            wd_account: "110123456789".into(),
            wd_password: "1234".into(),
            amount: 50_000,
            bal_sign: "+".into(),
            balance: Some(1_000_000),
            dep_bank: "088".into(),
            dep_account: "5678901234".into(),
            fee: None,
            memo: "급여".into(),
            dep_holder: "홍길동".into(),
            ..Default::default()
        }
        .encode()
        .unwrap()
    }

    fn json(bytes: &[u8], unmask: bool) -> String {
        let f = hecto();
        decode(
            &f,
            bytes,
            &DecodeOptions {
                format: OutputFormat::Json,
                unmask,
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `"key": value` at the given nesting (2 spaces for top level, 4 inside header/body).
    fn has(json: &str, indent: usize, key: &str, value: &str) -> bool {
        let line = format!("{}\"{key}\": {value}", " ".repeat(indent));
        json.lines().any(|l| l.trim_end_matches(',') == line)
    }

    #[test]
    fn json_uses_the_page_field_names_numbers_and_masks() {
        let mut framed = b"0300".to_vec();
        framed.extend(transfer());
        for input in [transfer(), framed] {
            let v = json(&input, false);
            assert!(v.starts_with("{\n  \"type\": \"2100/100\",\n  \"name\": \"TransferResponse\",\n  \"header\": {\n"), "{v}");
            for (key, value) in [
                ("msg_no", "17"),
                ("bank_code", "\"004\""),
                ("resp_code", "\"0000\""),
                ("amount", "50000"),
                ("balance", "1000000"),
                ("fee", "null"),
                ("memo", "\"급여\""),
                ("dep_holder", "\"홍길동\""),
                ("wd_account", "\"110*******89\""),
                ("wd_password", "\"****\""),
                ("filler", "\"\""),
            ] {
                assert!(has(&v, 4, key, value), "{key}: {value} in {v}");
            }
            assert!(
                v.contains("\n  },\n  \"body\": {\n    \"wd_account\""),
                "{v}"
            );
            assert!(!v.contains("header."), "{v}");
        }
        let clear = json(&transfer(), true);
        assert!(has(&clear, 4, "wd_account", "\"110123456789\""), "{clear}");
        assert!(has(&clear, 4, "wd_password", "\"1234\""), "{clear}");
    }

    #[test]
    fn hex_input_and_poll_frames() {
        let f = hecto();
        let hex: String = transfer()
            .chunks(16)
            .map(|c| {
                c.iter()
                    .map(|b| format!("{b:02X}"))
                    .collect::<Vec<_>>()
                    .join(" ")
                    + "\n"
            })
            .collect();
        let table = decode(
            &f,
            hex.as_bytes(),
            &DecodeOptions {
                hex: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(
            table.starts_with("2100/100 TransferResponse (300 bytes)"),
            "{table}"
        );
        let row = table.lines().find(|l| l.contains(" amount ")).unwrap();
        assert!(row.trim_start().starts_with("129   13  amount"), "{row}");
        assert!(row.contains("출금금액") && row.ends_with("50000"), "{row}");

        let poll = decode(&f, b"0020HDRREQPOLL1123093015\n", &DecodeOptions::default()).unwrap();
        assert!(
            poll.starts_with("heartbeat Poll (20 bytes + 4-byte length prefix)"),
            "{poll}"
        );
        assert!(poll.contains("\"1123093015\""), "{poll}");
    }

    #[test]
    fn bad_telegrams_exit_2_with_offset_and_excerpt() {
        let f = hecto();
        let mut bytes = transfer();
        bytes[24..28].copy_from_slice(b"5000");
        let e = decode(&f, &bytes, &DecodeOptions::default()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let s = e.to_string();
        assert!(s.contains("unknown message key \"5000/100\""), "{s}");
        assert!(s.contains("^^ offset 24"), "{s}");

        let mut bytes = transfer();
        bytes[150] = b'-';
        let e = decode(&f, &bytes, &DecodeOptions::default()).unwrap_err();
        let ToolError::BadTelegram { error, what, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(what, "2100/100 TransferResponse");
        assert_eq!((error.path(), error.offset()), ("balance", 150));
        assert!(e.to_string().contains("  000144  "), "{e}");
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400), hex in any::<bool>()) {
            let f = hecto();
            let options = DecodeOptions { hex, ..Default::default() };
            if let Err(e) = decode(&f, &bytes, &options) {
                prop_assert_eq!(e.exit_code(), 2);
                prop_assert!(!e.to_string().is_empty());
            }
        }

        #[test]
        fn decode_of_mutated_telegrams_never_panics(at in 0usize..300, byte in any::<u8>(), json in any::<bool>()) {
            let f = hecto();
            let mut bytes = transfer();
            bytes[at] = byte;
            let format = if json { OutputFormat::Json } else { OutputFormat::Table };
            match decode(&f, &bytes, &DecodeOptions { format, ..Default::default() }) {
                Ok(out) => prop_assert!(!out.is_empty()),
                Err(ToolError::BadTelegram { error, .. }) => prop_assert!(error.offset() <= 300),
                Err(e) => return Err(TestCaseError::fail(e.to_string())),
            }
        }
    }
}

#[test]
fn spec_doc_reproduces_the_page_tables() {
    let doc = fep_codec::spec::spec_doc(&hecto());
    // Rows as on the page (A.1, A.3, A.8), with notes.
    for row in [
        "| 7 | `msg_no` | 전문번호 | N | 6 | 32 | 일별 신규 채번, MAX 950,000 |",
        "| 5 | `amount` | 출금금액 | N | 13 | 129 | 이체금액 |",
        "| 2 | `wd_account` | 출금계좌번호 | AN | 15 | 100 | 모계좌번호; masked |",
        "| 11 | `result` | 처리결과 | AN | 4 | 193 | 'NREC' / '0000' / 은행별 코드 |",
    ] {
        assert!(doc.contains(row), "missing {row}");
    }
    assert!(doc.contains(
        "## 2000/100 당/타행이체 요구, 2100/100 당/타행이체 응답 — `Transfer` (300 bytes)"
    ));
    assert!(doc.contains(
        "| `VTIM` | 세션타임아웃 — 이체거래시 7000/100으로 확인필수 | unknown → result inquiry |"
    ));
    assert!(doc.contains("**Result inquiry** 7000/100 resolves 2000/100, 2000/200"));
    assert!(doc.contains("**Unsolicited notice** 4000/100: acknowledge with 4100/100"));
}

#[test]
fn notice_ack_and_result_inquiry_are_built_from_records() {
    let f = hecto();
    let header = HectoHeader {
        id_code: "SETTLEBNK".into(),
        company_no: "CORP0001".into(),
        bank_code: "004".into(),
        msg_type: "4000".into(),
        biz_type: "100".into(),
        send_count: 1,
        msg_no: 321,
        send_date: "20261123".into(),
        send_time: "101500".into(),
        resp_code: String::new(),
        reserved1: "RID00001A".into(),
        reserved2: "X".into(),
        reserved3: "keep me".into(),
    };
    let notice = DepositNotice {
        header: header.clone(),
        account: "110123456789".into(),
        io_cancel_type: "11".into(),
        tx_kind: "03".into(),
        amount: 70_000,
        counterparty_name: "김철수".into(),
        tx_date: "20261123".into(),
        tx_time: "101455".into(),
        tx_seq: 9,
        ..Default::default()
    };
    let bytes = notice.encode().unwrap();
    let (spec, record) = f.decode(&bytes).unwrap();
    let rule = f.notice(&spec.key).expect("4000/100 is a notice");
    let ack = f
        .encode(&rule.ack.join("/"), &rule.ack_record(&record))
        .unwrap();
    // The 4100/100 ack is the notice echoed (예비영역 included) with 4100 and 0000.
    let want = DepositNotice {
        header: HectoHeader {
            msg_type: "4100".into(),
            resp_code: "0000".into(),
            ..header.clone()
        },
        ..notice.clone()
    };
    assert_eq!(DepositNotice::decode(&ack).unwrap(), want);
    assert_eq!(
        HectoMessage::decode(&ack).unwrap(),
        HectoMessage::DepositNoticeResponse(want)
    );
    assert_eq!(
        f.correlation_key(&record),
        Some(vec!["20261123".to_owned(), "321".to_owned()])
    );
    let (_, ack_record) = f.decode(&ack).unwrap();
    assert_eq!(f.correlation_key(&ack_record), f.correlation_key(&record));
    assert_eq!(f.outcome(&ack_record), Some(CodeOutcome::Success));

    // A transfer whose answer was VTIM: the 7000/100 inquiry names it by 원거래전문번호.
    let transfer = Transfer {
        header: HectoHeader {
            msg_type: "2000".into(),
            msg_no: 4242,
            resp_code: "VTIM".into(),
            ..header
        },
        wd_account: "110123456789".into(),
        amount: 50_000,
        dep_bank: "088".into(),
        dep_account: "5678901234".into(),
        ..Default::default()
    };
    let (spec, record) = f.decode(&transfer.encode().unwrap()).unwrap();
    assert_eq!(f.outcome(&record), Some(CodeOutcome::Unknown));
    let inquiry = f.inquiry_for(&spec.key).expect("inquiry");
    let mut q = inquiry.inquiry_record(&record);
    q.set("header.msg_no", Value::UInt(4243));
    q.set("header.send_date", Value::Text("20261123".into()));
    let bytes = f.encode(&inquiry.key.join("/"), &q).unwrap();
    let HectoMessage::TransferResultInquiryRequest(t) = HectoMessage::decode(&bytes).unwrap()
    else {
        panic!("not a 7000/100")
    };
    assert_eq!(t.orig_msg_no, 4242);
    assert_eq!(t.header.msg_no, 4243);
    assert_eq!(t.wd_account, "110123456789");
    assert_eq!(t.dep_bank.as_deref(), Some("088"));
    assert_eq!(t.dep_account, "5678901234");
    assert_eq!(t.req_amount, Some(50_000));
}
