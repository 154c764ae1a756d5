//! The TOML twin of the KIBNET family (`specs/kibnet.toml`) describes exactly the layouts of
//! the derive structs in `fep_specs::kibnet` — header flavours, `auto_len = "telegram"`,
//! tolerances included — its messages are the dispatch enum's variants (keys and `when`
//! conditions, in order), and the dynamic codec built from it produces the same bytes as the
//! derive for random valid telegrams of every message.

#[path = "common/twin.rs"]
mod twin;
#[path = "common/kibnet_vectors.rs"]
mod vectors;

use fep_codec::spec::{CodeOutcome, Family};
use fep_codec::{AutoLen, FieldKind, Layout, Telegram, TelegramFamily};
use fep_specs::kibnet::*;
use proptest::prelude::*;
use twin::{assert_same_layout, assert_structs};

fn kibnet() -> Family {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/kibnet.toml");
    Family::load(path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_struct_layout_equals_the_derive() {
    let f = kibnet();
    let pairs: [(&str, &Layout); 14] = [
        ("KibVaHeader", KibVaHeader::layout()),
        ("KibAffHeader", KibAffHeader::layout()),
        ("KibAccounts", KibAccounts::layout()),
        ("KibCheck", KibCheck::layout()),
        ("KibCash", KibCash::layout()),
        ("KibInquiryPart", KibInquiryPart::layout()),
        ("VaDeposit", VaDeposit::layout()),
        ("Payment", Payment::layout()),
        ("VaNameInquiry", VaNameInquiry::layout()),
        ("NameInquiry", NameInquiry::layout()),
        ("DepositFail", DepositFail::layout()),
        ("Statement", Statement::layout()),
        ("ResultInquiry", ResultInquiry::layout()),
        ("Admin", Admin::layout()),
    ];
    assert_structs(&f, &pairs);
}

#[test]
fn every_message_is_a_variant_with_the_same_key_condition_and_layout() {
    let f = kibnet();
    assert_eq!(f.messages().len(), KibnetMessage::keys().len());
    for (i, m) in f.messages().iter().enumerate() {
        let key: Vec<&str> = m.key.iter().map(String::as_str).collect();
        assert_eq!(KibnetMessage::keys()[i], key.as_slice(), "{}", m.name);
        let when: Vec<(&str, &str)> = m
            .when
            .iter()
            .map(|(k, v)| (k.path.trim_start_matches("header."), v.as_str()))
            .collect();
        assert_eq!(
            KibnetMessage::conditions()[i],
            when.as_slice(),
            "{}",
            m.name
        );
        let derive = KibnetMessage::variant_layout(i).expect("variant layout");
        assert_same_layout(derive, &m.layout);
    }
    let key_names: Vec<&str> = f
        .key_fields()
        .iter()
        .map(|k| k.path.trim_start_matches("header."))
        .collect();
    assert_eq!(key_names, KibnetMessage::KEY_FIELDS);
    assert_eq!(f.header_structs(), ["KibVaHeader", "KibAffHeader"]);
    assert_eq!(f.enum_name(), Some("KibnetMessage"));
}

#[test]
fn the_twins_share_the_length_field_and_the_tolerances() {
    for layout in [VaDeposit::layout(), Payment::layout(), Admin::layout()] {
        let len = layout.field("header.length").expect("header.length");
        assert_eq!((len.offset, len.len), (Some(0), Some(4)));
        assert_eq!(len.auto_len, Some(AutoLen::Telegram));
        let last = layout.fields().last().expect("fields");
        assert!(
            last.filler,
            "{}: the last FILLER is tolerant",
            layout.name()
        );
        assert!(layout
            .fields()
            .iter()
            .filter(|f| matches!(f.kind, FieldKind::UInt | FieldKind::NumericText))
            .all(|f| f.tolerant));
    }
    // The header's own FILLER does not end a telegram: not a tolerant filler.
    assert!(!KibVaHeader::layout()
        .field("filler")
        .is_some_and(|f| f.filler));
}

#[test]
fn metadata_matches_the_page() {
    let f = kibnet();
    assert_eq!(f.correlation(), ["header.tx_date", "header.tx_seq"]);
    let seq = f.sequence().expect("sequence");
    assert_eq!((seq.field.as_str(), seq.max), ("header.tx_seq", 9_999_999));
    let date = f.date().expect("date");
    assert_eq!(date.format.as_deref(), Some("YYYYMMDD"));
    let rc = f.response_code().expect("response codes");
    assert_eq!(rc.outcome(RESP_OK), CodeOutcome::Success);
    assert_eq!(rc.outcome("999"), CodeOutcome::Declined);
    let n = f.notice(&["0200", "1700"]).expect("입금불능 notice");
    assert_eq!(n.ack, ["0210", "1700"]);
    // Request → response is +10 with the same 거래구분코드, as the derive crate says.
    for m in f.messages() {
        if let Some(resp) = &m.response {
            assert_eq!(
                response_msg_type(&m.key[0]).as_deref(),
                Some(resp[0].as_str())
            );
            assert_eq!(resp[1], m.key[1]);
        }
    }
}

#[test]
fn identify_and_encode_tell_the_shared_key_apart_like_the_derive() {
    let f = kibnet();
    for (bytes, name) in [
        (vectors::va_deposit_request(), "VaDepositRequest"),
        (vectors::payment_request(), "PaymentRequest"),
        (vectors::payment_response(), "PaymentResponse"),
        (vectors::open_response_500(), "OpenResponse"),
    ] {
        let spec = f.identify(&bytes).unwrap();
        assert_eq!(spec.name, name);
        let derive = KibnetMessage::decode(&bytes).unwrap();
        assert_eq!(derive.key(), spec.key.as_slice());
        // Encoding by name writes the key and the FLAG: the derive's bytes.
        let record = spec.layout.decode_record(&bytes).unwrap();
        assert_eq!(f.encode(name, &record).unwrap(), derive.encode().unwrap());
    }
}

// ---------------------------------------------------------------------------------------------
// Property: random valid telegrams of every KIBNET message, derive and dynamic byte for byte.

fn field_bytes(f: &fep_codec::FieldLayout) -> BoxedStrategy<Vec<u8>> {
    let len = f.len.unwrap_or(0);
    let value = match f.kind {
        FieldKind::Text => proptest::collection::vec(0x20u8..=0x7E, len).boxed(),
        _ => proptest::collection::vec(b'0'..=b'9', len).boxed(),
    };
    if f.optional {
        prop_oneof![1 => Just(vec![b' '; len]), 3 => value].boxed()
    } else {
        value
    }
}

/// Random valid bytes for message `index`, with its key, `when` values and LENGTH set.
fn telegram(f: &Family, index: usize) -> BoxedStrategy<Vec<u8>> {
    let m = f.messages()[index].clone();
    let keys = f.key_fields().to_vec();
    let parts: Vec<_> = m.layout.fields().iter().map(field_bytes).collect();
    parts
        .prop_map(move |parts| {
            let mut bytes = parts.concat();
            let selectors = keys
                .iter()
                .zip(&m.key)
                .chain(m.when.iter().map(|(k, v)| (k, v)));
            for (k, v) in selectors {
                bytes[k.offset..k.offset + k.len].copy_from_slice(v.as_bytes());
            }
            let length = format!("{:04}", bytes.len());
            bytes[..4].copy_from_slice(length.as_bytes());
            bytes
        })
        .boxed()
}

fn any_telegram() -> BoxedStrategy<Vec<u8>> {
    let f = kibnet();
    let all: Vec<_> = (0..f.messages().len()).map(|i| telegram(&f, i)).collect();
    proptest::strategy::Union::new(all).boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn derive_and_dynamic_agree_byte_for_byte(bytes in any_telegram()) {
        let f = kibnet();
        let value = KibnetMessage::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let derive_bytes = value.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&derive_bytes, &bytes);
        let (spec, record) = f.decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(spec.key.as_slice(), value.key());
        let dynamic_bytes = spec.layout.encode_record(&record).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&dynamic_bytes, &bytes);
    }
}

