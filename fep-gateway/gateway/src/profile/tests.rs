use fep_codec::spec::Family;
use fep_codec::Telegram;
// A third family nobody wrote Rust for: `fep-gateway/testkit/src/tiny.toml`.
use fep_testkit::samples::TINY_FAMILY as TINY;

use super::*;

fn hecto() -> Profile {
    Profile::hecto(HectoContract {
        company_no: "COMPANY01",
        bank_code: "004",
    })
}

fn key(k: &str) -> MsgKey {
    k.parse().unwrap()
}

#[test]
fn stamps_and_reads_back_the_key() {
    let p = hecto();
    let mut t = p.admin(&key("2000/100"));
    assert_eq!(t.len(), 300);
    assert!(p.stamp(&mut t, 17, 20261122, 93015));
    assert_eq!(&t[32..38], b"000017");
    assert_eq!(&t[38..52], b"20261122093015");
    assert_eq!(&t[0..9], b"SETTLEBNK");
    assert_eq!(&t[21..24], b"004");
    assert_eq!(&t[24..31], b"2000100");
    // The correlation key is the bytes of 전송일자 + 전문번호, compared exactly.
    assert_eq!(p.key(&t).unwrap().as_bytes(), b"20261122000017");
    let header = fep_specs::hecto::HectoHeader::decode(&t[..100]).unwrap();
    assert_eq!(
        (
            header.msg_no,
            header.send_date.as_str(),
            header.company_no.as_str()
        ),
        (17, "20261122", "COMPANY01")
    );
}

#[test]
fn classifies_and_judges_responses() {
    let p = hecto();
    let request = p.admin(&key("2000/100"));
    let mut r = p.answer_to(&request, "0000");
    assert_eq!(p.msg_key(&r).unwrap(), ("2100", "100"));
    assert_eq!(p.classify(&r), FrameKind::Response);
    assert!(p.answers(&key("2000/100"), &key("2100/100")));
    assert!(!p.answers(&key("2000/100"), &key("2100/200")));
    assert_eq!(p.verdict(&r), Verdict::Ok);
    p.resp_code.put_text(&mut r, b"VTIM");
    assert_eq!(p.verdict(&r), Verdict::Unknown("VTIM".into()));
    // 처리중 (in_progress in the TOML) is unknown to a caller too.
    p.resp_code.put_text(&mut r, b"U726");
    assert_eq!(p.verdict(&r), Verdict::Unknown("U726".into()));
    p.resp_code.put_text(&mut r, b"SB02");
    assert_eq!(p.verdict(&r), Verdict::Declined("SB02".into()));
    let n = p.admin(&key("4000/100"));
    let FrameKind::Notice(rule) = p.classify(&n) else {
        panic!("4000/100 is a notice: {:?}", p.classify(&n));
    };
    let rule = &p.notices[rule];
    let ack = p.ack(rule, &n);
    assert_eq!(&ack[24..28], b"4100");
    assert_eq!(&ack[52..56], b"0000");
    assert_eq!(p.dedup_key(rule, &n), format!("4000100/{}", &"000000"));
    // A request type the gateway does not answer.
    assert_eq!(p.classify(&p.admin(&key("2000/100"))), FrameKind::Other);
    assert_eq!(p.classify(b"HDRREQPOLL1122093015"), FrameKind::PollRequest);
    assert_eq!(
        p.poll_answer(b"HDRREQPOLL1122093015").unwrap(),
        b"HDRRESPOLL1122093015"
    );
}

#[test]
fn the_session_comes_from_the_toml() {
    let p = hecto();
    assert_eq!(p.session.opened_by, fep_codec::spec::Opener::Gateway);
    assert_eq!(p.session.sign_on, Some(key("1000/100")));
    assert_eq!(p.session.sign_off, Some(key("1000/200")));
    assert!(p.session.sign_on_at_date_change);
    assert!(p.commands.is_empty());
    let k = Profile::kibnet("20031709");
    assert_eq!(k.session.opened_by, fep_codec::spec::Opener::Institution);
    assert_eq!(
        (k.session.sign_on.clone(), k.session.sign_off.clone()),
        (None, None)
    );
    assert!(k.moves_money(&key("0200/1100")));
    assert!(!k.moves_money(&key("0200/4100")));
}

