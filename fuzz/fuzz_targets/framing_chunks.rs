//! Institution framing: one byte stream, split at fuzzer-chosen points.
//!
//! Every `Framing` variant (ASCII 1..=9 digits including/excluding itself, binary 2/4 bytes,
//! an optional prefix, fixed-size frames, a length field inside the telegram at an offset)
//! with a fuzzer-chosen `max_frame`. The stream is
//! either raw fuzzer bytes, or payloads framed by the codec's own encoder followed by raw
//! bytes. Properties:
//! - decoding never panics, and yields the same frames followed by the same end (first error,
//!   clean end, or `Truncated` at EOF) whether the stream arrives whole or in chunks;
//! - payloads the encoder accepted come back byte for byte, in order; the encoder accepts a
//!   payload exactly when it fits both `max_frame` and the length header (and, for fixed
//!   framing, has the fixed size; for a length field, the field says its length — the fuzzer's
//!   payloads get a right field unless `lie`);
//! - a length header claiming more than `max_frame` is refused (`TooLarge`) as soon as the
//!   header is buffered, without reserving; any reservation the decoder makes is for at most
//!   `header + max_frame` bytes (Vec's amortised growth may double that, never more);
//! - every decoded frame is at most `max_frame` bytes.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use bytes::BytesMut;
use fep_gateway::framing::{FrameCodec, FrameError, Framing};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, Encoder};

#[derive(Arbitrary, Debug)]
enum Kind {
    Ascii {
        digits: u8,
        includes_self: bool,
    },
    Binary {
        wide: bool,
        includes_self: bool,
    },
    Fixed {
        size: u16,
    },
    Field {
        offset: u8,
        digits: u8,
        includes_self: bool,
        /// Leave the payloads' length fields as the fuzzer wrote them.
        lie: bool,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    kind: Kind,
    /// Index into PREFIXES.
    prefix: u8,
    max_frame: u16,
    /// Framed payloads first (encoded by the codec), then `tail` verbatim.
    payloads: Vec<Vec<u8>>,
    tail: Vec<u8>,
    /// Chunk lengths (cycled) for the chunked pass.
    cuts: Vec<u8>,
}

const PREFIXES: [Option<&str>; 5] = [None, None, Some("TR"), Some("SETTLEBNK"), Some("0")];

fn framing(input: &Input) -> Framing {
    let prefix = PREFIXES[usize::from(input.prefix) % PREFIXES.len()].map(str::to_owned);
    match input.kind {
        Kind::Ascii {
            digits,
            includes_self,
        } => Framing::Ascii {
            digits: digits % 9 + 1,
            includes_self,
            prefix,
        },
        Kind::Binary {
            wide,
            includes_self,
        } => Framing::Binary {
            width: if wide { 4 } else { 2 },
            includes_self,
            prefix,
        },
        Kind::Fixed { size } => Framing::Fixed {
            size: usize::from(size % 64) + 1,
            prefix,
        },
        Kind::Field {
            offset,
            digits,
            includes_self,
            ..
        } => Framing::Field {
            offset: usize::from(offset % 8),
            digits: digits % 5 + 1,
            includes_self,
            prefix,
        },
    }
}

/// `(offset, digits, includes_self)` of a [`Framing::Field`].
fn length_field(framing: &Framing) -> Option<(usize, usize, bool)> {
    match framing {
        Framing::Field {
            offset,
            digits,
            includes_self,
            ..
        } => Some((*offset, usize::from(*digits), *includes_self)),
        _ => None,
    }
}

/// Writes the length into a payload's own length field (growing it to hold the field), as a
/// telegram that frames itself does; `None` when the length does not fit the digits.
fn self_framed(framing: &Framing, mut p: Vec<u8>) -> Option<Vec<u8>> {
    let Some((offset, digits, includes_self)) = length_field(framing) else {
        return Some(p);
    };
    let end = offset + digits;
    if p.len() < end {
        p.resize(end, b'0');
    }
    let value = if includes_self {
        p.len()
    } else {
        p.len() - end
    };
    let text = format!("{value:0digits$}");
    if text.len() > digits {
        return None;
    }
    p[offset..end].copy_from_slice(text.as_bytes());
    Some(p)
}

/// The length a payload's own length field declares (`None`: not there, or not digits).
fn declared(framing: &Framing, p: &[u8]) -> Option<u64> {
    let (offset, digits, includes_self) = length_field(framing)?;
    let end = offset + digits;
    let field = p.get(offset..end)?;
    if !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value: u64 = std::str::from_utf8(field).ok()?.parse().ok()?;
    Some(if includes_self {
        value
    } else {
        value + end as u64
    })
}

/// How a decode pass ended after its frames.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// All bytes consumed, clean EOF.
    Clean,
    /// `decode_eof` found a partial frame.
    Truncated(usize),
    /// The first error, normalised (a prefix mismatch shows only what had arrived).
    Error(String),
}

