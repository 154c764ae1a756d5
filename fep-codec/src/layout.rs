//! Layout metadata: the ordered, flattened field list of a telegram (its 전문설계서).
//!
//! The derive builds a [`Layout`] once per type (`T::layout()`); the dynamic codec builds one
//! from a TOML spec. Both describe fields the same way, so the two can be compared field by
//! field and the dynamic codec can decode anything the derive can.

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

use crate::charset::Charset;
use crate::field::{FieldFormat, Sign, ValueKind};

/// The ordered fields of a telegram, nested structs flattened into dotted paths.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Layout {
    name: String,
    fields: Vec<FieldLayout>,
    len: Option<usize>,
}

impl Layout {
    /// Starts a layout for the telegram type `name`.
    pub fn builder(name: &str) -> LayoutBuilder {
        LayoutBuilder {
            layout: Layout {
                name: name.to_owned(),
                fields: Vec::new(),
                len: None,
            },
            offset: Some(0),
        }
    }

    /// The telegram type's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Total size in bytes when every field has a fixed width; `None` with repeat groups or `rest`.
    pub fn len(&self) -> Option<usize> {
        self.len
    }

    /// True when the layout has no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The fields in wire order (leaves and repeat groups; nested structs are flattened).
    pub fn fields(&self) -> &[FieldLayout] {
        &self.fields
    }

    /// The field with this dotted path (e.g. `"header.msg_no"`).
    pub fn field(&self, path: &str) -> Option<&FieldLayout> {
        self.fields.iter().find(|f| f.path == path)
    }
}

/// What a field holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum FieldKind {
    /// AN text (`String`).
    Text,
    /// N digits kept as text (`numeric`).
    NumericText,
    /// N digits as an unsigned integer.
    UInt,
    /// N digits with a sign byte as a signed integer.
    Int,
    /// Raw bytes, no charset.
    Raw,
    /// A repeat group: `count_field` elements of `element`, at most `max`.
    Group {
        /// Path of the earlier field holding the element count.
        count_field: String,
        /// The most elements accepted.
        max: usize,
        /// The element's layout, offsets relative to the element's start.
        element: Box<Layout>,
    },
}

/// How an `auto_len` field is filled on encode (and checked on decode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum AutoLen {
    /// The total length of the struct the field is declared in (for a field of the message
    /// struct itself, the telegram).
    Total,
    /// The bytes after this field, to the end of the struct it is declared in.
    Rest,
    /// The length of the whole (outermost) telegram, whatever struct the field sits in — e.g.
    /// a LENGTH field inside a nested 공통부 that counts the whole telegram, itself included.
    Telegram,
}

/// One field of a [`Layout`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct FieldLayout {
    /// Dotted path, e.g. `"checks[2].no"`.
    pub path: String,
    /// The field's own name (last path segment, without index).
    pub name: String,
    /// Human label, e.g. `"전문번호"`.
    pub label: Option<String>,
    /// Absolute byte offset; `None` after a variable-length part.
    pub offset: Option<usize>,
    /// Width in bytes; `None` for `rest` fields and repeat groups.
    pub len: Option<usize>,
    /// What the field holds.
    pub kind: FieldKind,
    /// Charset of text fields.
    pub charset: Option<Charset>,
    /// Sensitive: masked in dumps, logs and CLI output.
    pub mask: bool,
    /// Nesting depth (0 for a top-level field).
    pub depth: usize,
    /// All spaces is a valid value (`Option<_>`).
    pub optional: bool,
    /// An all-spaces N field decodes as zero.
    pub blank_zero: bool,
    /// Full-width mapping of ASCII.
    pub fullwidth: bool,
    /// Over-long text is cut at a character boundary.
    pub truncate: bool,
    /// Sign position of signed fields.
    pub sign: Sign,
    /// Takes whatever bytes remain (last field only).
    pub rest: bool,
    /// Filled with a length on encode.
    pub auto_len: Option<AutoLen>,
    /// An `auto_len` mismatch on decode is accepted.
    pub lenient: bool,
    /// Tolerant N field: spaces in place of leading zeros (or a blank field) accepted on decode.
    pub tolerant: bool,
    /// Tolerant trailing filler (last field): the telegram may end early inside it or run long
    /// after it in spaces; encode writes the full width.
    pub filler: bool,
}

impl FieldLayout {
    /// A scalar field with defaults (no flags) at an unknown offset; the builder places it.
    pub fn scalar(name: &str, kind: FieldKind, len: usize) -> Self {
        Self {
            path: name.to_owned(),
            name: name.to_owned(),
            label: None,
            offset: None,
            len: Some(len),
            kind,
            charset: None,
            mask: false,
            depth: 0,
            optional: false,
            blank_zero: false,
            fullwidth: false,
            truncate: false,
            sign: Sign::None,
            rest: false,
            auto_len: None,
            lenient: false,
            tolerant: false,
            filler: false,
        }
    }

    /// The scalar field described by a derive's `FieldFormat` and the Rust value's kind.
    pub fn from_format(format: &FieldFormat, kind: ValueKind, rest: bool) -> Self {
        let kind = match kind {
            ValueKind::Text if format.numeric => FieldKind::NumericText,
            ValueKind::Text => FieldKind::Text,
            ValueKind::UInt => FieldKind::UInt,
            ValueKind::Int => FieldKind::Int,
            ValueKind::Raw => FieldKind::Raw,
        };
        let charset = matches!(kind, FieldKind::Text).then_some(format.charset);
        let mut field = Self::scalar(format.name, kind, format.len);
        field.len = (!rest).then_some(format.len);
        field.charset = charset;
        field.fullwidth = format.fullwidth;
        field.truncate = format.truncate;
        field.sign = format.sign;
        field.blank_zero = format.blank_zero;
        field.tolerant = format.tolerant;
        field.rest = rest;
        field
    }