#[test]
fn kibnet_runs_from_its_toml() {
    let p = Profile::kibnet("20031709");
    // The variant the gateway sends of 0200/1100 is 지급이체 (송수신 FLAG 5, the stamp).
    let mut pay = p.admin(&key("0200/1100"));
    assert_eq!(pay.len(), 600);
    assert_eq!(
        &pay[..4],
        b"0600",
        "its LENGTH field counts the whole telegram"
    );
    assert_eq!(pay[20], b'5');
    assert_eq!(&pay[21..29], b"20031709");
    assert!(p.stamp(&mut pay, 1234567, 20261201, 101500));
    assert_eq!(&pay[64..71], b"1234567", "a 7-digit 거래일련번호");
    assert_eq!(p.key(&pay).unwrap().as_bytes(), b"202612011234567");
    // The answer: +10, not +100, and success is 000.
    let mut answer = pay.clone();
    answer[39..43].copy_from_slice(b"0210");
    answer[20] = b'6';
    answer[47..50].copy_from_slice(b"000");
    assert_eq!(p.classify(&answer), FrameKind::Response);
    assert_eq!(p.verdict(&answer), Verdict::Ok);
    assert_eq!(p.key(&answer), p.key(&pay));
    // 가상계좌 입금: the same key from EFMS (FLAG 6) is a notice, answered 0210 with FLAG 5.
    let mut deposit = pay.clone();
    deposit[20] = b'6';
    let FrameKind::Notice(n) = p.classify(&deposit) else {
        panic!("0200/1100 from EFMS is a notice");
    };
    let ack = p.ack(&p.notices[n], &deposit);
    assert_eq!(
        (&ack[39..47], ack[20], &ack[47..50]),
        (&b"02101100"[..], b'5', &b"000"[..])
    );
    // 개시 0800/2100 is a session command that opens the day; its answer echoes it as 0810.
    let mut open = p.admin(&key("0800/2100"));
    open[20] = b'6';
    let FrameKind::Command(c) = p.classify(&open) else {
        panic!("0800/2100 is a command: {:?}", p.classify(&open));
    };
    assert_eq!(p.commands[c].effect, fep_codec::spec::CommandEffect::Open);
    let reply = p.ack(&p.commands[c].answer, &open);
    assert_eq!((&reply[39..43], reply[20]), (&b"0810"[..], b'5'));
    // The result inquiry 0200/6013 copies the original's number, account and amount.
    pay[396..412].copy_from_slice(b"1002003004005   ");
    pay[300..313].copy_from_slice(b"0000001000000");
    let q = p.inquiry(&pay).unwrap();
    assert_eq!(&q[39..47], b"02006013");
    assert_eq!(&q[300..307], b"1234567");
    assert_eq!(&q[307..323], b"1002003004005   ");
    assert_eq!(&q[339..352], b"0000001000000");
}

#[test]
fn a_family_written_only_in_toml_drives_the_profile() {
    let family = Family::from_toml_str(TINY).unwrap();
    let p = Profile::from_family(&family, &[("header.refno".into(), "ACME".into())]).unwrap();
    assert_eq!(
        p.seq_range,
        1..=4_294_967_295,
        "the range is clamped to what is numbered"
    );
    let mut t = p.admin(&key("100"));
    assert!(p.stamp(&mut t, 4_000_000_000, 20261201, 0));
    assert_eq!(&t[0..3], b"100");
    assert_eq!(&t[3..11], b"ACME    ");
    assert_eq!(
        &t[11..21],
        b"4000000000",
        "10 digits: no packing, no overflow"
    );
    let answer = p.answer_to(&t, "OK");
    assert_eq!(&answer[0..3], b"110");
    assert_eq!(p.classify(&answer), FrameKind::Response);
    assert_eq!(p.key(&answer), p.key(&t));
    assert_eq!(p.key(&t).unwrap().as_bytes(), b"202612014000000000");
    assert_eq!(
        p.verdict(&p.answer_to(&t, "IP")),
        Verdict::Unknown("IP".into())
    );
    assert_eq!(p.session.opened_by, fep_codec::spec::Opener::Gateway);
    assert_eq!(p.session.sign_on, Some(key("800")));
    let q = p.inquiry(&t).unwrap();
    assert_eq!((&q[0..3], &q[40..50]), (&b"300"[..], &b"4000000000"[..]));
    let mut r = p.answer_to(&q, "OK");
    r[50..52].copy_from_slice(b"IP");
    assert_eq!(p.inquiry_verdict(&r), None, "in progress: asked again");
    r[50..52].copy_from_slice(b"OK");
    assert_eq!(p.inquiry_verdict(&r), Some(Verdict::Ok));
}

#[test]
fn institution_code_overrides_move_codes_between_outcomes() {
    let mut p = hecto();
    p.override_codes(&[], &["SB02".into()], &["U726".into()]);
    let mut r = p.answer_to(&p.admin(&key("2000/100")), "SB02");
    assert_eq!(p.verdict(&r), Verdict::Unknown("SB02".into()));
    p.resp_code.put_text(&mut r, b"U726");
    assert_eq!(p.verdict(&r), Verdict::Declined("U726".into()));
}

