//! The native internal protocol between internal services and the gateway.
//!
//! A length-framed, multiplexed binary envelope; `docs/protocol.md` is the normative byte
//! description. Every frame is `u32 BE length | u8 kind | fields`, the length counting the
//! kind byte and the fields. Integers are big-endian, strings are `u16 length | UTF-8`,
//! telegrams are `u32 length | bytes`. Parsing never panics: every malformed input is a
//! [`ProtocolError`].

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::framing::{FrameCodec, FrameError};

mod outcome;
pub use outcome::{Outcome, ParseOutcomeError};

/// Default maximum frame size (kind byte + fields), 1 MiB.
pub const DEFAULT_MAX_FRAME: usize = 1024 * 1024;

/// Largest `str` on the wire: its length is a `u16`.
pub const MAX_STR: usize = u16::MAX as usize;

/// Largest `detail` the gateway sends in a [`Response`] (bytes of UTF-8); longer details are
/// cut at a character boundary and end with `…`.
pub const MAX_DETAIL: usize = 1024;

/// `s` cut to at most `max` bytes at a UTF-8 character boundary.
pub fn truncate_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Kind byte of [`Message::Request`].
pub const KIND_REQUEST: u8 = 0x01;
/// Kind byte of [`Message::Response`].
pub const KIND_RESPONSE: u8 = 0x02;
/// Kind byte of [`Message::Subscribe`].
pub const KIND_SUBSCRIBE: u8 = 0x03;
/// Kind byte of [`Message::Notice`].
pub const KIND_NOTICE: u8 = 0x04;
/// Kind byte of [`Message::Ack`].
pub const KIND_ACK: u8 = 0x05;
/// Kind byte of [`Message::Ping`].
pub const KIND_PING: u8 = 0x06;
/// Kind byte of [`Message::Pong`].
pub const KIND_PONG: u8 = 0x07;
/// Kind byte of a [`Message::Request`] that carries an idempotency key (a Request's fields,
/// then `str idempotency_key`); a Request without a key keeps kind [`KIND_REQUEST`].
pub const KIND_KEYED_REQUEST: u8 = 0x08;
/// Kind byte of [`Message::Unsubscribe`].
pub const KIND_UNSUBSCRIBE: u8 = 0x09;

/// A request to send a telegram to an institution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Client-chosen id, echoed in the response; unique among the connection's open requests.
    pub id: u64,
    /// Institution name from the gateway config.
    pub institution: String,
    /// How long the caller will wait, in milliseconds.
    pub timeout_ms: u32,
    /// The telegram, without framing.
    pub telegram: Bytes,
    /// Idempotency key: requests with the same key answer with the same transaction, sent
    /// at most once. `Some` is sent as kind [`KIND_KEYED_REQUEST`], `None` as
    /// [`KIND_REQUEST`] (what clients before keys send).
    pub idempotency_key: Option<String>,
}

/// The gateway's answer to a [`Request`] or [`Subscribe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Id of the request answered.
    pub id: u64,
    /// Outcome of the request.
    pub outcome: Outcome,
    /// Human-readable detail (response code, reason for rejection, …).
    pub detail: String,
    /// The institution's response telegram (empty when there is none).
    pub telegram: Bytes,
}

impl Response {
    /// Bytes of this response's frame after the length (kind byte and fields).
    pub fn encoded_len(&self) -> usize {
        1 + 8 + 1 + 2 + self.detail.len() + 4 + self.telegram.len()
    }

    /// This response made to fit the wire whatever it was built from: `detail` cut to
    /// [`MAX_DETAIL`] bytes at a character boundary (ending in `…`), and a telegram that would
    /// make the frame larger than `max_frame` left out (the detail says so; the journal keeps
    /// it). Encoding the result never fails for a `max_frame` of 2 KiB or more.
    pub fn bounded(mut self, max_frame: usize) -> Response {
        if self.detail.len() > MAX_DETAIL {
            let cut = truncate_str(&self.detail, MAX_DETAIL - '…'.len_utf8()).len();
            self.detail.truncate(cut);
            self.detail.push('…');
        }
        if self.encoded_len() > max_frame {
            let note = format!(
                " [response telegram of {} bytes left out: larger than the max frame of {max_frame}]",
                self.telegram.len()
            );
            let keep = truncate_str(&self.detail, MAX_DETAIL.saturating_sub(note.len())).len();
            self.detail.truncate(keep);
            self.detail.push_str(&note);
            self.telegram = Bytes::new();
        }
        self
    }
}

