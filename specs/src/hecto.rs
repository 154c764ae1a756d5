//! 헥토파이낸셜 (Hecto Financial, formerly 세틀뱅크) 실시간펌뱅킹 — real-time firm banking.
//!
//! Source: ㈜헥토파이낸셜 *실시간펌뱅킹전문설계서 Ver.2.0* (revised 2024-03-08); the same
//! family as data, field by field, is `specs/hecto.toml`.
//!
//! Every telegram is **300 bytes**: a 100-byte 공통부 ([`HectoHeader`]) followed by a 200-byte
//! 개별부 (body). On the wire each telegram is preceded by a 4-byte ASCII decimal length that
//! excludes itself (`"0300"`); that prefix is framing and is *not* part of these structs.
//! Text is EUC-KR (strict KS X 1001); AN fields are left-aligned and space padded, N fields
//! right-aligned, `'0'` padded ASCII digits.
//!
//! Each message type is one flat struct whose first field is the header; every field carries
//! the absolute 0-based `offset` from the specification, so a transcription mistake is a
//! compile error. [`HectoMessage`] dispatches a whole frame on the header's
//! (전문구분코드 [`HectoHeader::msg_type`], 업무구분코드 [`HectoHeader::biz_type`]).
//! Responses use the request's 전문구분코드 + 100 (`2000` → `2100`, see [`response_msg_type`])
//! with the same 업무구분코드.
//!
//! # Type conventions
//!
//! - **AN** → `String` (EUC-KR text; decode trims the trailing pad).
//! - **N codes** whose leading zeros are part of the value (bank codes `004`, dates
//!   `YYYYMMDD`, times `hhmmss`) → `numeric` `String`: kept exactly as the digits on the wire,
//!   so `"004"` stays `"004"` and a time `"000512"` is not shown as `512`.
//! - **N sequence numbers** (전문번호, 거래일련번호) → `u32`: they are counters the gateway
//!   does arithmetic on (채번); the fixed width restores the zeros.
//! - **N amounts / counts** → `u64` (`u8` for 1–2 digit counts).
//! - `Option<_>` for every N field that a request leaves blank (spaces), that only a response
//!   fills, or that the specification marks optional, so real telegrams decode; `None` ⇔ all
//!   spaces.
//! - `mask` on account numbers, passwords, 복기부호 and 실명번호 fields.
//!
//! # Polling
//!
//! Idle sessions exchange the 20-byte [`Poll`] heartbeat (`HDRREQPOLLmmddhhmmss` →
//! `HDRRESPOLLmmddhhmmss`, framed as `"0020"` + 20 bytes); see [`is_poll`].

use fep_codec::{Telegram, TelegramFamily};

// ---------------------------------------------------------------------------------------------
// Codes
// ---------------------------------------------------------------------------------------------

/// Total length of every Hecto telegram (공통부 100 + 개별부 200), excluding the 4-byte
/// length prefix.
pub const TELEGRAM_LEN: usize = 300;
/// Length of the 공통부 (common header).
pub const HEADER_LEN: usize = 100;
/// Length of the 개별부 (body).
pub const BODY_LEN: usize = 200;
/// Width of the ASCII decimal length prefix (excludes itself: `"0300"`, `"0020"`).
pub const LENGTH_PREFIX_LEN: usize = 4;
/// Default 식별코드 (receiver transaction code).
pub const ID_CODE: &str = "SETTLEBNK";

/// 전문구분코드 1000: 관리 (업무개시/종료/TEST CALL) request.
pub const MSG_TYPE_ADMIN: &str = "1000";
/// 전문구분코드 1100: 관리 response.
pub const MSG_TYPE_ADMIN_RESPONSE: &str = "1100";
/// 전문구분코드 2000: 이체 (지급 2000/100, 집금 2000/200) request.
pub const MSG_TYPE_TRANSFER: &str = "2000";
/// 전문구분코드 2100: 이체 response.
pub const MSG_TYPE_TRANSFER_RESPONSE: &str = "2100";
/// 전문구분코드 3000: 타행이체불능통지 (3000/100, bank→company) / 불능결번요구 (3000/200).
pub const MSG_TYPE_FAIL_NOTICE: &str = "3000";
/// 전문구분코드 3100: 불능통지 response.
pub const MSG_TYPE_FAIL_NOTICE_RESPONSE: &str = "3100";
/// 전문구분코드 4000: 예금거래명세통지 (bank→company).
pub const MSG_TYPE_STATEMENT: &str = "4000";
/// 전문구분코드 4100: 명세통지 response (company→bank).
pub const MSG_TYPE_STATEMENT_RESPONSE: &str = "4100";
/// 전문구분코드 6000: 계좌성명조회 request.
pub const MSG_TYPE_NAME_INQUIRY: &str = "6000";
/// 전문구분코드 6100: 계좌성명조회 response.
pub const MSG_TYPE_NAME_INQUIRY_RESPONSE: &str = "6100";
/// 전문구분코드 7000: 조회 (이체처리결과 7000/100, 잔액 7000/200) request.
pub const MSG_TYPE_INQUIRY: &str = "7000";
/// 전문구분코드 7100: 조회 response.
pub const MSG_TYPE_INQUIRY_RESPONSE: &str = "7100";

/// The request 전문구분코드 of this family (responses are these + 100).
pub const REQUEST_MSG_TYPES: [&str; 6] = [
    MSG_TYPE_ADMIN,
    MSG_TYPE_TRANSFER,
    MSG_TYPE_FAIL_NOTICE,
    MSG_TYPE_STATEMENT,
    MSG_TYPE_NAME_INQUIRY,
    MSG_TYPE_INQUIRY,
];