#[test]
fn the_gateway_owns_stamped_and_configured_header_fields_only() {
    let p = hecto();
    let layout = p.layout_for(&key("2000/100")).expect("2000/100");
    let owned: Vec<&str> = layout
        .fields()
        .iter()
        .filter(|f| p.owns(f))
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(
        owned,
        [
            "header.id_code",
            "header.company_no",
            "header.bank_code",
            "header.msg_type",
            "header.biz_type",
            "header.send_count",
            "header.msg_no",
            "header.send_date",
            "header.send_time",
        ]
    );
    let defaults = p.defaults_for(&key("2000/100"));
    assert!(
        defaults.contains(&("memo".into(), String::new())),
        "{defaults:?}"
    );
}

#[test]
fn inquiry_round() {
    let p = hecto();
    let mut original = p.admin(&key("2000/100"));
    assert!(p.stamp(&mut original, 42, 20261122, 93015));
    let q = p.inquiry(&original).unwrap();
    assert_eq!(&q[24..31], b"7000100");
    assert_eq!(&q[100..106], b"000042");
    let mut r = p.answer_to(&q, "0000");
    let result = p.inquiry.as_ref().unwrap().result;
    result.put_text(&mut r, b"0000");
    assert_eq!(p.inquiry_verdict(&r), Some(Verdict::Ok));
    result.put_text(&mut r, b"NREC");
    assert_eq!(
        p.inquiry_verdict(&r),
        Some(Verdict::Declined("NREC".into()))
    );
    result.put_text(&mut r, b"U726");
    assert_eq!(p.inquiry_verdict(&r), None);
    assert!(p.resolvable(&original));
}

/// An echo keeps the institution's own header values: a notice from a bank (its 취급기관코드,
/// its CS 기관코드) is acknowledged with them, not with our contract's.
#[test]
fn an_ack_echoes_the_institutions_header_not_ours() {
    let p = Profile::kibnet("20031709");
    let mut n = p.admin(&key("0200/5900"));
    n[20] = b'6';
    n[8..16].copy_from_slice(b"EFMSCSOR");
    n[21..29].copy_from_slice(b"00000811");
    assert!(p.stamp(&mut n, 77, 20261201, 101500));
    let FrameKind::Notice(i) = p.classify(&n) else {
        panic!("a notice");
    };
    let ack = p.ack(&p.notices[i], &n);
    assert_eq!(
        (&ack[8..16], &ack[21..29]),
        (&b"EFMSCSOR"[..], &b"00000811"[..])
    );
    assert_eq!((&ack[39..47], ack[20]), (&b"02105900"[..], b'5'));
}

/// A correlation key without the sequence number (or, numbering daily, the date) would let
/// two requests in flight share a key: refused when the spec is loaded into a profile.
#[test]
fn a_correlation_without_the_sequence_or_the_date_is_refused() {
    for (fields, says) in [
        (r#"["header.day", "header.refno"]"#, "[sequence] field"),
        (r#"["header.seq"]"#, "[date] field"),
    ] {
        let toml = TINY.replace(
            r#"fields = ["header.day", "header.seq"]"#,
            &format!("fields = {fields}"),
        );
        let family = Family::from_toml_str(&toml).unwrap();
        let e = Profile::from_family(&family, &[]).unwrap_err().to_string();
        assert!(e.contains(says), "{fields}: {e}");
    }
}

/// A number key written shorter than its field in the TOML (`"11"` for N(3)) still matches
/// the telegrams, which hold `011`.
#[test]
fn short_number_keys_are_read_as_the_field_holds_them() {
    let toml = TINY.replace(r#"["110"]"#, r#"["11"]"#);
    let family = Family::from_toml_str(&toml).unwrap();
    let p = Profile::from_family(&family, &[]).unwrap();
    let mut t = p.admin(&key("100"));
    assert!(p.stamp(&mut t, 1, 20261201, 0));
    let mut answer = t.clone();
    answer[0..3].copy_from_slice(b"011");
    assert_eq!(p.classify(&answer), FrameKind::Response);
    assert!(p.answers(&key("100"), &key("011")));
}

/// Only keys with a `response` are requests the gateway can send.
#[test]
fn requests_are_the_keys_with_a_response() {
    let p = hecto();
    assert!(p.is_request(&key("2000/100")));
    assert!(!p.is_request(&key("2100/100")), "a response");
    assert!(!p.is_request(&key("9999/100")), "not in the family");
}

/// An inquiry field narrower than the original field it copies would lose digits and ask
/// about another transaction: refused when the profile is built.
#[test]
fn an_inquiry_copy_narrower_than_its_source_is_refused() {
    let toml = TINY.replace(
        r#"{ name = "orig", type = "N", len = 10, offset = 40 },"#,
        r#"{ name = "orig", type = "N", len = 8, offset = 40 },
  { name = "gap", type = "AN", len = 2, offset = 48 },"#,
    );
    assert_ne!(toml, TINY, "the test edits the inquiry's field");
    let family = Family::from_toml_str(&toml).unwrap();
    let e = Profile::from_family(&family, &[]).unwrap_err().to_string();
    assert!(e.contains("do not fit the inquiry's 8-byte field"), "{e}");
}
