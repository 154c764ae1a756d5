//! Codec benchmarks (issue #6): Hecto 2000/100 (`Transfer`) and 4000/100 (`DepositNotice`),
//! decode and encode, four ways, in one criterion run:
//!
//! - `derive`: `#[derive(Telegram)]` (`Transfer::decode` / `Transfer::encode`);
//! - `hand`: a decoder/encoder hand-written for speed for exactly this layout (fixed offsets,
//!   direct digit parsing, encoding_rs for Korean text) with the same rules (strict KS X 1001,
//!   NFC before encoding, printable ASCII only, no `&#NNNN;`) — the 1.5× yardstick;
//! - `dynamic`: the layout-driven codec on the layout loaded from `specs/hecto.toml`
//!   (`Layout::decode_record` / `Layout::encode_record`);
//! - `fixed_width`: the `fixed_width` crate (serde) with `fixed_width_derive` field ranges.
//!
//! Every implementation is checked once against the derive (same struct / same bytes) before
//! anything is timed. After criterion, `cargo bench` (not `cargo test --benches`) also prints a
//! ratio table measured side by side, interleaved, in this process: on a shared machine the
//! ratios are the claim, the absolute nanoseconds only indicative. `ratios.sh` prints the same
//! ratios from criterion's own estimates.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use fep_codec::spec::Family;
use fep_codec::{Layout, Record, Telegram};
use fep_specs::hecto::{DepositNotice, HectoHeader, Transfer};

// =============================================================================================
// Sample telegrams
// =============================================================================================

fn header(msg_type: &str, reserved3: &str) -> HectoHeader {
    HectoHeader {
        id_code: "SETTLEBNK".into(),
        company_no: "CORP0001".into(),
        bank_code: "004".into(),
        msg_type: msg_type.into(),
        biz_type: "100".into(),
        send_count: 1,
        msg_no: 123,
        send_date: "20261123".into(),
        send_time: "093015".into(),
        resp_code: String::new(),
        reserved1: String::new(),
        reserved2: String::new(),
        reserved3: reserved3.into(),
    }
}

/// 2000/100 with Korean 적요 "급여이체" and 예금주 "홍길동".
fn transfer() -> Transfer {
    Transfer {
        header: header("2000", ""),
        wd_account: "0123456789012".into(),
        wd_password: "1234".into(),
        verify_code: String::new(),
        amount: 1_500_000,
        bal_sign: String::new(),
        balance: None,
        dep_bank: "088".into(),
        dep_account: "110123456789".into(),
        fee: Some(500),
        cms_code: String::new(),
        memo: "급여이체".into(),
        dep_real_name_no: "900101".into(),
        dep_holder: "홍길동".into(),
        orig_msg_no: String::new(),
        fee_exempt: "N".into(),
        fund_type: "01".into(),
        filler: String::new(),
    }
}

/// 4000/100 with Korean 입/출금자성명 "주식회사가나" / "홍길동".
fn deposit_notice() -> DepositNotice {
    DepositNotice {
        header: header("4000", "NOTI20261123000017"),
        account: "12345678901234".into(),
        giro_branch: "0881234".into(),
        io_cancel_type: "11".into(),
        tx_kind: "03".into(),
        amount: 250_000,
        cash_like: Some(250_000),
        bill_other: Some(0),
        bal_sign: "+".into(),
        balance: Some(12_750_000),
        counterparty_name: "주식회사가나".into(),
        check_no: String::new(),
        tx_date: "20261123".into(),
        tx_time: "101502".into(),
        tx_seq: 17,
        cancel_orig_seq: None,
        orig_tx_date: None,
        cms_or_realname: String::new(),
        cashier_check_amt: Some(0),
        household_check_amt: Some(0),
        counterparty_name20: "홍길동".into(),
        amount_kind: String::new(),
        filler: String::new(),
    }
}

// =============================================================================================
// (b) Hand-written codec for exactly these layouts
// =============================================================================================

/// Hand-written decoders/encoders: fixed offsets into a `[u8; 300]`, digits parsed in a
/// `u64`, ASCII text copied, Korean text through encoding_rs in one call per field. Same
/// rules as fep-codec; errors are just the offset of the offending byte (or field).
mod hand {
    use std::borrow::Cow;

    use encoding_rs::{EncoderResult, EUC_KR};
    use fep_specs::hecto::{DepositNotice, HectoHeader, Transfer};
    use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

    /// Offset of the offending byte (decode) or the field (encode).
    #[derive(Debug, PartialEq, Eq)]
    pub struct Bad(pub usize);

    #[inline(always)]
    fn is_ksx(b: u8) -> bool {
        (0xA1..=0xFE).contains(&b)
    }

