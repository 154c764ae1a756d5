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

#[allow(missing_docs, clippy::all)]
mod kibnet_gen {
    include!(concat!(env!("OUT_DIR"), "/kibnet_generated.rs"));
}

#[allow(missing_docs, clippy::all)]
mod shinhan_gen {
    include!(concat!(env!("OUT_DIR"), "/shinhan_generated.rs"));
}

#[path = "common/kibnet_vectors.rs"]
mod kibnet_vectors;

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

// ---------------------------------------------------------------------------------------------
// KIBNET: a LENGTH field inside the header, header flavours, FLAG-selected layouts — generated
// from kibnet.toml, against the hand-built golden vectors.

#[test]
fn generated_kibnet_layouts_equal_the_toml_and_the_derive() {
    use fep_specs::kibnet as hand;
    let f = load("kibnet.toml");
    assert_eq!(
        kibnet_gen::KibVaHeader::layout(),
        hand::KibVaHeader::layout()
    );
    assert_eq!(
        kibnet_gen::KibAffHeader::layout(),
        hand::KibAffHeader::layout()
    );
    assert_eq!(kibnet_gen::Payment::layout(), hand::Payment::layout());
    assert_eq!(kibnet_gen::Admin::layout(), hand::Admin::layout());
    for (i, m) in f.messages().iter().enumerate() {
        assert_eq!(
            kibnet_gen::KibnetMessage::variant_layout(i),
            Some(&m.layout),
            "{}",
            m.name
        );
        assert_eq!(
            kibnet_gen::KibnetMessage::conditions()[i],
            hand::KibnetMessage::conditions()[i]
        );
    }
}

#[test]
fn generated_kibnet_code_decodes_and_re_encodes_real_telegrams_byte_for_byte() {
    use kibnet_gen::KibnetMessage;
    for (bytes, name) in [
        (kibnet_vectors::va_deposit_request(), "VaDepositRequest"),
        (kibnet_vectors::payment_request(), "PaymentRequest"),
        (kibnet_vectors::payment_response(), "PaymentResponse"),
    ] {
        let m = KibnetMessage::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(format!("{m:?}").starts_with(name), "{name}: {m:?}");
        assert_eq!(m.encode().unwrap(), bytes, "{name}");
    }
    let m = KibnetMessage::decode(&kibnet_vectors::payment_request()).unwrap();
    let KibnetMessage::PaymentRequest(p) = &m else {
        panic!("{m:?}")
    };
    assert_eq!(p.header.length, 600);
    assert_eq!(p.header.sr_flag, "5");
    assert_eq!(p.accounts.amount, 1_000_000);
    // The LENGTH inside the nested header is checked against the whole telegram.
    let mut wrong = kibnet_vectors::payment_request();
    wrong[..4].copy_from_slice(b"0300");
    let e = KibnetMessage::decode(&wrong).unwrap_err();
    assert_eq!((e.path(), e.offset()), ("header.length", 0));
    // Tolerances: the space-padded check kind and the 500-byte 개시 응답.
    let real = kibnet_vectors::va_deposit_with_check_kind(b" 0");
    let m = KibnetMessage::decode(&real).unwrap();
    assert_eq!(m.encode().unwrap(), kibnet_vectors::va_deposit_request());
    let short = kibnet_vectors::open_response_500();
    let m = KibnetMessage::decode(&short).unwrap();
    let canonical = m.encode().unwrap();
    assert_eq!((canonical.len(), &canonical[..4]), (600, &b"0600"[..]));
}

// ---------------------------------------------------------------------------------------------
// 신한 (made-up layout of the real shape): a 200-byte 공통부 starting with LENGTH, three keys.

/// 가상계좌 입금통지 0200/400/01, by hand from tests/data/shinhan.toml's table.
fn shinhan_deposit(kind: &[u8; 2]) -> Vec<u8> {
    let mut t = kibnet_vectors::Tg::new();
    t.at(0, 4, b"0300") // 전문길이 (the whole telegram)
        .at(4, 9, b"SHVACCT") // TR코드
        .at(13, 8, b"HICAP001") // 업체코드
        .at(21, 3, b"088") // 은행코드
        .at(24, 4, b"0200") // 전문구분코드
        .at(28, 3, b"400") // 업무구분코드
        .at(31, 2, kind) // 거래구분
        .at(33, 1, b"S") // 송수신구분
        .at(34, 6, b"000042") // 전문번호
        .at(40, 8, b"20261123") // 전송일자
        .at(48, 6, b"101500") // 전송시간
        .at(54, 4, b"") // 응답코드
        .at(58, 142, b"") // 예비
        .at(200, 16, b"56201234567890") // 가상계좌번호
        .at(216, 13, b"0000000077000") // 입금금액
        .at(229, 20, &kibnet_vectors::HONG_GILDONG) // 입금인성명
        .at(249, 3, b"004") // 입금은행
        .at(252, 8, b"20261123") // 거래일자
        .at(260, 6, b"") // 수수료 (blank)
        .at(266, 34, b""); // 예비
    assert_eq!(t.0.len(), 300);
    t.0
}

#[test]
fn generated_shinhan_code_decodes_and_re_encodes_byte_for_byte() {
    use shinhan_gen::{ShDeposit, ShinhanMessage};
    let f = load("tests/data/shinhan.toml");
    assert_eq!(
        ShinhanMessage::KEY_FIELDS,
        ["msg_type", "biz_type", "tx_kind"]
    );
    for (kind, name) in [(b"01", "DepositNotice"), (b"02", "CancelNotice")] {
        let bytes = shinhan_deposit(kind);
        let m = ShinhanMessage::decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert!(format!("{m:?}").starts_with(name), "{m:?}");
        assert_eq!(m.encode().unwrap(), bytes);
        let (spec, record) = f.decode(&bytes).unwrap();
        assert_eq!(spec.name, name);
        assert_eq!(record.get("header.length"), Some(&Value::UInt(300)));
        assert_eq!(spec.layout.encode_record(&record).unwrap(), bytes);
    }
    let d = ShDeposit::decode(&shinhan_deposit(b"01")).unwrap();
    assert_eq!((d.header.length, d.amount, d.fee), (300, 77_000, None));
    assert_eq!(d.depositor, "홍길동");
    assert_eq!(f.framing().field_length(&shinhan_deposit(b"01")), Some(300));
    // An unknown third key is reported with all three values.
    let e = ShinhanMessage::decode(&shinhan_deposit(b"09")).unwrap_err();
    assert!(e.to_string().contains("0200/400/09"), "{e}");
}