/// 업무구분코드 100 with 1000: 업무개시 (sign-on).
pub const BIZ_SIGN_ON: &str = "100";
/// 업무구분코드 200 with 1000: 업무종료 (sign-off).
pub const BIZ_SIGN_OFF: &str = "200";
/// 업무구분코드 500 with 1000: TEST CALL.
pub const BIZ_TEST_CALL: &str = "500";
/// 업무구분코드 100 with 2000: 당/타행이체 (지급).
pub const BIZ_TRANSFER: &str = "100";
/// 업무구분코드 200 with 2000: 집금(출금)이체.
pub const BIZ_COLLECTION: &str = "200";
/// 업무구분코드 100 with 3000: 타행이체불능통지.
pub const BIZ_FAIL_NOTICE: &str = "100";
/// 업무구분코드 200 with 3000: 불능결번요구.
pub const BIZ_FAIL_GAP: &str = "200";
/// 업무구분코드 100 with 4000: 예금거래명세통지.
pub const BIZ_STATEMENT: &str = "100";
/// 업무구분코드 100 with 6000: 계좌성명조회.
pub const BIZ_NAME_INQUIRY: &str = "100";
/// 업무구분코드 100 with 7000: 이체처리결과조회.
pub const BIZ_RESULT_INQUIRY: &str = "100";
/// 업무구분코드 200 with 7000: 잔액조회.
pub const BIZ_BALANCE_INQUIRY: &str = "200";

/// 응답코드 `0000`: 정상처리 (success).
pub const RESP_OK: &str = "0000";
/// 응답코드 `0001`: 전문형식불일치 (미등록된 유형거래).
pub const RESP_FORMAT_MISMATCH: &str = "0001";
/// 응답코드 `0101`: 전문전송내역불일치 — the same 전문번호 reused with different content
/// (replaced by [`RESP_DUPLICATE_MISMATCH`] since 2023-01-19).
pub const RESP_DUPLICATE_MISMATCH_OLD: &str = "0101";
/// 응답코드 `SB09`: 전문전송내역불일치 (기존전송번호와 내용불일치), since 2023-01-19.
pub const RESP_DUPLICATE_MISMATCH: &str = "SB09";
/// 응답코드 `VTIM`: 세션타임아웃 — the outcome is unknown; confirm a transfer with 7000/100.
pub const RESP_SESSION_TIMEOUT: &str = "VTIM";
/// 응답코드 `SSSS`: 업체번호 오류.
pub const RESP_COMPANY_NO_ERROR: &str = "SSSS";
/// 응답코드 `SB01`: 중복계좌(금액)출금오류.
pub const RESP_DUPLICATE_WITHDRAWAL: &str = "SB01";
/// 응답코드 `SB02`: 1회 이체한도초과.
pub const RESP_LIMIT_PER_TX: &str = "SB02";
/// 응답코드 `SB03`: 1일 이체한도초과.
pub const RESP_LIMIT_PER_DAY: &str = "SB03";
/// 응답코드 `SB05`: 동의자료 구분값 검증오류.
pub const RESP_CONSENT_ERROR: &str = "SB05";
/// 응답코드 `SB06`: 대행생성기관 미세팅.
pub const RESP_AGENCY_NOT_SET: &str = "SB06";
/// 응답코드 `SB08`: 미등록 유형거래.
pub const RESP_UNREGISTERED_TYPE: &str = "SB08";
/// 처리결과 `NREC` in a 7100/100 response: no such transfer was recorded.
pub const RESULT_NO_RECORD: &str = "NREC";

/// The response 전문구분코드 for a request 전문구분코드: N000 → N100 (`"2000"` → `"2100"`).
///
/// Returns `None` for anything that is not one of this family's request codes
/// ([`REQUEST_MSG_TYPES`]), including response codes themselves.
///
/// ```
/// use fep_specs::hecto::response_msg_type;
/// assert_eq!(response_msg_type("2000").as_deref(), Some("2100"));
/// assert_eq!(response_msg_type("2100"), None);
/// ```
pub fn response_msg_type(request: &str) -> Option<String> {
    if REQUEST_MSG_TYPES.contains(&request) {
        let mut s = String::with_capacity(4);
        s.push_str(&request[..1]);
        s.push_str("100");
        Some(s)
    } else {
        None
    }
}

/// Whether `msg_type` is one of this family's request 전문구분코드 (N000).
pub fn is_request_msg_type(msg_type: &str) -> bool {
    REQUEST_MSG_TYPES.contains(&msg_type)
}

// ---------------------------------------------------------------------------------------------
// A.1 공통부
// ---------------------------------------------------------------------------------------------

