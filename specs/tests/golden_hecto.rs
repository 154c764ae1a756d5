//! Golden vectors for the Hecto real-time firm-banking family.
//!
//! Every vector is built BY HAND from the tables of the 전문설계서 (㈜헥토파이낸셜
//! 실시간펌뱅킹전문설계서 Ver.2.0, 2024-03-08), not from this crate: one field per line, with the field
//! name and its absolute 0-based offset. Korean text is written as EUC-KR byte escapes taken
//! from an independent oracle (`python3 -c "print('홍길동'.encode('euc-kr').hex())"`):
//!
//! | text | EUC-KR |
//! |---|---|
//! | 급여 | b1 de bf a9 |
//! | 홍길동 | c8 ab b1 e6 b5 bf |
//! | 헥토파이낸셜 | c7 ed c5 e4 c6 c4 c0 cc b3 bd bc c8 |
//! | 김철수 | b1 e8 c3 b6 bc f6 |
//! | 주식회사가나 | c1 d6 bd c4 c8 b8 bb e7 b0 a1 b3 aa |
//! | 환불 | c8 af ba d2 |
//!
//! For each vector: its length is 300, `decode` gives the literal expected value, `encode`
//! of that value gives the vector byte for byte, and `HectoMessage::decode` picks the
//! right variant (and encodes back to the same bytes).

use fep_codec::Telegram;
use fep_specs::hecto::*;

/// Concatenate per-field byte literals.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The header values shared by the vectors below (only these four differ per vector).
fn header(msg_type: &str, biz_type: &str, msg_no: u32, resp_code: &str) -> HectoHeader {
    HectoHeader {
        id_code: "SETTLEBNK".into(),
        company_no: "CORP0001".into(),
        bank_code: "004".into(),
        msg_type: msg_type.into(),
        biz_type: biz_type.into(),
        send_count: 1,
        msg_no,
        send_date: "20261123".into(),
        send_time: "093015".into(),
        resp_code: resp_code.into(),
        reserved1: String::new(),
        reserved2: String::new(),
        reserved3: String::new(),
    }
}

/// Checks one golden vector against the struct and the dispatch enum.
fn check<T>(bytes: &[u8], expected: &T, wrap: fn(T) -> HectoMessage)
where
    T: Telegram + std::fmt::Debug + PartialEq + Clone,
{
    assert_eq!(bytes.len(), 300, "vector length");
    let decoded = T::decode(bytes).unwrap_or_else(|e| panic!("decode failed: {e}"));
    assert_eq!(&decoded, expected, "decode");
    let encoded = expected
        .encode()
        .unwrap_or_else(|e| panic!("encode failed: {e}"));
    assert_eq!(
        encoded,
        bytes,
        "encode\n got: {:?}\nwant: {:?}",
        String::from_utf8_lossy(&encoded),
        String::from_utf8_lossy(bytes)
    );
    let msg = HectoMessage::decode(bytes).unwrap_or_else(|e| panic!("dispatch failed: {e}"));
    let want = wrap(expected.clone());
    assert_eq!(msg, want, "dispatch variant");
    assert_eq!(msg.encode().unwrap(), bytes, "dispatch encode");
}

// =============================================================================================
// Vectors
// =============================================================================================

// ---- A.2 업무개시 / 업무종료 / TEST CALL ----------------------------------------------------

fn sign_on_request_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",    // id_code @0
        b"CORP0001    ", // company_no @9
        b"004",          // bank_code @21
        b"1000",         // msg_type @24
        b"100",          // biz_type @28
        b"1",            // send_count @31
        b"000001",       // msg_no @32
        b"20261123",     // send_date @38
        b"093015",       // send_time @46
        b"    ",         // resp_code @52
        &[b' '; 15],     // reserved1 @56
        &[b' '; 11],     // reserved2 @71
        &[b' '; 18],     // reserved3 @82
        &[b' '; 200],    // filler @100
    ])
}

fn sign_on_response_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",    // id_code @0
        b"CORP0001    ", // company_no @9
        b"004",          // bank_code @21
        b"1100",         // msg_type @24
        b"100",          // biz_type @28
        b"1",            // send_count @31
        b"000001",       // msg_no @32
        b"20261123",     // send_date @38
        b"093015",       // send_time @46
        b"0000",         // resp_code @52
        &[b' '; 15],     // reserved1 @56
        &[b' '; 11],     // reserved2 @71
        &[b' '; 18],     // reserved3 @82
        &[b' '; 200],    // filler @100
    ])
}

fn sign_off_request_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",    // id_code @0
        b"CORP0001    ", // company_no @9
        b"004",          // bank_code @21
        b"1000",         // msg_type @24
        b"200",          // biz_type @28
        b"1",            // send_count @31
        b"000999",       // msg_no @32
        b"20261123",     // send_date @38
        b"093015",       // send_time @46
        b"    ",         // resp_code @52
        &[b' '; 15],     // reserved1 @56
        &[b' '; 11],     // reserved2 @71
        &[b' '; 18],     // reserved3 @82
        &[b' '; 200],    // filler @100
    ])
}

fn sign_off_response_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",    // id_code @0
        b"CORP0001    ", // company_no @9
        b"004",          // bank_code @21
        b"1100",         // msg_type @24
        b"200",          // biz_type @28
        b"1",            // send_count @31
        b"000999",       // msg_no @32
        b"20261123",     // send_date @38
        b"093015",       // send_time @46
        b"0000",         // resp_code @52
        &[b' '; 15],     // reserved1 @56
        &[b' '; 11],     // reserved2 @71
        &[b' '; 18],     // reserved3 @82
        &[b' '; 200],    // filler @100
    ])
}

fn test_call_request_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",    // id_code @0
        b"CORP0001    ", // company_no @9
        b"004",          // bank_code @21
        b"1000",         // msg_type @24
        b"500",          // biz_type @28
        b"1",            // send_count @31
        b"000002",       // msg_no @32
        b"20261123",     // send_date @38
        b"093015",       // send_time @46
        b"    ",         // resp_code @52
        &[b' '; 15],     // reserved1 @56
        &[b' '; 11],     // reserved2 @71
        &[b' '; 18],     // reserved3 @82
        &[b' '; 200],    // filler @100
    ])
}

fn test_call_response_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",    // id_code @0
        b"CORP0001    ", // company_no @9
        b"004",          // bank_code @21
        b"1100",         // msg_type @24
        b"500",          // biz_type @28
        b"1",            // send_count @31
        b"000002",       // msg_no @32
        b"20261123",     // send_date @38
        b"093015",       // send_time @46
        b"0000",         // resp_code @52
        &[b' '; 15],     // reserved1 @56
        &[b' '; 11],     // reserved2 @71
        &[b' '; 18],     // reserved3 @82
        &[b' '; 200],    // filler @100
    ])
}

fn admin(msg_type: &str, biz_type: &str, msg_no: u32, resp_code: &str) -> AdminMessage {
    AdminMessage {
        header: header(msg_type, biz_type, msg_no, resp_code),
        filler: String::new(),
    }
}

