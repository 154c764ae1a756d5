use fep_codec::spec::Family;

use super::*;

fn transfer(p: &Profile) -> Vec<u8> {
    p.admin(&MsgKey::from(("2000", "100")))
}

#[test]
fn stamps_and_reads_back_the_key() {
    let p = Profile::hecto(HectoContract {
        company_no: "COMPANY01",
        bank_code: "004",
    });
    let mut t = transfer(&p);
    assert!(p.stamp(&mut t, 17, 20261122, 93015));
    assert_eq!(&t[32..38], b"000017");
    assert_eq!(&t[38..52], b"20261122093015");
    assert_eq!(&t[0..9], b"SETTLEBNK");
    assert_eq!(&t[21..24], b"004");
    assert_eq!(p.key(&t), Some(20_261_122_000_017));
    let header = hecto::HectoHeader::decode(&t[..100]).unwrap();
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
    let p = Profile::hecto(HectoContract {
        company_no: "C",
        bank_code: "004",
    });
    let mut r = p.admin(&MsgKey::from(("2100", "100")));
    assert_eq!(p.classify(&r), FrameKind::Response);
    p.resp_code.put_text(&mut r, b"0000");
    assert_eq!(p.verdict(&r), Verdict::Ok);
    p.resp_code.put_text(&mut r, b"VTIM");
    assert_eq!(p.verdict(&r), Verdict::Unknown("VTIM".into()));
    p.resp_code.put_text(&mut r, b"SB02");
    assert_eq!(p.verdict(&r), Verdict::Declined("SB02".into()));
    let n = p.admin(&MsgKey::from(("4000", "100")));
    assert_eq!(p.classify(&n), FrameKind::Notice);
    let ack = p.notice_ack(&n).unwrap();
    assert_eq!(&ack[24..28], b"4100");
    assert_eq!(&ack[52..56], b"0000");
    assert_eq!(p.classify(b"HDRREQPOLL1122093015"), FrameKind::PollRequest);
    assert_eq!(
        p.poll_answer(b"HDRREQPOLL1122093015").unwrap(),
        b"HDRRESPOLL1122093015"
    );
}

#[test]
fn profile_from_the_toml_spec_matches_the_derive_one() {
    let family = Family::from_toml_str(fep_specs::HECTO_TOML).unwrap();
    let header = [
        ("header.id_code".to_owned(), "SETTLEBNK".to_owned()),
        ("header.company_no".to_owned(), "FEPDEMO01".to_owned()),
        ("header.bank_code".to_owned(), "004".to_owned()),
        ("header.send_count".to_owned(), "1".to_owned()),
    ];
    let from_toml = Profile::from_family(&family, &header, session_keys(&family).unwrap()).unwrap();
    let derived = Profile::hecto(HectoContract::DEMO);
    assert_eq!(
        (from_toml.msg_type, from_toml.biz_type, from_toml.msg_no),
        (derived.msg_type, derived.biz_type, derived.msg_no)
    );
    assert_eq!(
        (
            from_toml.send_date,
            from_toml.send_time,
            from_toml.resp_code
        ),
        (derived.send_date, derived.send_time, derived.resp_code)
    );
    assert_eq!(from_toml.seq_range, derived.seq_range);
    assert_eq!(from_toml.template, derived.template);
    assert_eq!(
        (from_toml.sign_on.clone(), from_toml.sign_off.clone()),
        (derived.sign_on.clone(), derived.sign_off.clone())
    );
    assert_eq!(from_toml.notices, derived.notices);
    assert_eq!(from_toml.poll, derived.poll);
    let (a, b) = (from_toml.inquiry.unwrap(), derived.inquiry.unwrap());
    assert_eq!(
        (a.key, a.orig_msg_no, a.result, a.not_found),
        (b.key, b.orig_msg_no, b.result, b.not_found)
    );
    assert!(
        a.copy.len() >= 3,
        "inquiry copies account and amount fields: {:?}",
        a.copy
    );
    assert_eq!(from_toml.layouts.len(), derived.layouts.len());
    assert_eq!(from_toml.defaults, derived.defaults);
}

#[test]
fn the_gateway_owns_stamped_and_configured_header_fields_only() {
    let p = Profile::hecto(HectoContract {
        company_no: "C",
        bank_code: "004",
    });
    let layout = p.layout_for(&transfer_key()).expect("2000/100");
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
    let defaults = p.defaults_for(&transfer_key());
    assert!(
        defaults.contains(&("memo".into(), String::new())),
        "{defaults:?}"
    );
    assert!(
        !defaults
            .iter()
            .any(|(path, _)| path == "amount" || path == "wd_account"),
        "{defaults:?}"
    );
}

#[test]
fn inquiry_round() {
    let p = Profile::hecto(HectoContract {
        company_no: "C",
        bank_code: "004",
    });
    let q = p.inquiry(42, &transfer(&p)).unwrap();
    assert_eq!(&q[24..31], b"7000100");
    assert_eq!(&q[100..106], b"000042");
    let mut r = p.admin(&MsgKey::from(("7100", "100")));
    p.resp_code.put_text(&mut r, b"0000");
    p.inquiry.as_ref().unwrap().result.put_text(&mut r, b"0000");
    assert_eq!(p.inquiry_verdict(&r), Some(Verdict::Ok));
    p.inquiry.as_ref().unwrap().result.put_text(&mut r, b"NREC");
    assert_eq!(
        p.inquiry_verdict(&r),
        Some(Verdict::Declined("NREC".into()))
    );
    p.inquiry.as_ref().unwrap().result.put_text(&mut r, b"U726");
    assert_eq!(p.inquiry_verdict(&r), None);
    assert!(p.resolvable(&transfer(&p)));
    assert_eq!(response_type("2000").as_deref(), Some("2100"));
    assert_eq!(response_type("2100"), None);
}

fn transfer_key() -> crate::domain::MsgKey {
    crate::domain::MsgKey::from(("2000", "100"))
}
