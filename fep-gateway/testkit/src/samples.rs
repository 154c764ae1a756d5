//! Sample telegrams for loads and tests.

use fep_codec::Telegram;
use fep_specs::hecto;

/// A Hecto transfer or name inquiry with realistic Korean content; the gateway stamps the
/// 전문번호, date and time.
pub fn sample_telegram(n: u64, inquiry: bool) -> Vec<u8> {
    let header = hecto::HectoHeader {
        id_code: hecto::ID_CODE.into(),
        company_no: "FEPDEMO01".into(),
        bank_code: "004".into(),
        msg_type: if inquiry { "6000" } else { "2000" }.into(),
        biz_type: "100".into(),
        send_count: 1,
        msg_no: 0,
        send_date: "00000000".into(),
        send_time: "000000".into(),
        ..Default::default()
    };
    let bytes = if inquiry {
        hecto::AccountNameInquiry {
            header,
            account: format!("1102{:08}", n % 100_000_000),
            real_name_no: "900101".into(),
            bank_code: "088".into(),
            ..Default::default()
        }
        .encode()
    } else {
        hecto::Transfer {
            header,
            wd_account: "110123456789".into(),
            wd_password: "1234".into(),
            amount: 10_000 + (n % 90_000),
            bal_sign: "+".into(),
            dep_bank: "088".into(),
            dep_account: format!("3333{:08}", n % 100_000_000),
            memo: "급여이체".into(),
            dep_holder: "홍길동".into(),
            ..Default::default()
        }
        .encode()
    };
    // The sample values fit their fields by construction.
    bytes.unwrap_or_default()
}

/// A third family's spec, written only in TOML (`tiny.toml`): what tests run through the
/// codec, the gateway and the simulator to show that no Rust change is needed for one.
pub const TINY_FAMILY: &str = include_str!("tiny.toml");
