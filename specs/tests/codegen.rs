//! `fep_codec::spec::codegen` really compiles: `build.rs` generates Rust from `hecto.toml` and
//! `tests/data/general.toml` into `OUT_DIR`, this file `include!`s it, and every generated
//! type's `layout()` must equal the TOML's layout (and, for Hecto, the hand-written derive's).

use fep_codec::spec::{codegen, Family};
use fep_codec::{Layout, Telegram, TelegramFamily, Value};

#[allow(missing_docs, clippy::all)]
mod hecto_gen {
    include!(concat!(env!("OUT_DIR"), "/hecto_generated.rs"));
}

#[allow(missing_docs, clippy::all)]
mod general_gen {
    include!(concat!(env!("OUT_DIR"), "/general_generated.rs"));
}

fn load(rel: &str) -> Family {
    let path = format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"));
    Family::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn struct_layout<'f>(f: &'f Family, name: &str) -> &'f Layout {
    &f.struct_spec(name)
        .unwrap_or_else(|| panic!("no struct {name}"))
        .layout
}

#[test]
fn generated_hecto_layouts_equal_the_toml_and_the_derive() {
    use fep_specs::hecto as hand;
    use hecto_gen as gen;
    let f = load("hecto.toml");
    let cases: [(&str, &Layout, &Layout); 10] = [
        (
            "HectoHeader",
            gen::HectoHeader::layout(),
            hand::HectoHeader::layout(),
        ),
        (
            "AdminMessage",
            gen::AdminMessage::layout(),
            hand::AdminMessage::layout(),
        ),
        (
            "Transfer",
            gen::Transfer::layout(),
            hand::Transfer::layout(),
        ),
        (
            "Collection",
            gen::Collection::layout(),
            hand::Collection::layout(),
        ),
        (
            "TransferFailNotice",
            gen::TransferFailNotice::layout(),
            hand::TransferFailNotice::layout(),
        ),
        (
            "DepositNotice",
            gen::DepositNotice::layout(),
            hand::DepositNotice::layout(),
        ),
        (
            "AccountNameInquiry",
            gen::AccountNameInquiry::layout(),
            hand::AccountNameInquiry::layout(),
        ),
        (
            "TransferResultInquiry",
            gen::TransferResultInquiry::layout(),
            hand::TransferResultInquiry::layout(),
        ),
        (
            "BalanceInquiry",
            gen::BalanceInquiry::layout(),
            hand::BalanceInquiry::layout(),
        ),
        ("Poll", gen::Poll::layout(), hand::Poll::layout()),
    ];
    for (name, generated, handwritten) in cases {
        assert_eq!(
            generated,
            struct_layout(&f, name),
            "{name}: generated vs TOML"
        );
        assert_eq!(generated, handwritten, "{name}: generated vs hand-written");
    }
    // The generated dispatch enum has the TOML's keys, in order, with the same layouts.
    let keys: Vec<Vec<&str>> = gen::HectoMessage::keys()
        .iter()
        .map(|k| k.to_vec())
        .collect();
    let want: Vec<Vec<&str>> = f
        .messages()
        .iter()
        .map(|m| m.key.iter().map(String::as_str).collect())
        .collect();
    assert_eq!(keys, want);
    for m in f.messages() {
        let key: Vec<&str> = m.key.iter().map(String::as_str).collect();
        assert_eq!(gen::HectoMessage::layout_for_key(&key), Some(&m.layout));
    }
    assert_eq!(gen::HectoMessage::KEY_FIELDS, ["msg_type", "biz_type"]);
}

