//! The native internal protocol: `Message::parse` and the `NativeCodec` decoder.
//!
//! Three views of the same input:
//! 1. as one frame body: `Message::parse` never panics; when it is `Ok(m)`, `encode_body(m)`
//!    gives back exactly the input (the format has one spelling per message: fixed-width
//!    integers, length-prefixed fields, an optional trailing field either absent or whole, no
//!    other trailing bytes) and `parse(encode_body(m)) == m`;
//! 2. as a byte stream through `NativeCodec` (max frame chosen from the input's first byte):
//!    never panics, every decoded message re-encodes within the max frame and parses back
//!    equal, and an oversized length is refused before the buffer grows to hold it;
//! 3. as `arbitrary` material for a message built field by field: `encode_frame` then the
//!    codec's `decode` gives the same message (or `encode_frame` refuses it as too large).

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use fep_gateway::protocol::{
    Message, NativeCodec, Notice, Outcome, ProtocolError, Request, Response, Subscribe,
    Unsubscribe,
};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

fn round_trip_body(m: &Message) {
    let mut body = BytesMut::new();
    m.encode_body(&mut body)
        .expect("a parsed message re-encodes");
    let back = Message::parse(body.freeze()).expect("encode_body output parses");
    assert_eq!(&back, m, "parse(encode(m)) != m");
}

fn view_as_body(data: &[u8]) {
    match Message::parse(Bytes::copy_from_slice(data)) {
        Ok(m) => {
            let mut body = BytesMut::new();
            m.encode_body(&mut body)
                .expect("a parsed message re-encodes");
            assert_eq!(&body[..], data, "encode_body(parse(x)) != x for {m:?}");
            round_trip_body(&m);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fn view_as_stream(data: &[u8]) {
    let Some((&sel, stream)) = data.split_first() else {
        return;
    };
    // Small limits exercise the oversize path; 0 is raised to 1 by the codec.
    let max = match sel % 4 {
        0 => usize::from(sel),
        1 => 64,
        2 => 4096,
        _ => fep_gateway::protocol::DEFAULT_MAX_FRAME,
    };
    let mut codec = NativeCodec::new(max);
    let max = codec.max_frame();
    let mut buf = BytesMut::from(stream);
    loop {
        // An exact-size copy, so any growth below is the decoder's own reservation (a shared
        // or advanced buffer may legitimately reclaim its whole original allocation).
        buf = BytesMut::from(&buf[..]);
        let cap = buf.capacity();
        match codec.decode(&mut buf) {
            Ok(Some(m)) => {
                let mut framed = BytesMut::new();
                m.encode_frame(max, &mut framed)
                    .expect("a decoded message fits the max frame it came through");
                round_trip_body(&m);
            }
            Ok(None) => {
                // Any reservation is for a frame within max_frame (+ 4 length bytes); Vec's
                // amortised growth may double that, never more.
                assert!(
                    buf.capacity() <= cap.max(8).max(2 * (max + 4)),
                    "buffer grew from {cap} to {} with max_frame {max}",
                    buf.capacity()
                );
                break;
            }
            Err(e) => {
                if let ProtocolError::Frame(fep_gateway::framing::FrameError::TooLarge { .. }) = e {
                    assert_eq!(buf.capacity(), cap, "oversize frame must not reserve");
                }
                let _ = e.to_string();
                return;
            }
        }
    }
    match codec.decode_eof(&mut buf) {
        Ok(Some(m)) => round_trip_body(&m),
        Ok(None) => assert!(buf.is_empty()),
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fn arbitrary_message(u: &mut Unstructured<'_>) -> arbitrary::Result<Message> {
    let telegram = |u: &mut Unstructured<'_>| -> arbitrary::Result<Bytes> {
        Ok(Bytes::copy_from_slice(<&[u8]>::arbitrary(u)?))
    };
    Ok(match u.int_in_range(0u8..=7)? {
        0 => Message::Request(Request {
            id: u.arbitrary()?,
            institution: u.arbitrary()?,
            timeout_ms: u.arbitrary()?,
            telegram: telegram(u)?,
            idempotency_key: u.arbitrary()?,
        }),
        1 => Message::Response(Response {
            id: u.arbitrary()?,
            outcome: *u.choose(&Outcome::ALL)?,
            detail: u.arbitrary()?,
            telegram: telegram(u)?,
        }),
        2 => Message::Subscribe(Subscribe {
            id: u.arbitrary()?,
            institution: u.arbitrary()?,
            group: u.arbitrary()?,
        }),
        3 => Message::Notice(Notice {
            institution: u.arbitrary()?,
            notice_id: u.arbitrary()?,
            telegram: telegram(u)?,
            subscription: u.arbitrary()?,
        }),
        6 => Message::Unsubscribe(Unsubscribe {
            id: u.arbitrary()?,
            subscription: u.arbitrary()?,
        }),
        4 => Message::Ack {
            notice_id: u.arbitrary()?,
        },
        5 => Message::Ping {
            nonce: u.arbitrary()?,
        },
        _ => Message::Pong {
            nonce: u.arbitrary()?,
        },
    })
}

fn view_as_arbitrary(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(m) = arbitrary_message(&mut u) else {
        return;
    };
    let max = 4096;
    let mut wire = BytesMut::new();
    match m.encode_frame(max, &mut wire) {
        Ok(()) => {
            let mut codec = NativeCodec::new(max);
            let got = codec
                .decode(&mut wire)
                .expect("an encoded frame decodes")
                .expect("a whole frame is buffered");
            assert_eq!(got, m);
            assert!(wire.is_empty(), "bytes left after one frame");
        }
        Err(e) => {
            assert!(
                wire.is_empty(),
                "a refused frame leaves the buffer as it was"
            );
            assert!(
                matches!(e, ProtocolError::TooLarge { .. }),
                "only size refuses a message: {e}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    view_as_body(data);
    view_as_stream(data);
    view_as_arbitrary(data);
});