fn normalise(e: &FrameError) -> String {
    match e {
        FrameError::PrefixMismatch { .. } => "prefix mismatch".into(),
        FrameError::Truncated { buffered } => format!("truncated {buffered}"),
        other => other.to_string(),
    }
}

struct Pass {
    frames: Vec<Vec<u8>>,
    end: End,
}

/// Decodes `stream` fed in chunks of the given lengths (cycled; empty = whole). With
/// `exact`, the buffer is re-allocated to exactly its contents before each call, so any
/// capacity growth is the decoder's own reservation and can be bounded.
fn run(codec: &FrameCodec, stream: &[u8], cuts: &[usize], exact: bool) -> Pass {
    let mut codec = codec.clone();
    let max = codec.max_frame();
    let header = codec.framing().header_len();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = stream;
    let mut i = 0;
    loop {
        let n = if cuts.is_empty() {
            rest.len()
        } else {
            cuts[i % cuts.len()].min(rest.len())
        };
        i += 1;
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        let at_eof = rest.is_empty();
        loop {
            if exact {
                buf = BytesMut::from(&buf[..]);
            }
            let cap = buf.capacity();
            let result = if at_eof {
                codec.decode_eof(&mut buf)
            } else {
                codec.decode(&mut buf)
            };
            match result {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= max, "frame of {} > max {max}", frame.len());
                    frames.push(frame.to_vec());
                }
                Ok(None) => {
                    if exact {
                        assert!(
                            buf.capacity() <= cap.max(8).max(2 * (header + max)),
                            "decoder grew the buffer from {cap} to {} (header {header}, max_frame {max})",
                            buf.capacity()
                        );
                    }
                    break;
                }
                Err(e) => {
                    if let FrameError::TooLarge { len, .. } = &e {
                        assert!(*len > max as u64);
                        if exact {
                            assert_eq!(buf.capacity(), cap, "TooLarge after reserving");
                        }
                    }
                    let end = match e {
                        FrameError::Truncated { buffered } => End::Truncated(buffered),
                        e => End::Error(normalise(&e)),
                    };
                    return Pass { frames, end };
                }
            }
        }
        if at_eof {
            assert!(buf.is_empty(), "decode_eof returned None with bytes left");
            return Pass {
                frames,
                end: End::Clean,
            };
        }
    }
}

fn fuzz(input: Input) {
    let framing = framing(&input);
    let max_frame = usize::from(input.max_frame).max(1);
    let codec = match FrameCodec::new(framing.clone(), max_frame) {
        Ok(c) => c,
        Err(_) => {
            // Only a fixed size above max_frame is refused among these framings.
            assert!(matches!(framing, Framing::Fixed { size, .. } if size > max_frame));
            return;
        }
    };
    let limit = (max_frame as u64).min(framing.max_expressible());
    let lie = matches!(input.kind, Kind::Field { lie: true, .. });
    let mut stream = BytesMut::new();
    let mut sent = Vec::new();
    for p in &input.payloads {
        let p = match self_framed(&framing, p.clone()) {
            Some(framed) if !lie => framed,
            _ => p.clone(),
        };
        let before = stream.len();
        let result = codec.clone().encode(&p[..], &mut stream);
        let fits = match framing {
            Framing::Fixed { size, .. } => p.len() == size,
            Framing::Field { .. } => {
                p.len() as u64 <= limit && declared(&framing, &p) == Some(p.len() as u64)
            }
            _ => p.len() as u64 <= limit,
        };
        assert_eq!(
            result.is_ok(),
            fits,
            "encode of {} bytes: {result:?}",
            p.len()
        );
        if result.is_ok() {
            sent.push(p.clone());
        } else {
            assert_eq!(stream.len(), before, "a refused payload wrote bytes");
        }
    }
    let framed_len = stream.len();
    stream.extend_from_slice(&input.tail);

    let whole = run(&codec, &stream, &[], false);
    // The encoder's frames come back first, byte for byte.
    assert!(whole.frames.len() >= sent.len());
    assert_eq!(&whole.frames[..sent.len()], &sent[..]);
    if input.tail.is_empty() {
        assert_eq!(whole.frames.len(), sent.len());
        assert_eq!(whole.end, End::Clean, "stream of {framed_len} framed bytes");
    }

    let cuts: Vec<usize> = input.cuts.iter().map(|&c| usize::from(c).max(1)).collect();
    for (cuts, exact) in [(&cuts[..], false), (&cuts[..], true), (&[1][..], false)] {
        let pass = run(&codec, &stream, cuts, exact);
        assert_eq!(
            pass.frames, whole.frames,
            "frames differ with chunks {cuts:?}"
        );
        assert_eq!(pass.end, whole.end, "end differs with chunks {cuts:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) {
        fuzz(input);
    }
});