#[test]
fn golden_sign_on_request() {
    check(
        &sign_on_request_bytes(),
        &admin("1000", "100", 1, ""),
        HectoMessage::SignOnRequest,
    );
}

#[test]
fn golden_sign_on_response() {
    check(
        &sign_on_response_bytes(),
        &admin("1100", "100", 1, "0000"),
        HectoMessage::SignOnResponse,
    );
}

#[test]
fn golden_sign_off_request() {
    check(
        &sign_off_request_bytes(),
        &admin("1000", "200", 999, ""),
        HectoMessage::SignOffRequest,
    );
}

#[test]
fn golden_sign_off_response() {
    check(
        &sign_off_response_bytes(),
        &admin("1100", "200", 999, "0000"),
        HectoMessage::SignOffResponse,
    );
}

#[test]
fn golden_test_call_request() {
    check(
        &test_call_request_bytes(),
        &admin("1000", "500", 2, ""),
        HectoMessage::TestCallRequest,
    );
}

#[test]
fn golden_test_call_response() {
    check(
        &test_call_response_bytes(),
        &admin("1100", "500", 2, "0000"),
        HectoMessage::TestCallResponse,
    );
}

// ---- A.3 당/타행 이체 2000/100 ---------------------------------------------------------------

fn transfer_request_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",                      // id_code @0
        b"CORP0001    ",                   // company_no @9
        b"004",                            // bank_code @21
        b"2000",                           // msg_type @24
        b"100",                            // biz_type @28
        b"1",                              // send_count @31
        b"000123",                         // msg_no @32
        b"20261123",                       // send_date @38
        b"093015",                         // send_time @46
        b"    ",                           // resp_code @52
        &[b' '; 15],                       // reserved1 @56
        &[b' '; 11],                       // reserved2 @71
        &[b' '; 18],                       // reserved3 @82
        b"0123456789012  ",                // wd_account @100
        b"1234    ",                       // wd_password @115
        b"      ",                         // verify_code @123
        b"0000001500000",                  // amount @129
        b" ",                              // bal_sign @142
        b"             ",                  // balance @143 (None)
        b"088",                            // dep_bank @156
        b"110123456789   ",                // dep_account @159
        b"         ",                      // fee @174 (None)
        b"                ",               // cms_code @183
        b"\xb1\xde\xbf\xa9          ",     // memo @199: 급여
        b"900101       ",                  // dep_real_name_no @213
        b"\xc8\xab\xb1\xe6\xb5\xbf      ", // dep_holder @226: 홍길동
        b"      ",                         // orig_msg_no @238
        b"N",                              // fee_exempt @244
        b"  ",                             // fund_type @245
        &[b' '; 53],                       // filler @247
    ])
}

fn transfer_response_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",                      // id_code @0
        b"CORP0001    ",                   // company_no @9
        b"004",                            // bank_code @21
        b"2100",                           // msg_type @24
        b"100",                            // biz_type @28
        b"1",                              // send_count @31
        b"000123",                         // msg_no @32
        b"20261123",                       // send_date @38
        b"093015",                         // send_time @46
        b"0000",                           // resp_code @52
        &[b' '; 15],                       // reserved1 @56
        &[b' '; 11],                       // reserved2 @71
        &[b' '; 18],                       // reserved3 @82
        b"0123456789012  ",                // wd_account @100
        b"1234    ",                       // wd_password @115
        b"      ",                         // verify_code @123
        b"0000001500000",                  // amount @129
        b"+",                              // bal_sign @142
        b"0000098500000",                  // balance @143
        b"088",                            // dep_bank @156
        b"110123456789   ",                // dep_account @159
        b"000000500",                      // fee @174
        b"                ",               // cms_code @183
        b"\xb1\xde\xbf\xa9          ",     // memo @199: 급여
        b"900101       ",                  // dep_real_name_no @213
        b"\xc8\xab\xb1\xe6\xb5\xbf      ", // dep_holder @226: 홍길동
        b"      ",                         // orig_msg_no @238
        b"N",                              // fee_exempt @244
        b"  ",                             // fund_type @245
        &[b' '; 53],                       // filler @247
    ])
}

fn transfer_request() -> Transfer {
    Transfer {
        header: header("2000", "100", 123, ""),
        wd_account: "0123456789012".into(),
        wd_password: "1234".into(),
        verify_code: "".into(),
        amount: 1_500_000,
        bal_sign: "".into(),
        balance: None,
        dep_bank: "088".into(),
        dep_account: "110123456789".into(),
        fee: None,
        cms_code: "".into(),
        memo: "급여".into(),
        dep_real_name_no: "900101".into(),
        dep_holder: "홍길동".into(),
        orig_msg_no: "".into(),
        fee_exempt: "N".into(),
        fund_type: "".into(),
        filler: "".into(),
    }
}

fn transfer_response() -> Transfer {
    Transfer {
        header: header("2100", "100", 123, "0000"),
        wd_account: "0123456789012".into(),
        wd_password: "1234".into(),
        verify_code: "".into(),
        amount: 1_500_000,
        bal_sign: "+".into(),
        balance: Some(98_500_000),
        dep_bank: "088".into(),
        dep_account: "110123456789".into(),
        fee: Some(500),
        cms_code: "".into(),
        memo: "급여".into(),
        dep_real_name_no: "900101".into(),
        dep_holder: "홍길동".into(),
        orig_msg_no: "".into(),
        fee_exempt: "N".into(),
        fund_type: "".into(),
        filler: "".into(),
    }
}

#[test]
fn golden_transfer_request() {
    check(
        &transfer_request_bytes(),
        &transfer_request(),
        HectoMessage::TransferRequest,
    );
}

#[test]
fn golden_transfer_response() {
    check(
        &transfer_response_bytes(),
        &transfer_response(),
        HectoMessage::TransferResponse,
    );
}

// ---- A.4 집금이체 2000/200 --------------------------------------------------------------------

fn collection_request_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",                                          // id_code @0
        b"CORP0001    ",                                       // company_no @9
        b"004",                                                // bank_code @21
        b"2000",                                               // msg_type @24
        b"200",                                                // biz_type @28
        b"1",                                                  // send_count @31
        b"000124",                                             // msg_no @32
        b"20261123",                                           // send_date @38
        b"093015",                                             // send_time @46
        b"    ",                                               // resp_code @52
        &[b' '; 15],                                           // reserved1 @56
        &[b' '; 11],                                           // reserved2 @71
        &[b' '; 18],                                           // reserved3 @82
        b"3021234567801  ",                                    // wd_account @100
        b"        ",                                           // wd_password @115
        b"      ",                                             // verify_code @123
        b"0000000055000",                                      // amount @129
        b" ",                                                  // bal_sign @142
        b"             ",                                      // balance @143 (None)
        b"004",                                                // dep_bank @156
        b"12345678901234 ",                                    // dep_account @159
        b"         ",                                          // fee @174 (None)
        b"\xc7\xed\xc5\xe4\xc6\xc4\xc0\xcc\xb3\xbd\xbc\xc8  ", // memo @183: 헥토파이낸셜
        b"8501011      ",                                      // wd_real_name_no @197
        b"\xb1\xe8\xc3\xb6\xbc\xf6      ",                     // wd_holder @210: 김철수
        b"CMS0000000000001",                                   // cms_code @222
        b"             ",                                      // cashier_check_amt @238 (None)
        b"PAYER-0001          ",                               // payer_no @251
        b"          ",                                         // fb_org_code @271
        &[b' '; 18],                                           // resale_area @281
        b" ",                                                  // filler @299
    ])
}

