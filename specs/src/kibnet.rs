//! KIBNET (한국신용정보/NICE 'EFMS') 가상계좌 · 제휴업무(펌뱅킹).
//!
//! Source: the KIBNET/EFMS 전문설계서 of a 2011 대외계 project (GitHub cherryjuni/hic,
//! `doc/kib/`), as transcribed in `/work/shared/specs/kibnet-efms.md` (tables B.1–B.8).
//!
//! Every telegram is a 300-byte AP COMMON (공통부) followed by a 300-byte body: **600 bytes**,
//! and — unlike Hecto — the telegram's first field is its own LENGTH (N 4), counting the whole
//! telegram, itself included (`"0600"`). It sits in the nested header and is declared
//! `auto_len = "telegram"`: encoding fills it with the outermost telegram's length and decoding
//! checks it against the telegram's length, whatever struct the header is nested in. Nothing
//! is stripped by the framing (`length = "field"` in `specs/kibnet.toml`). Text is EUC-KR
//! ("SO/SI 없는 KS코드"); AN = left-aligned space padded, N = right-aligned '0' padded.
//!
//! The header comes in two flavours that differ only at 286–299: [`KibVaHeader`] (가상계좌,
//! FILLER 14) and [`KibAffHeader`] (제휴업무: 은행응답코드 AN 4 + FILLER 10). One key names
//! two layouts: 0200/1100 is a 가상계좌 입금 ([`VaDeposit`]) when EFMS sends it (송수신 FLAG
//! [`FLAG_FROM_EFMS`]) and a 지급이체 ([`Payment`]) when the 기관 sends it ([`FLAG_FROM_ORG`]).
//! [`KibnetMessage`] dispatches on (전문구분코드, 거래구분코드) and, where they are shared, on
//! the FLAG (`when(sr_flag = "…")`).
//!
//! Real telegrams deviate from the tables: N fields padded with spaces (`" 0"` in 수표권종)
//! and telegrams shorter or longer in their trailing FILLER (a 500-byte 0810/2100). Every
//! struct here is `tolerant` (N fields accept spaces for leading zeros, blank as 0 / `None`)
//! and each telegram's last FILLER is a `filler`: decoding accepts what the framing length
//! delivers, encoding is canonical (600 bytes, '0'-padded N).
//!
//! # Type conventions
//!
//! - **N codes** whose zeros are part of the value (전문구분코드 `0200`, 거래구분코드,
//!   dates, times, 개설기관코드) → `numeric` `String`.
//! - **N counters and amounts** → unsigned integers; `Option<_>` where the table says the
//!   field is blank (space) in some telegrams.
//! - `mask` on account numbers, passwords, 복기부호 and 주민번호.

use fep_codec::{Telegram, TelegramFamily};

/// Total length of every KIBNET telegram (AP COMMON 300 + body 300), LENGTH included.
pub const TELEGRAM_LEN: usize = 600;
/// Length of the AP COMMON (공통부).
pub const HEADER_LEN: usize = 300;
/// 송수신 FLAG `5`: the telegram was sent by the 기관 (us) to EFMS.
pub const FLAG_FROM_ORG: &str = "5";
/// 송수신 FLAG `6`: the telegram was sent by EFMS to the 기관.
pub const FLAG_FROM_EFMS: &str = "6";
/// 응답코드 `000`: 정상처리.
pub const RESP_OK: &str = "000";
/// 한글코드 구분 `2`: KS X 1001 without shift-in/out (EUC-KR).
pub const HANGUL_KSC: &str = "2";

