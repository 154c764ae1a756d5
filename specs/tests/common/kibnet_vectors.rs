//! KIBNET golden vectors, built by hand from the tables of `shared/specs/kibnet-efms.md`
//! (B.1 AP COMMON, B.2 가상계좌 입금, B.3 지급이체, B.8 관리전문): every field is written
//! at its table offset (checked as it is appended), so a vector never comes from the code
//! under test. Shared by the golden, twin and codegen tests.

#![allow(dead_code)]

/// EUC-KR (KS X 1001) bytes, from the code table.
pub const JEONGSANG_CHEORI: [u8; 8] = [0xC1, 0xA4, 0xBB, 0xF3, 0xC3, 0xB3, 0xB8, 0xAE]; // 정상처리
pub const HONG_GILDONG: [u8; 6] = [0xC8, 0xAB, 0xB1, 0xE6, 0xB5, 0xBF]; // 홍길동
pub const KIM_CHEOLSU: [u8; 6] = [0xB1, 0xE8, 0xC3, 0xB6, 0xBC, 0xF6]; // 김철수

/// A telegram under construction: each field is appended at its table offset.
pub struct Tg(pub Vec<u8>);

impl Tg {
    pub fn new() -> Self {
        Tg(Vec::with_capacity(600))
    }

    /// Appends `bytes` (space padded to `len`) as the field that starts at `offset`.
    pub fn at(&mut self, offset: usize, len: usize, bytes: &[u8]) -> &mut Self {
        assert_eq!(
            self.0.len(),
            offset,
            "field at {offset}: preceding fields misplaced"
        );
        assert!(
            bytes.len() <= len,
            "field at {offset}: {} bytes > {len}",
            bytes.len()
        );
        self.0.extend_from_slice(bytes);
        self.0.resize(offset + len, b' ');
        self
    }
}

/// B.1 AP COMMON fields 1–22 (0–285) with the given flag, key, sequence number and 응답코드.
fn common(t: &mut Tg, length: &[u8], flag: &[u8], key: (&[u8], &[u8]), seq: &[u8], resp: &[u8]) {
    t.at(0, 4, length) // LENGTH N4
        .at(4, 4, b"0009") // CS번호
        .at(8, 8, b"20031703") // CS관리 기관코드
        .at(16, 1, b"0") // REACTION CODE
        .at(17, 3, b"000") // 연속거래번호 N3
        .at(20, 1, flag) // 송수신 FLAG
        .at(21, 8, b"00000811") // 취급기관코드
        .at(29, 9, b"0111234") // 취급영업점코드 AN9
        .at(38, 1, b"3") // 매체구분
        .at(39, 4, key.0) // 전문구분코드 N4
        .at(43, 4, key.1) // 거래구분코드 N4
        .at(47, 3, resp) // 응답코드 AN3
        .at(50, 8, b"20111124") // 거래일자
        .at(58, 6, b"093015") // 거래시간
        .at(64, 7, seq) // 거래일련번호 N7
        .at(71, 1, b"2") // 한글코드 구분
        .at(72, 1, b"0") // 마감후 구분
        .at(73, 8, b"00000920") // 개설기관코드
        .at(81, 1, b"0") // TRACK번호
        .at(82, 158, b"") // USER WORK AREA
        .at(
            240,
            40,
            if resp == b"000" {
                &JEONGSANG_CHEORI
            } else {
                b""
            },
        ) // 응답 MESSAGE
        .at(280, 6, b""); // 원거래요소 (blank)
}

/// Body fields 300–439 (B.2–B.6 share them).
fn accounts(t: &mut Tg, amount: &[u8]) {
    t.at(300, 13, amount) // 거래금액 N13
        .at(313, 1, b" ") // 양,음 구분
        .at(314, 13, b"0000001250000") // 거래후 계좌잔액
        .at(327, 13, b"0000000000000") // 미결제 타점권 금액
        .at(340, 8, b"20031703") // 입금 제휴기관 코드
        .at(348, 2, b"00") // 입금계좌구분
        .at(350, 16, b"5620123456789012") // 입금 계좌번호 (가상)
        .at(366, 20, &HONG_GILDONG) // 입금계좌성명
        .at(386, 8, b"00000011") // 출금 은행코드
        .at(394, 2, b"00") // 출금계좌구분
        .at(396, 16, b"110123456789") // 출금 계좌번호
        .at(412, 8, b"") // 비밀번호
        .at(420, 20, &KIM_CHEOLSU); // 출금계좌성명
}