    /// AN text: trailing spaces trimmed; printable ASCII or strict KS X 1001 pairs.
    #[inline(always)]
    fn an(raw: &[u8], at: usize) -> Result<String, Bad> {
        let mut end = raw.len();
        while end > 0 && raw[end - 1] == b' ' {
            end -= 1;
        }
        let raw = &raw[..end];
        let mut i = 0;
        while i < raw.len() && raw[i] < 0x80 {
            if raw[i] < 0x20 || raw[i] == 0x7F {
                return Err(Bad(at + i));
            }
            i += 1;
        }
        if i == raw.len() {
            return std::str::from_utf8(raw)
                .map(str::to_owned)
                .map_err(|_| Bad(at));
        }
        while i < raw.len() {
            let b = raw[i];
            if b < 0x80 {
                if b < 0x20 || b == 0x7F {
                    return Err(Bad(at + i));
                }
                i += 1;
            } else {
                if !is_ksx(b) {
                    return Err(Bad(at + i));
                }
                match raw.get(i + 1) {
                    Some(&t) if is_ksx(t) => i += 2,
                    _ => return Err(Bad(at + i + 1)),
                }
            }
        }
        EUC_KR
            .decode_without_bom_handling_and_without_replacement(raw)
            .map(Cow::into_owned)
            .ok_or(Bad(at))
    }

