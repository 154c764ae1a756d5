//! Property tests: every Hecto struct round-trips (value → bytes → value) for valid values,
//! and the dispatch enum round-trips every variant.

use fep_codec::Telegram;
use fep_specs::hecto::*;
use proptest::prelude::*;

/// Hangul syllables that are in KS X 1001 (each encodes to exactly 2 EUC-KR bytes; checked
/// with `python3 -c "[c for c in S if len(c.encode('euc-kr')) != 2]"` → `[]`).
const HANGUL: &str = "가각간갈감갑강개거건검게겨결경고공과관교구국군권귀규그근금급기김나남내노농누\
다단달담대도동두드라로리마만명모무문미민박반방배백법보부북분비사산상서석선성세소수시신실아안야양어\
여연영예오온와요용우원월위유은을음의이인일임자장재전정제조종주중지진집차창채천철청초최추충치카타태\
토통파판편포표하학한할함해행허현형호홍화환황회효후희헥셜낸틀뱅크";

fn hangul() -> Vec<char> {
    HANGUL.chars().collect()
}

/// One AN character: printable ASCII (including space) or a KS X 1001 Hangul syllable.
fn an_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => (0x20u8..=0x7e).prop_map(|b| b as char),
        1 => proptest::sample::select(hangul()),
    ]
}

/// AN text of at most `width` EUC-KR bytes, without trailing spaces (decode trims them).
fn an(width: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(an_char(), 0..=width).prop_map(move |chars| {
        let mut s = String::new();
        let mut used = 0;
        for c in chars {
            let w = if c.is_ascii() { 1 } else { 2 };
            if used + w > width {
                break;
            }
            s.push(c);
            used += w;
        }
        s.trim_end_matches(' ').to_owned()
    })
}

/// `numeric` text: exactly `width` ASCII digits (leading zeros kept).
fn digits(width: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[0-9]{{{width}}}")).unwrap()
}

fn opt_digits(width: usize) -> impl Strategy<Value = Option<String>> {
    proptest::option::of(digits(width))
}

/// An N amount fitting `width` digits.
fn num(width: u32) -> impl Strategy<Value = u64> {
    0..10u64.pow(width)
}

fn opt_num(width: u32) -> impl Strategy<Value = Option<u64>> {
    proptest::option::of(num(width))
}

fn header() -> impl Strategy<Value = HectoHeader> {
    (
        (
            an(9),
            an(12),
            digits(3),
            an(4),
            an(3),
            0u8..10,
            0u32..1_000_000,
        ),
        (digits(8), digits(6), an(4), an(15), an(11), an(18)),
    )
        .prop_map(
            |(
                (id_code, company_no, bank_code, msg_type, biz_type, send_count, msg_no),
                (send_date, send_time, resp_code, reserved1, reserved2, reserved3),
            )| HectoHeader {
                id_code,
                company_no,
                bank_code,
                msg_type,
                biz_type,
                send_count,
                msg_no,
                send_date,
                send_time,
                resp_code,
                reserved1,
                reserved2,
                reserved3,
            },
        )
}

fn admin() -> impl Strategy<Value = AdminMessage> {
    (header(), an(200)).prop_map(|(header, filler)| AdminMessage { header, filler })
}

fn transfer() -> impl Strategy<Value = Transfer> {
    (
        header(),
        (
            an(15),
            an(8),
            an(6),
            num(13),
            an(1),
            opt_num(13),
            digits(3),
            an(15),
            opt_num(9),
        ),
        (an(16), an(14), an(13), an(12), an(6), an(1), an(2), an(53)),
    )
        .prop_map(
            |(
                header,
                (
                    wd_account,
                    wd_password,
                    verify_code,
                    amount,
                    bal_sign,
                    balance,
                    dep_bank,
                    dep_account,
                    fee,
                ),
                (
                    cms_code,
                    memo,
                    dep_real_name_no,
                    dep_holder,
                    orig_msg_no,
                    fee_exempt,
                    fund_type,
                    filler,
                ),
            )| Transfer {
                header,
                wd_account,
                wd_password,
                verify_code,
                amount,
                bal_sign,
                balance,
                dep_bank,
                dep_account,
                fee,
                cms_code,
                memo,
                dep_real_name_no,
                dep_holder,
                orig_msg_no,
                fee_exempt,
                fund_type,
                filler,
            },
        )
}