/// The session rules as data: EFMS opens the day, the 기관 answers every 0800 with 0810,
/// 종료예고 stops new money-moving requests, and 지급이체 is resolved by 0200/6013.
#[test]
fn the_session_rules_are_read_from_the_toml() {
    use fep_codec::spec::{CommandEffect, Opener};
    let f = Family::from_toml_str(fep_specs::KIBNET_TOML).expect("kibnet.toml");
    let s = f.session();
    assert_eq!(s.opened_by, Opener::Institution);
    assert!(s.sign_on.is_none() && s.sign_off_when.is_empty());
    assert_eq!(s.stamp, [("header.sr_flag".to_owned(), "5".to_owned())]);
    let effect = |code: &str| {
        s.commands
            .iter()
            .find(|c| c.answer.key == ["0800", code])
            .map(|c| (c.effect, c.answer.ack.clone()))
    };
    assert_eq!(
        effect("2100"),
        Some((CommandEffect::Open, vec!["0810".into(), "2100".into()]))
    );
    assert_eq!(effect("2300").map(|e| e.0), Some(CommandEffect::StopNew));
    assert_eq!(effect("2400").map(|e| e.0), Some(CommandEffect::Close));
    assert_eq!(effect("2700").map(|e| e.0), Some(CommandEffect::None));
    assert_eq!(s.money_moving, [vec!["0200".to_owned(), "1100".to_owned()]]);
    let q = f.inquiry_for(&["0200", "1100"]).expect("6013 inquiry");
    assert_eq!(q.key, ["0200", "6013"]);
    // 가상계좌 입금 is a notice only with 송수신 FLAG 6 (EFMS → 기관).
    let deposit = f
        .notices()
        .iter()
        .find(|n| n.key == ["0200", "1100"])
        .expect("입금 notice");
    let keys = f.key_fields();
    let mut t = vec![b' '; 600];
    t[39..43].copy_from_slice(b"0200");
    t[43..47].copy_from_slice(b"1100");
    t[20] = b'6';
    assert!(deposit.matches(keys, &t));
    t[20] = b'5';
    assert!(
        !deposit.matches(keys, &t),
        "our own 지급이체 is not a notice"
    );
}