    /// N digits kept as text.
    #[inline(always)]
    fn num_text(raw: &[u8], at: usize) -> Result<String, Bad> {
        if let Some(i) = raw.iter().position(|b| !b.is_ascii_digit()) {
            return Err(Bad(at + i));
        }
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| Bad(at))
    }

    /// N digits; at most 19 here, so a `u64` never overflows.
    #[inline(always)]
    fn digits(raw: &[u8], at: usize) -> Result<u64, Bad> {
        let mut v = 0u64;
        for (i, &b) in raw.iter().enumerate() {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return Err(Bad(at + i));
            }
            v = v * 10 + u64::from(d);
        }
        Ok(v)
    }

    #[inline(always)]
    fn opt_digits(raw: &[u8], at: usize) -> Result<Option<u64>, Bad> {
        if raw.iter().all(|&b| b == b' ') {
            return Ok(None);
        }
        digits(raw, at).map(Some)
    }

    #[inline(always)]
    fn opt_num_text(raw: &[u8], at: usize) -> Result<Option<String>, Bad> {
        if raw.iter().all(|&b| b == b' ') {
            return Ok(None);
        }
        num_text(raw, at).map(Some)
    }

    /// The `len` bytes at `at` of a whole telegram.
    macro_rules! f {
        ($b:ident, $at:literal, $len:literal) => {
            &$b[$at..$at + $len]
        };
    }

    fn header(b: &[u8; 300]) -> Result<HectoHeader, Bad> {
        Ok(HectoHeader {
            id_code: an(f!(b, 0, 9), 0)?,
            company_no: an(f!(b, 9, 12), 9)?,
            bank_code: num_text(f!(b, 21, 3), 21)?,
            msg_type: an(f!(b, 24, 4), 24)?,
            biz_type: an(f!(b, 28, 3), 28)?,
            send_count: digits(f!(b, 31, 1), 31)? as u8,
            msg_no: digits(f!(b, 32, 6), 32)? as u32,
            send_date: num_text(f!(b, 38, 8), 38)?,
            send_time: num_text(f!(b, 46, 6), 46)?,
            resp_code: an(f!(b, 52, 4), 52)?,
            reserved1: an(f!(b, 56, 15), 56)?,
            reserved2: an(f!(b, 71, 11), 71)?,
            reserved3: an(f!(b, 82, 18), 82)?,
        })
    }

    pub fn decode_transfer(bytes: &[u8]) -> Result<Transfer, Bad> {
        let b: &[u8; 300] = bytes.try_into().map_err(|_| Bad(bytes.len()))?;
        Ok(Transfer {
            header: header(b)?,
            wd_account: an(f!(b, 100, 15), 100)?,
            wd_password: an(f!(b, 115, 8), 115)?,
            verify_code: an(f!(b, 123, 6), 123)?,
            amount: digits(f!(b, 129, 13), 129)?,
            bal_sign: an(f!(b, 142, 1), 142)?,
            balance: opt_digits(f!(b, 143, 13), 143)?,
            dep_bank: num_text(f!(b, 156, 3), 156)?,
            dep_account: an(f!(b, 159, 15), 159)?,
            fee: opt_digits(f!(b, 174, 9), 174)?,
            cms_code: an(f!(b, 183, 16), 183)?,
            memo: an(f!(b, 199, 14), 199)?,
            dep_real_name_no: an(f!(b, 213, 13), 213)?,
            dep_holder: an(f!(b, 226, 12), 226)?,
            orig_msg_no: an(f!(b, 238, 6), 238)?,
            fee_exempt: an(f!(b, 244, 1), 244)?,
            fund_type: an(f!(b, 245, 2), 245)?,
            filler: an(f!(b, 247, 53), 247)?,
        })
    }

    pub fn decode_deposit_notice(bytes: &[u8]) -> Result<DepositNotice, Bad> {
        let b: &[u8; 300] = bytes.try_into().map_err(|_| Bad(bytes.len()))?;
        Ok(DepositNotice {
            header: header(b)?,
            account: an(f!(b, 100, 15), 100)?,
            giro_branch: an(f!(b, 115, 7), 115)?,
            io_cancel_type: an(f!(b, 122, 2), 122)?,
            tx_kind: an(f!(b, 124, 2), 124)?,
            amount: digits(f!(b, 126, 13), 126)?,
            cash_like: opt_digits(f!(b, 139, 13), 139)?,
            bill_other: opt_digits(f!(b, 152, 13), 152)?,
            bal_sign: an(f!(b, 165, 1), 165)?,
            balance: opt_digits(f!(b, 166, 13), 166)?,
            counterparty_name: an(f!(b, 179, 12), 179)?,
            check_no: an(f!(b, 191, 10), 191)?,
            tx_date: num_text(f!(b, 201, 8), 201)?,
            tx_time: num_text(f!(b, 209, 6), 209)?,
            tx_seq: digits(f!(b, 215, 6), 215)? as u32,
            cancel_orig_seq: opt_digits(f!(b, 221, 6), 221)?.map(|v| v as u32),
            orig_tx_date: opt_num_text(f!(b, 227, 8), 227)?,
            cms_or_realname: an(f!(b, 235, 16), 235)?,
            cashier_check_amt: opt_digits(f!(b, 251, 13), 251)?,
            household_check_amt: opt_digits(f!(b, 264, 13), 264)?,
            counterparty_name20: an(f!(b, 277, 20), 277)?,
            amount_kind: an(f!(b, 297, 2), 297)?,
            filler: an(f!(b, 299, 1), 299)?,
        })
    }

    // -----------------------------------------------------------------------------------------
    // Encode: into a 300-byte buffer pre-filled with spaces.

    /// AN text into `out` (spaces already there): NFC, strict KS X 1001, width checked.
    #[inline(always)]
    fn put_an(out: &mut [u8], s: &str, at: usize) -> Result<(), Bad> {
        let bytes = s.as_bytes();
        if s.is_ascii() {
            if bytes.len() > out.len() || bytes.iter().any(|&b| b < 0x20 || b == 0x7F) {
                return Err(Bad(at));
            }
            out[..bytes.len()].copy_from_slice(bytes);
            return Ok(());
        }
        if is_nfc_quick(s.chars()) != IsNormalized::Yes {
            let nfc: String = s.nfc().collect();
            return put_korean(out, &nfc, at);
        }
        put_korean(out, s, at)
    }

    fn put_korean(out: &mut [u8], s: &str, at: usize) -> Result<(), Bad> {
        let mut encoder = EUC_KR.new_encoder();
        let (result, _, written) = encoder.encode_from_utf8_without_replacement(s, out, true);
        if result != EncoderResult::InputEmpty {
            return Err(Bad(at)); // too long or unmappable
        }
        // encoding_rs's EUC-KR is windows-949: keep only KS X 1001 pairs and printable ASCII.
        let out = &out[..written];
        let mut i = 0;
        while i < out.len() {
            let b = out[i];
            if b < 0x80 {
                if b < 0x20 || b == 0x7F {
                    return Err(Bad(at));
                }
                i += 1;
            } else {
                if !(is_ksx(b) && out.get(i + 1).is_some_and(|&t| is_ksx(t))) {
                    return Err(Bad(at));
                }
                i += 2;
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn put_digits(out: &mut [u8], mut v: u64, at: usize) -> Result<(), Bad> {
        for slot in out.iter_mut().rev() {
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
        if v != 0 {
            return Err(Bad(at));
        }
        Ok(())
    }

    #[inline(always)]
    fn put_opt_digits(out: &mut [u8], v: Option<u64>, at: usize) -> Result<(), Bad> {
        match v {
            Some(v) => put_digits(out, v, at),
            None => Ok(()), // spaces already there
        }
    }

    #[inline(always)]
    fn put_num_text(out: &mut [u8], s: &str, at: usize) -> Result<(), Bad> {
        let d = s.as_bytes();
        if d.len() > out.len() || !d.iter().all(u8::is_ascii_digit) {
            return Err(Bad(at));
        }
        let pad = out.len() - d.len();
        out[..pad].fill(b'0');
        out[pad..].copy_from_slice(d);
        Ok(())
    }

    macro_rules! m {
        ($b:ident, $at:literal, $len:literal) => {
            &mut $b[$at..$at + $len]
        };
    }

    fn put_header(b: &mut [u8; 300], h: &HectoHeader) -> Result<(), Bad> {
        put_an(m!(b, 0, 9), &h.id_code, 0)?;
        put_an(m!(b, 9, 12), &h.company_no, 9)?;
        put_num_text(m!(b, 21, 3), &h.bank_code, 21)?;
        put_an(m!(b, 24, 4), &h.msg_type, 24)?;
        put_an(m!(b, 28, 3), &h.biz_type, 28)?;
        put_digits(m!(b, 31, 1), u64::from(h.send_count), 31)?;
        put_digits(m!(b, 32, 6), u64::from(h.msg_no), 32)?;
        put_num_text(m!(b, 38, 8), &h.send_date, 38)?;
        put_num_text(m!(b, 46, 6), &h.send_time, 46)?;
        put_an(m!(b, 52, 4), &h.resp_code, 52)?;
        put_an(m!(b, 56, 15), &h.reserved1, 56)?;
        put_an(m!(b, 71, 11), &h.reserved2, 71)?;
        put_an(m!(b, 82, 18), &h.reserved3, 82)
    }

    pub fn encode_transfer(t: &Transfer) -> Result<Vec<u8>, Bad> {
        let mut b = [b' '; 300];
        put_header(&mut b, &t.header)?;
        put_an(m!(b, 100, 15), &t.wd_account, 100)?;
        put_an(m!(b, 115, 8), &t.wd_password, 115)?;
        put_an(m!(b, 123, 6), &t.verify_code, 123)?;
        put_digits(m!(b, 129, 13), t.amount, 129)?;
        put_an(m!(b, 142, 1), &t.bal_sign, 142)?;
        put_opt_digits(m!(b, 143, 13), t.balance, 143)?;
        put_num_text(m!(b, 156, 3), &t.dep_bank, 156)?;
        put_an(m!(b, 159, 15), &t.dep_account, 159)?;
        put_opt_digits(m!(b, 174, 9), t.fee, 174)?;
        put_an(m!(b, 183, 16), &t.cms_code, 183)?;
        put_an(m!(b, 199, 14), &t.memo, 199)?;
        put_an(m!(b, 213, 13), &t.dep_real_name_no, 213)?;
        put_an(m!(b, 226, 12), &t.dep_holder, 226)?;
        put_an(m!(b, 238, 6), &t.orig_msg_no, 238)?;
        put_an(m!(b, 244, 1), &t.fee_exempt, 244)?;
        put_an(m!(b, 245, 2), &t.fund_type, 245)?;
        put_an(m!(b, 247, 53), &t.filler, 247)?;
        Ok(b.to_vec())
    }

    pub fn encode_deposit_notice(t: &DepositNotice) -> Result<Vec<u8>, Bad> {
        let mut b = [b' '; 300];
        put_header(&mut b, &t.header)?;
        put_an(m!(b, 100, 15), &t.account, 100)?;
        put_an(m!(b, 115, 7), &t.giro_branch, 115)?;
        put_an(m!(b, 122, 2), &t.io_cancel_type, 122)?;
        put_an(m!(b, 124, 2), &t.tx_kind, 124)?;
        put_digits(m!(b, 126, 13), t.amount, 126)?;
        put_opt_digits(m!(b, 139, 13), t.cash_like, 139)?;
        put_opt_digits(m!(b, 152, 13), t.bill_other, 152)?;
        put_an(m!(b, 165, 1), &t.bal_sign, 165)?;
        put_opt_digits(m!(b, 166, 13), t.balance, 166)?;
        put_an(m!(b, 179, 12), &t.counterparty_name, 179)?;
        put_an(m!(b, 191, 10), &t.check_no, 191)?;
        put_num_text(m!(b, 201, 8), &t.tx_date, 201)?;
        put_num_text(m!(b, 209, 6), &t.tx_time, 209)?;
        put_digits(m!(b, 215, 6), u64::from(t.tx_seq), 215)?;
        put_opt_digits(m!(b, 221, 6), t.cancel_orig_seq.map(u64::from), 221)?;
        if let Some(d) = &t.orig_tx_date {
            put_num_text(m!(b, 227, 8), d, 227)?;
        }
        put_an(m!(b, 235, 16), &t.cms_or_realname, 235)?;
        put_opt_digits(m!(b, 251, 13), t.cashier_check_amt, 251)?;
        put_opt_digits(m!(b, 264, 13), t.household_check_amt, 264)?;
        put_an(m!(b, 277, 20), &t.counterparty_name20, 277)?;
        put_an(m!(b, 297, 2), &t.amount_kind, 297)?;
        put_an(m!(b, 299, 1), &t.filler, 299)?;
        Ok(b.to_vec())
    }
}

// =============================================================================================
// (d) The `fixed_width` crate (serde)
// =============================================================================================

/// The same layouts as `fixed_width` + serde structs. fixed_width reads each field's byte range
/// as UTF-8 (`str::from_utf8`, then `trim()` of both ends) and writes `to_string()` / the str's
/// UTF-8 bytes padded with `pad_with`. EUC-KR text is not UTF-8, so text fields go through a
/// small serde `with` module (encoding_rs) that this file supplies; blank `Option<u64>` needs
/// one too, because `pad_with = "0"` would turn `None` into zeros.
mod fw {
    use std::borrow::Cow;

    use encoding_rs::EUC_KR;
    use fep_specs::hecto::{DepositNotice, HectoHeader, Transfer};
    use fixed_width_derive::FixedWidth;
    use serde::de::Error as _;
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// EUC-KR text: raw bytes from fixed_width, trailing pad trimmed, decoded by encoding_rs;
    /// encoded by encoding_rs (no replacement) and handed to fixed_width as bytes to pad.
    /// (A newtype, because fixed_width_derive 0.6 panics on `#[serde(with = "…")]`.)
    #[derive(Debug, Clone, PartialEq)]
    pub struct Text(pub String);

    impl<'de> Deserialize<'de> for Text {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let raw: &[u8] = <&[u8]>::deserialize(d)?;
            let end = raw.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
            EUC_KR
                .decode_without_bom_handling_and_without_replacement(&raw[..end])
                .map(|s| Text(Cow::into_owned(s)))
                .ok_or_else(|| D::Error::custom("not EUC-KR"))
        }
    }

    impl Serialize for Text {
        fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
            let (bytes, _, unmappable) = EUC_KR.encode(&self.0);
            if unmappable {
                return Err(S::Error::custom("not representable in EUC-KR"));
            }
            ser.serialize_bytes(&bytes)
        }
    }

    /// An optional N field of width `W`: `Some(n)` as zero-padded digits, `None` as the
    /// field's space padding (a plain `Option<u64>` with `pad_with = "0"` writes `None` as
    /// zeros, and without it writes `Some(5)` as `"5    "`).
    #[derive(Debug, Clone, PartialEq)]
    pub struct OptNum<const W: usize>(pub Option<u64>);

    impl<'de, const W: usize> Deserialize<'de> for OptNum<W> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            Option::<u64>::deserialize(d).map(OptNum)
        }
    }

    impl<const W: usize> Serialize for OptNum<W> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self.0 {
                Some(v) => s.serialize_str(&format!("{v:0W$}")),
                None => s.serialize_none(),
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, FixedWidth)]
    pub struct FwTransfer {
        #[fixed_width(range = "0..9")]
        pub id_code: Text,
        #[fixed_width(range = "9..21")]
        pub company_no: Text,
        #[fixed_width(range = "21..24", pad_with = "0", justify = "right")]
        pub bank_code: String,
        #[fixed_width(range = "24..28")]
        pub msg_type: Text,
        #[fixed_width(range = "28..31")]
        pub biz_type: Text,
        #[fixed_width(range = "31..32", pad_with = "0", justify = "right")]
        pub send_count: u8,
        #[fixed_width(range = "32..38", pad_with = "0", justify = "right")]
        pub msg_no: u32,
        #[fixed_width(range = "38..46", pad_with = "0", justify = "right")]
        pub send_date: String,
        #[fixed_width(range = "46..52", pad_with = "0", justify = "right")]
        pub send_time: String,
        #[fixed_width(range = "52..56")]
        pub resp_code: Text,
        #[fixed_width(range = "56..71")]
        pub reserved1: Text,
        #[fixed_width(range = "71..82")]
        pub reserved2: Text,
        #[fixed_width(range = "82..100")]
        pub reserved3: Text,
        #[fixed_width(range = "100..115")]
        pub wd_account: Text,
        #[fixed_width(range = "115..123")]
        pub wd_password: Text,
        #[fixed_width(range = "123..129")]
        pub verify_code: Text,
        #[fixed_width(range = "129..142", pad_with = "0", justify = "right")]
        pub amount: u64,
        #[fixed_width(range = "142..143")]
        pub bal_sign: Text,
        #[fixed_width(range = "143..156")]
        pub balance: OptNum<13>,
        #[fixed_width(range = "156..159", pad_with = "0", justify = "right")]
        pub dep_bank: String,
        #[fixed_width(range = "159..174")]
        pub dep_account: Text,
        #[fixed_width(range = "174..183")]
        pub fee: OptNum<9>,
        #[fixed_width(range = "183..199")]
        pub cms_code: Text,
        #[fixed_width(range = "199..213")]
        pub memo: Text,
        #[fixed_width(range = "213..226")]
        pub dep_real_name_no: Text,
        #[fixed_width(range = "226..238")]
        pub dep_holder: Text,
        #[fixed_width(range = "238..244")]
        pub orig_msg_no: Text,
        #[fixed_width(range = "244..245")]
        pub fee_exempt: Text,
        #[fixed_width(range = "245..247")]
        pub fund_type: Text,
        #[fixed_width(range = "247..300")]
        pub filler: Text,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, FixedWidth)]
    pub struct FwDepositNotice {
        #[fixed_width(range = "0..9")]
        pub id_code: Text,
        #[fixed_width(range = "9..21")]
        pub company_no: Text,
        #[fixed_width(range = "21..24", pad_with = "0", justify = "right")]
        pub bank_code: String,
        #[fixed_width(range = "24..28")]
        pub msg_type: Text,
        #[fixed_width(range = "28..31")]
        pub biz_type: Text,
        #[fixed_width(range = "31..32", pad_with = "0", justify = "right")]
        pub send_count: u8,
        #[fixed_width(range = "32..38", pad_with = "0", justify = "right")]
        pub msg_no: u32,
        #[fixed_width(range = "38..46", pad_with = "0", justify = "right")]
        pub send_date: String,
        #[fixed_width(range = "46..52", pad_with = "0", justify = "right")]
        pub send_time: String,
        #[fixed_width(range = "52..56")]
        pub resp_code: Text,
        #[fixed_width(range = "56..71")]
        pub reserved1: Text,
        #[fixed_width(range = "71..82")]
        pub reserved2: Text,
        #[fixed_width(range = "82..100")]
        pub reserved3: Text,
        #[fixed_width(range = "100..115")]
        pub account: Text,
        #[fixed_width(range = "115..122")]
        pub giro_branch: Text,
        #[fixed_width(range = "122..124")]
        pub io_cancel_type: Text,
        #[fixed_width(range = "124..126")]
        pub tx_kind: Text,
        #[fixed_width(range = "126..139", pad_with = "0", justify = "right")]
        pub amount: u64,
        #[fixed_width(range = "139..152")]
        pub cash_like: OptNum<13>,
        #[fixed_width(range = "152..165")]
        pub bill_other: OptNum<13>,
        #[fixed_width(range = "165..166")]
        pub bal_sign: Text,
        #[fixed_width(range = "166..179")]
        pub balance: OptNum<13>,
        #[fixed_width(range = "179..191")]
        pub counterparty_name: Text,
        #[fixed_width(range = "191..201")]
        pub check_no: Text,
        #[fixed_width(range = "201..209", pad_with = "0", justify = "right")]
        pub tx_date: String,
        #[fixed_width(range = "209..215", pad_with = "0", justify = "right")]
        pub tx_time: String,
        #[fixed_width(range = "215..221", pad_with = "0", justify = "right")]
        pub tx_seq: u32,
        #[fixed_width(range = "221..227")]
        pub cancel_orig_seq: Option<u32>,
        #[fixed_width(range = "227..235")]
        pub orig_tx_date: Option<String>,
        #[fixed_width(range = "235..251")]
        pub cms_or_realname: Text,
        #[fixed_width(range = "251..264")]
        pub cashier_check_amt: OptNum<13>,
        #[fixed_width(range = "264..277")]
        pub household_check_amt: OptNum<13>,
        #[fixed_width(range = "277..297")]
        pub counterparty_name20: Text,
        #[fixed_width(range = "297..299")]
        pub amount_kind: Text,
        #[fixed_width(range = "299..300")]
        pub filler: Text,
    }

    // Conversions, used only to check equality with the derive (never timed).

    fn t(s: &str) -> Text {
        Text(s.to_owned())
    }

    impl From<&Transfer> for FwTransfer {
        fn from(v: &Transfer) -> Self {
            let h: &HectoHeader = &v.header;
            FwTransfer {
                id_code: t(&h.id_code),
                company_no: t(&h.company_no),
                bank_code: h.bank_code.clone(),
                msg_type: t(&h.msg_type),
                biz_type: t(&h.biz_type),
                send_count: h.send_count,
                msg_no: h.msg_no,
                send_date: h.send_date.clone(),
                send_time: h.send_time.clone(),
                resp_code: t(&h.resp_code),
                reserved1: t(&h.reserved1),
                reserved2: t(&h.reserved2),
                reserved3: t(&h.reserved3),
                wd_account: t(&v.wd_account),
                wd_password: t(&v.wd_password),
                verify_code: t(&v.verify_code),
                amount: v.amount,
                bal_sign: t(&v.bal_sign),
                balance: OptNum(v.balance),
                dep_bank: v.dep_bank.clone(),
                dep_account: t(&v.dep_account),
                fee: OptNum(v.fee),
                cms_code: t(&v.cms_code),
                memo: t(&v.memo),
                dep_real_name_no: t(&v.dep_real_name_no),
                dep_holder: t(&v.dep_holder),
                orig_msg_no: t(&v.orig_msg_no),
                fee_exempt: t(&v.fee_exempt),
                fund_type: t(&v.fund_type),
                filler: t(&v.filler),
            }
        }
    }

    impl From<&DepositNotice> for FwDepositNotice {
        fn from(v: &DepositNotice) -> Self {
            let h: &HectoHeader = &v.header;
            FwDepositNotice {
                id_code: t(&h.id_code),
                company_no: t(&h.company_no),
                bank_code: h.bank_code.clone(),
                msg_type: t(&h.msg_type),
                biz_type: t(&h.biz_type),
                send_count: h.send_count,
                msg_no: h.msg_no,
                send_date: h.send_date.clone(),
                send_time: h.send_time.clone(),
                resp_code: t(&h.resp_code),
                reserved1: t(&h.reserved1),
                reserved2: t(&h.reserved2),
                reserved3: t(&h.reserved3),
                account: t(&v.account),
                giro_branch: t(&v.giro_branch),
                io_cancel_type: t(&v.io_cancel_type),
                tx_kind: t(&v.tx_kind),
                amount: v.amount,
                cash_like: OptNum(v.cash_like),
                bill_other: OptNum(v.bill_other),
                bal_sign: t(&v.bal_sign),
                balance: OptNum(v.balance),
                counterparty_name: t(&v.counterparty_name),
                check_no: t(&v.check_no),
                tx_date: v.tx_date.clone(),
                tx_time: v.tx_time.clone(),
                tx_seq: v.tx_seq,
                cancel_orig_seq: v.cancel_orig_seq,
                orig_tx_date: v.orig_tx_date.clone(),
                cms_or_realname: t(&v.cms_or_realname),
                cashier_check_amt: OptNum(v.cashier_check_amt),
                household_check_amt: OptNum(v.household_check_amt),
                counterparty_name20: t(&v.counterparty_name20),
                amount_kind: t(&v.amount_kind),
                filler: t(&v.filler),
            }
        }
    }
}

