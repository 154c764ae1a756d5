//! Unit tests of [`super`]; a file of their own keeps `protocol.rs` readable.

use super::*;
use proptest::prelude::*;

fn frame(msg: &Message) -> Vec<u8> {
    let mut b = BytesMut::new();
    msg.encode_frame(DEFAULT_MAX_FRAME, &mut b).unwrap();
    b.to_vec()
}

fn samples() -> Vec<Message> {
    vec![
        Message::Request(Request {
            id: 1,
            institution: "hecto".into(),
            timeout_ms: 5000,
            telegram: Bytes::from_static(b"TELEGRAM"),
            idempotency_key: None,
        }),
        Message::Response(Response {
            id: u64::MAX,
            outcome: Outcome::Declined,
            detail: "응답코드 SB02".into(),
            telegram: Bytes::new(),
        }),
        Message::Subscribe(Subscribe {
            id: 9,
            institution: "*".into(),
            group: None,
        }),
        Message::Notice(Notice {
            institution: "hecto".into(),
            notice_id: 77,
            telegram: Bytes::from_static(&[0, 1, 2, 255]),
            subscription: None,
        }),
        Message::Ack { notice_id: 77 },
        Message::Ping { nonce: 3 },
        Message::Pong { nonce: 3 },
        Message::Subscribe(Subscribe {
            id: 10,
            institution: "hecto".into(),
            group: Some("ledger".into()),
        }),
        Message::Subscribe(Subscribe {
            id: 11,
            institution: "hecto".into(),
            group: Some(String::new()),
        }),
        Message::Notice(Notice {
            institution: "hecto".into(),
            notice_id: 78,
            telegram: Bytes::from_static(b"N"),
            subscription: Some(10),
        }),
        Message::Unsubscribe(Unsubscribe {
            id: 12,
            subscription: 10,
        }),
    ]
}

#[test]
fn outcome_names_roundtrip() {
    for o in Outcome::ALL {
        assert_eq!(o.as_str().parse::<Outcome>().unwrap(), o);
        assert_eq!(Outcome::from_code(o.code()), Some(o));
        #[cfg(feature = "serde")]
        assert_eq!(
            serde_json::to_string(&o).unwrap(),
            format!("\"{}\"", o.as_str())
        );
    }
    assert!("OK".parse::<Outcome>().is_err());
    assert_eq!(Outcome::from_code(4), None);
}

#[test]
fn request_bytes_match_docs_example() {
    // The annotated example in docs/protocol.md.
    let msg = Message::Request(Request {
        id: 1,
        institution: "hecto".into(),
        timeout_ms: 5000,
        telegram: Bytes::from_static(b"TELEGRAM"),
        idempotency_key: None,
    });
    let expected = hex::decode(concat!(
        "00000020",         // length 32
        "01",               // kind Request
        "0000000000000001", // id
        "00001388",         // timeout_ms 5000
        "0005",
        "686563746f", // "hecto"
        "00000008",
        "54454c454752414d" // "TELEGRAM"
    ))
    .unwrap();
    assert_eq!(frame(&msg), expected);
}

#[test]
fn response_bytes_match_docs_example() {
    let msg = Message::Response(Response {
        id: 1,
        outcome: Outcome::Ok,
        detail: "0000".into(),
        telegram: Bytes::from_static(b"RESP"),
    });
    let expected = hex::decode(concat!(
        "00000018",
        "02",
        "0000000000000001",
        "00",
        "0004",
        "30303030",
        "00000004",
        "52455350"
    ))
    .unwrap();
    assert_eq!(frame(&msg), expected);
}

#[test]
fn ack_bytes_match_docs_example() {
    let expected = hex::decode("0000000905000000000000004d").unwrap();
    assert_eq!(frame(&Message::Ack { notice_id: 77 }), expected);
}

#[test]
fn optional_trailing_fields_and_unsubscribe_match_docs_examples() {
    // docs/protocol.md §3.3, §3.4 and §3.7: a version-1 Subscribe is a prefix of one with a
    // group, and a Notice without `subscription` is exactly the version-1 Notice.
    let v1 = hex::decode("0000000c03000000000000000900012a").unwrap();
    let grouped = Message::Subscribe(Subscribe {
        id: 9,
        institution: "*".into(),
        group: Some("ledger".into()),
    });
    let expected = hex::decode(concat!(
        "00000014",
        "03",
        "0000000000000009",
        "0001",
        "2a",
        "0006",
        "6c6564676572" // "ledger"
    ))
    .unwrap();
    assert_eq!(frame(&grouped), expected);
    assert_eq!(&expected[4..16], &v1[4..16], "same leading fields");
    assert_eq!(frame(&samples()[2]), v1);
    let tagged = Message::Notice(Notice {
        institution: "h".into(),
        notice_id: 5,
        telegram: Bytes::from_static(b"T"),
        subscription: Some(9),
    });
    let untagged = hex::decode("000000110400000000000000050001680000000154").unwrap();
    let mut want = untagged.clone();
    want[3] += 8;
    want.extend_from_slice(&9u64.to_be_bytes());
    assert_eq!(frame(&tagged), want);
    let Message::Notice(mut n) = Message::parse(Bytes::copy_from_slice(&want[4..])).unwrap() else {
        panic!("a notice")
    };
    n.subscription = None;
    assert_eq!(frame(&Message::Notice(n)), untagged);
    let unsubscribe = Message::Unsubscribe(Unsubscribe {
        id: 12,
        subscription: 9,
    });
    assert_eq!(
        frame(&unsubscribe),
        hex::decode("0000001109000000000000000c0000000000000009").unwrap()
    );
}

