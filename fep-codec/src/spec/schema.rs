//! The TOML document as written: serde structs with spans, validated by `family.rs`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Doc {
    pub family: Spanned<FamilyDef>,
    #[serde(default)]
    pub framing: Option<Spanned<FramingDef>>,
    #[serde(default)]
    pub tolerance: Option<Spanned<ToleranceDef>>,
    #[serde(default)]
    pub dispatch: Option<Spanned<DispatchDef>>,
    #[serde(default)]
    pub structs: Vec<Spanned<StructDef>>,
    #[serde(default)]
    pub messages: Vec<Spanned<MessageDef>>,
    #[serde(default)]
    pub correlation: Option<Spanned<CorrelationDef>>,
    #[serde(default)]
    pub sequence: Option<Spanned<SequenceDef>>,
    #[serde(default)]
    pub date: Option<Spanned<DateDef>>,
    #[serde(default)]
    pub response_code: Option<Spanned<ResponseCodeDef>>,
    #[serde(default)]
    pub inquiry: Vec<Spanned<InquiryDef>>,
    #[serde(default)]
    pub notices: Vec<Spanned<NoticeDef>>,
    #[serde(default)]
    pub heartbeat: Option<Spanned<HeartbeatDef>>,
    /// Session rules: who opens the business day, the commands an institution starts.
    #[serde(default)]
    pub session: Option<Spanned<SessionDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FamilyDef {
    pub name: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub charset: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FramingDef {
    #[serde(default)]
    pub length: Option<Spanned<String>>,
    #[serde(default)]
    pub width: Option<usize>,
    #[serde(default)]
    pub includes_self: Option<bool>,
    /// With `length = "field"`: the telegram field holding the length (a message path).
    #[serde(default)]
    pub field: Option<Spanned<String>>,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub max: Option<usize>,
    #[serde(default)]
    pub size: Option<usize>,
}

/// `[tolerance]`: family-wide opt-in tolerances.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ToleranceDef {
    /// Every N field accepts spaces for leading zeros (and blank as None/0).
    #[serde(default)]
    pub numbers: bool,
    /// The last AN field of every message struct is a tolerant trailing filler.
    #[serde(default)]
    pub filler: bool,
}