/// The response 전문구분코드 of a request: +10 (`0200` → `0210`, `0800` → `0810`).
///
/// ```
/// assert_eq!(fep_specs::kibnet::response_msg_type("0200").as_deref(), Some("0210"));
/// assert_eq!(fep_specs::kibnet::response_msg_type("0210"), None);
/// ```
pub fn response_msg_type(request: &str) -> Option<String> {
    match request {
        "0200" | "0400" | "0800" => Some(format!("{}10", &request[..2])),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// B.1 AP COMMON
// ---------------------------------------------------------------------------------------------

/// Declares one AP COMMON flavour: fields 1–22 (0–285) shared, then the flavour's tail.
macro_rules! ap_common {
    ($(#[$doc:meta])* $name:ident { $($tail:tt)* }) => {
        $(#[$doc])*
        #[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
        #[telegram(charset = "euc-kr", len = 300, tolerant)]
        pub struct $name {
            /// LENGTH: the whole telegram's length, this field included (`0600`).
            #[telegram(len = 4, offset = 0, auto_len = "telegram", label = "LENGTH")]
            pub length: u16,
            /// CS번호: `0000` in 기관 requests, `0009` from KIBNET (meaning not documented).
            #[telegram(len = 4, offset = 4, label = "CS번호")]
            pub cs_no: String,
            /// CS관리 기관코드: KIBNET's code for the 기관 (e.g. `20031703`).
            #[telegram(len = 8, offset = 8, label = "CS관리 기관코드")]
            pub cs_org: String,
            /// REACTION CODE: `0` 연속거래없음, `1` CONTINUE.
            #[telegram(len = 1, offset = 16, label = "REACTION CODE")]
            pub reaction: String,
            /// 연속거래번호.
            #[telegram(len = 3, offset = 17, label = "연속거래번호")]
            pub cont_seq: u16,
            /// 송수신 FLAG: [`FLAG_FROM_ORG`] or [`FLAG_FROM_EFMS`].
            #[telegram(len = 1, offset = 20, label = "송수신 FLAG")]
            pub sr_flag: String,
            /// 취급기관코드.
            #[telegram(len = 8, offset = 21, label = "취급기관코드")]
            pub handling_org: String,
            /// 취급영업점코드: 은행코드(3) + 영업점(4).
            #[telegram(len = 9, offset = 29, label = "취급영업점코드")]
            pub handling_branch: String,
            /// 매체(발생)구분: `3` 제휴기관.
            #[telegram(len = 1, offset = 38, label = "매체(발생)구분")]
            pub media: String,
            /// 전문구분코드: 0200/0210 거래, 0400/0410 취소, 0800/0810 관리.
            #[telegram(len = 4, offset = 39, numeric, label = "전문구분코드")]
            pub msg_type: String,
            /// 거래구분코드: 1100, 1300, 1700, 4100, 4800, 5700, 5900, 6013, 2100–2800.
            #[telegram(len = 4, offset = 43, numeric, label = "거래구분코드")]
            pub tx_code: String,
            /// 응답코드: blank in requests, [`RESP_OK`] on success.
            #[telegram(len = 3, offset = 47, label = "응답코드")]
            pub resp_code: String,
            /// 거래일자 `YYYYMMDD`.
            #[telegram(len = 8, offset = 50, numeric, label = "거래일자")]
            pub tx_date: String,
            /// 거래시간 `hhmmss`.
            #[telegram(len = 6, offset = 58, numeric, label = "거래시간")]
            pub tx_time: String,
            /// 거래일련번호 (unique per day with the date).
            #[telegram(len = 7, offset = 64, label = "거래일련번호")]
            pub tx_seq: u32,
            /// 한글코드 구분: [`HANGUL_KSC`].
            #[telegram(len = 1, offset = 71, label = "한글코드 구분")]
            pub hangul_code: String,
            /// 마감후 구분: 0 마감전 / 1 마감후.
            #[telegram(len = 1, offset = 72, label = "마감후 구분")]
            pub after_close: u8,
            /// 개설기관코드: `000009` + 은행코드(2).
            #[telegram(len = 8, offset = 73, numeric, label = "개설기관코드")]
            pub open_org: String,
            /// TRACK번호.
            #[telegram(len = 1, offset = 81, label = "TRACK번호")]
            pub track_no: String,
            /// USER WORK AREA (KIBNET's).
            #[telegram(len = 158, offset = 82, label = "USER WORK AREA")]
            pub user_work: String,
            /// 응답 MESSAGE, e.g. `정상처리`.
            #[telegram(len = 40, offset = 240, label = "응답 MESSAGE")]
            pub resp_msg: String,
            /// 원거래요소: the original's 일련번호 in a 취소; blank otherwise.
            #[telegram(len = 6, offset = 280, label = "원거래요소")]
            pub orig_elem: Option<u32>,
            $($tail)*
        }
    };
}

ap_common! {
    /// B.1 AP COMMON, 가상계좌 flavour: ends in FILLER(14).
    KibVaHeader {
        /// FILLER.
        #[telegram(len = 14, offset = 286, label = "FILLER")]
        pub filler: String,
    }
}

ap_common! {
    /// B.1 AP COMMON, 제휴업무 flavour: 은행응답코드 AN(4) + FILLER(10).
    KibAffHeader {
        /// 은행응답코드: the bank's own response code.
        #[telegram(len = 4, offset = 286, label = "은행응답코드")]
        pub bank_resp: String,
        /// FILLER.
        #[telegram(len = 10, offset = 290, label = "FILLER")]
        pub filler: String,
    }
}

// ---------------------------------------------------------------------------------------------
// Parts shared by the bodies (offsets relative to the part)
// ---------------------------------------------------------------------------------------------

/// 거래금액 and the 입금/출금 계좌부: bytes 300–439 of B.2–B.6.
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 140, tolerant)]
pub struct KibAccounts {
    /// 거래금액.
    #[telegram(len = 13, offset = 0, label = "거래금액")]
    pub amount: u64,
    /// 양,음 구분표시: `' '` 양수, `'-'` 음수.
    #[telegram(len = 1, offset = 13, label = "양,음 구분표시")]
    pub sign: String,
    /// 거래후 계좌잔액.
    #[telegram(len = 13, offset = 14, label = "거래후 계좌잔액")]
    pub balance: u64,
    /// 미결제 타점권 금액.
    #[telegram(len = 13, offset = 27, label = "미결제 타점권 금액")]
    pub uncleared: u64,
    /// 입금계좌부: 제휴기관(은행) 코드.
    #[telegram(len = 8, offset = 40, label = "입금 제휴기관(은행) 코드")]
    pub dep_org: String,
    /// 입금계좌구분코드 (`00`).
    #[telegram(len = 2, offset = 48, numeric, label = "입금계좌구분코드")]
    pub dep_acct_kind: String,
    /// 입금 계좌번호 (가상계좌번호 / 대상계좌).
    #[telegram(len = 16, offset = 50, mask, label = "입금 계좌번호")]
    pub dep_account: String,
    /// 입금계좌성명.
    #[telegram(len = 20, offset = 66, label = "입금계좌성명")]
    pub dep_name: String,
    /// 출금계좌부: 은행(제휴기관) 코드.
    #[telegram(len = 8, offset = 86, label = "출금 은행(제휴기관)코드")]
    pub wd_org: String,
    /// 출금계좌구분코드 (`00`).
    #[telegram(len = 2, offset = 94, numeric, label = "출금계좌구분코드")]
    pub wd_acct_kind: String,
    /// 출금 계좌번호.
    #[telegram(len = 16, offset = 96, mask, label = "출금 계좌번호")]
    pub wd_account: String,
    /// 비밀번호.
    #[telegram(len = 8, offset = 112, mask, label = "비밀번호")]
    pub password: String,
    /// 출금계좌성명 (입금자명 / 고객 인자내역).
    #[telegram(len = 20, offset = 120, label = "출금계좌성명")]
    pub wd_name: String,
}

/// One of the five 수표 of B.2, B.3 and B.5.
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 16, tolerant)]
pub struct KibCheck {
    /// 수표번호.
    #[telegram(len = 8, offset = 0, label = "수표번호")]
    pub no: String,
    /// 수표발행정보.
    #[telegram(len = 6, offset = 8, label = "수표발행정보")]
    pub info: String,
    /// 수표권종 (real telegrams send `" 0"`).
    #[telegram(len = 2, offset = 14, label = "수표권종")]
    pub kind: u8,
}