/// Subscribes the connection to unsolicited notices of an institution (or `"*"` for all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Id answered by a [`Response`] (`ok` or `rejected`); names the subscription afterwards
    /// (in [`Unsubscribe`] and in the notices of a subscription that has a `group`).
    pub id: u64,
    /// Institution name or `"*"`.
    pub institution: String,
    /// Optional trailing field. `None` (not on the wire): the subscription of protocol
    /// version 1, notices broadcast to it and untagged. `Some(name)`: the subscription joins
    /// the consumer group `name`, whose members share the notices (each to one member);
    /// `Some("")` is a broadcast subscription like `None`. Either `Some` makes the gateway tag
    /// this subscription's notices with [`Notice::subscription`].
    pub group: Option<String>,
}

/// Ends a subscription of this connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Id answered by a [`Response`] (`ok`, or `rejected` when there is no such subscription).
    pub id: u64,
    /// The id of the [`Subscribe`] that opened the subscription.
    pub subscription: u64,
}

/// An unsolicited inbound telegram pushed by the gateway; must be acknowledged with
/// [`Message::Ack`], otherwise it is delivered again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Institution the telegram came from.
    pub institution: String,
    /// Gateway-assigned id to acknowledge.
    pub notice_id: u64,
    /// The telegram, without framing.
    pub telegram: Bytes,
    /// Optional trailing field: the id of the subscription this notice is delivered to. Sent
    /// only for subscriptions opened with a `group` field ([`Subscribe::group`]), so clients
    /// of version 1 never see it.
    pub subscription: Option<u64>,
}

/// One native-protocol message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Client → gateway: send a telegram.
    Request(Request),
    /// Gateway → client: answer to a request or subscribe.
    Response(Response),
    /// Client → gateway: start receiving notices.
    Subscribe(Subscribe),
    /// Gateway → client: unsolicited telegram.
    Notice(Notice),
    /// Client → gateway: notice durably handled.
    Ack {
        /// The acknowledged notice.
        notice_id: u64,
    },
    /// Either direction: liveness probe.
    Ping {
        /// Echoed in the pong.
        nonce: u64,
    },
    /// Either direction: answer to a ping.
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
    /// Client → gateway: stop a subscription.
    Unsubscribe(Unsubscribe),
}

/// Errors of the native protocol.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// Framing failed (I/O, oversized or truncated frame).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A frame with no kind byte.
    #[error("empty frame")]
    Empty,
    /// An unassigned kind byte.
    #[error("unknown message kind 0x{0:02x}")]
    UnknownKind(u8),
    /// An unassigned outcome code.
    #[error("unknown outcome code {0}")]
    UnknownOutcome(u8),
    /// A field runs past the end of the frame.
    #[error(
        "{kind}: truncated at field {field} (offset {offset}, need {need} bytes, have {have})"
    )]
    Truncated {
        /// Message kind name.
        kind: &'static str,
        /// Field name.
        field: &'static str,
        /// Offset of the field within the frame (after the length).
        offset: usize,
        /// Bytes the field needs.
        need: usize,
        /// Bytes left.
        have: usize,
    },
    /// Bytes after the last field.
    #[error("{kind}: {extra} unexpected trailing bytes")]
    Trailing {
        /// Message kind name.
        kind: &'static str,
        /// Count of extra bytes.
        extra: usize,
    },
    /// A string field that is not UTF-8.
    #[error("{kind}: field {field} is not valid UTF-8")]
    BadUtf8 {
        /// Message kind name.
        kind: &'static str,
        /// Field name.
        field: &'static str,
    },
    /// A string longer than 65535 bytes on encode.
    #[error("field {field} is {len} bytes, more than a u16 length allows")]
    StringTooLong {
        /// Field name.
        field: &'static str,
        /// Byte length.
        len: usize,
    },
    /// An encoded message larger than the maximum frame.
    #[error("message of {len} bytes exceeds max frame {max}")]
    TooLarge {
        /// Encoded size (kind + fields).
        len: usize,
        /// Maximum.
        max: usize,
    },
}

impl From<std::io::Error> for ProtocolError {
    fn from(e: std::io::Error) -> Self {
        ProtocolError::Frame(FrameError::Io(e))
    }
}

/// Reads fields off a frame body, naming the field on failure.
struct Reader {
    kind: &'static str,
    buf: Bytes,
    start_len: usize,
}

