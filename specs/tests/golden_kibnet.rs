//! KIBNET golden vectors (built by hand from the tables, `common/kibnet_vectors.rs`) through
//! the derive structs of `fep_specs::kibnet` and the dynamic codec of `specs/kibnet.toml`:
//! decode to the expected values, re-encode byte for byte; the real deviations (N fields
//! padded with spaces, a 500-byte 0810/2100) decode tolerantly and re-encode canonically.

#[path = "common/kibnet_vectors.rs"]
mod vectors;

use fep_codec::spec::{decode, DecodeOptions, Family, LengthPrefix, OutputFormat};
use fep_codec::{DecodeErrorKind, Telegram, Value};
use fep_specs::kibnet::*;
use vectors::*;

fn kibnet() -> Family {
    Family::from_toml_str(fep_specs::KIBNET_TOML).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn va_deposit_decodes_to_the_table_values_and_re_encodes_identically() {
    let bytes = va_deposit_request();
    let v = VaDeposit::decode(&bytes).unwrap();
    assert_eq!(v.header.length, 600);
    assert_eq!(v.header.sr_flag, FLAG_FROM_EFMS);
    assert_eq!(
        (v.header.msg_type.as_str(), v.header.tx_code.as_str()),
        ("0200", "1100")
    );
    assert_eq!(v.header.tx_seq, 123);
    assert_eq!(v.header.orig_elem, None);
    assert_eq!(v.header.handling_branch, "0111234");
    assert_eq!(v.accounts.amount, 50_000);
    assert_eq!(v.accounts.balance, 1_250_000);
    assert_eq!(v.accounts.dep_account, "5620123456789012");
    assert_eq!(v.accounts.dep_name, "홍길동");
    assert_eq!(v.accounts.wd_name, "김철수");
    assert_eq!(v.cash.checks[1].kind, 0);
    assert_eq!(v.encode().unwrap(), bytes);

    let m = KibnetMessage::decode(&bytes).unwrap();
    assert!(matches!(&m, KibnetMessage::VaDepositRequest(d) if *d == v));
    assert_eq!(m.variant_key(), ("0200", "1100"));
    assert_eq!(m.variant_flag(), Some("6"));
    assert_eq!(m.encode().unwrap(), bytes);
}

#[test]
fn the_same_key_from_the_institution_is_a_payment_in_the_other_header_flavour() {
    let bytes = payment_request();
    let m = KibnetMessage::decode(&bytes).unwrap();
    let KibnetMessage::PaymentRequest(p) = &m else {
        panic!("{m:?}")
    };
    assert_eq!(p.header.sr_flag, FLAG_FROM_ORG);
    assert_eq!(p.header.bank_resp, "");
    assert_eq!(p.accounts.amount, 1_000_000);
    assert_eq!(p.verify_code, "A1B2C3");
    assert_eq!(m.encode().unwrap(), bytes);

    let resp = payment_response();
    let m = KibnetMessage::decode(&resp).unwrap();
    let KibnetMessage::PaymentResponse(p) = &m else {
        panic!("{m:?}")
    };
    assert_eq!(
        (p.header.resp_code.as_str(), p.header.bank_resp.as_str()),
        (RESP_OK, "0000")
    );
    assert_eq!(p.header.resp_msg, "정상처리");
    assert_eq!(m.encode().unwrap(), resp);
    // A flag neither layout of 0200/1100 names is an unknown key naming the flag.
    let mut other = bytes;
    other[20] = b'7';
    let e = KibnetMessage::decode(&other).unwrap_err();
    assert!(e.to_string().contains("0200/1100/7"), "{e}");
}

#[test]
fn a_space_padded_check_kind_decodes_and_encodes_canonically() {
    // The real telegram that failed with "checks[1].kind at offset 480: bad digit 0x20".
    let real = va_deposit_with_check_kind(b" 0");
    let v = VaDeposit::decode(&real).unwrap();
    assert_eq!(v.cash.checks[1].kind, 0);
    let canonical = v.encode().unwrap();
    assert_eq!(canonical, va_deposit_request());
    assert_eq!(canonical[480..482], *b"00");
    // Same through the TOML family (tolerance from `[tolerance] numbers`).
    let f = kibnet();
    let (spec, record) = f.decode(&real).unwrap();
    assert_eq!(spec.name, "VaDepositRequest");
    assert_eq!(record.get("cash.checks[1].kind"), Some(&Value::UInt(0)));
    assert_eq!(spec.layout.encode_record(&record).unwrap(), canonical);
    // Spaces after a digit are still an error, at the exact byte.
    let bad = va_deposit_with_check_kind(b"0 ");
    let e = VaDeposit::decode(&bad).unwrap_err();
    assert_eq!((e.path(), e.offset()), ("cash.checks[1].kind", 481));
}

#[test]
fn the_observed_500_byte_open_response_decodes_and_re_encodes_canonically() {
    let real = open_response_500();
    let m = KibnetMessage::decode(&real).unwrap();
    let KibnetMessage::OpenResponse(a) = &m else {
        panic!("{m:?}")
    };
    assert_eq!(a.header.length, 500);
    assert_eq!((a.base_date.as_str(), a.biz_kind), ("20111124", 1));
    assert_eq!(a.host_status, "10010   03");
    assert_eq!(a.bank_status, "0".repeat(100));
    let canonical = m.encode().unwrap();
    assert_eq!(canonical.len(), TELEGRAM_LEN);
    assert_eq!(&canonical[..4], b"0600");
    assert_eq!(&canonical[4..500], &real[4..500]);
    assert!(canonical[500..].iter().all(|&b| b == b' '));
    // The canonical telegram decodes to the same value but for its LENGTH.
    let mut again = KibnetMessage::decode(&canonical).unwrap();
    if let KibnetMessage::OpenResponse(a) = &mut again {
        a.header.length = 500;
    }
    assert_eq!(again, m);
    // The dynamic codec agrees.
    let f = kibnet();
    let (spec, record) = f.decode(&real).unwrap();
    assert_eq!(spec.name, "OpenResponse");
    assert_eq!(record.get("header.length"), Some(&Value::UInt(500)));
    assert_eq!(spec.layout.encode_record(&record).unwrap(), canonical);
}

#[test]
fn length_mismatches_and_truncation_are_reported_where_they_are() {
    let bytes = va_deposit_request();
    // LENGTH says 600 but the frame has 599 bytes of which the FILLER is short: the LENGTH is
    // wrong, reported at offset 0 of header.length.
    let e = VaDeposit::decode(&bytes[..599]).unwrap_err();
    assert_eq!((e.path(), e.offset()), ("header.length", 0));
    assert_eq!(
        e.kind(),
        &DecodeErrorKind::LengthMismatch {
            declared: 600,
            actual: 599
        }
    );
    // Cut before the FILLER: the first missing byte, not the length.
    for cut in [0, 3, 100, 299, 300, 480, 549] {
        let e = KibnetMessage::decode(&bytes[..cut]).unwrap_err();
        assert_eq!(e.offset(), cut, "cut at {cut}: {e}");
        assert!(
            matches!(e.kind(), DecodeErrorKind::WrongLength { .. }),
            "{e}"
        );
        let d = kibnet().decode(&bytes[..cut]).map(|_| ()).unwrap_err();
        assert_eq!(d.offset(), cut, "dynamic, cut at {cut}: {d}");
    }
}

#[test]
fn framing_reads_the_length_from_the_telegram_and_strips_nothing() {
    let f = kibnet();
    assert_eq!(
        f.framing().length,
        LengthPrefix::Field {
            offset: 0,
            width: 4,
            includes_self: true
        }
    );
    assert_eq!(f.framing().overhead(), 0);
    let bytes = va_deposit_request();
    assert_eq!(f.framing().strip(&bytes), Some(&bytes[..]));
    assert_eq!(f.framing().field_length(&bytes), Some(600));
    assert_eq!(f.framing().frame(&bytes).unwrap(), bytes);
    assert_eq!(f.framing().strip(&bytes[..599]), None);
    let short = open_response_500();
    assert_eq!(f.framing().strip(&short), Some(&short[..]));
}

#[test]
fn fep_decode_renders_a_kibnet_telegram() {
    let f = kibnet();
    let bytes = payment_request();
    let options = DecodeOptions {
        format: OutputFormat::Json,
        ..Default::default()
    };
    let json: serde_json::Value =
        serde_json::from_str(&decode(&f, &bytes, &options).unwrap()).unwrap();
    assert_eq!(json["type"], "0200/1100");
    assert_eq!(json["name"], "PaymentRequest");
    assert_eq!(json["header"]["length"], 600);
    assert_eq!(json["header"]["sr_flag"], "5");
    assert_eq!(json["header"]["msg_type"], "0200");
    assert_eq!(json["body"]["accounts"]["amount"], 1_000_000);
    assert_eq!(json["body"]["accounts"]["wd_account"], "110*******89");
    assert_eq!(json["body"]["cash"]["checks"][4]["kind"], 0);
    let table = decode(&f, &bytes, &DecodeOptions::default()).unwrap();
    assert!(
        table.starts_with("0200/1100 PaymentRequest (600 bytes)"),
        "{table}"
    );
    assert!(table.contains("header.bank_resp"), "{table}");
}