/// 수수료 · 현금/수표 · 취소: bytes 440–544 of B.2, B.3 and B.5.
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 105, tolerant)]
pub struct KibCash {
    /// 수수료금액.
    #[telegram(len = 5, offset = 0, label = "수수료금액")]
    pub fee: u32,
    /// 현금매수.
    #[telegram(len = 3, offset = 5, label = "현금매수")]
    pub cash_cnt: u16,
    /// 수표매수.
    #[telegram(len = 2, offset = 8, label = "수표매수")]
    pub check_cnt: u8,
    /// 수표 1/5 … 5/5.
    #[telegram(offset = 10)]
    pub checks: [KibCheck; 5],
    /// 취소 사유.
    #[telegram(len = 3, offset = 90, label = "취소 사유")]
    pub cancel_reason: String,
    /// 거래관리번호.
    #[telegram(len = 12, offset = 93, label = "거래관리번호")]
    pub tx_mgmt_no: String,
}

/// B.4 수취조회 · 실명조회: bytes 440–599.
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 160, tolerant)]
pub struct KibInquiryPart {
    /// 수수료금액.
    #[telegram(len = 5, offset = 0, label = "수수료금액")]
    pub fee: u32,
    /// 취급어음교환소코드.
    #[telegram(len = 2, offset = 5, numeric, label = "취급어음교환소코드")]
    pub clr_handling: String,
    /// 개설어음교환소코드.
    #[telegram(len = 2, offset = 7, numeric, label = "개설어음교환소코드")]
    pub clr_open: String,
    /// 수취어음교환소코드.
    #[telegram(len = 2, offset = 9, numeric, label = "수취어음교환소코드")]
    pub clr_recv: String,
    /// 취소사유.
    #[telegram(len = 3, offset = 11, label = "취소사유")]
    pub cancel_reason: String,
    /// 거래관리번호.
    #[telegram(len = 12, offset = 14, label = "거래관리번호")]
    pub tx_mgmt_no: String,
    /// 배분수수료금액.
    #[telegram(len = 5, offset = 26, label = "배분수수료금액")]
    pub dist_fee: u32,
    /// 주민번호: set in 실명조회 (4800), blank in 수취조회.
    #[telegram(len = 13, offset = 31, mask, label = "주민번호")]
    pub rrn: String,
    /// 원거래번호.
    #[telegram(len = 7, offset = 44, label = "원거래번호")]
    pub orig_tx_no: String,
    /// 암호화 정보.
    #[telegram(len = 16, offset = 51, label = "암호화 정보")]
    pub enc_info: String,
    /// FILLER (the telegram's last field).
    #[telegram(len = 93, offset = 67, filler, label = "FILLER")]
    pub filler: String,
}

