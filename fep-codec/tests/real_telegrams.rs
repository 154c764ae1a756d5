//! What real telegrams need from the derive: a LENGTH field inside a nested header that counts
//! the whole telegram (`auto_len = "telegram"`), header flavours and variants told apart by a
//! field other than the key (`when`), three or more dispatch keys, tolerant N fields and a
//! tolerant trailing filler. Expected bytes are written by hand from each layout.

use fep_codec::{AutoLen, DecodeErrorKind, Telegram, TelegramFamily};
use proptest::prelude::*;

/// A 20-byte header whose first field is the length of the whole telegram, itself included
/// (as KIBNET's and 신한's 공통부 start).
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "ascii", len = 20)]
struct Header {
    #[telegram(len = 4, offset = 0, auto_len = "telegram", label = "LENGTH")]
    length: u16,
    #[telegram(len = 4, offset = 4, numeric)]
    msg_type: String,
    #[telegram(len = 4, offset = 8, numeric)]
    tx_code: String,
    #[telegram(len = 1, offset = 12)]
    flag: String,
    #[telegram(len = 3, offset = 13)]
    resp: String,
    #[telegram(len = 4, offset = 16)]
    filler: String,
}

/// Another flavour of the same header: the last 4 bytes carry a bank response code.
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "ascii", len = 20)]
struct BankHeader {
    #[telegram(len = 4, offset = 0, auto_len = "telegram")]
    length: u16,
    #[telegram(len = 4, offset = 4, numeric)]
    msg_type: String,
    #[telegram(len = 4, offset = 8, numeric)]
    tx_code: String,
    #[telegram(len = 1, offset = 12)]
    flag: String,
    #[telegram(len = 3, offset = 13)]
    resp: String,
    #[telegram(len = 4, offset = 16)]
    bank_resp: String,
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "ascii", len = 30, tolerant)]
struct Deposit {
    header: Header,
    #[telegram(len = 6, offset = 20)]
    amount: u64,
    #[telegram(len = 2, offset = 26)]
    kind: u8,
    #[telegram(len = 2, offset = 28, filler)]
    filler: String,
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "ascii", len = 30)]
struct Payment {
    header: BankHeader,
    #[telegram(len = 6, offset = 20)]
    amount: u64,
    #[telegram(len = 2, offset = 26)]
    code: String,
    #[telegram(len = 2, offset = 28, filler)]
    filler: String,
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq)]
#[telegram(header = Header, key(msg_type, tx_code))]
enum Message {
    /// 입금 from the network (flag 6).
    #[telegram(key("0200", "1100"), when(flag = "6"))]
    Deposit(Deposit),
    /// 지급 to the network (flag 5): same key, other header flavour and body.
    #[telegram(key("0200", "1100"), when(flag = "5"))]
    Payment(Payment),
    /// Any flag.
    #[telegram(key("0800", "2100"))]
    Admin(Deposit),
}

fn deposit_bytes() -> Vec<u8> {
    // LENGTH 0030 | 0200 | 1100 | 6 | "   " | "    " | 001234 | 07 | "  "
    b"0030020011006       00123407  ".to_vec()
}

fn deposit() -> Deposit {
    Deposit {
        header: Header {
            length: 30,
            msg_type: "0200".into(),
            tx_code: "1100".into(),
            flag: "6".into(),
            ..Header::default()
        },
        amount: 1234,
        kind: 7,
        filler: String::new(),
    }
}

#[test]
fn a_nested_length_field_counts_the_whole_telegram() {
    let bytes = deposit_bytes();
    assert_eq!(bytes.len(), 30);
    assert_eq!(Deposit::decode(&bytes).unwrap(), deposit());
    // Whatever the value holds, encode writes the telegram's length.
    let mut v = deposit();
    v.header.length = 9999;
    assert_eq!(v.encode().unwrap(), bytes);
    // The header alone is a 20-byte telegram of its own: its LENGTH counts 20.
    let h = v.header.encode().unwrap();
    assert_eq!(&h[..4], b"0020");
    // The layout says what the field is.
    let f = Deposit::layout().field("header.length").unwrap();
    assert_eq!((f.offset, f.auto_len), (Some(0), Some(AutoLen::Telegram)));
}

#[test]
fn a_wrong_length_names_the_header_field_at_offset_zero() {
    let mut bytes = deposit_bytes();
    bytes[..4].copy_from_slice(b"0600");
    let e = Deposit::decode(&bytes).unwrap_err();
    assert_eq!((e.path(), e.offset()), ("header.length", 0));
    assert_eq!(
        e.kind(),
        &DecodeErrorKind::LengthMismatch {
            declared: 600,
            actual: 30
        }
    );
}