fn collection_response_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",                                          // id_code @0
        b"CORP0001    ",                                       // company_no @9
        b"004",                                                // bank_code @21
        b"2100",                                               // msg_type @24
        b"200",                                                // biz_type @28
        b"1",                                                  // send_count @31
        b"000124",                                             // msg_no @32
        b"20261123",                                           // send_date @38
        b"093015",                                             // send_time @46
        b"0000",                                               // resp_code @52
        &[b' '; 15],                                           // reserved1 @56
        &[b' '; 11],                                           // reserved2 @71
        &[b' '; 18],                                           // reserved3 @82
        b"3021234567801  ",                                    // wd_account @100
        b"        ",                                           // wd_password @115
        b"      ",                                             // verify_code @123
        b"0000000055000",                                      // amount @129
        b"+",                                                  // bal_sign @142
        b"0000001055000",                                      // balance @143
        b"004",                                                // dep_bank @156
        b"12345678901234 ",                                    // dep_account @159
        b"000000300",                                          // fee @174
        b"\xc7\xed\xc5\xe4\xc6\xc4\xc0\xcc\xb3\xbd\xbc\xc8  ", // memo @183: 헥토파이낸셜
        b"8501011      ",                                      // wd_real_name_no @197
        b"\xb1\xe8\xc3\xb6\xbc\xf6      ",                     // wd_holder @210: 김철수
        b"CMS0000000000001",                                   // cms_code @222
        b"0000000000000",                                      // cashier_check_amt @238
        b"PAYER-0001          ",                               // payer_no @251
        b"          ",                                         // fb_org_code @271
        &[b' '; 18],                                           // resale_area @281
        b" ",                                                  // filler @299
    ])
}

fn collection_request() -> Collection {
    Collection {
        header: header("2000", "200", 124, ""),
        wd_account: "3021234567801".into(),
        wd_password: "".into(),
        verify_code: "".into(),
        amount: 55_000,
        bal_sign: "".into(),
        balance: None,
        dep_bank: "004".into(),
        dep_account: "12345678901234".into(),
        fee: None,
        memo: "헥토파이낸셜".into(),
        wd_real_name_no: "8501011".into(),
        wd_holder: "김철수".into(),
        cms_code: "CMS0000000000001".into(),
        cashier_check_amt: None,
        payer_no: "PAYER-0001".into(),
        fb_org_code: "".into(),
        resale_area: "".into(),
        filler: "".into(),
    }
}

fn collection_response() -> Collection {
    Collection {
        header: header("2100", "200", 124, "0000"),
        wd_account: "3021234567801".into(),
        wd_password: "".into(),
        verify_code: "".into(),
        amount: 55_000,
        bal_sign: "+".into(),
        balance: Some(1_055_000),
        dep_bank: "004".into(),
        dep_account: "12345678901234".into(),
        fee: Some(300),
        memo: "헥토파이낸셜".into(),
        wd_real_name_no: "8501011".into(),
        wd_holder: "김철수".into(),
        cms_code: "CMS0000000000001".into(),
        cashier_check_amt: Some(0),
        payer_no: "PAYER-0001".into(),
        fb_org_code: "".into(),
        resale_area: "".into(),
        filler: "".into(),
    }
}

#[test]
fn golden_collection_request() {
    check(
        &collection_request_bytes(),
        &collection_request(),
        HectoMessage::CollectionRequest,
    );
}

#[test]
fn golden_collection_response() {
    check(
        &collection_response_bytes(),
        &collection_response(),
        HectoMessage::CollectionResponse,
    );
}

// ---- A.5 타행이체불능통지 3000/100, 결번요구 3000/200 ------------------------------------------

fn fail_notice_request_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",       // id_code @0
        b"CORP0001    ",    // company_no @9
        b"004",             // bank_code @21
        b"3000",            // msg_type @24
        b"100",             // biz_type @28
        b"1",               // send_count @31
        b"000045",          // msg_no @32
        b"20261123",        // send_date @38
        b"093015",          // send_time @46
        b"    ",            // resp_code @52
        &[b' '; 15],        // reserved1 @56
        &[b' '; 11],        // reserved2 @71
        &[b' '; 18],        // reserved3 @82
        b"000123",          // orig_msg_no @100
        b"0123456789012  ", // wd_account @106
        b"088",             // dep_bank @121
        b"110123456789   ", // dep_account @124
        b"0000001500000",   // req_amount @139
        b"0000000000000",   // ok_amount @152
        b"0000001500000",   // fail_amount @165
        b"01",              // split_count @178
        b"01",              // split_no @180
        b"004512",          // other_bank_msg_no @182
        b"0000001500000",   // fail_notice_amt @188
        b"E101",            // error_code @201
        b"             ",   // kftc_unique_no @205
        &[b' '; 82],        // filler @218
    ])
}

fn fail_notice_response_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",       // id_code @0
        b"CORP0001    ",    // company_no @9
        b"004",             // bank_code @21
        b"3100",            // msg_type @24
        b"100",             // biz_type @28
        b"1",               // send_count @31
        b"000045",          // msg_no @32
        b"20261123",        // send_date @38
        b"093015",          // send_time @46
        b"0000",            // resp_code @52
        &[b' '; 15],        // reserved1 @56
        &[b' '; 11],        // reserved2 @71
        &[b' '; 18],        // reserved3 @82
        b"000123",          // orig_msg_no @100
        b"0123456789012  ", // wd_account @106
        b"088",             // dep_bank @121
        b"110123456789   ", // dep_account @124
        b"0000001500000",   // req_amount @139
        b"0000000000000",   // ok_amount @152
        b"0000001500000",   // fail_amount @165
        b"01",              // split_count @178
        b"01",              // split_no @180
        b"004512",          // other_bank_msg_no @182
        b"0000001500000",   // fail_notice_amt @188
        b"E101",            // error_code @201
        b"             ",   // kftc_unique_no @205
        &[b' '; 82],        // filler @218
    ])
}

fn fail_notice(msg_type: &str, resp_code: &str) -> TransferFailNotice {
    TransferFailNotice {
        header: header(msg_type, "100", 45, resp_code),
        orig_msg_no: Some(123),
        wd_account: "0123456789012".into(),
        dep_bank: Some("088".into()),
        dep_account: "110123456789".into(),
        req_amount: Some(1_500_000),
        ok_amount: Some(0),
        fail_amount: Some(1_500_000),
        split_count: Some(1),
        split_no: Some(1),
        other_bank_msg_no: Some(4512),
        fail_notice_amt: Some(1_500_000),
        error_code: "E101".into(),
        kftc_unique_no: "".into(),
        filler: "".into(),
    }
}