// ---------------------------------------------------------------------------------------------
// B.2–B.8 bodies
// ---------------------------------------------------------------------------------------------

/// B.2 가상계좌 입금 0200/1100 (EFMS → 기관), 취소 0400/1100, 대행 0200/1300.
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 600, tolerant)]
pub struct VaDeposit {
    /// AP COMMON (가상계좌).
    #[telegram(offset = 0)]
    pub header: KibVaHeader,
    /// 거래금액 · 계좌부.
    #[telegram(offset = 300)]
    pub accounts: KibAccounts,
    /// 수수료 · 현금/수표 · 취소.
    #[telegram(offset = 440)]
    pub cash: KibCash,
    /// 배분수수료금액.
    #[telegram(len = 5, offset = 545, label = "배분수수료금액")]
    pub dist_fee: u32,
    /// FILLER.
    #[telegram(len = 50, offset = 550, filler, label = "FILLER")]
    pub filler: String,
}

/// B.3 지급이체 0200/1100 (기관 → EFMS).
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 600, tolerant)]
pub struct Payment {
    /// AP COMMON (제휴업무).
    #[telegram(offset = 0)]
    pub header: KibAffHeader,
    /// 거래금액 · 계좌부.
    #[telegram(offset = 300)]
    pub accounts: KibAccounts,
    /// 수수료 · 현금/수표 · 취소.
    #[telegram(offset = 440)]
    pub cash: KibCash,
    /// 배분수수료금액.
    #[telegram(len = 5, offset = 545, label = "배분수수료금액")]
    pub dist_fee: u32,
    /// 복기부호 (computed as agreed with the institution).
    #[telegram(len = 6, offset = 550, mask, label = "복기부호")]
    pub verify_code: String,
    /// FILLER.
    #[telegram(len = 44, offset = 556, filler, label = "FILLER")]
    pub filler: String,
}