/// A.1 공통부 — the 100-byte common header of every Hecto telegram.
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 100)]
pub struct HectoHeader {
    /// 식별코드: receiver TRANSACTION CODE, usually `SETTLEBNK` ([`ID_CODE`]) or blank.
    #[telegram(len = 9, offset = 0, label = "식별코드")]
    pub id_code: String,
    /// 업체번호: company number assigned by Hecto.
    #[telegram(len = 12, offset = 9, label = "업체번호")]
    pub company_no: String,
    /// 은행코드: the bank where the firm-banking contract is held (e.g. `004`, `088`).
    #[telegram(len = 3, offset = 21, numeric, label = "은행코드")]
    pub bank_code: String,
    /// 전문구분코드: request `1000`/`2000`/…, response = +100.
    #[telegram(len = 4, offset = 24, label = "전문구분코드")]
    pub msg_type: String,
    /// 업무구분코드: e.g. `100`, `200`, `500`.
    #[telegram(len = 3, offset = 28, label = "업무구분코드")]
    pub biz_type: String,
    /// 송신회수: always `1`.
    #[telegram(len = 1, offset = 31, label = "송신회수")]
    pub send_count: u8,
    /// 전문번호: per-day sequence number (max 950,000); responses echo the request's.
    /// For 결번요구 (3000/200, 4000/200) this slot carries the requested 결번번호.
    #[telegram(len = 6, offset = 32, label = "전문번호")]
    pub msg_no: u32,
    /// 전송일자: `YYYYMMDD`; responses echo the request's.
    #[telegram(len = 8, offset = 38, numeric, label = "전송일자")]
    pub send_date: String,
    /// 전송시간: `hhmmss`.
    #[telegram(len = 6, offset = 46, numeric, label = "전송시간")]
    pub send_time: String,
    /// 응답코드: blank in requests; `0000` ([`RESP_OK`]) on success.
    #[telegram(len = 4, offset = 52, label = "응답코드")]
    pub resp_code: String,
    /// 예비영역1: 송수신id(8) + 업무(1) + 기타(6).
    #[telegram(len = 15, offset = 56, label = "예비영역1")]
    pub reserved1: String,
    /// 예비영역2: 예약영역(8) + 기타(3).
    #[telegram(len = 11, offset = 71, label = "예비영역2")]
    pub reserved2: String,
    /// 예비영역3: 예약영역(18); a 명세통지 response returns it unchanged.
    #[telegram(len = 18, offset = 82, label = "예비영역3")]
    pub reserved3: String,
}

impl HectoHeader {
    /// The header of the response to this request header: 전문구분코드 + 100 (same
    /// 업무구분코드, 전문번호, 전송일자 and 예비영역), with `resp_code` set.
    ///
    /// Returns `None` if this header's `msg_type` is not a request code.
    pub fn to_response(&self, resp_code: &str) -> Option<HectoHeader> {
        let msg_type = response_msg_type(&self.msg_type)?;
        Some(HectoHeader {
            msg_type,
            resp_code: resp_code.to_owned(),
            ..self.clone()
        })
    }

    /// Whether this header's 전문구분코드 is a request code (N000).
    pub fn is_request(&self) -> bool {
        is_request_msg_type(&self.msg_type)
    }
}

// ---------------------------------------------------------------------------------------------
// A.2 업무개시 / 업무종료 / TEST CALL
// ---------------------------------------------------------------------------------------------

/// A.2 업무개시 1000/100, 업무종료 1000/200, TEST CALL 1000/500 and their 1100 responses:
/// the header plus a 200-byte blank body.
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 300)]
pub struct AdminMessage {
    /// 공통부.
    pub header: HectoHeader,
    /// 예비영역: spaces.
    #[telegram(len = 200, offset = 100, label = "예비영역")]
    pub filler: String,
}

// ---------------------------------------------------------------------------------------------
// A.3 당/타행 이체 (지급)
// ---------------------------------------------------------------------------------------------

/// A.3 당/타행 이체 (지급) 2000/100 → 2100/100: pay out from the company's 모계좌.
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 300)]
pub struct Transfer {
    /// 공통부.
    pub header: HectoHeader,
    /// 출금계좌번호 (모계좌번호).
    #[telegram(len = 15, offset = 100, mask, label = "출금계좌번호")]
    pub wd_account: String,
    /// 통장비밀번호 (모계좌).
    #[telegram(len = 8, offset = 115, mask, label = "통장비밀번호")]
    pub wd_password: String,
    /// 복기부호: used only if agreed with the bank.
    #[telegram(len = 6, offset = 123, mask, label = "복기부호")]
    pub verify_code: String,
    /// 출금금액 (이체금액).
    #[telegram(len = 13, offset = 129, label = "출금금액")]
    pub amount: u64,
    /// 출금후잔액부호: `+` / `-` (response).
    #[telegram(len = 1, offset = 142, label = "출금후잔액부호")]
    pub bal_sign: String,
    /// 출금후잔액 (response).
    #[telegram(len = 13, offset = 143, label = "출금후잔액")]
    pub balance: Option<u64>,
    /// 입금은행코드.
    #[telegram(len = 3, offset = 156, numeric, label = "입금은행코드")]
    pub dep_bank: String,
    /// 입금계좌번호.
    #[telegram(len = 15, offset = 159, mask, label = "입금계좌번호")]
    pub dep_account: String,
    /// 수수료 (이체수수료, response).
    #[telegram(len = 9, offset = 174, label = "수수료")]
    pub fee: Option<u64>,
    /// CMS코드 (optional).
    #[telegram(len = 16, offset = 183, label = "CMS코드")]
    pub cms_code: String,
    /// 적요: printed in the payee's passbook (full-width recommended by some banks).
    #[telegram(len = 14, offset = 199, label = "적요")]
    pub memo: String,
    /// 입금계좌실명번호: 생년월일 or 사업자번호 (optional).
    #[telegram(len = 13, offset = 213, mask, label = "입금계좌실명번호")]
    pub dep_real_name_no: String,
    /// 입금계좌예금주명 (optional).
    #[telegram(len = 12, offset = 226, label = "입금계좌예금주명")]
    pub dep_holder: String,
    /// 원거래전문번호: blank by default (AN on the page).
    #[telegram(len = 6, offset = 238, label = "원거래전문번호")]
    pub orig_msg_no: String,
    /// 수수료면제구분: `Y` / `N` (조달청 only).
    #[telegram(len = 1, offset = 244, label = "수수료면제구분")]
    pub fee_exempt: String,
    /// 자금성격구분: bank specific (급여/상여 …).
    #[telegram(len = 2, offset = 245, label = "자금성격구분")]
    pub fund_type: String,
    /// 예비.
    #[telegram(len = 53, offset = 247, label = "예비")]
    pub filler: String,
}

