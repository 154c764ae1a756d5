//! Every Hecto telegram struct and the `HectoMessage` dispatch enum on arbitrary bytes.
//!
//! Properties (for each type `T`):
//! - `T::decode` never panics; an error's offset lies within (or one past) the input, and its
//!   `Display` renders.
//! - When `decode(x)` is `Ok(v)`: `encode(v)` succeeds, `decode(encode(v)) == v`, and
//!   `encode(v) == x`. The byte identity holds for these layouts because every field has a
//!   single spelling of each value: AN text is trimmed of its 0x20 pad and re-padded (leading
//!   spaces are data and kept), N digits are fixed-width and '0'-padded, `Option` ⇔ all
//!   spaces, and no Hecto field uses `fullwidth`, `blank = "zero"`, `sign`, `truncate`, or
//!   `rest`.
//! - `HectoMessage::decode(x)` is `Ok` exactly when the header decodes and its key selects a
//!   variant whose struct decodes; the same round trips hold, and the variant's key matches
//!   the header.
//! - `fep_codec::dump` (the masked field table) never panics on anything that decodes.

#![no_main]

use fep_codec::{Layout, Telegram, TelegramFamily};
use fep_specs::hecto::{
    AccountNameInquiry, AdminMessage, BalanceInquiry, Collection, DepositNotice, HectoHeader,
    HectoMessage, Poll, Transfer, TransferFailNotice, TransferResultInquiry,
};
use libfuzzer_sys::fuzz_target;

/// Decodes `data` as `T` and checks the round trips; `whole_layout`: `T::layout()` describes
/// the whole telegram (false for the dispatch enum, whose `layout()` is the header's).
fn check<T>(data: &[u8], whole_layout: bool) -> Option<T>
where
    T: Telegram + std::fmt::Debug + PartialEq,
{
    match T::decode(data) {
        Ok(v) => {
            let encoded = v
                .encode()
                .unwrap_or_else(|e| panic!("decoded value does not encode: {e}\nvalue: {v:?}"));
            let again = T::decode(&encoded)
                .unwrap_or_else(|e| panic!("encode(decode(x)) does not decode: {e}\nvalue: {v:?}"));
            assert_eq!(again, v, "decode(encode(v)) != v");
            assert_eq!(
                encoded,
                data,
                "encode(decode(x)) != x\n got: {:?}\nwant: {:?}",
                String::from_utf8_lossy(&encoded),
                String::from_utf8_lossy(data)
            );
            if whole_layout {
                dump(T::layout(), data);
            }
            Some(v)
        }
        Err(e) => {
            assert!(
                e.offset() <= data.len(),
                "error offset {} beyond input of {} bytes: {e}",
                e.offset(),
                data.len()
            );
            let _ = e.to_string();
            let _ = e.path();
            None
        }
    }
}

/// The masked table renders whatever the derive decodes, and the layout agrees with it.
fn dump(layout: &Layout, data: &[u8]) {
    let table = fep_codec::dump(layout, data, false)
        .unwrap_or_else(|e| panic!("derive decodes but its layout does not: {e}"));
    assert!(!table.is_empty());
}

fuzz_target!(|data: &[u8]| {
    check::<HectoHeader>(data, true);
    check::<AdminMessage>(data, true);
    check::<Transfer>(data, true);
    check::<Collection>(data, true);
    check::<TransferFailNotice>(data, true);
    check::<DepositNotice>(data, true);
    check::<AccountNameInquiry>(data, true);
    check::<TransferResultInquiry>(data, true);
    check::<BalanceInquiry>(data, true);
    check::<Poll>(data, true);
    // Every telegram starts with the 100-byte header, so its first 100 bytes are checked too.
    if data.len() >= 100 {
        check::<HectoHeader>(&data[..100], true);
    }
    if let Some(m) = check::<HectoMessage>(data, false) {
        let layout = HectoMessage::layout_for_key(&m.key()).expect("decoded key has a layout");
        dump(layout, data);
        assert!(
            m.key_matches(),
            "dispatch picked a variant whose key the header does not hold"
        );
        assert_eq!(m.header(), &HectoHeader::decode(&data[..100]).unwrap());
    }
});