#[test]
fn a_partial_optional_field_is_an_error() {
    // One byte of a `group` length, or 4 of a `subscription`: truncated, never ignored.
    let mut sub = frame(&samples()[2])[4..].to_vec();
    sub.push(0);
    assert!(matches!(
        Message::parse(sub.into()),
        Err(ProtocolError::Truncated { field: "group", .. })
    ));
    let mut notice = frame(&samples()[3])[4..].to_vec();
    notice.extend_from_slice(&[0, 0, 0, 1]);
    assert!(matches!(
        Message::parse(notice.into()),
        Err(ProtocolError::Truncated {
            field: "subscription",
            ..
        })
    ));
}

#[test]
fn every_kind_roundtrips_through_codec() {
    let mut codec = NativeCodec::default();
    let mut wire = BytesMut::new();
    for m in samples() {
        codec.encode(&m, &mut wire).unwrap();
    }
    let mut got = Vec::new();
    while let Some(m) = codec.decode(&mut wire).unwrap() {
        got.push(m);
    }
    assert_eq!(got, samples());
}

#[test]
fn truncated_fields_are_named() {
    let bytes = frame(&samples()[0]);
    // Cut the telegram short but fix up the outer length so framing passes.
    let body = Bytes::copy_from_slice(&bytes[4..bytes.len() - 3]);
    let err = Message::parse(body).unwrap_err();
    assert!(
        matches!(
            err,
            ProtocolError::Truncated {
                field: "telegram",
                need: 8,
                have: 5,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn trailing_unknown_and_bad_utf8() {
    let mut body = frame(&Message::Ping { nonce: 1 })[4..].to_vec();
    body.push(0);
    assert!(matches!(
        Message::parse(body.into()),
        Err(ProtocolError::Trailing { extra: 1, .. })
    ));
    assert!(matches!(
        Message::parse(Bytes::from_static(&[0x99])),
        Err(ProtocolError::UnknownKind(0x99))
    ));
    assert!(matches!(
        Message::parse(Bytes::new()),
        Err(ProtocolError::Empty)
    ));
    let bad = [KIND_SUBSCRIBE, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0xff];
    assert!(matches!(
        Message::parse(Bytes::copy_from_slice(&bad)),
        Err(ProtocolError::BadUtf8 {
            field: "institution",
            ..
        })
    ));
    let mut resp = frame(&samples()[1])[4..].to_vec();
    resp[9] = 9;
    assert!(matches!(
        Message::parse(resp.into()),
        Err(ProtocolError::UnknownOutcome(9))
    ));
}

#[test]
fn oversized_frame_refused_before_allocation() {
    let mut codec = NativeCodec::new(1024);
    let mut buf = BytesMut::with_capacity(16);
    buf.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff, KIND_REQUEST]);
    let err = codec.decode(&mut buf).unwrap_err();
    assert!(
        matches!(err, ProtocolError::Frame(FrameError::TooLarge { .. })),
        "{err}"
    );
    assert!(buf.capacity() < 1024);
    let big = Message::Notice(Notice {
        institution: "x".into(),
        notice_id: 1,
        telegram: Bytes::from(vec![0u8; 2000]),
        subscription: None,
    });
    let mut out = BytesMut::new();
    assert!(matches!(
        codec.encode(&big, &mut out),
        Err(ProtocolError::TooLarge { max: 1024, .. })
    ));
    assert!(
        out.is_empty(),
        "a refused frame must leave no partial bytes"
    );
}

#[test]
fn inner_length_beyond_frame_is_error_not_allocation() {
    // Notice whose telegram length claims 4 GiB inside a 20-byte frame.
    let mut body = vec![KIND_NOTICE];
    body.extend_from_slice(&1u64.to_be_bytes());
    body.extend_from_slice(&[0, 1, b'x']);
    body.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        Message::parse(body.into()),
        Err(ProtocolError::Truncated {
            field: "telegram",
            ..
        })
    ));
}