// ---------------------------------------------------------------------------------------------
// A.4 집금(출금)이체
// ---------------------------------------------------------------------------------------------

/// A.4 집금(출금)이체 2000/200 → 2100/200: collect from a customer account into the
/// company's 모계좌.
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 300)]
pub struct Collection {
    /// 공통부.
    pub header: HectoHeader,
    /// 출금계좌번호 (customer account).
    #[telegram(len = 15, offset = 100, mask, label = "출금계좌번호")]
    pub wd_account: String,
    /// 통장비밀번호.
    #[telegram(len = 8, offset = 115, mask, label = "통장비밀번호")]
    pub wd_password: String,
    /// 복기부호.
    #[telegram(len = 6, offset = 123, mask, label = "복기부호")]
    pub verify_code: String,
    /// 출금금액 (이체금액).
    #[telegram(len = 13, offset = 129, label = "출금금액")]
    pub amount: u64,
    /// 입금후잔액부호 (response).
    #[telegram(len = 1, offset = 142, label = "입금후잔액부호")]
    pub bal_sign: String,
    /// 입금후잔액 (response).
    #[telegram(len = 13, offset = 143, label = "입금후잔액")]
    pub balance: Option<u64>,
    /// 입금은행코드 (모계좌 bank).
    #[telegram(len = 3, offset = 156, numeric, label = "입금은행코드")]
    pub dep_bank: String,
    /// 입금계좌번호 (company 모계좌).
    #[telegram(len = 15, offset = 159, mask, label = "입금계좌번호")]
    pub dep_account: String,
    /// 수수료 (response).
    #[telegram(len = 9, offset = 174, label = "수수료")]
    pub fee: Option<u64>,
    /// 적요: printed in the customer's passbook.
    #[telegram(len = 14, offset = 183, label = "적요")]
    pub memo: String,
    /// 출금계좌실명번호: YYMMDD or 사업자번호.
    #[telegram(len = 13, offset = 197, mask, label = "출금계좌실명번호")]
    pub wd_real_name_no: String,
    /// 출금계좌예금주명.
    #[telegram(len = 12, offset = 210, label = "출금계좌예금주명")]
    pub wd_holder: String,
    /// CMS 입금자코드.
    #[telegram(len = 16, offset = 222, label = "CMS 입금자코드")]
    pub cms_code: String,
    /// 자기앞수표출금액.
    #[telegram(len = 13, offset = 238, label = "자기앞수표출금액")]
    pub cashier_check_amt: Option<u64>,
    /// 납부자번호: only valid if registered beforehand with 2000/550.
    #[telegram(len = 20, offset = 251, label = "납부자번호")]
    pub payer_no: String,
    /// 펌뱅킹기관코드.
    #[telegram(len = 10, offset = 271, label = "펌뱅킹기관코드")]
    pub fb_org_code: String,
    /// 재판매기관영역.
    #[telegram(len = 18, offset = 281, label = "재판매기관영역")]
    pub resale_area: String,
    /// 예비.
    #[telegram(len = 1, offset = 299, label = "예비")]
    pub filler: String,
}

// ---------------------------------------------------------------------------------------------
// A.5 타행이체불능통지 / 결번요구
// ---------------------------------------------------------------------------------------------

/// A.5 타행이체불능통지 3000/100 (bank→company) → 3100/100, and 불능결번요구 3000/200
/// (company→bank) → 3100/200, which share this body.
///
/// Every N field is optional: a 결번요구 request carries the wanted 결번번호 in the header's
/// 전문번호 slot and may leave the body blank.
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 300)]
pub struct TransferFailNotice {
    /// 공통부.
    pub header: HectoHeader,
    /// 원거래전문번호: 전문번호 of the failed transfer.
    #[telegram(len = 6, offset = 100, label = "원거래전문번호")]
    pub orig_msg_no: Option<u32>,
    /// 출금계좌번호.
    #[telegram(len = 15, offset = 106, mask, label = "출금계좌번호")]
    pub wd_account: String,
    /// 입금은행.
    #[telegram(len = 3, offset = 121, numeric, label = "입금은행")]
    pub dep_bank: Option<String>,
    /// 입금계좌번호.
    #[telegram(len = 15, offset = 124, mask, label = "입금계좌번호")]
    pub dep_account: String,
    /// 의뢰금액.
    #[telegram(len = 13, offset = 139, label = "의뢰금액")]
    pub req_amount: Option<u64>,
    /// 정상처리금액.
    #[telegram(len = 13, offset = 152, label = "정상처리금액")]
    pub ok_amount: Option<u64>,
    /// 처리불능금액.
    #[telegram(len = 13, offset = 165, label = "처리불능금액")]
    pub fail_amount: Option<u64>,
    /// 분할처리건수.
    #[telegram(len = 2, offset = 178, label = "분할처리건수")]
    pub split_count: Option<u8>,
    /// 분할처리번호.
    #[telegram(len = 2, offset = 180, label = "분할처리번호")]
    pub split_no: Option<u8>,
    /// 타행전문번호.
    #[telegram(len = 6, offset = 182, label = "타행전문번호")]
    pub other_bank_msg_no: Option<u32>,
    /// 입금불능통지금액.
    #[telegram(len = 13, offset = 188, label = "입금불능통지금액")]
    pub fail_notice_amt: Option<u64>,
    /// ERROR CODE: 공동망 error code.
    #[telegram(len = 4, offset = 201, label = "ERROR CODE")]
    pub error_code: String,
    /// 공동망고유거래번호 (농협 only).
    #[telegram(len = 13, offset = 205, label = "공동망고유거래번호")]
    pub kftc_unique_no: String,
    /// 예비.
    #[telegram(len = 82, offset = 218, label = "예비")]
    pub filler: String,
}

