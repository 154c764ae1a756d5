//! Edge cases of the Hecto structs that real telegrams and hand-built values hit: charset
//! strictness, blank and malformed N fields, error paths/offsets through the dispatch enum,
//! and the dispatch key of hand-built enum values.

use fep_codec::{Telegram, TelegramFamily};
use fep_specs::hecto::*;

fn transfer() -> Transfer {
    Transfer {
        header: HectoHeader {
            id_code: ID_CODE.into(),
            company_no: "CORP0001".into(),
            bank_code: "004".into(),
            msg_type: MSG_TYPE_TRANSFER.into(),
            biz_type: BIZ_TRANSFER.into(),
            send_count: 1,
            msg_no: 123,
            send_date: "20261123".into(),
            send_time: "093015".into(),
            ..Default::default()
        },
        wd_account: "0123456789012".into(),
        amount: 1,
        dep_bank: "088".into(),
        memo: "급여".into(),
        ..Default::default()
    }
}

fn bytes() -> Vec<u8> {
    transfer().encode().unwrap()
}

#[test]
fn header_error_inside_a_variant_has_the_nested_path() {
    let mut v = bytes();
    v[35] = b'X'; // header.msg_no @32..38
    let err = HectoMessage::decode(&v).unwrap_err();
    assert_eq!(err.path(), "header.msg_no");
    assert_eq!(err.offset(), 35);
}

#[test]
fn unknown_key_names_the_key_field() {
    let mut v = bytes();
    v[24..31].copy_from_slice(b"9000999");
    let err = HectoMessage::decode(&v).unwrap_err();
    assert_eq!(err.path(), "msg_type");
    assert_eq!(err.offset(), 24);
    assert!(err.to_string().contains("9000/999"), "{err}");
}

#[test]
fn short_frames_are_errors_not_panics() {
    let v = bytes();
    for n in [0, 1, 20, 24, 27, 30, 31, 99, 100, 299] {
        assert!(HectoMessage::decode(&v[..n]).is_err(), "{n} bytes");
    }
    let err = HectoMessage::decode(&v[..299]).unwrap_err();
    assert_eq!(err.offset(), 299);
}

#[test]
fn invalid_euc_kr_in_text_is_a_decode_error_at_the_field() {
    let mut v = bytes();
    v[199] = 0xff; // memo @199
    v[200] = 0xff;
    let err = Transfer::decode(&v).unwrap_err();
    assert_eq!((err.path(), err.offset()), ("memo", 199));

    // 똠 in CP949/UHC (0x8C 0x63) is outside KS X 1001: strict euc-kr rejects it.
    let mut v = bytes();
    v[199] = 0x8c;
    v[200] = 0x63;
    assert_eq!(Transfer::decode(&v).unwrap_err().path(), "memo");

    // Half a Hangul character at the end of the field.
    let mut v = bytes();
    v[212] = 0xb1; // last byte of memo (199 + 14 - 1)
    let err = Transfer::decode(&v).unwrap_err();
    assert_eq!((err.path(), err.offset()), ("memo", 212));
}

#[test]
fn control_bytes_in_text_are_decode_errors() {
    let mut v = bytes();
    v[200] = 0x09;
    let err = Transfer::decode(&v).unwrap_err();
    assert_eq!((err.path(), err.offset()), ("memo", 200));
    let mut v = bytes();
    v[226] = 0x7f; // dep_holder @226
    assert_eq!(Transfer::decode(&v).unwrap_err().offset(), 226);
}

#[test]
fn characters_outside_euc_kr_fail_to_encode() {
    for bad in ["똠", "₩", "😀", "\u{feff}x", "a\nb"] {
        let mut t = transfer();
        t.memo = bad.into();
        let err = t.encode().unwrap_err();
        assert_eq!(err.path(), "memo", "{bad:?}");
        assert_eq!(err.offset(), Some(199), "{bad:?}");
    }
}

#[test]
fn nfd_hangul_is_normalised_before_encoding() {
    let mut t = transfer();
    t.memo = "\u{1100}\u{1161}".into(); // ᄀ + ᅡ = 가
    let v = t.encode().unwrap();
    assert_eq!(&v[199..201], b"\xb0\xa1"); // 가
    assert_eq!(Transfer::decode(&v).unwrap().memo, "가");
}

#[test]
fn leading_spaces_are_data_trailing_are_pad() {
    let mut t = transfer();
    t.memo = "  x".into();
    assert_eq!(Transfer::decode(&t.encode().unwrap()).unwrap().memo, "  x");
    t.memo = "x ".into();
    assert_eq!(Transfer::decode(&t.encode().unwrap()).unwrap().memo, "x");
    // Full-width space (0xA1A1) is data, not pad.
    t.memo = "\u{3000}x\u{3000}".into();
    let v = t.encode().unwrap();
    assert_eq!(&v[199..206], b"\xa1\xa1x\xa1\xa1  ");
    assert_eq!(Transfer::decode(&v).unwrap().memo, "\u{3000}x\u{3000}");
}