/// B.4 수취조회 0200/4100 in the 가상계좌 flavour (EFMS → 기관).
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 600)]
pub struct VaNameInquiry {
    /// AP COMMON (가상계좌).
    #[telegram(offset = 0)]
    pub header: KibVaHeader,
    /// 거래금액 · 계좌부.
    #[telegram(offset = 300)]
    pub accounts: KibAccounts,
    /// 수취조회 part.
    #[telegram(offset = 440)]
    pub inquiry: KibInquiryPart,
}

/// B.4 수취조회 0200/4100 and 실명조회 0200/4800 in the 제휴 flavour (기관 → EFMS).
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 600)]
pub struct NameInquiry {
    /// AP COMMON (제휴업무).
    #[telegram(offset = 0)]
    pub header: KibAffHeader,
    /// 거래금액 · 계좌부.
    #[telegram(offset = 300)]
    pub accounts: KibAccounts,
    /// 수취조회 · 실명조회 part.
    #[telegram(offset = 440)]
    pub inquiry: KibInquiryPart,
}

/// B.5 입금불능 0200/1700 (EFMS → 취급기관): a deposit reported done later failed.
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 600, tolerant)]
pub struct DepositFail {
    /// AP COMMON (제휴업무).
    #[telegram(offset = 0)]
    pub header: KibAffHeader,
    /// 거래금액 · 계좌부.
    #[telegram(offset = 300)]
    pub accounts: KibAccounts,
    /// 수수료 · 현금/수표 · 취소.
    #[telegram(offset = 440)]
    pub cash: KibCash,
    /// 원거래 취급기관코드.
    #[telegram(len = 8, offset = 545, label = "원거래 취급기관코드")]
    pub orig_handling_org: String,
    /// 원거래 거래일련번호.
    #[telegram(len = 7, offset = 553, label = "원거래 거래일련번호")]
    pub orig_tx_seq: u32,
    /// 불능 응답코드 (공동망 에러코드).
    #[telegram(len = 4, offset = 560, numeric, label = "불능 응답코드")]
    pub fail_code: String,
    /// 배분수수료금액 (AN in this table).
    #[telegram(len = 5, offset = 564, label = "배분수수료금액")]
    pub dist_fee: String,
    /// FILLER.
    #[telegram(len = 31, offset = 569, filler, label = "FILLER")]
    pub filler: String,
}

/// B.6 예금거래명세통지 0200/5900 and 명세결번 0200/5700.
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 600, tolerant)]
pub struct Statement {
    /// AP COMMON (제휴업무).
    #[telegram(offset = 0)]
    pub header: KibAffHeader,
    /// 거래금액 · 계좌부.
    #[telegram(offset = 300)]
    pub accounts: KibAccounts,
    /// 거래구분 (별첨 코드표).
    #[telegram(len = 2, offset = 440, numeric, label = "거래구분")]
    pub tx_kind: String,
    /// 거래일자.
    #[telegram(len = 8, offset = 442, numeric, label = "거래일자")]
    pub tx_date: String,
    /// 거래시간.
    #[telegram(len = 6, offset = 450, numeric, label = "거래시간")]
    pub tx_time: String,
    /// 요구명세일련번호 (결번요구 uses the last 6 digits).
    #[telegram(len = 12, offset = 456, label = "요구명세일련번호")]
    pub stmt_seq: u64,
    /// 명세취소일련번호.
    #[telegram(len = 12, offset = 468, label = "명세취소일련번호")]
    pub stmt_cancel_seq: String,
    /// 수표번호.
    #[telegram(len = 8, offset = 480, label = "수표번호")]
    pub check_no: String,
    /// 수표금액.
    #[telegram(len = 13, offset = 488, label = "수표금액")]
    pub check_amt: u64,
    /// 은행업체코드.
    #[telegram(len = 8, offset = 501, label = "은행업체코드")]
    pub bank_company_code: String,
    /// CMS코드.
    #[telegram(len = 20, offset = 509, label = "CMS코드")]
    pub cms_code: String,
    /// 결번응답체크: `1` 결번응답 정상 → 명세통지 변경, `' '` 일반.
    #[telegram(len = 1, offset = 529, label = "결번응답체크")]
    pub gap_resp_check: String,
    /// 은행/업체 거래구분.
    #[telegram(len = 10, offset = 530, label = "은행/업체 거래구분")]
    pub bank_company_txkind: String,
    /// FILLER.
    #[telegram(len = 60, offset = 540, filler, label = "FILLER")]
    pub filler: String,
}

