//! The KIBNET family on arbitrary bytes: every derive struct of `fep_specs::kibnet`, the
//! `KibnetMessage` dispatch enum (key + 송수신 FLAG) and the dynamic codec of
//! `specs/kibnet.toml` — a LENGTH inside the nested header (`auto_len = "telegram"`), two
//! header flavours, tolerant N fields and a tolerant trailing FILLER.
//!
//! Properties (for each type `T`):
//! - `T::decode` never panics; an error's offset lies within (or one past) the input, and its
//!   `Display` renders.
//! - When `decode(x)` is `Ok(v)`: `encode(v)` succeeds (every value here fits: the LENGTH is
//!   at most 4 digits because inputs are shorter than 10,000 bytes), its bytes are canonical —
//!   they decode, and re-encode to themselves — and they are `x` itself whenever `x` was
//!   canonical already (same length as the layout, '0'-padded N fields).
//! - `KibnetMessage::decode(x)` picks the variant whose key and FLAG the header holds, and
//!   agrees with the dynamic codec (`Family::decode`): both succeed or both fail, on the same
//!   message, and their encodings are the same bytes.

#![no_main]

use fep_codec::spec::Family;
use fep_codec::{Telegram, TelegramFamily};
use fep_specs::kibnet::{
    Admin, DepositFail, KibAffHeader, KibVaHeader, KibnetMessage, NameInquiry, Payment,
    ResultInquiry, Statement, VaDeposit, VaNameInquiry,
};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn family() -> &'static Family {
    static FAMILY: OnceLock<Family> = OnceLock::new();
    FAMILY.get_or_init(|| Family::from_toml_str(fep_specs::KIBNET_TOML).expect("kibnet.toml"))
}

/// Decodes `data` as `T` and checks the round trips; returns the canonical encoding.
fn check<T>(data: &[u8]) -> Option<Vec<u8>>
where
    T: Telegram + std::fmt::Debug + PartialEq,
{
    match T::decode(data) {
        Ok(v) => {
            let encoded = v
                .encode()
                .unwrap_or_else(|e| panic!("decoded value does not encode: {e}\nvalue: {v:?}"));
            let again = T::decode(&encoded)
                .unwrap_or_else(|e| panic!("the canonical encoding does not decode: {e}"));
            assert_eq!(
                again.encode().ok().as_ref(),
                Some(&encoded),
                "encoding is not canonical"
            );
            if T::FIXED_LEN == Some(data.len()) && !data.contains(&b' ') {
                // No space anywhere: nothing for a tolerance to have normalised.
                assert_eq!(encoded, data, "encode(decode(x)) != x for a canonical x");
            }
            Some(encoded)
        }
        Err(e) => {
            assert!(
                e.offset() <= data.len(),
                "error offset {} beyond input of {} bytes: {e}",
                e.offset(),
                data.len()
            );
            let _ = e.to_string();
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() >= 10_000 {
        return;
    }
    check::<KibVaHeader>(data);
    check::<KibAffHeader>(data);
    check::<VaDeposit>(data);
    check::<Payment>(data);
    check::<VaNameInquiry>(data);
    check::<NameInquiry>(data);
    check::<DepositFail>(data);
    check::<Statement>(data);
    check::<ResultInquiry>(data);
    check::<Admin>(data);
    let derive = KibnetMessage::decode(data);
    let dynamic = family().decode(data);
    match (&derive, &dynamic) {
        (Ok(m), Ok((spec, record))) => {
            assert_eq!(
                m.key(),
                spec.key.as_slice(),
                "derive and TOML chose different keys"
            );
            let index = m.variant_index();
            assert_eq!(family().messages()[index].name, spec.name);
            let derive_bytes = m.encode().expect("decoded message encodes");
            let dynamic_bytes = spec
                .layout
                .encode_record(record)
                .expect("decoded record encodes");
            assert_eq!(derive_bytes, dynamic_bytes, "{}", spec.name);
            check::<KibnetMessage>(data);
        }
        (Err(_), Err(_)) => {}
        (d, y) => panic!(
            "derive and dynamic disagree: {:?} vs {:?}",
            d.as_ref().map(|m| m.key()),
            y.as_ref().map(|(s, _)| &s.name)
        ),
    }
});