// =============================================================================================
// The cases
// =============================================================================================

/// One message type, every implementation's input prepared and checked against the derive.
struct Case<T, F> {
    name: &'static str,
    bytes: Vec<u8>,
    value: T,
    fw_value: F,
    layout: Layout,
    record: Record,
    hand_decode: fn(&[u8]) -> Result<T, hand::Bad>,
    hand_encode: fn(&T) -> Result<Vec<u8>, hand::Bad>,
}

fn case<T, F>(
    name: &'static str,
    key: &str,
    family: &Family,
    value: T,
    hand_decode: fn(&[u8]) -> Result<T, hand::Bad>,
    hand_encode: fn(&T) -> Result<Vec<u8>, hand::Bad>,
) -> Case<T, F>
where
    T: Telegram + PartialEq + std::fmt::Debug,
    F: for<'a> From<&'a T>
        + fixed_width::FixedWidth
        + serde::Serialize
        + for<'de> serde::Deserialize<'de>
        + PartialEq
        + std::fmt::Debug,
{
    let bytes = value.encode().expect("sample encodes");
    assert_eq!(bytes.len(), 300);
    assert_eq!(T::decode(&bytes).expect("derive decodes"), value);
    // (b) hand-written: same struct, same bytes.
    assert_eq!(
        hand_decode(&bytes).expect("hand decodes"),
        value,
        "{name}: hand decode"
    );
    assert_eq!(
        hand_encode(&value).expect("hand encodes"),
        bytes,
        "{name}: hand encode"
    );
    // (c) dynamic, on the layout loaded from hecto.toml: same layout as the derive's, and the
    // record encodes back to the same bytes.
    let layout = family
        .message(key)
        .unwrap_or_else(|| panic!("{key} in hecto.toml"))
        .layout
        .clone();
    assert_eq!(&layout, T::layout(), "{name}: TOML layout = derive layout");
    let record = layout.decode_record(&bytes).expect("dynamic decodes");
    assert_eq!(
        layout.encode_record(&record).expect("dynamic encodes"),
        bytes
    );
    // (d) fixed_width: same values, same bytes.
    let fw_value = F::from(&value);
    let fw_decoded: F = fixed_width::from_bytes(&bytes).expect("fixed_width decodes");
    assert_eq!(fw_decoded, fw_value, "{name}: fixed_width decode");
    let fw_bytes = fixed_width::to_bytes(&fw_value).expect("fixed_width encodes");
    assert_eq!(fw_bytes, bytes, "{name}: fixed_width encode");
    Case {
        name,
        bytes,
        value,
        fw_value,
        layout,
        record,
        hand_decode,
        hand_encode,
    }
}