#[test]
fn golden_fail_notice_request() {
    check(
        &fail_notice_request_bytes(),
        &fail_notice("3000", ""),
        HectoMessage::TransferFailNoticeRequest,
    );
}

#[test]
fn golden_fail_notice_response() {
    check(
        &fail_notice_response_bytes(),
        &fail_notice("3100", "0000"),
        HectoMessage::TransferFailNoticeResponse,
    );
}

/// 결번요구: the header's 전문번호 carries the missing notice number (7); the real 전문번호
/// (46) travels in 예비영역2 (신한금융투자 style); the body is blank.
fn fail_gap_request_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",    // id_code @0
        b"CORP0001    ", // company_no @9
        b"004",          // bank_code @21
        b"3000",         // msg_type @24
        b"200",          // biz_type @28
        b"1",            // send_count @31
        b"000007",       // msg_no @32 (결번번호)
        b"20261123",     // send_date @38
        b"093015",       // send_time @46
        b"    ",         // resp_code @52
        &[b' '; 15],     // reserved1 @56
        b"000046     ",  // reserved2 @71 (real 전문번호)
        &[b' '; 18],     // reserved3 @82
        b"      ",       // orig_msg_no @100 (None)
        &[b' '; 15],     // wd_account @106
        b"   ",          // dep_bank @121 (None)
        &[b' '; 15],     // dep_account @124
        &[b' '; 13],     // req_amount @139 (None)
        &[b' '; 13],     // ok_amount @152 (None)
        &[b' '; 13],     // fail_amount @165 (None)
        b"  ",           // split_count @178 (None)
        b"  ",           // split_no @180 (None)
        b"      ",       // other_bank_msg_no @182 (None)
        &[b' '; 13],     // fail_notice_amt @188 (None)
        b"    ",         // error_code @201
        &[b' '; 13],     // kftc_unique_no @205
        &[b' '; 82],     // filler @218
    ])
}

/// The bank answers the 결번요구 with the missing notice's content.
fn fail_gap_response_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",       // id_code @0
        b"CORP0001    ",    // company_no @9
        b"004",             // bank_code @21
        b"3100",            // msg_type @24
        b"200",             // biz_type @28
        b"1",               // send_count @31
        b"000007",          // msg_no @32
        b"20261123",        // send_date @38
        b"093015",          // send_time @46
        b"0000",            // resp_code @52
        &[b' '; 15],        // reserved1 @56
        b"000046     ",     // reserved2 @71
        &[b' '; 18],        // reserved3 @82
        b"000098",          // orig_msg_no @100
        b"0123456789012  ", // wd_account @106
        b"020",             // dep_bank @121
        b"1002123456789  ", // dep_account @124
        b"0000000070000",   // req_amount @139
        b"0000000000000",   // ok_amount @152
        b"0000000070000",   // fail_amount @165
        b"00",              // split_count @178
        b"00",              // split_no @180
        b"000311",          // other_bank_msg_no @182
        b"0000000070000",   // fail_notice_amt @188
        b"0413",            // error_code @201
        b"NH20261123001",   // kftc_unique_no @205
        &[b' '; 82],        // filler @218
    ])
}

fn fail_gap_request() -> TransferFailNotice {
    TransferFailNotice {
        header: HectoHeader {
            reserved2: "000046".into(),
            ..header("3000", "200", 7, "")
        },
        orig_msg_no: None,
        wd_account: "".into(),
        dep_bank: None,
        dep_account: "".into(),
        req_amount: None,
        ok_amount: None,
        fail_amount: None,
        split_count: None,
        split_no: None,
        other_bank_msg_no: None,
        fail_notice_amt: None,
        error_code: "".into(),
        kftc_unique_no: "".into(),
        filler: "".into(),
    }
}

fn fail_gap_response() -> TransferFailNotice {
    TransferFailNotice {
        header: HectoHeader {
            reserved2: "000046".into(),
            ..header("3100", "200", 7, "0000")
        },
        orig_msg_no: Some(98),
        wd_account: "0123456789012".into(),
        dep_bank: Some("020".into()),
        dep_account: "1002123456789".into(),
        req_amount: Some(70_000),
        ok_amount: Some(0),
        fail_amount: Some(70_000),
        split_count: Some(0),
        split_no: Some(0),
        other_bank_msg_no: Some(311),
        fail_notice_amt: Some(70_000),
        error_code: "0413".into(),
        kftc_unique_no: "NH20261123001".into(),
        filler: "".into(),
    }
}

#[test]
fn golden_fail_gap_request() {
    check(
        &fail_gap_request_bytes(),
        &fail_gap_request(),
        HectoMessage::TransferFailGapRequest,
    );
}

#[test]
fn golden_fail_gap_response() {
    check(
        &fail_gap_response_bytes(),
        &fail_gap_response(),
        HectoMessage::TransferFailGapResponse,
    );
}

// ---- A.6 예금거래명세통지 4000/100 -------------------------------------------------------------

fn deposit_notice_request_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",                                        // id_code @0
        b"CORP0001    ",                                     // company_no @9
        b"004",                                              // bank_code @21
        b"4000",                                             // msg_type @24
        b"100",                                              // biz_type @28
        b"1",                                                // send_count @31
        b"000017",                                           // msg_no @32
        b"20261123",                                         // send_date @38
        b"093015",                                           // send_time @46
        b"    ",                                             // resp_code @52
        &[b' '; 15],                                         // reserved1 @56
        &[b' '; 11],                                         // reserved2 @71
        b"NOTI20261123000017",                               // reserved3 @82
        b"12345678901234 ",                                  // account @100
        b"0881234",                                          // giro_branch @115
        b"11",                                               // io_cancel_type @122
        b"03",                                               // tx_kind @124
        b"0000000250000",                                    // amount @126
        b"0000000250000",                                    // cash_like @139
        b"0000000000000",                                    // bill_other @152
        b"+",                                                // bal_sign @165
        b"0000012750000",                                    // balance @166
        b"\xc1\xd6\xbd\xc4\xc8\xb8\xbb\xe7\xb0\xa1\xb3\xaa", // counterparty_name @179: 주식회사가나
        b"          ",                                       // check_no @191
        b"20261123",                                         // tx_date @201
        b"101502",                                           // tx_time @209
        b"000017",                                           // tx_seq @215
        b"      ",                                           // cancel_orig_seq @221 (None)
        b"        ",                                         // orig_tx_date @227 (None)
        &[b' '; 16],                                         // cms_or_realname @235
        b"0000000000000",                                    // cashier_check_amt @251
        b"0000000000000",                                    // household_check_amt @264
        &[b' '; 20],                                         // counterparty_name20 @277
        b"  ",                                               // amount_kind @297
        b" ",                                                // filler @299
    ])
}