#[test]
fn generated_hecto_types_read_hand_written_bytes() {
    use fep_specs::hecto as hand;
    let t = hand::Transfer {
        header: hand::HectoHeader {
            id_code: "SETTLEBNK".into(),
            msg_type: "2000".into(),
            biz_type: "100".into(),
            send_count: 1,
            msg_no: 42,
            send_date: "20261123".into(),
            ..Default::default()
        },
        wd_account: "110123456789".into(),
        amount: 1_234_567,
        dep_bank: "088".into(),
        fee: Some(500),
        memo: "급여".into(),
        ..Default::default()
    };
    let bytes = t.encode().unwrap();
    let g = hecto_gen::HectoMessage::decode(&bytes).unwrap();
    let hecto_gen::HectoMessage::TransferRequest(gt) = &g else {
        panic!("wrong variant {g:?}")
    };
    assert_eq!(gt.amount, 1_234_567);
    assert_eq!(gt.fee, Some(500));
    assert_eq!(gt.memo, "급여");
    assert_eq!(gt.header.msg_no, 42);
    assert_eq!(g.encode().unwrap(), bytes);
}

#[test]
fn generated_general_layouts_equal_the_toml() {
    use general_gen as gen;
    let f = load("tests/data/general.toml");
    for (name, generated) in [
        ("GenHeader", gen::GenHeader::layout()),
        ("Line", gen::Line::layout()),
        ("Statement", gen::Statement::layout()),
        ("Ack", gen::Ack::layout()),
    ] {
        assert_eq!(generated, struct_layout(&f, name), "{name}");
    }
    for m in f.messages() {
        let key: Vec<&str> = m.key.iter().map(String::as_str).collect();
        assert_eq!(gen::GenMessage::layout_for_key(&key), Some(&m.layout));
    }
}

#[test]
fn generated_general_types_agree_with_the_dynamic_codec() {
    use general_gen as gen;
    let f = load("tests/data/general.toml");
    let value = gen::Statement {
        header: gen::GenHeader {
            kind: 100,
            code: "ST".into(),
            seq: "00042".into(),
        },
        account: "110123456789".into(),
        memo: "AB 1".into(),
        delta: -123,
        fee: None,
        mac: vec![0x00, 0xFF, 0x10, b'x'],
        rates: [1, 2, 99],
        n: 2,
        lines: vec![
            gen::Line {
                bank: "004".into(),
                amount: -5,
                name: "똠방각하".into(),
            },
            gen::Line {
                bank: "088".into(),
                amount: 1_000,
                name: "홍길동".into(),
            },
        ],
        n_tags: 1,
        tags: vec!["가A".into()],
        filler: " 끝 ".into(),
    };
    let bytes = value.encode().unwrap();
    let (spec, record) = f.decode(&bytes).unwrap();
    assert_eq!(spec.name, "StatementNotice");
    assert_eq!(record.get("header.kind"), Some(&Value::UInt(100)));
    assert_eq!(record.get("delta"), Some(&Value::Int(-123)));
    assert_eq!(record.get("rates[2]"), Some(&Value::UInt(99)));
    assert_eq!(spec.layout.encode_record(&record).unwrap(), bytes);
    let decoded = gen::GenMessage::decode(&bytes).unwrap();
    assert_eq!(decoded, gen::GenMessage::StatementNotice(value));
}

#[test]
fn codegen_output_is_stable_and_lists_every_field_offset() {
    let f = load("hecto.toml");
    let code = codegen(&f);
    assert_eq!(code, codegen(&f), "deterministic");
    // Every fixed-offset field carries `offset =`, so the derive re-checks the TOML's offsets.
    for s in f.structs() {
        for field in &s.fields {
            let o = field.offset.expect("hecto has no variable-length fields");
            let decl = format!("pub {}:", field.name);
            let at = code
                .find(&format!("pub struct {} {{", s.name))
                .and_then(|start| code[start..].find(&decl).map(|i| start + i))
                .unwrap_or_else(|| panic!("{}.{} not generated", s.name, field.name));
            let attr_line = code[..at].lines().last().unwrap_or_default();
            let attr_line = if attr_line.trim().is_empty() {
                code[..at].trim_end().lines().last().unwrap_or_default()
            } else {
                attr_line
            };
            assert!(
                attr_line.contains(&format!("offset = {o}")),
                "{}.{}: {attr_line}",
                s.name,
                field.name
            );
        }
    }
}
