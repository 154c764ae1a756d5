//! Unit tests of [`super`]; a file of their own keeps `framing.rs` readable.

use super::*;
use proptest::prelude::*;

fn codec(f: Framing, max: usize) -> FrameCodec {
    FrameCodec::new(f, max).unwrap()
}

fn ascii(digits: u8, includes_self: bool, prefix: Option<&str>) -> Framing {
    Framing::Ascii {
        digits,
        includes_self,
        prefix: prefix.map(String::from),
    }
}

fn binary(width: u8, includes_self: bool, prefix: Option<&str>) -> Framing {
    Framing::Binary {
        width,
        includes_self,
        prefix: prefix.map(String::from),
    }
}

fn encode(c: &mut FrameCodec, payload: &[u8]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    c.encode(payload, &mut buf).unwrap();
    buf.to_vec()
}

fn decode_all(c: &mut FrameCodec, chunks: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(f) = c.decode(&mut buf).unwrap() {
            out.push(f.to_vec());
        }
    }
    assert!(buf.is_empty(), "leftover bytes: {buf:?}");
    out
}

#[test]
fn hecto_ascii4_excluding_self() {
    let mut c = codec(Framing::hecto(), 4096);
    let body = vec![b'A'; 300];
    let wire = encode(&mut c, &body);
    assert_eq!(&wire[..4], b"0300");
    assert_eq!(wire.len(), 304);
    assert_eq!(decode_all(&mut c, &[&wire]), vec![body]);
}

#[test]
fn hecto_poll_frame_on_same_framing() {
    let mut c = codec(Framing::hecto(), 4096);
    let wire = b"0020HDRREQPOLL1123094501";
    let frames = decode_all(&mut c, &[wire]);
    assert_eq!(frames, vec![b"HDRREQPOLL1123094501".to_vec()]);
    assert_eq!(
        encode(&mut c, b"HDRRESPOLL1123094501"),
        b"0020HDRRESPOLL1123094501"
    );
}

#[test]
fn ascii_including_self() {
    let mut c = codec(ascii(4, true, None), 4096);
    let wire = encode(&mut c, b"hello");
    assert_eq!(wire, b"0009hello");
    assert_eq!(decode_all(&mut c, &[&wire]), vec![b"hello".to_vec()]);
}

#[test]
fn ascii_including_self_below_header_is_error() {
    let mut c = codec(ascii(4, true, None), 4096);
    let mut buf = BytesMut::from(&b"0003abc"[..]);
    let err = c.decode(&mut buf).unwrap_err();
    assert!(
        matches!(err, FrameError::LengthBelowHeader { value: 3, .. }),
        "{err}"
    );
}

/// A telegram of `len` bytes whose own 4-digit length field at `offset` counts it all.
fn self_framed(offset: usize, len: usize) -> Vec<u8> {
    let mut t = vec![b'x'; len];
    t[offset..offset + 4].copy_from_slice(format!("{len:04}").as_bytes());
    t
}

#[test]
fn a_length_field_inside_the_telegram_frames_it_and_stays_in_the_frame() {
    let mut c = codec(Framing::kibnet(), 4096);
    let a = self_framed(0, 600);
    let b = self_framed(0, 500); // KIBNET's 500-byte 0810/2100
    let mut wire = encode(&mut c, &a);
    assert_eq!(wire, a, "nothing added");
    wire.extend(encode(&mut c, &b));
    let frames = decode_all(&mut c, &[&wire[..3], &wire[3..601], &wire[601..]]);
    assert_eq!(frames, vec![a.clone(), b]);
    // At an offset, after a prefix, counting only what follows the field.
    let mut c = codec(
        Framing::Field {
            offset: 2,
            digits: 3,
            includes_self: false,
            prefix: Some("TR".into()),
        },
        100,
    );
    assert_eq!(
        decode_all(&mut c, &[b"TRab004wxyz"]),
        vec![b"ab004wxyz".to_vec()]
    );
    assert_eq!(encode(&mut c, b"ab004wxyz"), b"TRab004wxyz");
}