/// Body fields 440–544: 수수료, 현금/수표 (checks[1].kind given), 취소.
fn cash(t: &mut Tg, check1_kind: &[u8]) {
    t.at(440, 5, b"00000").at(445, 3, b"000").at(448, 2, b"00");
    for i in 0..5 {
        let at = 450 + 16 * i;
        let kind: &[u8] = if i == 1 { check1_kind } else { b"00" };
        t.at(at, 8, b"").at(at + 8, 6, b"").at(at + 14, 2, kind);
    }
    t.at(530, 3, b"").at(533, 12, b"");
}

/// 가상계좌 입금 0200/1100 from EFMS (FLAG 6): 50,000원 into 가상계좌 5620123456789012.
pub fn va_deposit_request() -> Vec<u8> {
    va_deposit_with_check_kind(b"00")
}

/// The same deposit with 수표권종 (2/5) as a real telegram sends it, e.g. `b" 0"`.
pub fn va_deposit_with_check_kind(kind: &[u8]) -> Vec<u8> {
    let mut t = Tg::new();
    common(&mut t, b"0600", b"6", (b"0200", b"1100"), b"0000123", b"");
    t.at(286, 14, b""); // FILLER (가상계좌 flavour)
    accounts(&mut t, b"0000000050000");
    cash(&mut t, kind);
    t.at(545, 5, b"00000").at(550, 50, b""); // 배분수수료, FILLER
    assert_eq!(t.0.len(), 600);
    t.0
}

/// 지급이체 0200/1100 from the 기관 (FLAG 5), 제휴업무 flavour: 1,000,000원, 복기부호 set.
pub fn payment_request() -> Vec<u8> {
    payment(b"5", b"0200", b"", b"")
}

/// 지급이체 응답 0210/1100 from EFMS (FLAG 6): 정상, 은행응답코드 `0000`.
pub fn payment_response() -> Vec<u8> {
    payment(b"6", b"0210", b"000", b"0000")
}

/// B.3 지급이체 with the given FLAG, 전문구분코드, 응답코드 and 은행응답코드.
fn payment(flag: &[u8], msg_type: &[u8], resp: &[u8], bank_resp: &[u8]) -> Vec<u8> {
    let mut t = Tg::new();
    common(&mut t, b"0600", flag, (msg_type, b"1100"), b"0000124", resp);
    t.at(286, 4, bank_resp).at(290, 10, b""); // 은행응답코드, FILLER (제휴업무 flavour)
    accounts(&mut t, b"0000001000000");
    cash(&mut t, b"00");
    t.at(545, 5, b"00000") // 배분수수료
        .at(550, 6, b"A1B2C3") // 복기부호
        .at(556, 44, b""); // FILLER
    assert_eq!(t.0.len(), 600);
    t.0
}

/// The 개시 응답 0810/2100 as observed in the log: 500 bytes (LENGTH `0500`), FILLER 68
/// where the table says 168.
pub fn open_response_500() -> Vec<u8> {
    let mut t = Tg::new();
    common(
        &mut t,
        b"0500",
        b"5",
        (b"0810", b"2100"),
        b"0000001",
        b"000",
    );
    t.at(286, 14, b"");
    t.at(300, 8, b"20111124") // 기준일자
        .at(308, 1, b"0") // 마감전후구분
        .at(309, 1, b"0") // 휴일구분
        .at(310, 1, b"1") // 업무종류
        .at(311, 1, b"0") // 장애구분
        .at(312, 10, b"10010   03") // HOST 개시상태
        .at(322, 100, &[b'0'; 100]) // 장애은행상태
        .at(422, 5, b"00000") // EFMS SAF
        .at(427, 5, b"00000") // HOST SAF
        .at(432, 68, b""); // FILLER, 68 bytes on the wire
    assert_eq!(t.0.len(), 500);
    t.0
}