// ---------------------------------------------------------------------------------------------
// A.6 예금거래명세통지
// ---------------------------------------------------------------------------------------------

/// A.6 예금거래명세통지 4000/100 (bank→company) → 4100/100: an account statement entry
/// (deposit, withdrawal, cancellation). The company's 4100 response echoes the telegram,
/// including the header's 예비영역.
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 300)]
pub struct DepositNotice {
    /// 공통부.
    pub header: HectoHeader,
    /// 거래계좌번호.
    #[telegram(len = 15, offset = 100, mask, label = "거래계좌번호")]
    pub account: String,
    /// 거래점 GIRO코드.
    #[telegram(len = 7, offset = 115, label = "거래점 GIRO코드")]
    pub giro_branch: String,
    /// 입/출금/취소구분: 11 입금, 21 출금, 31 입금취소, 32 출금취소, 99 기타.
    #[telegram(len = 2, offset = 122, label = "입/출금/취소구분")]
    pub io_cancel_type: String,
    /// 거래구분 (명세통지거래구분코드, e.g. 03 타행환입금, 20 입금).
    #[telegram(len = 2, offset = 124, label = "거래구분")]
    pub tx_kind: String,
    /// 거래금액.
    #[telegram(len = 13, offset = 126, label = "거래금액")]
    pub amount: u64,
    /// 현금성 (금일인출가능금액).
    #[telegram(len = 13, offset = 139, label = "현금성")]
    pub cash_like: Option<u64>,
    /// 어음, 타점권 (익일인출가능금액).
    #[telegram(len = 13, offset = 152, label = "어음, 타점권")]
    pub bill_other: Option<u64>,
    /// 거래후잔액부호.
    #[telegram(len = 1, offset = 165, label = "거래후잔액부호")]
    pub bal_sign: String,
    /// 거래후잔액.
    #[telegram(len = 13, offset = 166, label = "거래후잔액")]
    pub balance: Option<u64>,
    /// 입/출금자성명.
    #[telegram(len = 12, offset = 179, label = "입/출금자성명")]
    pub counterparty_name: String,
    /// 수표번호 (어음, 수표번호).
    #[telegram(len = 10, offset = 191, label = "수표번호")]
    pub check_no: String,
    /// 거래일자 `YYYYMMDD`.
    #[telegram(len = 8, offset = 201, numeric, label = "거래일자")]
    pub tx_date: String,
    /// 거래시간 `hhmmss`.
    #[telegram(len = 6, offset = 209, numeric, label = "거래시간")]
    pub tx_time: String,
    /// 거래일련번호.
    #[telegram(len = 6, offset = 215, label = "거래일련번호")]
    pub tx_seq: u32,
    /// 취소시원거래일련번호 (cancellations only).
    #[telegram(len = 6, offset = 221, label = "취소시원거래일련번호")]
    pub cancel_orig_seq: Option<u32>,
    /// 원거래일자 `YYYYMMDD` (cancellations only).
    #[telegram(len = 8, offset = 227, numeric, label = "원거래일자")]
    pub orig_tx_date: Option<String>,
    /// CMS코드/실명번호.
    #[telegram(len = 16, offset = 235, mask, label = "CMS코드/실명번호")]
    pub cms_or_realname: String,
    /// 자기앞수표금액.
    #[telegram(len = 13, offset = 251, label = "자기앞수표금액")]
    pub cashier_check_amt: Option<u64>,
    /// 가계수표금액.
    #[telegram(len = 13, offset = 264, label = "가계수표금액")]
    pub household_check_amt: Option<u64>,
    /// 입/출금자 성명, 20 bytes (SC은행 only).
    #[telegram(len = 20, offset = 277, label = "입/출금자 성명")]
    pub counterparty_name20: String,
    /// 거래금액구분코드 (SC은행 only).
    #[telegram(len = 2, offset = 297, label = "거래금액구분코드")]
    pub amount_kind: String,
    /// 예비영역.
    #[telegram(len = 1, offset = 299, label = "예비영역")]
    pub filler: String,
}

// ---------------------------------------------------------------------------------------------
// A.7 계좌성명조회
// ---------------------------------------------------------------------------------------------