/// Session rules the engine could not follow are load errors with their position, never
/// rules silently ignored.
#[test]
fn session_rules_the_engine_cannot_follow_are_refused() {
    let cases = [
        (
            fep_specs::KIBNET_TOML.replace("opened_by = \"institution\"", "opened_by = \"bank\""),
            "opened_by = \"bank\"",
        ),
        (
            fep_specs::KIBNET_TOML.replace("effect = \"open\"", "effect = \"none\""),
            "needs a [[session.commands]] with effect = \"open\"",
        ),
        (
            fep_specs::KIBNET_TOML.replace(
                "opened_by = \"institution\"",
                "opened_by = \"institution\"\nsign_on = [\"0800\", \"2100\"]",
            ),
            "needs opened_by = \"gateway\"",
        ),
        (
            fep_specs::HECTO_TOML.replace(
                "sign_on_when = [\"connect\", \"date_change\"]",
                "sign_on_when = [\"date_change\"]",
            ),
            "must include \"connect\"",
        ),
        (
            fep_specs::HECTO_TOML.replace(
                "sign_off_when = [\"shutdown\"]",
                "sign_off_when = [\"connect\"]",
            ),
            "sign_off_when takes \"shutdown\"",
        ),
        (
            fep_specs::KIBNET_TOML.replace("effect = \"stop_new\"", "effect = \"pause\""),
            "effect = \"pause\"",
        ),
    ];
    for (toml, says) in cases {
        let e = Family::from_toml_str(&toml).unwrap_err().to_string();
        assert!(e.contains(says), "{says}: {e}");
        assert!(e.contains(':'), "located: {e}");
    }
}