fn collection() -> impl Strategy<Value = Collection> {
    (
        header(),
        (
            an(15),
            an(8),
            an(6),
            num(13),
            an(1),
            opt_num(13),
            digits(3),
            an(15),
            opt_num(9),
        ),
        (
            an(14),
            an(13),
            an(12),
            an(16),
            opt_num(13),
            an(20),
            an(10),
            an(18),
            an(1),
        ),
    )
        .prop_map(
            |(
                header,
                (
                    wd_account,
                    wd_password,
                    verify_code,
                    amount,
                    bal_sign,
                    balance,
                    dep_bank,
                    dep_account,
                    fee,
                ),
                (
                    memo,
                    wd_real_name_no,
                    wd_holder,
                    cms_code,
                    cashier_check_amt,
                    payer_no,
                    fb_org_code,
                    resale_area,
                    filler,
                ),
            )| Collection {
                header,
                wd_account,
                wd_password,
                verify_code,
                amount,
                bal_sign,
                balance,
                dep_bank,
                dep_account,
                fee,
                memo,
                wd_real_name_no,
                wd_holder,
                cms_code,
                cashier_check_amt,
                payer_no,
                fb_org_code,
                resale_area,
                filler,
            },
        )
}

fn fail_notice() -> impl Strategy<Value = TransferFailNotice> {
    (
        header(),
        (
            proptest::option::of(0u32..1_000_000),
            an(15),
            opt_digits(3),
            an(15),
            opt_num(13),
            opt_num(13),
            opt_num(13),
        ),
        (
            proptest::option::of(0u8..100),
            proptest::option::of(0u8..100),
            proptest::option::of(0u32..1_000_000),
            opt_num(13),
            an(4),
            an(13),
            an(82),
        ),
    )
        .prop_map(
            |(
                header,
                (
                    orig_msg_no,
                    wd_account,
                    dep_bank,
                    dep_account,
                    req_amount,
                    ok_amount,
                    fail_amount,
                ),
                (
                    split_count,
                    split_no,
                    other_bank_msg_no,
                    fail_notice_amt,
                    error_code,
                    kftc_unique_no,
                    filler,
                ),
            )| TransferFailNotice {
                header,
                orig_msg_no,
                wd_account,
                dep_bank,
                dep_account,
                req_amount,
                ok_amount,
                fail_amount,
                split_count,
                split_no,
                other_bank_msg_no,
                fail_notice_amt,
                error_code,
                kftc_unique_no,
                filler,
            },
        )
}

fn deposit_notice() -> impl Strategy<Value = DepositNotice> {
    (
        header(),
        (
            an(15),
            an(7),
            an(2),
            an(2),
            num(13),
            opt_num(13),
            opt_num(13),
            an(1),
            opt_num(13),
            an(12),
            an(10),
        ),
        (
            digits(8),
            digits(6),
            0u32..1_000_000,
            proptest::option::of(0u32..1_000_000),
            opt_digits(8),
            an(16),
            opt_num(13),
            opt_num(13),
            an(20),
            an(2),
            an(1),
        ),
    )
        .prop_map(
            |(
                header,
                (
                    account,
                    giro_branch,
                    io_cancel_type,
                    tx_kind,
                    amount,
                    cash_like,
                    bill_other,
                    bal_sign,
                    balance,
                    counterparty_name,
                    check_no,
                ),
                (
                    tx_date,
                    tx_time,
                    tx_seq,
                    cancel_orig_seq,
                    orig_tx_date,
                    cms_or_realname,
                    cashier_check_amt,
                    household_check_amt,
                    counterparty_name20,
                    amount_kind,
                    filler,
                ),
            )| DepositNotice {
                header,
                account,
                giro_branch,
                io_cancel_type,
                tx_kind,
                amount,
                cash_like,
                bill_other,
                bal_sign,
                balance,
                counterparty_name,
                check_no,
                tx_date,
                tx_time,
                tx_seq,
                cancel_orig_seq,
                orig_tx_date,
                cms_or_realname,
                cashier_check_amt,
                household_check_amt,
                counterparty_name20,
                amount_kind,
                filler,
            },
        )
}