#[test]
fn a_length_field_is_checked_both_ways() {
    let mut c = codec(Framing::kibnet(), 1000);
    // Fewer bytes than the field itself, bad digits, more than max_frame.
    let mut buf = BytesMut::from(&b"0003abc"[..]);
    assert!(matches!(
        c.decode(&mut buf),
        Err(FrameError::LengthBelowField {
            value: 3,
            end: 4,
            ..
        })
    ));
    let mut buf = BytesMut::from(&b"06x0"[..]);
    assert!(matches!(
        c.decode(&mut buf),
        Err(FrameError::BadLengthDigits(_))
    ));
    let mut buf = BytesMut::from(&b"9999"[..]);
    let err = c.decode(&mut buf).unwrap_err();
    assert!(
        matches!(err, FrameError::TooLarge { len: 9999, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("9999"), "{err}");
    // Not enough bytes for the field yet: wait.
    let mut buf = BytesMut::from(&b"06"[..]);
    assert!(c.decode(&mut buf).unwrap().is_none());
    // A telegram whose field disagrees with its length is not sent.
    let mut out = BytesMut::new();
    let err = c.encode(&self_framed(0, 600)[..599], &mut out).unwrap_err();
    assert!(
        matches!(err, FrameError::EncodeLengthField { len: 599, .. }),
        "{err}"
    );
    assert!(out.is_empty());
    assert!(c.encode(&b"06"[..], &mut out).is_err());
}

#[test]
fn binary2_and_binary4() {
    let mut c2 = codec(binary(2, false, None), 70000);
    assert_eq!(encode(&mut c2, b"abc"), b"\x00\x03abc");
    let mut c2s = codec(binary(2, true, None), 70000);
    assert_eq!(encode(&mut c2s, b"abc"), b"\x00\x05abc");
    let mut c4 = codec(binary(4, false, None), 70000);
    let wire = encode(&mut c4, &[7u8; 258]);
    assert_eq!(&wire[..4], &[0, 0, 1, 2]);
    assert_eq!(decode_all(&mut c4, &[&wire]), vec![vec![7u8; 258]]);
    let mut c4s = codec(binary(4, true, None), 70000);
    assert_eq!(encode(&mut c4s, b"x"), b"\x00\x00\x00\x05x");
    assert_eq!(
        decode_all(&mut c4s, &[b"\x00\x00\x00\x05x"]),
        vec![b"x".to_vec()]
    );
}

#[test]
fn binary2_cannot_express_large_payload() {
    let mut c = codec(binary(2, false, None), 100_000);
    let mut buf = BytesMut::new();
    let err = c.encode(&vec![0u8; 70_000][..], &mut buf).unwrap_err();
    assert!(
        matches!(err, FrameError::EncodeTooLarge { limit: 65535, .. }),
        "{err}"
    );
}

#[test]
fn prefix_written_and_verified() {
    let mut c = codec(ascii(4, false, Some("SETTLEBNK")), 4096);
    let wire = encode(&mut c, b"abc");
    assert_eq!(wire, b"SETTLEBNK0003abc");
    assert_eq!(
        decode_all(&mut c, &[&wire[..5], &wire[5..]]),
        vec![b"abc".to_vec()]
    );

    let mut buf = BytesMut::from(&b"SETTLX"[..]);
    let err = c.decode(&mut buf).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, FrameError::PrefixMismatch { .. }));
    assert!(msg.contains("SETTLX"), "{msg}");
}

#[test]
fn fixed_size_frames() {
    let mut c = codec(
        Framing::Fixed {
            size: 5,
            prefix: None,
        },
        100,
    );
    assert_eq!(
        decode_all(&mut c, &[b"abc", b"de12", b"345"]),
        vec![b"abcde".to_vec(), b"12345".to_vec()]
    );
    let mut buf = BytesMut::new();
    assert!(matches!(
        c.encode(&b"abc"[..], &mut buf),
        Err(FrameError::EncodeWrongSize {
            expected: 5,
            len: 3
        })
    ));
    assert_eq!(encode(&mut c, b"vwxyz"), b"vwxyz");
}