const IMPLS: [&str; 4] = ["derive", "hand", "dynamic", "fixed_width"];

impl<T, F> Case<T, F>
where
    T: Telegram,
    F: fixed_width::FixedWidth + serde::Serialize + for<'de> serde::Deserialize<'de>,
{
    /// Runs `iters` decodes (`encode == false`) or encodes with implementation `imp`.
    #[inline(never)]
    fn run(&self, imp: usize, encode: bool, iters: u64) {
        let bytes = black_box(&self.bytes[..]);
        for _ in 0..iters {
            match (imp, encode) {
                (0, false) => drop(black_box(T::decode(bytes))),
                (1, false) => drop(black_box((self.hand_decode)(bytes))),
                (2, false) => drop(black_box(self.layout.decode_record(bytes))),
                (3, false) => drop(black_box(fixed_width::from_bytes::<F>(bytes))),
                (0, true) => drop(black_box(black_box(&self.value).encode())),
                (1, true) => drop(black_box((self.hand_encode)(black_box(&self.value)))),
                (2, true) => drop(black_box(
                    self.layout.encode_record(black_box(&self.record)),
                )),
                _ => drop(black_box(fixed_width::to_bytes(black_box(&self.fw_value)))),
            }
        }
    }

    fn criterion(&self, c: &mut Criterion) {
        for (encode, dir) in [(false, "decode"), (true, "encode")] {
            let mut g = c.benchmark_group(format!("{}_{dir}", self.name));
            for (imp, id) in IMPLS.iter().enumerate() {
                g.bench_function(*id, |b| {
                    b.iter_custom(|iters| {
                        let t = Instant::now();
                        self.run(imp, encode, iters);
                        t.elapsed()
                    })
                });
            }
            g.finish();
        }
    }

    /// ns/op for every implementation, measured interleaved: `rounds` rounds, each running
    /// every implementation for ~`slice`; the median round per implementation.
    fn side_by_side(&self, encode: bool, rounds: usize, slice: Duration) -> [f64; 4] {
        // Calibrate iterations per slice on the slowest (fixed_width).
        let mut iters = 64u64;
        loop {
            let t = Instant::now();
            self.run(3, encode, iters);
            if t.elapsed() >= slice / 4 {
                break;
            }
            iters *= 2;
        }
        let iters = iters * 4;
        let mut samples: [Vec<f64>; 4] = Default::default();
        for _ in 0..rounds {
            for (imp, s) in samples.iter_mut().enumerate() {
                // fixed_width is the slowest: the others run proportionally more iterations.
                let n = if imp == 3 { iters } else { iters * 8 };
                let t = Instant::now();
                self.run(imp, encode, n);
                s.push(t.elapsed().as_nanos() as f64 / n as f64);
            }
        }
        samples.map(|mut s| {
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        })
    }
}