/// `header = "Name"` or `header = ["Flavour1", "Flavour2"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn names(&self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s.clone()],
            Self::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DispatchDef {
    pub header: Spanned<OneOrMany>,
    pub keys: Vec<Spanned<String>>,
    #[serde(default, rename = "enum")]
    pub enum_name: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StructDef {
    pub name: Spanned<String>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub doc: Option<String>,
    #[serde(default)]
    pub charset: Option<Spanned<String>>,
    #[serde(default)]
    pub len: Option<Spanned<usize>>,
    /// Every N field of the struct is tolerant.
    #[serde(default)]
    pub tolerant: bool,
    #[serde(default)]
    pub fields: Vec<Spanned<FieldDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FieldDef {
    pub name: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default, rename = "type")]
    pub ty: Option<String>,
    #[serde(default)]
    pub len: Option<usize>,
    #[serde(default)]
    pub offset: Option<usize>,
    #[serde(default)]
    pub charset: Option<String>,
    #[serde(default)]
    pub mask: bool,
    #[serde(default)]
    pub optional: bool,
    #[serde(default)]
    pub text: bool,
    #[serde(default)]
    pub sign: Option<String>,
    #[serde(default)]
    pub unsigned: bool,
    #[serde(default)]
    pub blank: Option<String>,
    #[serde(default)]
    pub fullwidth: bool,
    #[serde(default)]
    pub truncate: bool,
    #[serde(default)]
    pub rest: bool,
    #[serde(default)]
    pub auto_len: Option<String>,
    #[serde(default)]
    pub lenient: bool,
    #[serde(default)]
    pub tolerant: bool,
    #[serde(default)]
    pub filler: bool,
    #[serde(default, rename = "struct")]
    pub struct_name: Option<String>,
    #[serde(default)]
    pub repeat: Option<usize>,
    #[serde(default)]
    pub count: Option<String>,
    #[serde(default)]
    pub max: Option<usize>,
    #[serde(default)]
    pub rust: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub default: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MessageDef {
    pub key: Vec<String>,
    /// Header field → value: tells apart messages that share a key (e.g. a direction flag).
    #[serde(default)]
    pub when: BTreeMap<String, String>,
    pub name: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(rename = "struct")]
    pub struct_name: String,
    #[serde(default)]
    pub response: Option<Vec<String>>,
    #[serde(default)]
    pub doc: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CorrelationDef {
    pub fields: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SequenceDef {
    pub field: Spanned<String>,
    #[serde(default = "one")]
    pub min: u64,
    pub max: u64,
    #[serde(default)]
    pub reset: Option<String>,
    #[serde(default)]
    pub unique_with: Vec<Spanned<String>>,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DateDef {
    pub field: Spanned<String>,
    #[serde(default)]
    pub format: Option<Spanned<String>>,
    #[serde(default)]
    pub time_field: Option<Spanned<String>>,
    #[serde(default)]
    pub time_format: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResponseCodeDef {
    pub field: Spanned<String>,
    pub success: Vec<String>,
    #[serde(default)]
    pub unknown: Vec<String>,
    /// Codes meaning "still being processed" (처리중): unknown for now, asked again.
    #[serde(default)]
    pub in_progress: Vec<String>,
    /// Codes listed as refusals (any code not listed elsewhere is a refusal too).
    #[serde(default)]
    pub declined: Vec<String>,
    #[serde(default)]
    pub meanings: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InquiryDef {
    #[serde(rename = "for")]
    pub for_keys: Vec<Vec<String>>,
    pub key: Vec<String>,
    pub key_field: Spanned<String>,
    #[serde(default)]
    pub copy: BTreeMap<String, String>,
    #[serde(default)]
    pub delay_secs: Option<u64>,
    #[serde(default)]
    pub interval_secs: Option<u64>,
    #[serde(default)]
    pub result_field: Option<Spanned<String>>,
    #[serde(default)]
    pub not_found: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoticeDef {
    pub key: Vec<String>,
    /// Header values telling this notice apart from a message sharing its key.
    #[serde(default)]
    pub when: BTreeMap<String, String>,
    /// Fields whose values, with the key, identify a resent notice.
    #[serde(default)]
    pub dedup: Vec<String>,
    pub ack: Vec<String>,
    #[serde(default)]
    pub copy: Option<CopyDef>,
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    #[serde(default)]
    pub after: Option<String>,
}

/// `copy = "all"` or `copy = ["header.reserved1", ...]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum CopyDef {
    All(String),
    Fields(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HeartbeatDef {
    #[serde(rename = "struct")]
    pub struct_name: Spanned<String>,
    #[serde(default)]
    pub interval_secs: Option<u64>,
    pub request: BTreeMap<String, String>,
    pub response: BTreeMap<String, String>,
    #[serde(default)]
    pub echo: Vec<String>,
    #[serde(default)]
    pub stamp_field: Option<String>,
    #[serde(default)]
    pub stamp_format: Option<Spanned<String>>,
}

/// `[session]`: how a business day is opened and closed, and what the institution may start.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionDef {
    /// `"gateway"`, `"institution"` or `"none"`.
    #[serde(default)]
    pub opened_by: Option<Spanned<String>>,
    #[serde(default)]
    pub sign_on: Option<Vec<String>>,
    #[serde(default)]
    pub sign_off: Option<Vec<String>>,
    #[serde(default)]
    pub sign_on_when: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub sign_off_when: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub test_call: Option<Spanned<TestCallDef>>,
    #[serde(default)]
    pub money_moving: Option<Vec<Vec<String>>>,
    #[serde(default)]
    pub stamp: BTreeMap<String, String>,
    #[serde(default)]
    pub commands: Vec<Spanned<CommandDef>>,
}

/// `[session] test_call`: an ordinary telegram the gateway sends on an idle session.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestCallDef {
    pub key: Vec<String>,
    #[serde(default)]
    pub idle_secs: Option<u64>,
}

/// `[[session.commands]]`: a session telegram the institution starts and the gateway answers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommandDef {
    pub key: Vec<String>,
    #[serde(default)]
    pub when: BTreeMap<String, String>,
    pub ack: Vec<String>,
    #[serde(default)]
    pub copy: Option<CopyDef>,
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    #[serde(default)]
    pub effect: Option<Spanned<String>>,
}