/// B.7 이체처리결과조회 0200/6013.
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 600, tolerant)]
pub struct ResultInquiry {
    /// AP COMMON (제휴업무).
    #[telegram(offset = 0)]
    pub header: KibAffHeader,
    /// 요구전문번호: the 거래일련번호 of the transfer asked about.
    #[telegram(len = 7, offset = 300, label = "요구전문번호")]
    pub req_msg_no: u32,
    /// 출금계좌번호.
    #[telegram(len = 16, offset = 307, mask, label = "출금계좌번호")]
    pub wd_account: String,
    /// 입금계좌번호 (blank).
    #[telegram(len = 16, offset = 323, numeric, label = "입금계좌번호")]
    pub dep_account: Option<String>,
    /// 거래금액 (실제출금금액).
    #[telegram(len = 13, offset = 339, label = "거래금액")]
    pub amount: u64,
    /// 수수료금액 (AN in this table).
    #[telegram(len = 9, offset = 352, label = "수수료금액")]
    pub fee: String,
    /// 일련번호 (blank).
    #[telegram(len = 4, offset = 361, label = "일련번호")]
    pub seq: Option<u16>,
    /// 거래관리번호.
    #[telegram(len = 15, offset = 365, label = "거래관리번호")]
    pub tx_mgmt_no: String,
    /// 종료시간.
    #[telegram(len = 6, offset = 380, label = "종료시간")]
    pub end_time: String,
    /// 응답코드 (KIBNET).
    #[telegram(len = 4, offset = 386, label = "응답코드(KIBNET)")]
    pub kib_resp: String,
    /// 입금기관.
    #[telegram(len = 2, offset = 390, label = "입금기관")]
    pub dep_org: String,
    /// 원거래 응답코드 (은행).
    #[telegram(len = 4, offset = 392, label = "원거래 응답코드(은행)")]
    pub orig_bank_resp: String,
    /// 원거래 타입.
    #[telegram(len = 4, offset = 396, label = "원거래 타입")]
    pub orig_type: String,
    /// 납부자 번호.
    #[telegram(len = 20, offset = 400, label = "납부자 번호")]
    pub payer_no: String,
    /// FILLER.
    #[telegram(len = 180, offset = 420, filler, label = "FILLER")]
    pub filler: String,
}