/// The company's 4100/100 returns the notice unchanged (incl. 예비영역3) with 응답코드 0000.
fn deposit_notice_response_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",                                        // id_code @0
        b"CORP0001    ",                                     // company_no @9
        b"004",                                              // bank_code @21
        b"4100",                                             // msg_type @24
        b"100",                                              // biz_type @28
        b"1",                                                // send_count @31
        b"000017",                                           // msg_no @32
        b"20261123",                                         // send_date @38
        b"093015",                                           // send_time @46
        b"0000",                                             // resp_code @52
        &[b' '; 15],                                         // reserved1 @56
        &[b' '; 11],                                         // reserved2 @71
        b"NOTI20261123000017",                               // reserved3 @82
        b"12345678901234 ",                                  // account @100
        b"0881234",                                          // giro_branch @115
        b"11",                                               // io_cancel_type @122
        b"03",                                               // tx_kind @124
        b"0000000250000",                                    // amount @126
        b"0000000250000",                                    // cash_like @139
        b"0000000000000",                                    // bill_other @152
        b"+",                                                // bal_sign @165
        b"0000012750000",                                    // balance @166
        b"\xc1\xd6\xbd\xc4\xc8\xb8\xbb\xe7\xb0\xa1\xb3\xaa", // counterparty_name @179: 주식회사가나
        b"          ",                                       // check_no @191
        b"20261123",                                         // tx_date @201
        b"101502",                                           // tx_time @209
        b"000017",                                           // tx_seq @215
        b"      ",                                           // cancel_orig_seq @221 (None)
        b"        ",                                         // orig_tx_date @227 (None)
        &[b' '; 16],                                         // cms_or_realname @235
        b"0000000000000",                                    // cashier_check_amt @251
        b"0000000000000",                                    // household_check_amt @264
        &[b' '; 20],                                         // counterparty_name20 @277
        b"  ",                                               // amount_kind @297
        b" ",                                                // filler @299
    ])
}

/// A cancellation (31 입금취소) fills 취소시원거래일련번호 and 원거래일자; SC-style 20-byte name.
fn deposit_notice_cancel_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",                              // id_code @0
        b"CORP0001    ",                           // company_no @9
        b"004",                                    // bank_code @21
        b"4000",                                   // msg_type @24
        b"100",                                    // biz_type @28
        b"1",                                      // send_count @31
        b"000018",                                 // msg_no @32
        b"20261123",                               // send_date @38
        b"093015",                                 // send_time @46
        b"    ",                                   // resp_code @52
        &[b' '; 15],                               // reserved1 @56
        &[b' '; 11],                               // reserved2 @71
        &[b' '; 18],                               // reserved3 @82
        b"12345678901234 ",                        // account @100
        b"       ",                                // giro_branch @115
        b"31",                                     // io_cancel_type @122
        b"51",                                     // tx_kind @124
        b"0000000250000",                          // amount @126
        b"             ",                          // cash_like @139 (None)
        b"             ",                          // bill_other @152 (None)
        b"+",                                      // bal_sign @165
        b"0000012500000",                          // balance @166
        b"\xc8\xaf\xba\xd2        ",               // counterparty_name @179: 환불
        b"          ",                             // check_no @191
        b"20261123",                               // tx_date @201
        b"101900",                                 // tx_time @209
        b"000018",                                 // tx_seq @215
        b"000017",                                 // cancel_orig_seq @221
        b"20261123",                               // orig_tx_date @227
        b"9001011234567   ",                       // cms_or_realname @235
        b"             ",                          // cashier_check_amt @251 (None)
        b"             ",                          // household_check_amt @264 (None)
        b"\xc8\xab\xb1\xe6\xb5\xbf              ", // counterparty_name20 @277: 홍길동
        b"01",                                     // amount_kind @297
        b" ",                                      // filler @299
    ])
}

fn deposit_notice(msg_type: &str, resp_code: &str) -> DepositNotice {
    DepositNotice {
        header: HectoHeader {
            reserved3: "NOTI20261123000017".into(),
            ..header(msg_type, "100", 17, resp_code)
        },
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
        check_no: "".into(),
        tx_date: "20261123".into(),
        tx_time: "101502".into(),
        tx_seq: 17,
        cancel_orig_seq: None,
        orig_tx_date: None,
        cms_or_realname: "".into(),
        cashier_check_amt: Some(0),
        household_check_amt: Some(0),
        counterparty_name20: "".into(),
        amount_kind: "".into(),
        filler: "".into(),
    }
}

fn deposit_notice_cancel() -> DepositNotice {
    DepositNotice {
        header: header("4000", "100", 18, ""),
        account: "12345678901234".into(),
        giro_branch: "".into(),
        io_cancel_type: "31".into(),
        tx_kind: "51".into(),
        amount: 250_000,
        cash_like: None,
        bill_other: None,
        bal_sign: "+".into(),
        balance: Some(12_500_000),
        counterparty_name: "환불".into(),
        check_no: "".into(),
        tx_date: "20261123".into(),
        tx_time: "101900".into(),
        tx_seq: 18,
        cancel_orig_seq: Some(17),
        orig_tx_date: Some("20261123".into()),
        cms_or_realname: "9001011234567".into(),
        cashier_check_amt: None,
        household_check_amt: None,
        counterparty_name20: "홍길동".into(),
        amount_kind: "01".into(),
        filler: "".into(),
    }
}

#[test]
fn golden_deposit_notice_request() {
    check(
        &deposit_notice_request_bytes(),
        &deposit_notice("4000", ""),
        HectoMessage::DepositNoticeRequest,
    );
}

#[test]
fn golden_deposit_notice_response() {
    check(
        &deposit_notice_response_bytes(),
        &deposit_notice("4100", "0000"),
        HectoMessage::DepositNoticeResponse,
    );
}

#[test]
fn golden_deposit_notice_cancel() {
    check(
        &deposit_notice_cancel_bytes(),
        &deposit_notice_cancel(),
        HectoMessage::DepositNoticeRequest,
    );
}

// ---- A.7 계좌성명조회 6000/100 -----------------------------------------------------------------

fn name_inquiry_request_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",       // id_code @0
        b"CORP0001    ",    // company_no @9
        b"004",             // bank_code @21
        b"6000",            // msg_type @24
        b"100",             // biz_type @28
        b"1",               // send_count @31
        b"000200",          // msg_no @32
        b"20261123",        // send_date @38
        b"093015",          // send_time @46
        b"    ",            // resp_code @52
        &[b' '; 15],        // reserved1 @56
        &[b' '; 11],        // reserved2 @71
        &[b' '; 18],        // reserved3 @82
        b"110123456789   ", // account @100
        b"900101       ",   // real_name_no @115
        &[b' '; 12],        // holder1 @128
        b"088",             // bank_code @140
        &[b' '; 13],        // amount @143 (None)
        &[b' '; 15],        // parent_account @156
        b"  ",              // realname_check @171
        &[b' '; 20],        // holder2 @173
        b" ",               // acct_fixed @193
        b" ",               // acct_status @194
        b"        ",        // acct_status_date @195
        b"  ",              // reg_org_code @203
        b"        ",        // kakaopay_prod @205
        &[b' '; 87],        // filler @213
    ])
}