fn name_inquiry() -> impl Strategy<Value = AccountNameInquiry> {
    (
        header(),
        (an(15), an(13), an(12), an(3), opt_num(13), an(15), an(2)),
        (an(20), an(1), an(1), an(8), an(2), an(8), an(87)),
    )
        .prop_map(
            |(
                header,
                (account, real_name_no, holder1, bank_code, amount, parent_account, realname_check),
                (
                    holder2,
                    acct_fixed,
                    acct_status,
                    acct_status_date,
                    reg_org_code,
                    kakaopay_prod,
                    filler,
                ),
            )| AccountNameInquiry {
                header,
                account,
                real_name_no,
                holder1,
                bank_code,
                amount,
                parent_account,
                realname_check,
                holder2,
                acct_fixed,
                acct_status,
                acct_status_date,
                reg_org_code,
                kakaopay_prod,
                filler,
            },
        )
}

fn result_inquiry() -> impl Strategy<Value = TransferResultInquiry> {
    (
        header(),
        (
            0u32..1_000_000,
            an(15),
            opt_digits(3),
            an(15),
            opt_num(13),
            opt_num(13),
        ),
        (
            opt_num(13),
            opt_num(9),
            opt_digits(6),
            an(4),
            proptest::option::of(0u8..100),
            an(101),
        ),
    )
        .prop_map(
            |(
                header,
                (orig_msg_no, wd_account, dep_bank, dep_account, req_amount, ok_amount),
                (fail_amount, fee, tx_time, result, query_kind, filler),
            )| TransferResultInquiry {
                header,
                orig_msg_no,
                wd_account,
                dep_bank,
                dep_account,
                req_amount,
                ok_amount,
                fail_amount,
                fee,
                tx_time,
                result,
                query_kind,
                filler,
            },
        )
}

fn balance_inquiry() -> impl Strategy<Value = BalanceInquiry> {
    (
        header(),
        (an(15), opt_num(13), an(1), opt_num(13), opt_num(13)),
        (opt_num(13), opt_num(13), an(1), opt_num(13), an(105)),
    )
        .prop_map(
            |(
                header,
                (account, overdraft_limit, sign1, ledger_balance, cash_transfer),
                (check_amt, other_bill, sign2, payable, filler),
            )| BalanceInquiry {
                header,
                account,
                overdraft_limit,
                sign1,
                ledger_balance,
                cash_transfer,
                check_amt,
                other_bill,
                sign2,
                payable,
                filler,
            },
        )
}

fn poll() -> impl Strategy<Value = Poll> {
    (
        proptest::sample::select(vec![POLL_REQUEST, POLL_RESPONSE]),
        digits(10),
    )
        .prop_map(|(kind, stamp)| Poll {
            hdr: POLL_HDR.into(),
            kind: kind.into(),
            stamp,
        })
}

/// Sets the dispatch key of a header.
fn keyed(mut h: HectoHeader, msg_type: &str, biz_type: &str) -> HectoHeader {
    h.msg_type = msg_type.into();
    h.biz_type = biz_type.into();
    h
}

fn message() -> impl Strategy<Value = HectoMessage> {
    type M = HectoMessage;
    macro_rules! admin_variant {
        ($v:path, $t:expr, $b:expr) => {
            admin().prop_map(|mut m| {
                m.header = keyed(m.header, $t, $b);
                $v(m)
            })
        };
    }
    macro_rules! variant {
        ($strat:expr, $v:path, $t:expr, $b:expr) => {
            $strat.prop_map(|mut m| {
                m.header = keyed(m.header, $t, $b);
                $v(m)
            })
        };
    }
    prop_oneof![
        admin_variant!(M::SignOnRequest, "1000", "100"),
        admin_variant!(M::SignOnResponse, "1100", "100"),
        admin_variant!(M::SignOffRequest, "1000", "200"),
        admin_variant!(M::SignOffResponse, "1100", "200"),
        admin_variant!(M::TestCallRequest, "1000", "500"),
        admin_variant!(M::TestCallResponse, "1100", "500"),
        variant!(transfer(), M::TransferRequest, "2000", "100"),
        variant!(transfer(), M::TransferResponse, "2100", "100"),
        variant!(collection(), M::CollectionRequest, "2000", "200"),
        variant!(collection(), M::CollectionResponse, "2100", "200"),
        variant!(fail_notice(), M::TransferFailNoticeRequest, "3000", "100"),
        variant!(fail_notice(), M::TransferFailNoticeResponse, "3100", "100"),
        variant!(fail_notice(), M::TransferFailGapRequest, "3000", "200"),
        variant!(fail_notice(), M::TransferFailGapResponse, "3100", "200"),
        variant!(deposit_notice(), M::DepositNoticeRequest, "4000", "100"),
        variant!(deposit_notice(), M::DepositNoticeResponse, "4100", "100"),
        variant!(name_inquiry(), M::AccountNameInquiryRequest, "6000", "100"),
        variant!(name_inquiry(), M::AccountNameInquiryResponse, "6100", "100"),
        variant!(
            result_inquiry(),
            M::TransferResultInquiryRequest,
            "7000",
            "100"
        ),
        variant!(
            result_inquiry(),
            M::TransferResultInquiryResponse,
            "7100",
            "100"
        ),
        variant!(balance_inquiry(), M::BalanceInquiryRequest, "7000", "200"),
        variant!(balance_inquiry(), M::BalanceInquiryResponse, "7100", "200"),
    ]
}