#[test]
fn string_too_long_refused() {
    let m = Message::Subscribe(Subscribe {
        id: 1,
        institution: "x".repeat(70_000),
        group: None,
    });
    let mut out = BytesMut::new();
    assert!(matches!(
        m.encode_frame(DEFAULT_MAX_FRAME, &mut out),
        Err(ProtocolError::StringTooLong { len: 70_000, .. })
    ));
    assert!(out.is_empty());
}

proptest! {
    #[test]
    fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Message::parse(Bytes::from(data.clone()));
        let mut codec = NativeCodec::new(128);
        let mut buf = BytesMut::from(&data[..]);
        while let Ok(Some(_)) = codec.decode(&mut buf) {}
    }

    #[test]
    fn mutated_frames_never_panic(idx in 0usize..11, pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = frame(&samples()[idx]);
        let p = pos.index(bytes.len());
        bytes[p] = byte;
        let mut codec = NativeCodec::default();
        let mut buf = BytesMut::from(&bytes[..]);
        let _ = codec.decode(&mut buf);
    }

    #[test]
    fn request_roundtrip(id in any::<u64>(), t in any::<u32>(), inst in ".{0,40}", tel in proptest::collection::vec(any::<u8>(), 0..400)) {
        let m = Message::Request(Request { id, institution: inst, timeout_ms: t, telegram: tel.into(), idempotency_key: None });
        let bytes = frame(&m);
        prop_assert_eq!(Message::parse(Bytes::copy_from_slice(&bytes[4..])).unwrap(), m);
    }
}

#[test]
fn truncation_keeps_utf8_whole() {
    assert_eq!(truncate_str("가나다", 4), "가");
    assert_eq!(truncate_str("가나다", 6), "가나");
    assert_eq!(truncate_str("abc", 10), "abc");
    assert_eq!(truncate_str("가", 2), "");
}

#[test]
fn a_bounded_response_always_encodes() {
    let huge = "가".repeat(40_000); // 120,000 bytes: more than a str can carry
    let r = Response {
        id: 7,
        outcome: Outcome::Rejected,
        detail: format!("unknown institution {huge:?}"),
        telegram: Bytes::from(vec![b'x'; 5000]),
    }
    .bounded(4096);
    assert!(r.detail.len() <= MAX_DETAIL, "{}", r.detail.len());
    assert!(r.detail.contains("left out"), "{}", r.detail);
    assert!(r.telegram.is_empty());
    let mut b = BytesMut::new();
    Message::Response(r.clone())
        .encode_frame(4096, &mut b)
        .expect("fits");
    assert_eq!(b.len(), 4 + r.encoded_len());
    // Small enough already: unchanged.
    let small = Response {
        id: 1,
        outcome: Outcome::Ok,
        detail: "0000".into(),
        telegram: Bytes::from_static(b"RESP"),
    };
    assert_eq!(small.clone().bounded(DEFAULT_MAX_FRAME), small);
}

proptest! {
    #[test]
    fn bounded_responses_fit_any_detail_and_telegram(detail in ".{0,3000}", len in 0usize..10_000) {
        let r = Response { id: 1, outcome: Outcome::Ok, detail, telegram: Bytes::from(vec![0u8; len]) }
            .bounded(4096);
        let mut b = BytesMut::new();
        prop_assert!(Message::Response(r).encode_frame(4096, &mut b).is_ok());
    }
}

#[test]
fn keyed_request_bytes_match_docs_example() {
    // The annotated example in docs/protocol.md §4: the Request example with a key.
    let msg = Message::Request(Request {
        id: 1,
        institution: "hecto".into(),
        timeout_ms: 5000,
        telegram: Bytes::from_static(b"TELEGRAM"),
        idempotency_key: Some("K-1".into()),
    });
    let expected = hex::decode(concat!(
        "00000025",         // length 37
        "08",               // kind KeyedRequest
        "0000000000000001", // id
        "00001388",         // timeout_ms 5000
        "0005",
        "686563746f", // "hecto"
        "00000008",
        "54454c454752414d", // "TELEGRAM"
        "0003",
        "4b2d31" // "K-1"
    ))
    .unwrap();
    assert_eq!(frame(&msg), expected);
    let parsed = Message::parse(Bytes::from(expected[4..].to_vec())).unwrap();
    assert_eq!(parsed, msg);
    // Without a key, the same request is kind 0x01 as before: old clients are unaffected.
    let plain = Message::Request(Request {
        idempotency_key: None,
        ..match msg {
            Message::Request(r) => r,
            _ => unreachable!(),
        }
    });
    assert_eq!(frame(&plain)[4], KIND_REQUEST);
    // A keyed request without its key field is truncated, not a plain request.
    let mut short = expected[4..].to_vec();
    short.truncate(short.len() - 5);
    assert!(matches!(
        Message::parse(Bytes::from(short)),
        Err(ProtocolError::Truncated {
            field: "idempotency_key",
            ..
        })
    ));
}