/// B.8 관리전문 0800: 개시 2100, 재개시 2200, 종료예고 2300, 종료 2400, 장애 2500,
/// 장애해제 2600, 상태확인 (TEST-CALL) 2700, 마감지시 2800, and their 0810 answers.
#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(charset = "euc-kr", len = 600, tolerant)]
pub struct Admin {
    /// AP COMMON (가상계좌).
    #[telegram(offset = 0)]
    pub header: KibVaHeader,
    /// 기준일자: set at 개시, kept until 종료.
    #[telegram(len = 8, offset = 300, label = "기준일자")]
    pub base_date: String,
    /// 마감전후구분: 0 마감전 / 1 마감후.
    #[telegram(len = 1, offset = 308, label = "마감전후구분")]
    pub close_flag: u8,
    /// 휴일구분: 0 평일 / 1 휴일.
    #[telegram(len = 1, offset = 309, label = "휴일구분")]
    pub holiday: u8,
    /// 업무종류: 1 EFMS업무.
    #[telegram(len = 1, offset = 310, label = "업무종류")]
    pub biz_kind: u8,
    /// 장애구분: 0 미개시, 1 해제(정상), 2 일시장애, 3 장애, 4 한도초과, 5 ABEND.
    #[telegram(len = 1, offset = 311, label = "장애구분")]
    pub fault_kind: u8,
    /// HOST 개시상태.
    #[telegram(len = 10, offset = 312, label = "HOST 개시상태")]
    pub host_status: String,
    /// 장애은행상태: 100 one-digit flags, one per 은행코드 (1 정상 / 2 장애).
    #[telegram(len = 100, offset = 322, numeric, label = "장애은행상태")]
    pub bank_status: String,
    /// EFMS SAF 건수 (종료/종료예고).
    #[telegram(len = 5, offset = 422, label = "EFMS SAF 건수")]
    pub efms_saf: u32,
    /// HOST 및 기관 SAF 건수 (종료/종료예고).
    #[telegram(len = 5, offset = 427, label = "HOST 및 기관 SAF 건수")]
    pub host_saf: u32,
    /// FILLER (observed 68 bytes long in a real 0810/2100).
    #[telegram(len = 168, offset = 432, filler, label = "FILLER")]
    pub filler: String,
}

// ---------------------------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------------------------

