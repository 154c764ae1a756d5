//! Telegram families as data: a TOML spec describes the same layouts as `#[derive(Telegram)]`
//! structs, so the gateway and the CLI can handle a family without recompiling.
//!
//! The schema is documented for bank engineers in `specs/README.md`. In short:
//!
//! ```
//! use fep_codec::spec::Family;
//!
//! let family = Family::from_toml_str(r#"
//! [family]
//! name = "demo"
//! charset = "euc-kr"
//!
//! [framing]
//! length = "ascii"        # 4-digit ASCII length prefix, excluding itself
//! width = 4
//!
//! [dispatch]
//! header = "Header"
//! keys = ["msg_type"]
//!
//! [[structs]]
//! name = "Header"
//! len = 6
//! fields = [
//!   { name = "msg_type", label = "전문구분", type = "AN", len = 4, offset = 0 },
//!   { name = "count",    label = "건수",     type = "N",  len = 2, offset = 4 },
//! ]
//!
//! [[structs]]
//! name = "Ping"
//! fields = [
//!   { name = "header", struct = "Header" },
//!   { name = "memo", label = "적요", type = "AN", len = 4, offset = 6, optional = true },
//! ]
//!
//! [[messages]]
//! key = ["0800"]
//! name = "Ping"
//! struct = "Ping"
//! "#)?;
//!
//! let spec = family.identify(b"080001    ")?;
//! assert_eq!((spec.name.as_str(), spec.layout.len()), ("Ping", Some(10)));
//! let record = spec.layout.decode_record(b"080001    ")?;
//! assert_eq!(record.get("header.count"), Some(&fep_codec::Value::UInt(1)));
//! assert_eq!(record.get("memo"), Some(&fep_codec::Value::Null));
//! assert_eq!(family.framing().frame(b"080001    ")?, b"0010080001    ");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`Family`] loads and validates a spec ([`Family::from_toml_str`], [`Family::load`]),
//!   builds each struct's [`Layout`](crate::Layout) exactly as the derive would (so the two
//!   compare equal with `==`), identifies frames by their header's key fields and exposes the
//!   family's metadata (framing, correlation, sequence numbers, response codes, result inquiry,
//!   unsolicited notices, heartbeat).
//! - [`decode`] renders a telegram as a table or JSON (the `fep decode` command).
//! - [`codegen`] turns a family into `#[derive(Telegram)]` Rust source (`fep codegen`).
//! - [`spec_doc`] renders the family as a Markdown 전문설계서 (`fep spec doc`).

mod codegen;
mod decode;
mod doc;
mod error;
mod family;
mod schema;
#[cfg(test)]
mod tests;

pub use codegen::codegen;
pub use decode::{
    decode, decode_input, field_json, json_type, DecodeOptions, Decoded, JsonType, OutputFormat,
    ToolError, JSON_NUMBER_DIGITS,
};
pub use doc::spec_doc;
pub use error::{Location, SpecError};
pub use family::{
    CodeOutcome, CommandEffect, CommandSpec, DateSpec, Element, Family, FieldShape, FieldSpec,
    Framing, HeartbeatSpec, InquirySpec, KeyField, LengthPrefix, MessageSpec, NoticeSpec, Opener,
    RecordError, ResponseCodeSpec, SequenceSpec, SessionEvent, SessionSpec, StructSpec,
    TestCallSpec,
};
