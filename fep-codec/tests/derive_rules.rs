//! One test (or more) per rule of the §3 field table, through the derive.
//! Expected bytes are written by hand from each layout, not produced by the code under test.

use fep_codec::{DecodeErrorKind, EncodeErrorKind, FieldKind, Telegram, TelegramFamily};

// EUC-KR (KS X 1001) bytes, from the KS X 1001 code table.
const GA: [u8; 2] = [0xB0, 0xA1]; // 가
const GEUPYEO: [u8; 4] = [0xB1, 0xDE, 0xBF, 0xA9]; // 급여
const HONG: [u8; 6] = [0xC8, 0xAB, 0xB1, 0xE6, 0xB5, 0xBF]; // 홍길동

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 40)]
struct Basic {
    #[telegram(len = 9, label = "식별코드")]
    id_code: String,
    #[telegram(len = 3, offset = 9)]
    bank_code: u16,
    #[telegram(len = 6, offset = 12)]
    msg_no: u32,
    #[telegram(len = 4, numeric)]
    code: String,
    #[telegram(len = 12, mask)]
    name: String,
    #[telegram(len = 6)]
    fee: Option<u64>,
}

#[test]
fn an_and_n_padding_and_byte_lengths() {
    let v = Basic {
        id_code: "SETTLE".into(),
        bank_code: 4,
        msg_no: 123,
        code: "42".into(),
        name: "홍길동".into(),
        fee: None,
    };
    let expected = cat(&[
        b"SETTLE   ",
        b"004",
        b"000123",
        b"0042",
        &HONG,
        b"      ",
        b"      ",
    ]);
    assert_eq!(v.encode().unwrap(), expected);
    // numeric text comes back with every digit of the field.
    assert_eq!(
        Basic::decode(&expected).unwrap(),
        Basic {
            code: "0042".into(),
            ..v.clone()
        }
    );
    // The 12-byte field holds 6 Hangul syllables (bytes, not chars) and not 7.
    let six = Basic {
        name: "가가가가가가".into(),
        ..v.clone()
    };
    assert_eq!(six.encode().unwrap().len(), 40);
    let seven = Basic {
        name: "가가가가가가가".into(),
        ..v
    };
    let err = seven.encode().unwrap_err();
    assert_eq!(err.path(), "name");
    assert_eq!(err.offset(), Some(22));
    assert_eq!(
        err.kind(),
        &EncodeErrorKind::TooLong {
            width: 12,
            actual: 14
        }
    );
}

#[test]
fn leading_spaces_are_data_trailing_are_padding() {
    let bytes = cat(&[
        b"  AB     ",
        b"004",
        b"000001",
        b"0000",
        b"            ",
        b"000010",
    ]);
    let v = Basic::decode(&bytes).unwrap();
    assert_eq!(v.id_code, "  AB");
    assert_eq!(v.name, "");
    assert_eq!(v.fee, Some(10));
    assert_eq!(v.code, "0000", "numeric text keeps every digit");
}

#[test]
fn bad_digit_error_names_exact_offset() {
    let mut bytes = cat(&[
        b"SETTLE   ",
        b"004",
        b"000123",
        b"0042",
        b"            ",
        b"      ",
    ]);
    bytes[15] = b'x';
    let err = Basic::decode(&bytes).unwrap_err();
    assert_eq!(err.path(), "msg_no");
    assert_eq!(err.offset(), 15);
    assert_eq!(err.kind(), &DecodeErrorKind::BadDigit { byte: b'x' });
    let shown = err.to_string();
    assert!(
        shown.contains("msg_no") && shown.contains("offset 15") && shown.contains("|000x23|"),
        "{shown}"
    );
}