/// A.7 계좌성명조회 (예금주조회, 이체예비거래) 6000/100 → 6100/100.
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 300)]
pub struct AccountNameInquiry {
    /// 공통부.
    pub header: HectoHeader,
    /// 계좌번호.
    #[telegram(len = 15, offset = 100, mask, label = "계좌번호")]
    pub account: String,
    /// 실명번호: 생년월일(YYMMDD) or 사업자번호.
    #[telegram(len = 13, offset = 115, mask, label = "실명번호")]
    pub real_name_no: String,
    /// 예금주명1: up to 12 bytes (response).
    #[telegram(len = 12, offset = 128, label = "예금주명1")]
    pub holder1: String,
    /// 은행코드 (AN on the page, so kept as plain text).
    #[telegram(len = 3, offset = 140, label = "은행코드")]
    pub bank_code: String,
    /// 금액 (optional).
    #[telegram(len = 13, offset = 143, label = "금액")]
    pub amount: Option<u64>,
    /// 모계좌번호 (some banks: 새마을/광주/신협).
    #[telegram(len = 15, offset = 156, mask, label = "모계좌번호")]
    pub parent_account: String,
    /// 실명번호체크구분 (unused since 2014-08-07).
    #[telegram(len = 2, offset = 171, label = "실명번호체크구분")]
    pub realname_check: String,
    /// 예금주명2: up to 20 bytes (some banks).
    #[telegram(len = 20, offset = 173, label = "예금주명2")]
    pub holder2: String,
    /// 계좌고정여부: `Y` 인출제한 / `N`.
    #[telegram(len = 1, offset = 193, label = "계좌고정여부")]
    pub acct_fixed: String,
    /// 계좌상태: `N` 개설 / `C` 해지.
    #[telegram(len = 1, offset = 194, label = "계좌상태")]
    pub acct_status: String,
    /// 계좌상태일자 (AN on the page).
    #[telegram(len = 8, offset = 195, label = "계좌상태일자")]
    pub acct_status_date: String,
    /// 등록기관코드: 01 조달청, 02 클린페이.
    #[telegram(len = 2, offset = 203, label = "등록기관코드")]
    pub reg_org_code: String,
    /// 카카오페이상품코드 (농협 카카오페이 only).
    #[telegram(len = 8, offset = 205, label = "카카오페이상품코드")]
    pub kakaopay_prod: String,
    /// 예비.
    #[telegram(len = 87, offset = 213, label = "예비")]
    pub filler: String,
}

// ---------------------------------------------------------------------------------------------
// A.8 이체처리결과조회
// ---------------------------------------------------------------------------------------------

/// A.8 이체처리결과조회 7000/100 → 7100/100: the result inquiry that resolves a transfer whose
/// answer was lost, `VTIM`, or "처리중" (send it 5 minutes after the transfer, repeat while
/// the answer is still "in progress").
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 300)]
pub struct TransferResultInquiry {
    /// 공통부.
    pub header: HectoHeader,
    /// 원거래전문번호: 전문번호 of the transfer being asked about.
    #[telegram(len = 6, offset = 100, label = "원거래전문번호")]
    pub orig_msg_no: u32,
    /// 출금계좌번호.
    #[telegram(len = 15, offset = 106, mask, label = "출금계좌번호")]
    pub wd_account: String,
    /// 입금은행코드.
    #[telegram(len = 3, offset = 121, numeric, label = "입금은행코드")]
    pub dep_bank: Option<String>,
    /// 입금계좌번호.
    #[telegram(len = 15, offset = 124, mask, label = "입금계좌번호")]
    pub dep_account: String,
    /// 의뢰금액.
    #[telegram(len = 13, offset = 139, label = "의뢰금액")]
    pub req_amount: Option<u64>,
    /// 정상처리금액 (response).
    #[telegram(len = 13, offset = 152, label = "정상처리금액")]
    pub ok_amount: Option<u64>,
    /// 처리불능금액 (response).
    #[telegram(len = 13, offset = 165, label = "처리불능금액")]
    pub fail_amount: Option<u64>,
    /// 수수료 (response).
    #[telegram(len = 9, offset = 178, label = "수수료")]
    pub fee: Option<u64>,
    /// 이체시간 `hhmmss` (bank processing time, response).
    #[telegram(len = 6, offset = 187, numeric, label = "이체시간")]
    pub tx_time: Option<String>,
    /// 처리결과: `NREC` ([`RESULT_NO_RECORD`]) / `0000` / bank-specific code (response).
    #[telegram(len = 4, offset = 193, label = "처리결과")]
    pub result: String,
    /// 조회구분 (케이뱅크/카카오뱅크 only: 1 당타행, 2/3 집금).
    #[telegram(len = 2, offset = 197, label = "조회구분")]
    pub query_kind: Option<u8>,
    /// 예비.
    #[telegram(len = 101, offset = 199, label = "예비")]
    pub filler: String,
}

// ---------------------------------------------------------------------------------------------
// A.9 모계좌잔액조회
// ---------------------------------------------------------------------------------------------

/// A.9 모계좌잔액조회 7000/200 → 7100/200.
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 300)]
pub struct BalanceInquiry {
    /// 공통부.
    pub header: HectoHeader,
    /// 계좌번호 (모계좌).
    #[telegram(len = 15, offset = 100, mask, label = "계좌번호")]
    pub account: String,
    /// 대월한도 (response).
    #[telegram(len = 13, offset = 115, label = "대월한도")]
    pub overdraft_limit: Option<u64>,
    /// 부호 of 원장잔액: `+` / `-`.
    #[telegram(len = 1, offset = 128, label = "부호")]
    pub sign1: String,
    /// 원장잔액 (response).
    #[telegram(len = 13, offset = 129, label = "원장잔액")]
    pub ledger_balance: Option<u64>,
    /// 현금/대체금액 (response).
    #[telegram(len = 13, offset = 142, label = "현금/대체금액")]
    pub cash_transfer: Option<u64>,
    /// 보수/가계수표금액 (response).
    #[telegram(len = 13, offset = 155, label = "보수/가계수표금액")]
    pub check_amt: Option<u64>,
    /// 기타타점(어음/당좌) 금액 (response).
    #[telegram(len = 13, offset = 168, label = "기타타점(어음/당좌) 금액")]
    pub other_bill: Option<u64>,
    /// 부호 of 실지급가능금액: `+` / `-`.
    #[telegram(len = 1, offset = 181, label = "부호")]
    pub sign2: String,
    /// 실지급가능금액 (response).
    #[telegram(len = 13, offset = 182, label = "실지급가능금액")]
    pub payable: Option<u64>,
    /// 예비.
    #[telegram(len = 105, offset = 195, label = "예비")]
    pub filler: String,
}

// ---------------------------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------------------------