fn name_inquiry_response_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",                              // id_code @0
        b"CORP0001    ",                           // company_no @9
        b"004",                                    // bank_code @21
        b"6100",                                   // msg_type @24
        b"100",                                    // biz_type @28
        b"1",                                      // send_count @31
        b"000200",                                 // msg_no @32
        b"20261123",                               // send_date @38
        b"093015",                                 // send_time @46
        b"0000",                                   // resp_code @52
        &[b' '; 15],                               // reserved1 @56
        &[b' '; 11],                               // reserved2 @71
        &[b' '; 18],                               // reserved3 @82
        b"110123456789   ",                        // account @100
        b"900101       ",                          // real_name_no @115
        b"\xc8\xab\xb1\xe6\xb5\xbf      ",         // holder1 @128: 홍길동
        b"088",                                    // bank_code @140
        b"0000000010000",                          // amount @143
        &[b' '; 15],                               // parent_account @156
        b"  ",                                     // realname_check @171
        b"\xc8\xab\xb1\xe6\xb5\xbf              ", // holder2 @173: 홍길동
        b"N",                                      // acct_fixed @193
        b"N",                                      // acct_status @194
        b"20150302",                               // acct_status_date @195
        b"  ",                                     // reg_org_code @203
        b"        ",                               // kakaopay_prod @205
        &[b' '; 87],                               // filler @213
    ])
}

fn name_inquiry_request() -> AccountNameInquiry {
    AccountNameInquiry {
        header: header("6000", "100", 200, ""),
        account: "110123456789".into(),
        real_name_no: "900101".into(),
        holder1: "".into(),
        bank_code: "088".into(),
        amount: None,
        parent_account: "".into(),
        realname_check: "".into(),
        holder2: "".into(),
        acct_fixed: "".into(),
        acct_status: "".into(),
        acct_status_date: "".into(),
        reg_org_code: "".into(),
        kakaopay_prod: "".into(),
        filler: "".into(),
    }
}

fn name_inquiry_response() -> AccountNameInquiry {
    AccountNameInquiry {
        header: header("6100", "100", 200, "0000"),
        account: "110123456789".into(),
        real_name_no: "900101".into(),
        holder1: "홍길동".into(),
        bank_code: "088".into(),
        amount: Some(10_000),
        parent_account: "".into(),
        realname_check: "".into(),
        holder2: "홍길동".into(),
        acct_fixed: "N".into(),
        acct_status: "N".into(),
        acct_status_date: "20150302".into(),
        reg_org_code: "".into(),
        kakaopay_prod: "".into(),
        filler: "".into(),
    }
}

#[test]
fn golden_name_inquiry_request() {
    check(
        &name_inquiry_request_bytes(),
        &name_inquiry_request(),
        HectoMessage::AccountNameInquiryRequest,
    );
}

#[test]
fn golden_name_inquiry_response() {
    check(
        &name_inquiry_response_bytes(),
        &name_inquiry_response(),
        HectoMessage::AccountNameInquiryResponse,
    );
}

// ---- A.8 이체처리결과조회 7000/100 -------------------------------------------------------------

fn result_inquiry_request_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",       // id_code @0
        b"CORP0001    ",    // company_no @9
        b"004",             // bank_code @21
        b"7000",            // msg_type @24
        b"100",             // biz_type @28
        b"1",               // send_count @31
        b"000130",          // msg_no @32
        b"20261123",        // send_date @38
        b"093015",          // send_time @46
        b"    ",            // resp_code @52
        &[b' '; 15],        // reserved1 @56
        &[b' '; 11],        // reserved2 @71
        &[b' '; 18],        // reserved3 @82
        b"000123",          // orig_msg_no @100
        b"0123456789012  ", // wd_account @106
        b"088",             // dep_bank @121
        b"110123456789   ", // dep_account @124
        b"0000001500000",   // req_amount @139
        &[b' '; 13],        // ok_amount @152 (None)
        &[b' '; 13],        // fail_amount @165 (None)
        b"         ",       // fee @178 (None)
        b"      ",          // tx_time @187 (None)
        b"    ",            // result @193
        b"  ",              // query_kind @197 (None)
        &[b' '; 101],       // filler @199
    ])
}

fn result_inquiry_response_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",       // id_code @0
        b"CORP0001    ",    // company_no @9
        b"004",             // bank_code @21
        b"7100",            // msg_type @24
        b"100",             // biz_type @28
        b"1",               // send_count @31
        b"000130",          // msg_no @32
        b"20261123",        // send_date @38
        b"093015",          // send_time @46
        b"0000",            // resp_code @52
        &[b' '; 15],        // reserved1 @56
        &[b' '; 11],        // reserved2 @71
        &[b' '; 18],        // reserved3 @82
        b"000123",          // orig_msg_no @100
        b"0123456789012  ", // wd_account @106
        b"088",             // dep_bank @121
        b"110123456789   ", // dep_account @124
        b"0000001500000",   // req_amount @139
        b"0000001500000",   // ok_amount @152
        b"0000000000000",   // fail_amount @165
        b"000000500",       // fee @178
        b"093016",          // tx_time @187
        b"0000",            // result @193
        b"01",              // query_kind @197
        &[b' '; 101],       // filler @199
    ])
}

fn result_inquiry_request() -> TransferResultInquiry {
    TransferResultInquiry {
        header: header("7000", "100", 130, ""),
        orig_msg_no: 123,
        wd_account: "0123456789012".into(),
        dep_bank: Some("088".into()),
        dep_account: "110123456789".into(),
        req_amount: Some(1_500_000),
        ok_amount: None,
        fail_amount: None,
        fee: None,
        tx_time: None,
        result: "".into(),
        query_kind: None,
        filler: "".into(),
    }
}

fn result_inquiry_response() -> TransferResultInquiry {
    TransferResultInquiry {
        header: header("7100", "100", 130, "0000"),
        orig_msg_no: 123,
        wd_account: "0123456789012".into(),
        dep_bank: Some("088".into()),
        dep_account: "110123456789".into(),
        req_amount: Some(1_500_000),
        ok_amount: Some(1_500_000),
        fail_amount: Some(0),
        fee: Some(500),
        tx_time: Some("093016".into()),
        result: "0000".into(),
        query_kind: Some(1),
        filler: "".into(),
    }
}

#[test]
fn golden_result_inquiry_request() {
    check(
        &result_inquiry_request_bytes(),
        &result_inquiry_request(),
        HectoMessage::TransferResultInquiryRequest,
    );
}

#[test]
fn golden_result_inquiry_response() {
    check(
        &result_inquiry_response_bytes(),
        &result_inquiry_response(),
        HectoMessage::TransferResultInquiryResponse,
    );
}

// ---- A.9 잔액조회 7000/200 ---------------------------------------------------------------------