    /// The scalar format of this field, for the shared field codecs.
    pub fn format(&self) -> FieldFormat {
        FieldFormat {
            name: "",
            len: self.len.unwrap_or(0),
            charset: self.charset.unwrap_or_default(),
            numeric: self.kind == FieldKind::NumericText,
            fullwidth: self.fullwidth,
            truncate: self.truncate,
            sign: self.sign,
            blank_zero: self.blank_zero,
            tolerant: self.tolerant,
        }
    }

    /// Sets the label.
    pub fn with_label(mut self, label: Option<&str>) -> Self {
        self.label = label.map(str::to_owned);
        self
    }

    /// Sets the mask flag.
    pub fn with_mask(mut self, mask: bool) -> Self {
        self.mask = mask;
        self
    }

    /// Sets the optional (blank ↔ None) flag.
    pub fn with_optional(mut self, optional: bool) -> Self {
        self.optional = optional;
        self
    }

    /// Sets the tolerant-trailing-filler flag.
    pub fn with_filler(mut self, filler: bool) -> Self {
        self.filler = filler;
        self
    }

    /// Sets `auto_len` and `lenient`.
    pub fn with_auto_len(mut self, auto_len: Option<AutoLen>, lenient: bool) -> Self {
        self.auto_len = auto_len;
        self.lenient = lenient;
        self
    }
}

/// Builds a [`Layout`] field by field, tracking the running offset.
#[derive(Debug)]
pub struct LayoutBuilder {
    layout: Layout,
    offset: Option<usize>,
}

impl LayoutBuilder {
    /// Appends a scalar field (leaf) at the running offset.
    pub fn field(&mut self, mut field: FieldLayout) -> &mut Self {
        field.offset = self.offset;
        self.offset = match (self.offset, field.len) {
            (Some(o), Some(l)) if !field.rest => Some(o + l),
            _ => None,
        };
        self.layout.fields.push(field);
        self
    }

    /// Appends a nested struct's fields under `name` (and `index` for array elements).
    pub fn nested(&mut self, name: &str, index: Option<usize>, inner: &Layout) -> &mut Self {
        let prefix = match index {
            Some(i) => format!("{name}[{i}]"),
            None => name.to_owned(),
        };
        for f in &inner.fields {
            let mut f = f.clone();
            f.path = format!("{prefix}.{}", f.path);
            f.depth += 1;
            f.offset = match (self.offset, f.offset) {
                (Some(base), Some(rel)) => Some(base + rel),
                _ => None,
            };
            if let FieldKind::Group { count_field, .. } = &mut f.kind {
                *count_field = format!("{prefix}.{count_field}");
            }
            self.layout.fields.push(f);
        }
        self.offset = match (self.offset, inner.len) {
            (Some(o), Some(l)) => Some(o + l),
            _ => None,
        };
        self
    }

    /// Appends a repeat group of `element`s whose count is the earlier field `count_field`.
    pub fn group(
        &mut self,
        name: &str,
        label: Option<&str>,
        count_field: &str,
        max: usize,
        element: &Layout,
    ) -> &mut Self {
        let mut field = FieldLayout::scalar(
            name,
            FieldKind::Group {
                count_field: count_field.to_owned(),
                max,
                element: Box::new(element.clone()),
            },
            0,
        )
        .with_label(label);
        field.len = None;
        self.field(field)
    }

    /// Finishes the layout; its length is the running offset if every field was fixed.
    pub fn build(&mut self) -> Layout {
        let mut layout = self.layout.clone();
        layout.len = self.offset;
        layout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(name: &str, len: usize) -> FieldLayout {
        FieldLayout::scalar(name, FieldKind::Text, len)
    }

    #[test]
    fn offsets_accumulate_and_nesting_prefixes_paths() {
        let inner = Layout::builder("Check")
            .field(leaf("no", 4))
            .field(leaf("kind", 2))
            .build();
        let outer = Layout::builder("T")
            .field(leaf("a", 3))
            .nested("checks", Some(1), &inner)
            .field(leaf("z", 1))
            .build();
        let paths: Vec<_> = outer
            .fields()
            .iter()
            .map(|f| (f.path.as_str(), f.offset, f.depth))
            .collect();
        assert_eq!(
            paths,
            [
                ("a", Some(0), 0),
                ("checks[1].no", Some(3), 1),
                ("checks[1].kind", Some(7), 1),
                ("z", Some(9), 0)
            ]
        );
        assert_eq!(outer.len(), Some(10));
        assert_eq!(outer.field("checks[1].kind").map(|f| f.len), Some(Some(2)));
    }

    #[test]
    fn variable_parts_end_fixed_offsets() {
        let item = Layout::builder("Item").field(leaf("x", 2)).build();
        let l = Layout::builder("T")
            .field(FieldLayout::scalar("n", FieldKind::UInt, 2))
            .group("items", None, "n", 9, &item)
            .field(leaf("after", 1))
            .build();
        assert_eq!(l.field("after").and_then(|f| f.offset), None);
        assert_eq!(l.len(), None);
    }
}