/// Any Hecto telegram, selected by the header's (전문구분코드, 업무구분코드) in one pass.
#[derive(Telegram, Debug, Clone, PartialEq, Eq)]
#[telegram(header = HectoHeader, key(msg_type, biz_type))]
pub enum HectoMessage {
    /// 업무개시 요구 1000/100.
    #[telegram(key("1000", "100"))]
    SignOnRequest(AdminMessage),
    /// 업무개시 응답 1100/100.
    #[telegram(key("1100", "100"))]
    SignOnResponse(AdminMessage),
    /// 업무종료 요구 1000/200.
    #[telegram(key("1000", "200"))]
    SignOffRequest(AdminMessage),
    /// 업무종료 응답 1100/200.
    #[telegram(key("1100", "200"))]
    SignOffResponse(AdminMessage),
    /// TEST CALL 요구 1000/500.
    #[telegram(key("1000", "500"))]
    TestCallRequest(AdminMessage),
    /// TEST CALL 응답 1100/500.
    #[telegram(key("1100", "500"))]
    TestCallResponse(AdminMessage),
    /// 당/타행이체 요구 2000/100.
    #[telegram(key("2000", "100"))]
    TransferRequest(Transfer),
    /// 당/타행이체 응답 2100/100.
    #[telegram(key("2100", "100"))]
    TransferResponse(Transfer),
    /// 집금이체 요구 2000/200.
    #[telegram(key("2000", "200"))]
    CollectionRequest(Collection),
    /// 집금이체 응답 2100/200.
    #[telegram(key("2100", "200"))]
    CollectionResponse(Collection),
    /// 타행이체불능통지 3000/100 (bank→company).
    #[telegram(key("3000", "100"))]
    TransferFailNoticeRequest(TransferFailNotice),
    /// 타행이체불능통지 응답 3100/100 (company→bank).
    #[telegram(key("3100", "100"))]
    TransferFailNoticeResponse(TransferFailNotice),
    /// 불능결번요구 3000/200 (company→bank).
    #[telegram(key("3000", "200"))]
    TransferFailGapRequest(TransferFailNotice),
    /// 불능결번요구 응답 3100/200.
    #[telegram(key("3100", "200"))]
    TransferFailGapResponse(TransferFailNotice),
    /// 예금거래명세통지 4000/100 (bank→company).
    #[telegram(key("4000", "100"))]
    DepositNoticeRequest(DepositNotice),
    /// 예금거래명세통지 응답 4100/100 (company→bank).
    #[telegram(key("4100", "100"))]
    DepositNoticeResponse(DepositNotice),
    /// 계좌성명조회 요구 6000/100.
    #[telegram(key("6000", "100"))]
    AccountNameInquiryRequest(AccountNameInquiry),
    /// 계좌성명조회 응답 6100/100.
    #[telegram(key("6100", "100"))]
    AccountNameInquiryResponse(AccountNameInquiry),
    /// 이체처리결과조회 요구 7000/100.
    #[telegram(key("7000", "100"))]
    TransferResultInquiryRequest(TransferResultInquiry),
    /// 이체처리결과조회 응답 7100/100.
    #[telegram(key("7100", "100"))]
    TransferResultInquiryResponse(TransferResultInquiry),
    /// 잔액조회 요구 7000/200.
    #[telegram(key("7000", "200"))]
    BalanceInquiryRequest(BalanceInquiry),
    /// 잔액조회 응답 7100/200.
    #[telegram(key("7100", "200"))]
    BalanceInquiryResponse(BalanceInquiry),
}

impl HectoMessage {
    /// The 공통부 of whichever telegram this is.
    pub fn header(&self) -> &HectoHeader {
        match self {
            HectoMessage::SignOnRequest(m)
            | HectoMessage::SignOnResponse(m)
            | HectoMessage::SignOffRequest(m)
            | HectoMessage::SignOffResponse(m)
            | HectoMessage::TestCallRequest(m)
            | HectoMessage::TestCallResponse(m) => &m.header,
            HectoMessage::TransferRequest(m) | HectoMessage::TransferResponse(m) => &m.header,
            HectoMessage::CollectionRequest(m) | HectoMessage::CollectionResponse(m) => &m.header,
            HectoMessage::TransferFailNoticeRequest(m)
            | HectoMessage::TransferFailNoticeResponse(m)
            | HectoMessage::TransferFailGapRequest(m)
            | HectoMessage::TransferFailGapResponse(m) => &m.header,
            HectoMessage::DepositNoticeRequest(m) | HectoMessage::DepositNoticeResponse(m) => {
                &m.header
            }
            HectoMessage::AccountNameInquiryRequest(m)
            | HectoMessage::AccountNameInquiryResponse(m) => &m.header,
            HectoMessage::TransferResultInquiryRequest(m)
            | HectoMessage::TransferResultInquiryResponse(m) => &m.header,
            HectoMessage::BalanceInquiryRequest(m) | HectoMessage::BalanceInquiryResponse(m) => {
                &m.header
            }
        }
    }