fn balance_inquiry_request_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",       // id_code @0
        b"CORP0001    ",    // company_no @9
        b"004",             // bank_code @21
        b"7000",            // msg_type @24
        b"200",             // biz_type @28
        b"1",               // send_count @31
        b"000131",          // msg_no @32
        b"20261123",        // send_date @38
        b"093015",          // send_time @46
        b"    ",            // resp_code @52
        &[b' '; 15],        // reserved1 @56
        &[b' '; 11],        // reserved2 @71
        &[b' '; 18],        // reserved3 @82
        b"0123456789012  ", // account @100
        &[b' '; 13],        // overdraft_limit @115 (None)
        b" ",               // sign1 @128
        &[b' '; 13],        // ledger_balance @129 (None)
        &[b' '; 13],        // cash_transfer @142 (None)
        &[b' '; 13],        // check_amt @155 (None)
        &[b' '; 13],        // other_bill @168 (None)
        b" ",               // sign2 @181
        &[b' '; 13],        // payable @182 (None)
        &[b' '; 105],       // filler @195
    ])
}

fn balance_inquiry_response_bytes() -> Vec<u8> {
    cat(&[
        b"SETTLEBNK",       // id_code @0
        b"CORP0001    ",    // company_no @9
        b"004",             // bank_code @21
        b"7100",            // msg_type @24
        b"200",             // biz_type @28
        b"1",               // send_count @31
        b"000131",          // msg_no @32
        b"20261123",        // send_date @38
        b"093015",          // send_time @46
        b"0000",            // resp_code @52
        &[b' '; 15],        // reserved1 @56
        &[b' '; 11],        // reserved2 @71
        &[b' '; 18],        // reserved3 @82
        b"0123456789012  ", // account @100
        b"0000050000000",   // overdraft_limit @115
        b"-",               // sign1 @128
        b"0000001200000",   // ledger_balance @129
        b"0000001200000",   // cash_transfer @142
        b"0000000000000",   // check_amt @155
        b"0000000000000",   // other_bill @168
        b"+",               // sign2 @181
        b"0000048800000",   // payable @182
        &[b' '; 105],       // filler @195
    ])
}

fn balance_inquiry_request() -> BalanceInquiry {
    BalanceInquiry {
        header: header("7000", "200", 131, ""),
        account: "0123456789012".into(),
        overdraft_limit: None,
        sign1: "".into(),
        ledger_balance: None,
        cash_transfer: None,
        check_amt: None,
        other_bill: None,
        sign2: "".into(),
        payable: None,
        filler: "".into(),
    }
}

fn balance_inquiry_response() -> BalanceInquiry {
    BalanceInquiry {
        header: header("7100", "200", 131, "0000"),
        account: "0123456789012".into(),
        overdraft_limit: Some(50_000_000),
        sign1: "-".into(),
        ledger_balance: Some(1_200_000),
        cash_transfer: Some(1_200_000),
        check_amt: Some(0),
        other_bill: Some(0),
        sign2: "+".into(),
        payable: Some(48_800_000),
        filler: "".into(),
    }
}

#[test]
fn golden_balance_inquiry_request() {
    check(
        &balance_inquiry_request_bytes(),
        &balance_inquiry_request(),
        HectoMessage::BalanceInquiryRequest,
    );
}

#[test]
fn golden_balance_inquiry_response() {
    check(
        &balance_inquiry_response_bytes(),
        &balance_inquiry_response(),
        HectoMessage::BalanceInquiryResponse,
    );
}

// =============================================================================================
// Layout
// =============================================================================================

#[test]
fn every_layout_is_300_bytes() {
    assert_eq!(HectoHeader::layout().len(), Some(100));
    assert_eq!(AdminMessage::layout().len(), Some(300));
    assert_eq!(Transfer::layout().len(), Some(300));
    assert_eq!(Collection::layout().len(), Some(300));
    assert_eq!(TransferFailNotice::layout().len(), Some(300));
    assert_eq!(DepositNotice::layout().len(), Some(300));
    assert_eq!(AccountNameInquiry::layout().len(), Some(300));
    assert_eq!(TransferResultInquiry::layout().len(), Some(300));
    assert_eq!(BalanceInquiry::layout().len(), Some(300));
    assert_eq!(Poll::layout().len(), Some(20));
}

#[test]
fn layouts_are_contiguous_labelled_and_masked() {
    use fep_codec::Layout;
    fn check_layout(layout: &Layout, masked: &[&str]) {
        let mut pos = 0;
        for f in layout.fields() {
            assert_eq!(
                f.offset,
                Some(pos),
                "{}: offset of {}",
                layout.name(),
                f.path
            );
            assert!(
                f.label.is_some(),
                "{}: {} has no label",
                layout.name(),
                f.path
            );
            pos += f.len.expect("fixed width");
            assert_eq!(
                f.mask,
                masked.contains(&f.path.as_str()),
                "{}: mask of {}",
                layout.name(),
                f.path
            );
        }
        assert_eq!(Some(pos), layout.len(), "{}", layout.name());
    }
    check_layout(HectoHeader::layout(), &[]);
    check_layout(AdminMessage::layout(), &[]);
    check_layout(
        Transfer::layout(),
        &[
            "wd_account",
            "wd_password",
            "verify_code",
            "dep_account",
            "dep_real_name_no",
        ],
    );
    check_layout(
        Collection::layout(),
        &[
            "wd_account",
            "wd_password",
            "verify_code",
            "dep_account",
            "wd_real_name_no",
        ],
    );
    check_layout(TransferFailNotice::layout(), &["wd_account", "dep_account"]);
    check_layout(DepositNotice::layout(), &["account", "cms_or_realname"]);
    check_layout(
        AccountNameInquiry::layout(),
        &["account", "real_name_no", "parent_account"],
    );
    check_layout(
        TransferResultInquiry::layout(),
        &["wd_account", "dep_account"],
    );
    check_layout(BalanceInquiry::layout(), &["account"]);
    check_layout(Poll::layout(), &[]);

    // Spot checks against the page (absolute offsets, nested header flattened).
    let t = Transfer::layout();
    assert_eq!(t.field("header.msg_no").unwrap().offset, Some(32));
    assert_eq!(
        t.field("header.msg_no").unwrap().label.as_deref(),
        Some("전문번호")
    );
    assert_eq!(t.field("amount").unwrap().offset, Some(129));
    assert_eq!(t.field("memo").unwrap().offset, Some(199));
    assert_eq!(t.field("memo").unwrap().label.as_deref(), Some("적요"));
    assert_eq!(
        Collection::layout().field("memo").unwrap().offset,
        Some(183)
    );
    assert_eq!(
        DepositNotice::layout().field("tx_date").unwrap().offset,
        Some(201)
    );
    assert_eq!(
        TransferResultInquiry::layout()
            .field("result")
            .unwrap()
            .offset,
        Some(193)
    );
    assert_eq!(
        BalanceInquiry::layout().field("payable").unwrap().offset,
        Some(182)
    );
}

// =============================================================================================
// Errors
// =============================================================================================