fn table_row(name: &str, dir: &str, ns: [f64; 4]) -> String {
    let [derive, hand, dynamic, fw] = ns;
    let mark = |ok: bool| if ok { "ok" } else { "MISS" };
    format!(
        "| {name} {dir} | {derive:.0} | {hand:.0} | {dynamic:.0} | {fw:.0} | {:.2}× {} | {:.1}× {} | {:.2}× {} |",
        derive / hand,
        mark(derive / hand <= 1.5),
        fw / derive,
        mark(fw / derive >= 10.0),
        dynamic / derive,
        mark(dynamic / derive <= 5.0),
    )
}

fn main() {
    let family =
        Family::load(concat!(env!("CARGO_MANIFEST_DIR"), "/hecto.toml")).expect("hecto.toml");
    let transfer = case::<_, fw::FwTransfer>(
        "transfer_2000_100",
        "2000/100",
        &family,
        transfer(),
        hand::decode_transfer,
        hand::encode_transfer,
    );
    let notice = case::<_, fw::FwDepositNotice>(
        "deposit_notice_4000_100",
        "4000/100",
        &family,
        deposit_notice(),
        hand::decode_deposit_notice,
        hand::encode_deposit_notice,
    );

    // For a profiler (callgrind counts instructions deterministically on a noisy machine):
    // `CODEC_BENCH_ONLY="transfer|notice decode|encode derive|hand|dynamic|fixed_width N"`
    // runs just that loop N times and exits, e.g.
    // `CODEC_BENCH_ONLY="transfer decode derive 1000" valgrind --tool=callgrind \
    //    --toggle-collect='*Case*run*' target/release/deps/codec-…`.
    if let Ok(only) = std::env::var("CODEC_BENCH_ONLY") {
        let w: Vec<&str> = only.split_whitespace().collect();
        let imp = IMPLS
            .iter()
            .position(|i| Some(i) == w.get(2))
            .expect("implementation");
        let encode = w.get(1) == Some(&"encode");
        let n = w.get(3).and_then(|n| n.parse().ok()).unwrap_or(1000);
        match w.first() {
            Some(&"notice") => notice.run(imp, encode, n),
            _ => transfer.run(imp, encode, n),
        }
        return;
    }

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .configure_from_args();
    transfer.criterion(&mut c);
    notice.criterion(&mut c);
    c.final_summary();

    // `cargo test --benches` runs this binary without `--bench`: checks only, no timing; a
    // `--profile-time` run is for a profiler: no table either.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--profile-time") {
        return;
    }
    println!();
    println!("Side by side, interleaved (median of 15 rounds, ns per telegram):");
    println!();
    println!(
        "| telegram | derive | hand | dynamic | fixed_width | derive/hand (≤1.5) | fixed_width/derive (≥10) | dynamic/derive (≤5) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let slice = Duration::from_millis(40);
    for (encode, dir) in [(false, "decode"), (true, "encode")] {
        println!(
            "{}",
            table_row("2000/100", dir, transfer.side_by_side(encode, 15, slice))
        );
        println!(
            "{}",
            table_row("4000/100", dir, notice.side_by_side(encode, 15, slice))
        );
    }
}