    /// Mutable access to the 공통부 (e.g. to write the assigned 전문번호).
    pub fn header_mut(&mut self) -> &mut HectoHeader {
        match self {
            HectoMessage::SignOnRequest(m)
            | HectoMessage::SignOnResponse(m)
            | HectoMessage::SignOffRequest(m)
            | HectoMessage::SignOffResponse(m)
            | HectoMessage::TestCallRequest(m)
            | HectoMessage::TestCallResponse(m) => &mut m.header,
            HectoMessage::TransferRequest(m) | HectoMessage::TransferResponse(m) => &mut m.header,
            HectoMessage::CollectionRequest(m) | HectoMessage::CollectionResponse(m) => {
                &mut m.header
            }
            HectoMessage::TransferFailNoticeRequest(m)
            | HectoMessage::TransferFailNoticeResponse(m)
            | HectoMessage::TransferFailGapRequest(m)
            | HectoMessage::TransferFailGapResponse(m) => &mut m.header,
            HectoMessage::DepositNoticeRequest(m) | HectoMessage::DepositNoticeResponse(m) => {
                &mut m.header
            }
            HectoMessage::AccountNameInquiryRequest(m)
            | HectoMessage::AccountNameInquiryResponse(m) => &mut m.header,
            HectoMessage::TransferResultInquiryRequest(m)
            | HectoMessage::TransferResultInquiryResponse(m) => &mut m.header,
            HectoMessage::BalanceInquiryRequest(m) | HectoMessage::BalanceInquiryResponse(m) => {
                &mut m.header
            }
        }
    }

    /// Whether this is a request (전문구분코드 N000), as opposed to a response (N100).
    pub fn is_request(&self) -> bool {
        self.header().is_request()
    }

    /// The variant's dispatch key `[msg_type, biz_type]`, e.g. `["2000", "100"]` for
    /// [`HectoMessage::TransferRequest`] (from the variant, not from the header).
    pub fn variant_key(&self) -> (&'static str, &'static str) {
        let key = <Self as TelegramFamily>::key(self);
        (key[0], key[1])
    }

    /// Whether the header's (전문구분코드, 업무구분코드) equal the variant's key.
    ///
    /// Encoding writes the header as it is, so a variant whose header disagrees (e.g.
    /// `TransferRequest` with `msg_type = "2100"`) would decode as another variant; call
    /// [`HectoMessage::sync_key`] before encoding a hand-built message.
    pub fn key_matches(&self) -> bool {
        let (msg_type, biz_type) = self.variant_key();
        let h = self.header();
        h.msg_type == msg_type && h.biz_type == biz_type
    }

    /// Writes the variant's key into the header's `msg_type` and `biz_type`.
    pub fn sync_key(&mut self) {
        let (msg_type, biz_type) = self.variant_key();
        let h = self.header_mut();
        h.msg_type = msg_type.to_owned();
        h.biz_type = biz_type.to_owned();
    }
}

// ---------------------------------------------------------------------------------------------
// A.11 Polling
// ---------------------------------------------------------------------------------------------

/// `HDR` marker that starts a poll telegram.
pub const POLL_HDR: &str = "HDR";
/// Poll request kind.
pub const POLL_REQUEST: &str = "REQPOLL";
/// Poll response kind.
pub const POLL_RESPONSE: &str = "RESPOLL";
/// Length of a poll telegram without its 4-byte length prefix.
pub const POLL_LEN: usize = 20;
/// Default polling interval on an idle session, in seconds (PDF §2-2: 5 minutes).
pub const POLL_INTERVAL_SECS: u64 = 300;

/// A.11 heartbeat: `HDRREQPOLLmmddhhmmss` / `HDRRESPOLLmmddhhmmss` (20 bytes; framed on the
/// wire as `"0020"` + these 20 bytes). The response echoes the request's stamp unchanged.
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "ascii", len = 20)]
pub struct Poll {
    /// Always `HDR`.
    #[telegram(len = 3, offset = 0, label = "HDR")]
    pub hdr: String,
    /// `REQPOLL` (request) or `RESPOLL` (response).
    #[telegram(len = 7, offset = 3, label = "구분")]
    pub kind: String,
    /// Sender's clock `mmddhhmmss`; a response copies the request's.
    #[telegram(len = 10, offset = 10, numeric, label = "월일시분초")]
    pub stamp: String,
}

impl Poll {
    /// A poll request with the sender's time `mmddhhmmss` (10 digits).
    pub fn request(stamp: impl Into<String>) -> Poll {
        Poll {
            hdr: POLL_HDR.to_owned(),
            kind: POLL_REQUEST.to_owned(),
            stamp: stamp.into(),
        }
    }

    /// The response to a poll request: `RESPOLL` with the request's stamp unchanged.
    pub fn response_to(request: &Poll) -> Poll {
        Poll {
            hdr: POLL_HDR.to_owned(),
            kind: POLL_RESPONSE.to_owned(),
            stamp: request.stamp.clone(),
        }
    }

    /// Whether this is a poll request (`REQPOLL`).
    pub fn is_request(&self) -> bool {
        self.hdr == POLL_HDR && self.kind == POLL_REQUEST
    }

    /// Whether this is a poll response (`RESPOLL`).
    pub fn is_response(&self) -> bool {
        self.hdr == POLL_HDR && self.kind == POLL_RESPONSE
    }
}

/// Whether `frame` is a poll telegram (request or response).
///
/// Accepts the 20-byte telegram (`HDRREQPOLL…`) or the whole 24-byte wire frame including
/// the `"0020"` length prefix. Checks the marker, the kind and that the stamp is 10 ASCII
/// digits; does not validate the stamp as a calendar time.
pub fn is_poll(frame: &[u8]) -> bool {
    let body = match frame.len() {
        POLL_LEN => frame,
        n if n == POLL_LEN + LENGTH_PREFIX_LEN && frame.starts_with(b"0020") => {
            &frame[LENGTH_PREFIX_LEN..]
        }
        _ => return false,
    };
    body.starts_with(POLL_HDR.as_bytes())
        && (&body[3..10] == POLL_REQUEST.as_bytes() || &body[3..10] == POLL_RESPONSE.as_bytes())
        && body[10..].iter().all(u8::is_ascii_digit)
}