#[test]
fn a_truncated_telegram_reports_its_first_missing_byte_not_the_length() {
    let bytes = deposit_bytes();
    for cut in [3, 19, 20, 25, 27] {
        let e = Payment::decode(&bytes[..cut]).unwrap_err();
        assert_eq!(e.offset(), cut, "cut at {cut}: {e}");
        assert!(
            matches!(e.kind(), DecodeErrorKind::WrongLength { .. }),
            "{e}"
        );
    }
}

#[test]
fn the_same_key_is_told_apart_by_the_direction_flag() {
    let bytes = deposit_bytes();
    let m = Message::decode(&bytes).unwrap();
    assert_eq!(m, Message::Deposit(deposit()));
    assert_eq!(m.encode().unwrap(), bytes);

    // Flag 5: the bank flavour, with the bank response code at 16.
    let pay = b"0030020011005000B001000500AB  ".to_vec();
    assert_eq!(pay.len(), 30);
    let m = Message::decode(&pay).unwrap();
    let Message::Payment(p) = &m else {
        panic!("{m:?}")
    };
    assert_eq!(
        (p.header.bank_resp.as_str(), p.amount, p.code.as_str()),
        ("B001", 500, "AB")
    );
    assert_eq!(m.encode().unwrap(), pay);
    assert_eq!(Message::conditions()[1], [("flag", "5")]);
    assert_eq!(Message::keys()[0], Message::keys()[1]);
    assert_eq!(Message::variant_layout(1), Some(Payment::layout()));

    // A flag no variant names, under that key: an unknown key naming the flag too.
    let mut other = bytes.clone();
    other[12] = b'9';
    let e = Message::decode(&other).unwrap_err();
    assert!(e.to_string().contains("0200/1100/9"), "{e}");
    // A key whose variant has no condition takes any flag.
    let mut admin = bytes;
    admin[4..12].copy_from_slice(b"08002100");
    admin[12] = b'X';
    assert!(matches!(Message::decode(&admin), Ok(Message::Admin(_))));
}

#[test]
fn encoding_a_variant_writes_its_key_and_condition() {
    let mut p = Payment::default();
    p.header.flag = "6".into(); // wrong for a payment: the encoder writes 5
    p.code = "X".into();
    let bytes = Message::Payment(p).encode().unwrap();
    assert_eq!(&bytes[..13], b"0030020011005");
    assert!(matches!(Message::decode(&bytes), Ok(Message::Payment(_))));
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "ascii", len = 8)]
struct ThreeKeys {
    #[telegram(len = 2)]
    a: String,
    #[telegram(len = 2)]
    b: String,
    #[telegram(len = 2, numeric)]
    c: String,
    #[telegram(len = 2)]
    rest: String,
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq)]
#[telegram(header = ThreeKeys, key(a, b, c))]
enum Three {
    #[telegram(key("A", "B", "1"))]
    One(ThreeKeys),
    #[telegram(key("A", "B", "2"))]
    Two(ThreeKeys),
    #[telegram(key("A", "C", "1"), when(rest = "Z"))]
    Third(ThreeKeys),
}

#[test]
fn three_dispatch_keys_and_a_condition() {
    assert!(matches!(Three::decode(b"A B 01xx"), Ok(Three::One(_))));
    assert!(matches!(Three::decode(b"A B 02xx"), Ok(Three::Two(_))));
    assert!(matches!(Three::decode(b"A C 01Z "), Ok(Three::Third(_))));
    let e = Three::decode(b"A C 01Y ").unwrap_err();
    assert!(e.to_string().contains("A/C/01/Y"), "{e}");
    assert_eq!(Three::KEY_FIELDS, ["a", "b", "c"]);
}