#[test]
fn whole_slice_must_be_consumed() {
    let bytes = cat(&[
        b"SETTLE   ",
        b"004",
        b"000123",
        b"0042",
        b"            ",
        b"      ",
        b"X",
    ]);
    let err = Basic::decode(&bytes).unwrap_err();
    assert_eq!(
        err.kind(),
        &DecodeErrorKind::WrongLength {
            expected: 40,
            actual: 41
        }
    );
    assert_eq!(err.offset(), 40);
    let err = Basic::decode(&bytes[..30]).unwrap_err();
    assert_eq!(
        err.path(),
        "name",
        "the first field that does not fit is named"
    );
    assert_eq!(err.offset(), 30);
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
struct Integers {
    #[telegram(len = 3)]
    a: u8,
    #[telegram(len = 5)]
    b: u16,
    #[telegram(len = 10)]
    c: u32,
    #[telegram(len = 20)]
    d: u64,
    #[telegram(len = 39)]
    e: u128,
    #[telegram(len = 20)]
    f: usize,
    #[telegram(len = 7, sign = "leading")]
    g: i64,
    #[telegram(len = 7, sign = "trailing")]
    h: i32,
    #[telegram(len = 4, sign = "leading")]
    i: i8,
}

#[test]
fn every_integer_width_and_both_sign_positions() {
    let v = Integers {
        a: 255,
        b: 65535,
        c: u32::MAX,
        d: u64::MAX,
        e: u128::MAX,
        f: 7,
        g: -12345,
        h: -6,
        i: 127,
    };
    let bytes = v.encode().unwrap();
    let expected = cat(&[
        b"255",
        b"65535",
        b"4294967295",
        b"18446744073709551615",
        b"340282366920938463463374607431768211455",
        b"00000000000000000007",
        b"-012345",
        b"000006-",
        b"+127",
    ]);
    assert_eq!(bytes, expected);
    assert_eq!(Integers::decode(&bytes).unwrap(), v);
}

#[test]
fn integer_overflow_on_decode_and_encode() {
    #[derive(Telegram, Debug, PartialEq, Eq)]
    struct Narrow {
        #[telegram(len = 3)]
        a: u8,
    }
    let err = Narrow::decode(b"300").unwrap_err();
    assert_eq!(err.kind(), &DecodeErrorKind::Overflow { ty: "u8" });
    #[derive(Telegram, Debug, PartialEq, Eq)]
    struct Short {
        #[telegram(len = 2)]
        a: u32,
    }
    let err = Short { a: 100 }.encode().unwrap_err();
    assert_eq!(
        err.kind(),
        &EncodeErrorKind::TooLong {
            width: 2,
            actual: 3
        }
    );
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
struct Blanks {
    #[telegram(len = 4)]
    opt: Option<u32>,
    #[telegram(len = 4, blank = "zero")]
    zero: u32,
    #[telegram(len = 4)]
    strict: u32,
    #[telegram(len = 4)]
    text: Option<String>,
}

#[test]
fn blank_numeric_fields() {
    let v = Blanks::decode(b"        0001    ").unwrap();
    assert_eq!(
        v,
        Blanks {
            opt: None,
            zero: 0,
            strict: 1,
            text: None
        }
    );
    assert_eq!(v.encode().unwrap(), b"    00000001    ");
    let err = Blanks::decode(b"            AB  ").unwrap_err();
    assert_eq!((err.path(), err.offset()), ("strict", 8));
    assert_eq!(err.kind(), &DecodeErrorKind::Blank);
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "cp949")]
struct Charsets {
    #[telegram(len = 4)]
    container_default: String,
    #[telegram(len = 4, charset = "euc-kr")]
    strict: String,
    #[telegram(len = 4, charset = "ascii")]
    ascii: String,
}

#[test]
fn container_and_field_charsets() {
    let v = Charsets {
        container_default: "똠".into(),
        strict: "가".into(),
        ascii: "AB".into(),
    };
    let bytes = v.encode().unwrap();
    assert_eq!(bytes, cat(&[&[0x8C, 0x63], b"  ", &GA, b"  ", b"AB  "]));
    assert_eq!(Charsets::decode(&bytes).unwrap(), v);

    let err = Charsets {
        strict: "똠".into(),
        ..v.clone()
    }
    .encode()
    .unwrap_err();
    assert_eq!(err.path(), "strict");
    assert!(matches!(
        err.kind(),
        EncodeErrorKind::Unmappable { ch: '똠', .. }
    ));
    let err = Charsets {
        ascii: "가".into(),
        ..v.clone()
    }
    .encode()
    .unwrap_err();
    assert_eq!(err.path(), "ascii");
    let err = Charsets {
        container_default: "😀".into(),
        ..v
    }
    .encode()
    .unwrap_err();
    assert!(
        err.to_string().contains("not representable in cp949"),
        "{err}"
    );
    // UHC bytes in the strict field are refused on decode, at the exact byte.
    let err = Charsets::decode(&cat(&[b"    ", &[0x8C, 0x63], b"  ", b"    "])).unwrap_err();
    assert_eq!((err.path(), err.offset()), ("strict", 4));
}

#[test]
fn nfd_input_is_composed() {
    let nfd = "\u{1100}\u{1173}\u{11B8}\u{110B}\u{1167}"; // 급여 as conjoining jamo
    let v = Charsets {
        container_default: String::new(),
        strict: nfd.into(),
        ascii: String::new(),
    };
    assert_eq!(&v.encode().unwrap()[4..8], &GEUPYEO);
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
struct Memo {
    #[telegram(len = 14, fullwidth)]
    wide: String,
    #[telegram(len = 5, truncate)]
    cut: String,
}

#[test]
fn fullwidth_and_truncate() {
    let v = Memo {
        wide: "A 급여".into(),
        cut: "가나다".into(),
    };
    let bytes = v.encode().unwrap();
    // Ａ=A3C1, ideographic space=A1A1, then 급여, then 0x20 padding; 가나 fits 4 of 5 bytes.
    let expected = cat(&[
        &[0xA3, 0xC1, 0xA1, 0xA1],
        &GEUPYEO,
        b"      ",
        &GA,
        &[0xB3, 0xAA],
        b" ",
    ]);
    assert_eq!(bytes, expected);
    let back = Memo::decode(&bytes).unwrap();
    assert_eq!(back.wide, "A 급여");
    assert_eq!(back.cut, "가나");
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(len = 6)]
struct Check {
    #[telegram(len = 4)]
    no: u32,
    #[telegram(len = 2)]
    kind: String,
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
struct Body {
    #[telegram(len = 2)]
    head: String,
    checks: [Check; 3],
    #[telegram(len = 2, offset = 20)]
    tail: String,
    #[telegram(len = 1)]
    flags: [u8; 2],
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
struct Outer {
    #[telegram(len = 3)]
    tag: String,
    body: Body,
    #[telegram(len = 2)]
    n_items: u8,
    #[telegram(count = n_items, max = 4)]
    items: Vec<Check>,
    #[telegram(rest)]
    filler: String,
}

fn outer() -> Outer {
    let check = |no, kind: &str| Check {
        no,
        kind: kind.into(),
    };
    Outer {
        tag: "OUT".into(),
        body: Body {
            head: "HD".into(),
            checks: [check(1, "AA"), check(2, "BB"), check(3, "CC")],
            tail: "TL".into(),
            flags: [1, 9],
        },
        n_items: 2,
        items: vec![check(7, "X"), check(8, "Y")],
        filler: "  tail ".into(),
    }
}

const OUTER_BYTES: &[u8] = b"OUTHD0001AA0002BB0003CCTL19020007X 0008Y   tail ";

#[test]
fn nested_arrays_repeat_groups_and_rest() {
    assert_eq!(outer().encode().unwrap(), OUTER_BYTES);
    assert_eq!(Outer::decode(OUTER_BYTES).unwrap(), outer());
}

#[test]
fn nested_error_paths_are_full_and_offsets_absolute() {
    let mut bad = OUTER_BYTES.to_vec();
    bad[17] = b'?'; // checks[2].no starts at 3 + 2 + 12 = 17
    let err = Outer::decode(&bad).unwrap_err();
    assert_eq!((err.path(), err.offset()), ("body.checks[2].no", 17));

    let mut bad = OUTER_BYTES.to_vec();
    bad[39] = 0x01; // items[1].kind at 3 + 24 + 2 + 6 + 4
    let err = Outer::decode(&bad).unwrap_err();
    assert_eq!((err.path(), err.offset()), ("items[1].kind", 39));

    let mut bad = OUTER_BYTES.to_vec();
    bad[27..29].copy_from_slice(b"05");
    let err = Outer::decode(&bad).unwrap_err();
    assert_eq!(err.path(), "n_items");
    assert_eq!(err.offset(), 27);
    assert_eq!(
        err.kind(),
        &DecodeErrorKind::CountOverMax { count: 5, max: 4 }
    );

    let mut v = outer();
    v.body.checks[1].kind = "가나".into();
    let err = v.encode().unwrap_err();
    assert_eq!(err.path(), "body.checks[1].kind");
    assert_eq!(err.offset(), Some(15));
}

#[test]
fn count_must_agree_with_the_group_on_encode() {
    let mut v = outer();
    v.n_items = 3;
    assert!(matches!(
        v.encode().unwrap_err().kind(),
        EncodeErrorKind::CountMismatch {
            count: 3,
            actual: 2
        }
    ));
    v.items = vec![Check::default(); 5];
    v.n_items = 5;
    assert!(matches!(
        v.encode().unwrap_err().kind(),
        EncodeErrorKind::CountOverMax { actual: 5, max: 4 }
    ));
}

#[test]
fn rest_is_kept_verbatim_any_length() {
    for filler in ["", " ", "  x  ", "긴 필러    "] {
        let mut v = outer();
        v.filler = filler.into();
        let bytes = v.encode().unwrap();
        let back = Outer::decode(&bytes).unwrap();
        assert_eq!(back.filler, filler);
        assert_eq!(
            back.encode().unwrap(),
            bytes,
            "decode→encode is the identity"
        );
    }
}

#[test]
fn layout_is_flattened_with_paths_offsets_and_metadata() {
    let l = Outer::layout();
    assert_eq!(l.len(), None, "repeat groups make the size variable");
    assert_eq!(Body::layout().len(), Some(24));
    assert_eq!(<Body as Telegram>::FIXED_LEN, Some(24));
    let f = l.field("body.checks[2].kind").unwrap();
    assert_eq!((f.offset, f.len, f.depth), (Some(21), Some(2), 2));
    let f = l.field("body.flags[1]").unwrap();
    assert_eq!(
        (f.offset, f.len, &f.kind),
        (Some(26), Some(1), &FieldKind::UInt)
    );
    let items = l.field("items").unwrap();
    assert!(
        matches!(&items.kind, FieldKind::Group { count_field, max: 4, .. } if count_field == "n_items")
    );
    let filler = l.field("filler").unwrap();
    assert!(filler.rest && filler.offset.is_none());

    let b = Basic::layout();
    let name = b.field("name").unwrap();
    assert!(name.mask);
    assert_eq!(
        b.field("id_code").unwrap().label.as_deref(),
        Some("식별코드")
    );
    assert_eq!(b.field("code").unwrap().kind, FieldKind::NumericText);
    assert!(b.field("fee").unwrap().optional);
    let offsets: Vec<_> = b.fields().iter().map(|f| f.offset.unwrap()).collect();
    assert_eq!(offsets, [0, 9, 12, 18, 22, 34]);
}

#[test]
fn dump_masks_and_dynamic_codec_agrees_with_derive() {
    let v = Basic {
        id_code: "SETTLE".into(),
        name: "110123456789".into(),
        ..Default::default()
    };
    let bytes = v.encode().unwrap();
    let table = fep_codec::dump(Basic::layout(), &bytes, false).unwrap();
    assert!(
        table.contains("110*******89") && !table.contains("110123456789"),
        "{table}"
    );
    assert!(table.contains("식별코드"), "{table}");
    let record = Basic::layout().decode_record(&bytes).unwrap();
    assert_eq!(Basic::layout().encode_record(&record).unwrap(), bytes);
    let record = Outer::layout().decode_record(OUTER_BYTES).unwrap();
    assert_eq!(Outer::layout().encode_record(&record).unwrap(), OUTER_BYTES);
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
struct Framed {
    #[telegram(len = 4, auto_len = "total")]
    total: u32,
    #[telegram(len = 3, auto_len = "rest")]
    after: u16,
    #[telegram(rest)]
    data: String,
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
struct LenientFramed {
    #[telegram(len = 4, auto_len = "total", lenient)]
    total: u32,
    #[telegram(rest)]
    data: String,
}

#[test]
fn auto_len_is_filled_and_checked() {
    let v = Framed {
        total: 0,
        after: 0,
        data: "hello".into(),
    };
    assert_eq!(v.encode().unwrap(), b"0012005hello");
    let back = Framed::decode(b"0012005hello").unwrap();
    assert_eq!((back.total, back.after), (12, 5));
    let err = Framed::decode(b"0013005hello").unwrap_err();
    assert_eq!((err.path(), err.offset()), ("total", 0));
    assert_eq!(
        err.kind(),
        &DecodeErrorKind::LengthMismatch {
            declared: 13,
            actual: 12
        }
    );
    let err = Framed::decode(b"0012004hello").unwrap_err();
    assert_eq!((err.path(), err.offset()), ("after", 4));
    assert_eq!(LenientFramed::decode(b"9999hi").unwrap().total, 9999);
}

#[test]
fn encode_into_appends_and_leaves_buffer_on_error() {
    let mut buf = bytes::BytesMut::from(&b"0300"[..]);
    outer().encode_into(&mut buf).unwrap();
    assert_eq!(&buf[..4], b"0300");
    assert_eq!(&buf[4..], OUTER_BYTES);
    let mut bad = outer();
    bad.tag = "TOOLONG".into();
    let before = buf.clone();
    let err = bad.encode_into(&mut buf).unwrap_err();
    assert_eq!(err.path(), "tag");
    assert_eq!(buf, before);
    // Errors after a prefix report offsets relative to the telegram, not the buffer.
    let mut bad = outer();
    bad.body.tail = "XYZ".into();
    assert_eq!(bad.encode_into(&mut buf).unwrap_err().offset(), Some(23));
}

// --- Dispatch -------------------------------------------------------------------------------

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(len = 10)]
struct Header {
    #[telegram(len = 4)]
    msg_type: String,
    #[telegram(len = 3, numeric)]
    biz_type: String,
    #[telegram(len = 3)]
    seq: u16,
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
struct Admin {
    header: Header,
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
struct Transfer {
    header: Header,
    #[telegram(len = 5, offset = 10)]
    amount: u32,
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq)]
#[telegram(header = Header, key(msg_type, biz_type))]
enum Family {
    #[telegram(key("1000", "100"))]
    SignOn(Admin),
    #[telegram(key("2000", "100"))]
    Transfer(Transfer),
    #[telegram(key("2100", "100"))]
    TransferResponse(Transfer),
    #[telegram(key("2000", "7"))]
    Short(Admin),
}

#[test]
fn family_dispatches_on_header_keys() {
    let m = Family::decode(b"2000100001").unwrap_err();
    // 2000/100 is a Transfer: the 10-byte frame lacks its body.
    assert_eq!((m.path(), m.offset()), ("amount", 10));
    let t = Family::decode(b"210010000200042").unwrap();
    assert!(matches!(&t, Family::TransferResponse(x) if x.amount == 42 && x.header.seq == 2));
    assert_eq!(t.key(), ["2100", "100"]);
    assert_eq!(t.encode().unwrap(), b"210010000200042");
    // numeric key fields are compared zero-padded.
    assert!(matches!(
        Family::decode(b"2000007003").unwrap(),
        Family::Short(_)
    ));
    assert_eq!(Family::keys().len(), 4);
    assert_eq!(
        Family::layout_for_key(&["2000", "100"]).and_then(|l| l.len()),
        Some(15)
    );
    assert!(Family::layout_for_key(&["9", "9"]).is_none());
}

#[test]
fn unknown_key_is_an_error_carrying_the_key() {
    let err = Family::decode(b"9000999001").unwrap_err();
    assert_eq!(
        err.kind(),
        &DecodeErrorKind::UnknownKey {
            key: "9000/999".into()
        }
    );
    assert_eq!((err.path(), err.offset()), ("msg_type", 0));
    assert!(err.to_string().contains("9000/999"));
    let err = Family::decode(b"20").unwrap_err();
    assert!(matches!(err.kind(), DecodeErrorKind::WrongLength { .. }));
}

#[test]
fn family_encode_writes_the_variant_key() {
    // The header says 2000/100, but the value is the TransferResponse variant: the variant wins,
    // so the bytes decode back to the same variant.
    let t = Transfer {
        header: Header {
            msg_type: "2000".into(),
            biz_type: "100".into(),
            seq: 9,
        },
        amount: 1,
    };
    let bytes = Family::TransferResponse(t.clone()).encode().unwrap();
    assert_eq!(&bytes[..7], b"2100100");
    assert!(matches!(
        Family::decode(&bytes).unwrap(),
        Family::TransferResponse(_)
    ));
    let admin = Family::Short(Admin::default()).encode().unwrap();
    assert_eq!(
        &admin[..7],
        b"2000007",
        "numeric key fields are written zero-padded"
    );
}

#[test]
fn ascii_field_reports_the_unmappable_character_before_the_width() {
    #[derive(Telegram, Debug, Default)]
    struct A {
        #[telegram(len = 7, charset = "ascii")]
        kind: String,
    }
    let err = A {
        kind: "REQPOL가".into(),
    }
    .encode()
    .unwrap_err();
    assert!(
        matches!(err.kind(), EncodeErrorKind::Unmappable { ch: '가', .. }),
        "{err}"
    );
}