/// Every (msg_type, biz_type) key of [`HectoMessage`], as the 7 header bytes @24.
const KEYS: [&str; 22] = [
    "1000100", "1100100", "1000200", "1100200", "1000500", "1100500", "2000100", "2100100",
    "2000200", "2100200", "3000100", "3100100", "3000200", "3100200", "4000100", "4100100",
    "6000100", "6100100", "7000100", "7100100", "7000200", "7100200",
];

macro_rules! roundtrip {
    ($name:ident, $ty:ty, $strat:expr, $len:expr) => {
        proptest! {
            #[test]
            fn $name(value in $strat) {
                let bytes = value.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(bytes.len(), $len);
                let back = <$ty>::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(back, value);
            }
        }
    };
}

roundtrip!(roundtrip_header, HectoHeader, header(), 100);
roundtrip!(roundtrip_admin, AdminMessage, admin(), 300);
roundtrip!(roundtrip_transfer, Transfer, transfer(), 300);
roundtrip!(roundtrip_collection, Collection, collection(), 300);
roundtrip!(
    roundtrip_fail_notice,
    TransferFailNotice,
    fail_notice(),
    300
);
roundtrip!(
    roundtrip_deposit_notice,
    DepositNotice,
    deposit_notice(),
    300
);
roundtrip!(
    roundtrip_name_inquiry,
    AccountNameInquiry,
    name_inquiry(),
    300
);
roundtrip!(
    roundtrip_result_inquiry,
    TransferResultInquiry,
    result_inquiry(),
    300
);
roundtrip!(
    roundtrip_balance_inquiry,
    BalanceInquiry,
    balance_inquiry(),
    300
);
roundtrip!(roundtrip_poll, Poll, poll(), 20);
roundtrip!(roundtrip_message, HectoMessage, message(), 300);

proptest! {
    /// Any 300-byte input either decodes or fails cleanly (never panics), and anything that
    /// decodes re-encodes to a telegram that decodes to the same value.
    #[test]
    fn arbitrary_bytes_never_panic(
        mut bytes in proptest::collection::vec(any::<u8>(), 300),
        key in proptest::option::of(proptest::sample::select(KEYS.to_vec())),
    ) {
        if let Some(key) = key {
            // A valid key, so the body decoder (not just the dispatcher) sees the noise.
            bytes[24..31].copy_from_slice(key.as_bytes());
        }
        if let Ok(msg) = HectoMessage::decode(&bytes) {
            let again = msg.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(HectoMessage::decode(&again).unwrap(), msg);
        }
    }

    /// A decoded request's header maps to a response header with msg_type + 100.
    #[test]
    fn request_maps_to_response(msg in message()) {
        let h = msg.header();
        if let Some(resp) = h.to_response(RESP_OK) {
            prop_assert!(h.is_request());
            let req_code: u32 = h.msg_type.parse().unwrap();
            let resp_code: u32 = resp.msg_type.parse().unwrap();
            prop_assert_eq!(resp_code, req_code + 100);
            prop_assert_eq!(&resp.biz_type, &h.biz_type);
            prop_assert_eq!(resp.msg_no, h.msg_no);
        }
    }
}