impl Reader {
    fn take(&mut self, field: &'static str, need: usize) -> Result<Bytes, ProtocolError> {
        if self.buf.len() < need {
            return Err(ProtocolError::Truncated {
                kind: self.kind,
                field,
                offset: 1 + self.start_len - self.buf.len(),
                need,
                have: self.buf.len(),
            });
        }
        Ok(self.buf.split_to(need))
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, ProtocolError> {
        Ok(self.take(field, 1)?.get_u8())
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, ProtocolError> {
        Ok(self.take(field, 2)?.get_u16())
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, ProtocolError> {
        Ok(self.take(field, 4)?.get_u32())
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, ProtocolError> {
        Ok(self.take(field, 8)?.get_u64())
    }

    fn string(&mut self, field: &'static str) -> Result<String, ProtocolError> {
        let len = self.u16(field)?;
        let raw = self.take(field, usize::from(len))?;
        String::from_utf8(raw.to_vec()).map_err(|_| ProtocolError::BadUtf8 {
            kind: self.kind,
            field,
        })
    }

    fn bytes(&mut self, field: &'static str) -> Result<Bytes, ProtocolError> {
        let len = self.u32(field)?;
        // The take() bound check guards against lengths beyond the frame; no allocation.
        self.take(field, len as usize)
    }

    /// An optional trailing field: absent when the frame ends here.
    fn optional<T>(
        &mut self,
        field: impl FnOnce(&mut Self) -> Result<T, ProtocolError>,
    ) -> Result<Option<T>, ProtocolError> {
        if self.buf.is_empty() {
            Ok(None)
        } else {
            field(self).map(Some)
        }
    }

    fn finish(self) -> Result<(), ProtocolError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(ProtocolError::Trailing {
                kind: self.kind,
                extra: self.buf.len(),
            })
        }
    }
}

fn put_string(dst: &mut BytesMut, field: &'static str, s: &str) -> Result<(), ProtocolError> {
    let len = u16::try_from(s.len()).map_err(|_| ProtocolError::StringTooLong {
        field,
        len: s.len(),
    })?;
    dst.put_u16(len);
    dst.put_slice(s.as_bytes());
    Ok(())
}

fn put_bytes(dst: &mut BytesMut, b: &[u8]) -> Result<(), ProtocolError> {
    let len = u32::try_from(b.len()).map_err(|_| ProtocolError::TooLarge {
        len: b.len(),
        max: u32::MAX as usize,
    })?;
    dst.put_u32(len);
    dst.put_slice(b);
    Ok(())
}

impl Message {
    /// Kind byte of this message.
    pub fn kind(&self) -> u8 {
        match self {
            Message::Request(r) if r.idempotency_key.is_some() => KIND_KEYED_REQUEST,
            Message::Request(_) => KIND_REQUEST,
            Message::Response(_) => KIND_RESPONSE,
            Message::Subscribe(_) => KIND_SUBSCRIBE,
            Message::Notice(_) => KIND_NOTICE,
            Message::Ack { .. } => KIND_ACK,
            Message::Ping { .. } => KIND_PING,
            Message::Pong { .. } => KIND_PONG,
            Message::Unsubscribe(_) => KIND_UNSUBSCRIBE,
        }
    }

    /// Name of a kind byte, for diagnostics.
    pub fn kind_name(kind: u8) -> &'static str {
        match kind {
            KIND_REQUEST => "Request",
            KIND_RESPONSE => "Response",
            KIND_SUBSCRIBE => "Subscribe",
            KIND_NOTICE => "Notice",
            KIND_ACK => "Ack",
            KIND_PING => "Ping",
            KIND_PONG => "Pong",
            KIND_KEYED_REQUEST => "KeyedRequest",
            KIND_UNSUBSCRIBE => "Unsubscribe",
            _ => "?",
        }
    }

    /// Appends the kind byte and fields (no length prefix) to `dst`.
    pub fn encode_body(&self, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        dst.put_u8(self.kind());
        match self {
            Message::Request(r) => {
                dst.put_u64(r.id);
                dst.put_u32(r.timeout_ms);
                put_string(dst, "institution", &r.institution)?;
                put_bytes(dst, &r.telegram)?;
                if let Some(key) = &r.idempotency_key {
                    put_string(dst, "idempotency_key", key)?;
                }
            }
            Message::Response(r) => {
                dst.put_u64(r.id);
                dst.put_u8(r.outcome.code());
                put_string(dst, "detail", &r.detail)?;
                put_bytes(dst, &r.telegram)?;
            }
            Message::Subscribe(s) => {
                dst.put_u64(s.id);
                put_string(dst, "institution", &s.institution)?;
                if let Some(group) = &s.group {
                    put_string(dst, "group", group)?;
                }
            }
            Message::Notice(n) => {
                dst.put_u64(n.notice_id);
                put_string(dst, "institution", &n.institution)?;
                put_bytes(dst, &n.telegram)?;
                if let Some(subscription) = n.subscription {
                    dst.put_u64(subscription);
                }
            }
            Message::Unsubscribe(u) => {
                dst.put_u64(u.id);
                dst.put_u64(u.subscription);
            }
            Message::Ack { notice_id: v }
            | Message::Ping { nonce: v }
            | Message::Pong { nonce: v } => {
                dst.put_u64(*v);
            }
        }
        Ok(())
    }

    /// Encodes a whole frame (length, kind, fields), refusing frames above `max_frame`.
    pub fn encode_frame(&self, max_frame: usize, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        let start = dst.len();
        dst.put_u32(0);
        if let Err(e) = self.encode_body(dst) {
            dst.truncate(start);
            return Err(e);
        }
        let len = dst.len() - start - 4;
        if len > max_frame || u32::try_from(len).is_err() {
            dst.truncate(start);
            return Err(ProtocolError::TooLarge {
                len,
                max: max_frame,
            });
        }
        // Bounded by the check above.
        dst[start..start + 4].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(())
    }

    /// Parses one frame body (kind byte + fields, without the length prefix).
    pub fn parse(mut frame: Bytes) -> Result<Message, ProtocolError> {
        if frame.is_empty() {
            return Err(ProtocolError::Empty);
        }
        let kind = frame.get_u8();
        let name = Message::kind_name(kind);
        let mut r = Reader {
            kind: name,
            start_len: frame.len(),
            buf: frame,
        };
        let msg = match kind {
            KIND_REQUEST | KIND_KEYED_REQUEST => Message::Request(Request {
                id: r.u64("id")?,
                timeout_ms: r.u32("timeout_ms")?,
                institution: r.string("institution")?,
                telegram: r.bytes("telegram")?,
                idempotency_key: match kind {
                    KIND_KEYED_REQUEST => Some(r.string("idempotency_key")?),
                    _ => None,
                },
            }),
            KIND_RESPONSE => {
                let id = r.u64("id")?;
                let code = r.u8("outcome")?;
                let outcome =
                    Outcome::from_code(code).ok_or(ProtocolError::UnknownOutcome(code))?;
                Message::Response(Response {
                    id,
                    outcome,
                    detail: r.string("detail")?,
                    telegram: r.bytes("telegram")?,
                })
            }
            KIND_SUBSCRIBE => Message::Subscribe(Subscribe {
                id: r.u64("id")?,
                institution: r.string("institution")?,
                group: r.optional(|r| r.string("group"))?,
            }),
            KIND_NOTICE => Message::Notice(Notice {
                notice_id: r.u64("notice_id")?,
                institution: r.string("institution")?,
                telegram: r.bytes("telegram")?,
                subscription: r.optional(|r| r.u64("subscription"))?,
            }),
            KIND_UNSUBSCRIBE => Message::Unsubscribe(Unsubscribe {
                id: r.u64("id")?,
                subscription: r.u64("subscription")?,
            }),
            KIND_ACK => Message::Ack {
                notice_id: r.u64("notice_id")?,
            },
            KIND_PING => Message::Ping {
                nonce: r.u64("nonce")?,
            },
            KIND_PONG => Message::Pong {
                nonce: r.u64("nonce")?,
            },
            other => return Err(ProtocolError::UnknownKind(other)),
        };
        r.finish()?;
        Ok(msg)
    }
}

/// tokio-util codec for the native protocol: `u32 BE length` framing plus [`Message`] parsing.
#[derive(Debug, Clone)]
pub struct NativeCodec {
    frames: FrameCodec,
}

impl NativeCodec {
    /// A codec refusing frames (kind + fields) larger than `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Self {
            frames: FrameCodec::u32_length(max_frame),
        }
    }

    /// Maximum frame size (kind + fields).
    pub fn max_frame(&self) -> usize {
        self.frames.max_frame()
    }
}

impl Default for NativeCodec {
    fn default() -> Self {
        NativeCodec::new(DEFAULT_MAX_FRAME)
    }
}

impl Decoder for NativeCodec {
    type Item = Message;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, ProtocolError> {
        match self.frames.decode(src)? {
            Some(frame) => Message::parse(frame).map(Some),
            None => Ok(None),
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Message>, ProtocolError> {
        match self.frames.decode_eof(src)? {
            Some(frame) => Message::parse(frame).map(Some),
            None => Ok(None),
        }
    }
}

impl Encoder<&Message> for NativeCodec {
    type Error = ProtocolError;

    fn encode(&mut self, item: &Message, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        item.encode_frame(self.frames.max_frame(), dst)
    }
}

impl Encoder<Message> for NativeCodec {
    type Error = ProtocolError;

    fn encode(&mut self, item: Message, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        item.encode_frame(self.frames.max_frame(), dst)
    }
}

#[cfg(test)]
mod tests;
