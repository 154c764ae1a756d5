//! Property tests: values → bytes → values, canonical bytes → value → bytes, and decoding
//! arbitrary bytes never panics. Hangul comes from the whole KS X 1001 set (euc-kr) and all
//! 11,172 syllables (cp949).

use fep_codec::{Telegram, TelegramFamily};
use proptest::prelude::*;

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 8)]
struct Item {
    #[telegram(len = 4)]
    code: u16,
    #[telegram(len = 4)]
    tag: String,
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr")]
struct Sample {
    #[telegram(len = 20, label = "예금주")]
    holder: String,
    #[telegram(len = 20, charset = "cp949")]
    wide_holder: String,
    #[telegram(len = 10, charset = "ascii")]
    ascii: String,
    #[telegram(len = 13)]
    amount: u64,
    #[telegram(len = 13, sign = "leading")]
    balance: i64,
    #[telegram(len = 9)]
    fee: Option<u32>,
    #[telegram(len = 6, numeric)]
    bank: String,
    #[telegram(len = 14, fullwidth)]
    memo: String,
    pair: [Item; 2],
    #[telegram(len = 2)]
    n: u8,
    #[telegram(count = n, max = 5)]
    items: Vec<Item>,
    #[telegram(rest)]
    filler: String,
}

/// The 2,350 KS X 1001 Hangul syllables: lead 0xB0..=0xC8, trail 0xA1..=0xFE.
fn ksx1001_hangul() -> impl Strategy<Value = char> {
    (0xB0u8..=0xC8, 0xA1u8..=0xFE).prop_map(|(l, t)| {
        let pair = [l, t];
        let (s, _, bad) = encoding_rs::EUC_KR.decode(&pair);
        assert!(!bad);
        s.chars().next().unwrap_or('가')
    })
}

fn any_hangul() -> impl Strategy<Value = char> {
    (0xAC00u32..=0xD7A3).prop_map(|c| char::from_u32(c).unwrap_or('가'))
}

fn printable() -> impl Strategy<Value = char> {
    (0x20u8..=0x7E).prop_map(char::from)
}

/// Text of at most `width` bytes (Hangul = 2 bytes) that does not end in a space.
fn text(hangul: BoxedStrategy<char>, width: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![printable(), hangul], 0..=width).prop_map(move |chars| {
        let mut s = String::new();
        let mut used = 0;
        for c in chars {
            let n = if c.is_ascii() { 1 } else { 2 };
            if used + n > width {
                break;
            }
            used += n;
            s.push(c);
        }
        s.trim_end_matches(' ').to_owned()
    })
}

fn item() -> impl Strategy<Value = Item> {
    (0u16..=9999, "[A-Z0-9]{0,4}").prop_map(|(code, tag)| Item { code, tag })
}

fn sample() -> impl Strategy<Value = Sample> {
    (
        (
            text(ksx1001_hangul().boxed(), 20),
            text(any_hangul().boxed(), 20),
            text(printable().boxed(), 10),
            0u64..=9_999_999_999_999,
            -999_999_999_999i64..=999_999_999_999,
            prop::option::of(0u32..=999_999_999),
        ),
        (
            "[0-9]{6}",
            "[!-~]{0,7}",
            [item(), item()],
            prop::collection::vec(item(), 0..=5),
            text(ksx1001_hangul().boxed(), 30).prop_map(|s| format!("  {s} ")),
        ),
    )
        .prop_map(
            |(
                (holder, wide_holder, ascii, amount, balance, fee),
                (bank, memo, pair, items, filler),
            )| Sample {
                holder,
                wide_holder,
                ascii,
                amount,
                balance,
                fee,
                bank,
                memo,
                pair,
                n: items.len() as u8,
                items,
                filler,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn values_to_bytes_to_values(v in sample()) {
        let bytes = v.encode().unwrap();
        prop_assert_eq!(Sample::decode(&bytes).unwrap(), v.clone());
        // The dynamic codec reads and writes the same bytes.
        let record = Sample::layout().decode_record(&bytes).unwrap();
        prop_assert_eq!(Sample::layout().encode_record(&record).unwrap(), bytes);
    }

    #[test]
    fn canonical_bytes_to_value_to_bytes(
        holder in prop::collection::vec(prop_oneof![
            (0x20u8..=0x7E).prop_map(|b| vec![b]),
            (0xB0u8..=0xC8, 0xA1u8..=0xFE).prop_map(|(l, t)| vec![l, t]),
        ], 0..10),
        digits in "[0-9]{13}",
        bank in "[0-9]{6}",
    ) {
        // A hand-assembled Item-free sample: holder (euc-kr 20), then fixed fields.
        let mut field: Vec<u8> = holder.concat();
        field.truncate(20);
        if field.len() % 2 == 1 && field.last().is_some_and(|b| *b >= 0x80) {
            field.pop(); // never leave half a character
        }
        field.resize(20, b' ');
        let mut bytes = field;
        bytes.extend_from_slice(&[b' '; 20]); // wide_holder
        bytes.extend_from_slice(b"ASCII     ");
        bytes.extend_from_slice(digits.as_bytes()); // amount
        bytes.extend_from_slice(b"+000000000042"); // balance
        bytes.extend_from_slice(b"         "); // fee: blank
        bytes.extend_from_slice(bank.as_bytes());
        bytes.extend_from_slice(&[0xA3, 0xC1, b' ', b' ', b' ', b' ', b' ', b' ', b' ', b' ', b' ', b' ', b' ', b' ']); // Ａ
        bytes.extend_from_slice(b"0001ABCD0002    ");
        bytes.extend_from_slice(b"01");
        bytes.extend_from_slice(b"0003XY  ");
        bytes.extend_from_slice(b" rest ");
        match Sample::decode(&bytes) {
            Ok(v) => prop_assert_eq!(v.encode().unwrap(), bytes),
            // Only a lone lead byte cut by truncation can be invalid, and that must be an error, not a panic.
            Err(e) => prop_assert!(e.offset() < 20, "{}", e),
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..260)) {
        if let Ok(v) = Sample::decode(&bytes) {
            let again = v.encode().unwrap();
            prop_assert_eq!(Sample::decode(&again).unwrap(), v);
        }
        let _ = Sample::layout().decode_record(&bytes);
        let _ = Family::decode(&bytes);
    }

    #[test]
    fn mutated_valid_telegrams_never_panic(v in sample(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = v.encode().unwrap();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        match Sample::decode(&bytes) {
            Ok(d) => { let _ = d.encode(); }
            Err(e) => prop_assert!(e.offset() <= bytes.len()),
        }
    }
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(len = 7)]
struct Head {
    #[telegram(len = 4)]
    msg_type: String,
    #[telegram(len = 3)]
    biz_type: String,
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
struct WithSample {
    head: Head,
    sample: Sample,
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq)]
#[telegram(header = Head, key(msg_type, biz_type))]
enum Family {
    #[telegram(key("2000", "100"))]
    A(WithSample),
    #[telegram(key("2100", "100"))]
    B(WithSample),
}

proptest! {
    #[test]
    fn family_round_trip(v in sample(), response in any::<bool>()) {
        let key = if response { "2100" } else { "2000" };
        let inner = WithSample { head: Head { msg_type: key.into(), biz_type: "100".into() }, sample: v };
        let msg = if response { Family::B(inner) } else { Family::A(inner) };
        let bytes = msg.encode().unwrap();
        let back = Family::decode(&bytes).unwrap();
        prop_assert_eq!(back.key()[0], key);
        prop_assert_eq!(back, msg);
    }
}