#[test]
fn n_fields_blank_and_malformed() {
    // Option<u64>: all spaces is None, partly blank is an error at the first space.
    let mut v = bytes();
    v[143..156].copy_from_slice(b"          123"); // balance @143
    let err = Transfer::decode(&v).unwrap_err();
    assert_eq!((err.path(), err.offset()), ("balance", 143));
    // A required numeric code that is blank is an error.
    let mut v = bytes();
    v[156..159].copy_from_slice(b"   "); // dep_bank @156
    let err = Transfer::decode(&v).unwrap_err();
    assert_eq!((err.path(), err.offset()), ("dep_bank", 156));
    // A required amount that is blank is an error.
    let mut v = bytes();
    v[129..142].copy_from_slice(b"             "); // amount @129
    assert_eq!(Transfer::decode(&v).unwrap_err().path(), "amount");
}

#[test]
fn n_values_that_do_not_fit_fail_to_encode() {
    let mut t = transfer();
    t.header.msg_no = 1_000_000; // 7 digits in a 6-digit field
    assert_eq!(t.encode().unwrap_err().path(), "header.msg_no");
    let mut t = transfer();
    t.amount = 10_000_000_000_000; // 14 digits in 13
    assert_eq!(t.encode().unwrap_err().path(), "amount");
    let mut t = transfer();
    t.dep_bank = "0004".into();
    assert_eq!(t.encode().unwrap_err().path(), "dep_bank");
    let mut t = transfer();
    t.dep_bank = "0a4".into();
    assert_eq!(t.encode().unwrap_err().path(), "dep_bank");
    // A short numeric code is zero padded on the left.
    let mut t = transfer();
    t.dep_bank = "4".into();
    assert_eq!(&t.encode().unwrap()[156..159], b"004");
}

#[test]
fn poll_is_strict_ascii() {
    let p = Poll {
        kind: "REQPO가".into(),
        ..Poll::request("0000000000")
    };
    assert_eq!(p.encode().unwrap_err().path(), "kind");
    let mut v = b"HDRREQPOLL0930123456".to_vec();
    v[5] = 0xb1;
    v[6] = 0xa1;
    assert_eq!(Poll::decode(&v).unwrap_err().path(), "kind");
    let mut v = b"HDRREQPOLL0930123456".to_vec();
    v[15] = b'x';
    let err = Poll::decode(&v).unwrap_err();
    assert_eq!((err.path(), err.offset()), ("stamp", 15));
}

#[test]
fn dispatch_family_keys() {
    assert_eq!(HectoMessage::KEY_FIELDS, &["msg_type", "biz_type"]);
    assert_eq!(HectoMessage::keys().len(), 22);
    for key in HectoMessage::keys() {
        let (t, b) = (key[0], key[1]);
        let layout = HectoMessage::layout_for_key(key).unwrap();
        assert_eq!(layout.len(), Some(300), "{t}/{b}");
        // Every request key has its response (+100, same 업무구분코드) in the family.
        if let Some(resp) = response_msg_type(t) {
            assert!(
                HectoMessage::keys().contains(&&[resp.as_str(), b][..]),
                "no response for {t}/{b}"
            );
        }
    }
    let msg = HectoMessage::TransferRequest(transfer());
    assert_eq!(msg.variant_key(), ("2000", "100"));
    assert!(msg.key_matches());
}

/// A hand-built enum value whose header disagrees with its variant: `sync_key` fixes it.
#[test]
fn sync_key_writes_the_variant_key() {
    let mut t = transfer();
    t.header.msg_type = "2100".into();
    let mut msg = HectoMessage::TransferRequest(t);
    assert!(!msg.key_matches());
    msg.sync_key();
    assert!(msg.key_matches());
    let back = HectoMessage::decode(&msg.encode().unwrap()).unwrap();
    assert_eq!(back, msg);

    let mut msg = HectoMessage::SignOnRequest(AdminMessage::default());
    msg.sync_key();
    assert_eq!(msg.header().msg_type, "1000");
    assert_eq!(msg.header().biz_type, "100");
}

/// Derive gap (reported): the enum's `encode` writes the header as it is, so a variant whose
/// header key disagrees encodes into bytes that decode as a *different* variant (or as an
/// unknown key). Expected: encode writes the variant's key, or fails naming `msg_type`.
#[test]
fn enum_encode_respects_the_variant_key() {
    let mut t = transfer();
    t.header.msg_type = "2100".into();
    let msg = HectoMessage::TransferRequest(t);
    match msg.encode() {
        Ok(v) => assert!(matches!(
            HectoMessage::decode(&v),
            Ok(HectoMessage::TransferRequest(_))
        )),
        Err(e) => assert_eq!(e.path(), "header.msg_type"),
    }
}