#[test]
fn tolerant_n_fields_accept_spaces_for_zeros_and_encode_canonically() {
    // kind " 7" (a space for the leading zero) and amount "  1234".
    let mut bytes = deposit_bytes();
    bytes[20..26].copy_from_slice(b"  1234");
    bytes[26..28].copy_from_slice(b" 7");
    let v = Deposit::decode(&bytes).unwrap();
    assert_eq!(v, deposit());
    assert_eq!(v.encode().unwrap(), deposit_bytes());
    // All blank reads as 0.
    bytes[26..28].copy_from_slice(b"  ");
    assert_eq!(Deposit::decode(&bytes).unwrap().kind, 0);
    // Spaces after a digit are still an error, at the space.
    bytes[26..28].copy_from_slice(b"7 ");
    let e = Deposit::decode(&bytes).unwrap_err();
    assert_eq!((e.path(), e.offset()), ("kind", 27));
    // Payment is not tolerant: a space is a bad digit.
    let mut pay = Message::Payment(Payment::default()).encode().unwrap();
    pay[20] = b' ';
    let e = Payment::decode(&pay).unwrap_err();
    assert_eq!(
        (e.offset(), e.kind()),
        (20, &DecodeErrorKind::BadDigit { byte: b' ' })
    );
}

#[test]
fn a_tolerant_filler_lets_the_telegram_end_early_or_run_long_in_spaces() {
    // 29 bytes, LENGTH says so: the filler is one byte short.
    let mut short = deposit_bytes();
    short.truncate(29);
    short[..4].copy_from_slice(b"0029");
    let v = Deposit::decode(&short).unwrap();
    assert_eq!(v.filler, "");
    assert_eq!(v.header.length, 29);
    // Re-encoding gives the canonical 30 bytes.
    assert_eq!(v.encode().unwrap(), deposit_bytes());
    // 28 bytes: no filler at all.
    let mut none = deposit_bytes();
    none.truncate(28);
    none[..4].copy_from_slice(b"0028");
    assert!(Deposit::decode(&none).is_ok());
    // 33 bytes of which the extra 3 are spaces.
    let mut long = deposit_bytes();
    long.extend_from_slice(b"   ");
    long[..4].copy_from_slice(b"0033");
    assert_eq!(
        Deposit::decode(&long).unwrap().encode().unwrap(),
        deposit_bytes()
    );
    // Extra bytes that are not blank are trailing garbage, at their offset.
    long[31] = b'X';
    let e = Deposit::decode(&long).unwrap_err();
    assert_eq!(e.offset(), 31);
    // Short by more than the filler: the first missing byte.
    let e = Deposit::decode(&deposit_bytes()[..27]).unwrap_err();
    assert_eq!(e.offset(), 27);
}

fn ascii(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(0x21u8..=0x7E, 0..=max)
        .prop_map(|v| String::from_utf8(v).unwrap_or_default())
}

prop_compose! {
    fn any_deposit()(amount in 0u64..=999_999, kind in 0u8..=99, resp in ascii(3), filler in ascii(2)) -> Deposit {
        Deposit {
            header: Header {
                length: 30,
                msg_type: "0200".into(),
                tx_code: "1100".into(),
                flag: "6".into(),
                resp,
                filler: String::new(),
            },
            amount,
            kind,
            filler,
        }
    }
}

/// Replaces the leading zeros of the digit run `bytes[range]` by spaces, as real telegrams
/// pad N fields (an all-zero field becomes all blank).
fn space_pad(bytes: &mut [u8], range: std::ops::Range<usize>) {
    for b in &mut bytes[range] {
        if *b != b'0' {
            break;
        }
        *b = b' ';
    }
}

proptest! {
    /// Tolerant decode of a canonical encoding is the identity.
    #[test]
    fn tolerant_decode_of_canonical_bytes_is_the_identity(v in any_deposit()) {
        let bytes = v.encode().unwrap();
        let back = Deposit::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &v);
        prop_assert_eq!(back.encode().unwrap(), bytes);
    }

    /// Tolerant decode of the space-padded (and short-filler) variant equals the canonical
    /// decode, but for the LENGTH field, which says how long the telegram really was.
    #[test]
    fn tolerant_decode_of_the_padded_variant_equals_canonical_decode(v in any_deposit(), cut in 0usize..=2) {
        let canonical = v.encode().unwrap();
        let mut padded = canonical.clone();
        space_pad(&mut padded, 20..26);
        space_pad(&mut padded, 26..28);
        // The filler's trailing spaces may be missing (the telegram ends early).
        let keep = 28 + v.filler.len();
        let cut = cut.min(padded.len() - keep);
        padded.truncate(padded.len() - cut);
        let n = padded.len();
        padded[..4].copy_from_slice(format!("{n:04}").as_bytes());
        let mut tolerant = Deposit::decode(&padded).unwrap();
        prop_assert_eq!(usize::from(tolerant.header.length), n);
        tolerant.header.length = 30;
        prop_assert_eq!(&tolerant, &Deposit::decode(&canonical).unwrap());
        prop_assert_eq!(tolerant.encode().unwrap(), canonical);
    }
}