#[test]
fn unknown_key_is_a_decode_error_naming_the_key() {
    let mut bytes = sign_on_request_bytes();
    bytes[24..28].copy_from_slice(b"9000"); // msg_type @24
    bytes[28..31].copy_from_slice(b"999"); // biz_type @28
    let err = HectoMessage::decode(&bytes).expect_err("9000/999 is not a Hecto telegram");
    let shown = err.to_string();
    assert!(
        shown.contains("9000"),
        "Display should show the key: {shown}"
    );
    assert!(
        shown.contains("999"),
        "Display should show the key: {shown}"
    );
    // The error points into the header's key fields (msg_type @24 .. biz_type @28).
    let offset = err.offset();
    assert!(
        (24..31).contains(&offset),
        "offset {offset} should point at a key field"
    );
    let path = err.path().to_string();
    assert!(
        path.is_empty() || path.contains("msg_type") || path.contains("biz_type"),
        "path {path:?} should be empty or name a key field"
    );
}

#[test]
fn known_msg_type_with_unknown_biz_type_is_an_error() {
    let mut bytes = transfer_request_bytes();
    bytes[28..31].copy_from_slice(b"161"); // 착오송금 반환청구: not modelled here
    let err = HectoMessage::decode(&bytes).expect_err("2000/161 is not modelled");
    assert!(err.to_string().contains("161"), "{err}");
}

#[test]
fn bad_digit_in_amount_points_at_the_byte() {
    let mut bytes = transfer_request_bytes();
    // amount @129, 13 bytes "0000001500000"; corrupt its 8th byte (absolute 136).
    assert_eq!(&bytes[129..142], b"0000001500000");
    bytes[136] = b'X';
    let err = Transfer::decode(&bytes).expect_err("bad digit");
    assert_eq!(err.path(), "amount");
    assert_eq!(err.offset(), 136);
    let shown = err.to_string();
    assert!(shown.contains("amount"), "{shown}");
    assert!(shown.contains("136"), "{shown}");

    // Same through the dispatch enum: the offset stays absolute.
    let err = HectoMessage::decode(&bytes).expect_err("bad digit");
    assert_eq!(err.offset(), 136);
    assert!(err.path().ends_with("amount"), "{}", err.path());
}

#[test]
fn bad_digit_in_header_msg_no_points_at_the_byte() {
    let mut bytes = transfer_request_bytes();
    bytes[35] = b' '; // msg_no @32..38
    let err = Transfer::decode(&bytes).expect_err("bad digit");
    assert_eq!(err.offset(), 35);
    assert!(err.path().ends_with("msg_no"), "{}", err.path());
}

#[test]
fn character_outside_ks_x_1001_fails_to_encode() {
    let mut t = transfer_request();
    t.memo = "똠".into(); // in CP949 (UHC) but not in KS X 1001
    let err = t.encode().expect_err("똠 is not EUC-KR (KS X 1001)");
    assert!(err.to_string().contains("memo"), "{err}");
}

#[test]
fn too_long_memo_fails_to_encode() {
    let mut t = transfer_request();
    t.memo = "헥토파이낸셜급여".into(); // 16 bytes > 14
    let err = t.encode().expect_err("memo is 14 bytes");
    assert!(err.to_string().contains("memo"), "{err}");
}

#[test]
fn wrong_length_is_a_decode_error() {
    let bytes = transfer_request_bytes();
    assert!(Transfer::decode(&bytes[..299]).is_err());
    let mut long = bytes.clone();
    long.push(b' ');
    assert!(Transfer::decode(&long).is_err());
    assert!(HectoMessage::decode(&bytes[..50]).is_err());
}

// =============================================================================================
// Request → response helpers, codes
// =============================================================================================

#[test]
fn response_msg_type_maps_requests_only() {
    for (req, resp) in [
        ("1000", "1100"),
        ("2000", "2100"),
        ("3000", "3100"),
        ("4000", "4100"),
        ("6000", "6100"),
        ("7000", "7100"),
    ] {
        assert_eq!(response_msg_type(req).as_deref(), Some(resp), "{req}");
        assert!(is_request_msg_type(req));
        assert!(!is_request_msg_type(resp));
    }
    for not_req in ["2100", "1100", "", "200", "20000", "abcd", "9000", "0000"] {
        assert_eq!(response_msg_type(not_req), None, "{not_req:?}");
    }
    assert_eq!(
        response_msg_type(MSG_TYPE_TRANSFER).as_deref(),
        Some(MSG_TYPE_TRANSFER_RESPONSE)
    );
    assert_eq!(RESP_OK, "0000");
    assert_eq!(RESP_SESSION_TIMEOUT, "VTIM");
}

#[test]
fn header_to_response_keeps_correlation_fields() {
    let req = transfer_request();
    let resp_header = req.header.to_response(RESP_OK).unwrap();
    assert_eq!(resp_header, transfer_response().header);
    assert!(req.header.is_request());
    assert!(!resp_header.is_request());
    assert_eq!(resp_header.to_response(RESP_OK), None);
}

#[test]
fn dispatch_header_accessors() {
    let mut msg = HectoMessage::decode(&transfer_request_bytes()).unwrap();
    assert!(msg.is_request());
    assert_eq!(msg.header().msg_no, 123);
    msg.header_mut().msg_no = 124;
    match &msg {
        HectoMessage::TransferRequest(t) => assert_eq!(t.header.msg_no, 124),
        other => panic!("wrong variant {other:?}"),
    }
    let resp = HectoMessage::decode(&transfer_response_bytes()).unwrap();
    assert!(!resp.is_request());
}

// =============================================================================================
// A.11 Polling
// =============================================================================================

#[test]
fn poll_request_and_response() {
    let req_bytes: &[u8] = b"HDRREQPOLL1123093015"; // hdr @0, kind @3, stamp @10
    let resp_bytes: &[u8] = b"HDRRESPOLL1123093015";
    let req = Poll::decode(req_bytes).unwrap();
    assert_eq!(
        req,
        Poll {
            hdr: "HDR".into(),
            kind: "REQPOLL".into(),
            stamp: "1123093015".into(),
        }
    );
    assert_eq!(Poll::request("1123093015"), req);
    assert!(req.is_request() && !req.is_response());
    assert_eq!(req.encode().unwrap(), req_bytes);
    let resp = Poll::response_to(&req);
    assert!(resp.is_response() && !resp.is_request());
    assert_eq!(resp.encode().unwrap(), resp_bytes);
    assert_eq!(Poll::decode(resp_bytes).unwrap(), resp);
}

#[test]
fn is_poll_recognises_frames() {
    assert!(is_poll(b"HDRREQPOLL0930123456"));
    assert!(is_poll(b"HDRRESPOLL0930123456"));
    assert!(is_poll(b"0020HDRREQPOLL0930123456")); // with the length prefix
    assert!(is_poll(b"0020HDRRESPOLL0930123456"));
    assert!(!is_poll(b"0021HDRREQPOLL0930123456"));
    assert!(!is_poll(b"HDRREQPOLL093012345")); // short
    assert!(!is_poll(b"HDRXXXPOLL0930123456"));
    assert!(!is_poll(b"HDRREQPOLL09301234a6"));
    assert!(!is_poll(&sign_on_request_bytes()));
    assert!(!is_poll(b""));
}