/// Any KIBNET telegram, selected in one look at the header: (전문구분코드, 거래구분코드), and
/// the 송수신 FLAG where one key names two layouts.
#[derive(Telegram, Debug, Clone, PartialEq, Eq)]
#[telegram(header = KibVaHeader, key(msg_type, tx_code))]
pub enum KibnetMessage {
    /// 가상계좌 입금 0200/1100 from EFMS.
    #[telegram(key("0200", "1100"), when(sr_flag = "6"))]
    VaDepositRequest(VaDeposit),
    /// 가상계좌 입금 응답 0210/1100 from the 기관.
    #[telegram(key("0210", "1100"), when(sr_flag = "5"))]
    VaDepositResponse(VaDeposit),
    /// 가상계좌 입금취소 0400/1100.
    #[telegram(key("0400", "1100"))]
    VaCancelRequest(VaDeposit),
    /// 가상계좌 입금취소 응답 0410/1100.
    #[telegram(key("0410", "1100"))]
    VaCancelResponse(VaDeposit),
    /// 가상계좌 입금 (대행응답) 0200/1300.
    #[telegram(key("0200", "1300"))]
    VaAgencyDepositRequest(VaDeposit),
    /// 가상계좌 입금 (대행응답) 응답 0210/1300.
    #[telegram(key("0210", "1300"))]
    VaAgencyDepositResponse(VaDeposit),
    /// 수취조회 (가상계좌) 0200/4100 from EFMS.
    #[telegram(key("0200", "4100"), when(sr_flag = "6"))]
    VaNameInquiryRequest(VaNameInquiry),
    /// 수취조회 (가상계좌) 응답 0210/4100 from the 기관.
    #[telegram(key("0210", "4100"), when(sr_flag = "5"))]
    VaNameInquiryResponse(VaNameInquiry),
    /// 지급이체 0200/1100 from the 기관.
    #[telegram(key("0200", "1100"), when(sr_flag = "5"))]
    PaymentRequest(Payment),
    /// 지급이체 응답 0210/1100 from EFMS.
    #[telegram(key("0210", "1100"), when(sr_flag = "6"))]
    PaymentResponse(Payment),
    /// 수취조회 (제휴) 0200/4100 from the 기관.
    #[telegram(key("0200", "4100"), when(sr_flag = "5"))]
    NameInquiryRequest(NameInquiry),
    /// 수취조회 (제휴) 응답 0210/4100 from EFMS.
    #[telegram(key("0210", "4100"), when(sr_flag = "6"))]
    NameInquiryResponse(NameInquiry),
    /// 실명조회 0200/4800.
    #[telegram(key("0200", "4800"))]
    RealNameRequest(NameInquiry),
    /// 실명조회 응답 0210/4800.
    #[telegram(key("0210", "4800"))]
    RealNameResponse(NameInquiry),
    /// 입금불능통보 0200/1700.
    #[telegram(key("0200", "1700"))]
    DepositFailNotice(DepositFail),
    /// 입금불능통보 응답 0210/1700.
    #[telegram(key("0210", "1700"))]
    DepositFailAck(DepositFail),
    /// 예금거래명세통지 0200/5900.
    #[telegram(key("0200", "5900"))]
    StatementNotice(Statement),
    /// 예금거래명세통지 응답 0210/5900.
    #[telegram(key("0210", "5900"))]
    StatementAck(Statement),
    /// 명세결번요구 0200/5700.
    #[telegram(key("0200", "5700"))]
    StatementGapRequest(Statement),
    /// 명세결번요구 응답 0210/5700.
    #[telegram(key("0210", "5700"))]
    StatementGapResponse(Statement),
    /// 이체처리결과조회 0200/6013.
    #[telegram(key("0200", "6013"))]
    ResultInquiryRequest(ResultInquiry),
    /// 이체처리결과조회 응답 0210/6013.
    #[telegram(key("0210", "6013"))]
    ResultInquiryResponse(ResultInquiry),
    /// 개시 0800/2100.
    #[telegram(key("0800", "2100"))]
    OpenRequest(Admin),
    /// 개시 응답 0810/2100.
    #[telegram(key("0810", "2100"))]
    OpenResponse(Admin),
    /// 재개시 0800/2200.
    #[telegram(key("0800", "2200"))]
    ReopenRequest(Admin),
    /// 재개시 응답 0810/2200.
    #[telegram(key("0810", "2200"))]
    ReopenResponse(Admin),
    /// 종료예고 0800/2300.
    #[telegram(key("0800", "2300"))]
    CloseNoticeRequest(Admin),
    /// 종료예고 응답 0810/2300.
    #[telegram(key("0810", "2300"))]
    CloseNoticeResponse(Admin),
    /// 종료 0800/2400.
    #[telegram(key("0800", "2400"))]
    CloseRequest(Admin),
    /// 종료 응답 0810/2400.
    #[telegram(key("0810", "2400"))]
    CloseResponse(Admin),
    /// 장애 0800/2500.
    #[telegram(key("0800", "2500"))]
    FaultRequest(Admin),
    /// 장애 응답 0810/2500.
    #[telegram(key("0810", "2500"))]
    FaultResponse(Admin),
    /// 장애해제 0800/2600.
    #[telegram(key("0800", "2600"))]
    FaultClearRequest(Admin),
    /// 장애해제 응답 0810/2600.
    #[telegram(key("0810", "2600"))]
    FaultClearResponse(Admin),
    /// 상태확인 (TEST-CALL) 0800/2700.
    #[telegram(key("0800", "2700"))]
    TestCallRequest(Admin),
    /// 상태확인 응답 0810/2700.
    #[telegram(key("0810", "2700"))]
    TestCallResponse(Admin),
    /// 마감지시 0800/2800.
    #[telegram(key("0800", "2800"))]
    CutoffRequest(Admin),
    /// 마감지시 응답 0810/2800.
    #[telegram(key("0810", "2800"))]
    CutoffResponse(Admin),
}

impl KibnetMessage {
    /// The (전문구분코드, 거래구분코드) of this variant, e.g. `("0200", "1100")`.
    pub fn variant_key(&self) -> (&'static str, &'static str) {
        let key = self.key();
        (key[0], key[1])
    }

    /// The 송수신 FLAG this variant is sent with, when its key alone does not say.
    pub fn variant_flag(&self) -> Option<&'static str> {
        self.condition()
            .iter()
            .find(|(f, _)| *f == "sr_flag")
            .map(|(_, v)| *v)
    }
}