#[test]
fn fixed_with_prefix() {
    let mut c = codec(
        Framing::Fixed {
            size: 3,
            prefix: Some("TR".into()),
        },
        100,
    );
    assert_eq!(encode(&mut c, b"abc"), b"TRabc");
    assert_eq!(
        decode_all(&mut c, &[b"TRabcTRx", b"yz"]),
        vec![b"abc".to_vec(), b"xyz".to_vec()]
    );
}

#[test]
fn garbage_header_names_bytes() {
    let mut c = codec(Framing::hecto(), 4096);
    let mut buf = BytesMut::from(&b"03a0xxxx"[..]);
    let err = c.decode(&mut buf).unwrap_err();
    assert!(matches!(err, FrameError::BadLengthDigits(_)));
    let msg = err.to_string();
    assert!(msg.contains("03a0"), "{msg}");
    assert!(msg.contains("30336130"), "{msg}");
}

#[test]
fn oversize_refused_without_allocation() {
    let mut c = codec(ascii(9, false, None), 1024);
    let mut buf = BytesMut::with_capacity(16);
    buf.extend_from_slice(b"999999999");
    let cap_before = buf.capacity();
    let err = c.decode(&mut buf).unwrap_err();
    assert!(
        matches!(
            err,
            FrameError::TooLarge {
                len: 999_999_999,
                max: 1024,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(buf.capacity(), cap_before);
    assert!(buf.capacity() < 1024);

    let mut c4 = codec(binary(4, false, None), 1024);
    let mut buf = BytesMut::with_capacity(8);
    buf.extend_from_slice(&[0xff, 0xff, 0xff, 0xf0]);
    assert!(matches!(
        c4.decode(&mut buf),
        Err(FrameError::TooLarge { .. })
    ));
    assert!(buf.capacity() < 1024);
}

#[test]
fn exactly_max_is_accepted_and_one_more_refused() {
    let mut c = codec(Framing::hecto(), 300);
    let ok = encode(&mut c, &[b'x'; 300]);
    assert_eq!(decode_all(&mut c, &[&ok]).len(), 1);
    let mut buf = BytesMut::new();
    assert!(c.encode(&[b'x'; 301][..], &mut buf).is_err());
    let mut buf = BytesMut::from(&b"0301"[..]);
    assert!(matches!(
        c.decode(&mut buf),
        Err(FrameError::TooLarge { len: 301, .. })
    ));
}

#[test]
fn eof_mid_frame_is_error() {
    let mut c = codec(Framing::hecto(), 4096);
    let mut buf = BytesMut::from(&b"0010abc"[..]);
    assert!(matches!(
        c.decode_eof(&mut buf),
        Err(FrameError::Truncated { buffered: 7 })
    ));
    let mut empty = BytesMut::new();
    assert!(c.decode_eof(&mut empty).unwrap().is_none());
}

#[test]
fn max_expressible_never_overflows() {
    for w in [0u8, 1, 2, 4, 8, 9, 255] {
        let _ = binary(w, true, None).max_expressible();
        let _ = binary(w, false, None).max_expressible();
    }
    for d in [0u8, 1, 4, 9, 19, 20, 255] {
        let _ = ascii(d, true, None).max_expressible();
    }
    assert_eq!(binary(2, false, None).max_expressible(), 65_535);
    assert_eq!(binary(2, true, None).max_expressible(), 65_533);
    assert_eq!(ascii(4, false, None).max_expressible(), 9_999);
    assert_eq!(ascii(4, true, None).max_expressible(), 9_995);
}

#[test]
fn bad_config_rejected() {
    assert!(FrameCodec::new(ascii(0, false, None), 10).is_err());
    assert!(FrameCodec::new(ascii(10, false, None), 10).is_err());
    assert!(FrameCodec::new(binary(3, false, None), 10).is_err());
    assert!(FrameCodec::new(Framing::hecto(), 0).is_err());
    assert!(FrameCodec::new(
        Framing::Fixed {
            size: 11,
            prefix: None
        },
        10
    )
    .is_err());
    assert!(FrameCodec::new(ascii(4, false, Some("a\u{1}")), 10).is_err());
    let field = |digits| Framing::Field {
        offset: 0,
        digits,
        includes_self: true,
        prefix: None,
    };
    assert!(FrameCodec::new(field(0), 10).is_err());
    assert!(FrameCodec::new(field(10), 10).is_err());
    assert_eq!(field(4).max_expressible(), 9_999);
}

#[cfg(feature = "serde")]
#[test]
fn framing_deserializes_from_toml() {
    #[derive(Deserialize)]
    struct W {
        framing: Framing,
    }
    let w: W = toml::from_str(r#"framing = { kind = "ascii", digits = 4, includes_self = false }"#)
        .unwrap();
    assert_eq!(w.framing, Framing::hecto());
    let w: W = toml::from_str(r#"framing = { kind = "binary", width = 2, prefix = "TRCODE001" }"#)
        .unwrap();
    assert_eq!(w.framing, binary(2, false, Some("TRCODE001")));
    assert!(toml::from_str::<W>(r#"framing = { kind = "ascii", digits = 4, bogus = 1 }"#).is_err());
    let w: W = toml::from_str(r#"framing = { kind = "field", offset = 0, digits = 4 }"#).unwrap();
    assert_eq!(w.framing, Framing::kibnet());
}

fn any_framing() -> impl Strategy<Value = Framing> {
    let prefix = proptest::option::of("[A-Z]{1,9}");
    prop_oneof![
        (1u8..=6, any::<bool>(), prefix.clone()).prop_map(|(d, s, p)| Framing::Ascii {
            digits: d.max(3),
            includes_self: s,
            prefix: p
        }),
        (
            prop_oneof![Just(2u8), Just(4u8)],
            any::<bool>(),
            prefix.clone()
        )
            .prop_map(|(w, s, p)| Framing::Binary {
                width: w,
                includes_self: s,
                prefix: p
            }),
        (1usize..40, prefix.clone()).prop_map(|(n, p)| Framing::Fixed { size: n, prefix: p }),
        (0usize..6, 3u8..=5, any::<bool>(), prefix).prop_map(|(o, d, s, p)| Framing::Field {
            offset: o,
            digits: d,
            includes_self: s,
            prefix: p
        }),
    ]
}

/// Makes `p` a valid payload for `framing`: the fixed size, or a length field that says
/// how long it is.
fn shape(framing: &Framing, mut p: Vec<u8>) -> Vec<u8> {
    match framing {
        Framing::Fixed { size, .. } => p.resize(*size, b'z'),
        Framing::Field {
            offset,
            digits,
            includes_self,
            ..
        } => {
            let end = offset + usize::from(*digits);
            if p.len() < end {
                p.resize(end, b'z');
            }
            let value = if *includes_self {
                p.len()
            } else {
                p.len() - end
            };
            let d = usize::from(*digits);
            p[*offset..end].copy_from_slice(format!("{value:0d$}").as_bytes());
        }
        _ => {}
    }
    p
}

proptest! {
    #[test]
    fn chunked_decoding_matches_whole(
        framing in any_framing(),
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..12),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
    ) {
        let mut c = codec(framing.clone(), 512);
        let payloads: Vec<Vec<u8>> = payloads.into_iter().map(|p| shape(&framing, p)).collect();
        let mut wire = Vec::new();
        for p in &payloads {
            wire.extend(encode(&mut c, p));
        }
        let whole = decode_all(&mut c.clone(), &[&wire]);
        prop_assert_eq!(&whole, &payloads);

        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks: Vec<&[u8]> = Vec::new();
        let mut start = 0;
        for p in points {
            chunks.push(&wire[start..p]);
            start = p;
        }
        chunks.push(&wire[start..]);
        let chunked = decode_all(&mut c, &chunks);
        prop_assert_eq!(chunked, payloads);
    }

    #[test]
    fn decoder_never_panics(framing in any_framing(), data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut c = codec(framing, 256);
        let mut buf = BytesMut::from(&data[..]);
        while let Ok(Some(_)) = c.decode(&mut buf) {}
        prop_assert!(buf.capacity() <= 4096);
    }
}
