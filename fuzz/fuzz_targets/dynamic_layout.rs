//! The dynamic (layout-driven) codec on arbitrary layouts and arbitrary bytes or records.
//!
//! A `Layout` is built with `Layout::builder` + `FieldLayout` from fuzzer input, following the
//! rules the TOML spec loader enforces (so every layout here is one a `specs/*.toml` could
//! describe): kinds Text / NumericText / UInt / Int / Raw, widths 1..=40, `optional`,
//! `sign` (N fields; signed fields always have one and are ≥ 2 bytes), charsets and
//! `fullwidth`/`truncate` (AN fields), `blank = "zero"` (N numbers, not with `optional`),
//! `auto_len` (`total`/`rest`/`telegram`, +`lenient`) on N numbers, `tolerant` N fields,
//! nested structs, repeat groups whose count is an earlier N field of the same struct (with a
//! max), and a `rest` AN/B field last — or a tolerant trailing `filler` AN field last.
//!
//! Two modes, chosen by the input:
//! - **bytes**: `decode_record(bytes)` never panics; when it is `Ok(r)`, `encode_record(r)`
//!   succeeds (unless a `fullwidth` field re-widens narrow text) and gives bytes that decode
//!   to `r` again — exactly `r` when no field normalises on encode (`fullwidth`, `lenient` or
//!   `optional` `auto_len` fields do: the encoder writes the real length and full-width text);
//! - **record**: a record built from fuzzer values; when `encode_record` accepts it, the bytes
//!   decode, and re-encoding the decoded record gives the same bytes.
//!
//! In both modes encode∘decode is idempotent on the encoder's output, and a layout with a
//! fixed `len()` only ever encodes exactly that many bytes and decodes exactly that many
//! unless it ends in a tolerant filler (which accepts a short or blank-padded telegram).
//! Tolerant N fields and fillers normalise: the decoded record re-encodes canonically and
//! decodes back to itself (but for lengths, which say how long the telegram really was).

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use fep_codec::{AutoLen, Charset, FieldKind, FieldLayout, Layout, Record, Sign, Value};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum Kind {
    Text,
    NumericText,
    UInt,
    Int,
    Raw,
}

#[derive(Arbitrary, Debug)]
struct Scalar {
    kind: Kind,
    len: u8,
    optional: bool,
    sign: u8,
    charset: u8,
    fullwidth: bool,
    truncate: bool,
    blank_zero: bool,
    auto_len: u8,
    lenient: bool,
    mask: bool,
    tolerant: bool,
}

#[derive(Arbitrary, Debug)]
enum Item {
    Scalar(Scalar),
    Group {
        /// Pick among the earlier N fields of the struct; `None` (or none there) adds one.
        count: Option<u8>,
        count_len: u8,
        max: u8,
        element: Vec<Item>,
    },
    Nested {
        index: Option<u8>,
        inner: Vec<Item>,
    },
}

#[derive(Arbitrary, Debug)]
enum Rest {
    Text {
        charset: u8,
    },
    Raw,
    /// A fixed-width AN field, tolerant trailing filler.
    Filler {
        len: u8,
    },
}

#[derive(Arbitrary, Debug)]
struct Spec {
    items: Vec<Item>,
    rest: Option<Rest>,
    charset: u8,
}

const MAX_DEPTH: usize = 3;
const MAX_FIELDS: usize = 48;

fn charset(c: u8) -> Charset {
    match c % 3 {
        0 => Charset::EucKr,
        1 => Charset::Cp949,
        _ => Charset::Ascii,
    }
}

/// What the layout contains that makes encode normalise a decoded record.
#[derive(Default)]
struct Traits {
    fullwidth: bool,
    lossy_auto_len: bool,
    /// Names of the `lenient` or `optional` auto_len fields: decode accepts any value there,
    /// so the telegram's real length may not fit the field when the record is encoded again.
    unchecked_auto_len: Vec<String>,
    /// Names of every auto_len field (a tolerant filler changes the length on re-encode).
    auto_len: Vec<String>,
    /// The layout ends in a tolerant filler.
    filler: bool,
}

struct Builder {
    next: usize,
    traits: Traits,
}

impl Builder {
    fn name(&mut self, p: &str) -> String {
        self.next += 1;
        format!("{p}{}", self.next)
    }

    fn scalar(&mut self, s: &Scalar, default_cs: Charset, in_element: bool) -> FieldLayout {
        let kind = match s.kind {
            Kind::Text => FieldKind::Text,
            Kind::NumericText => FieldKind::NumericText,
            Kind::UInt => FieldKind::UInt,
            Kind::Int => FieldKind::Int,
            Kind::Raw => FieldKind::Raw,
        };
        let mut len = usize::from(s.len % 40) + 1;
        let number = matches!(s.kind, Kind::UInt | Kind::Int);
        let sign = match (s.kind, s.sign % 3) {
            (Kind::Int, 2) => Sign::Trailing,
            (Kind::Int, _) => Sign::Leading,
            (Kind::UInt, 1) => Sign::Leading,
            (Kind::UInt, 2) => Sign::Trailing,
            _ => Sign::None,
        };
        if sign != Sign::None {
            len = len.max(2);
        }
        let name = self.name("f");
        let mut f = FieldLayout::scalar(&name, kind, len)
            .with_optional(s.optional)
            .with_mask(s.mask);
        f.sign = sign;
        f.blank_zero = number && s.blank_zero && !s.optional;
        f.tolerant = s.tolerant && matches!(s.kind, Kind::UInt | Kind::Int | Kind::NumericText);
        if s.kind == Kind::Text {
            let cs = if s.charset % 4 == 3 {
                default_cs
            } else {
                charset(s.charset)
            };
            f.charset = Some(cs);
            f.fullwidth = s.fullwidth && cs != Charset::Ascii;
            f.truncate = s.truncate;
            self.traits.fullwidth |= f.fullwidth;
        }
        if number && !in_element && s.auto_len % 4 != 0 {
            let mode = match s.auto_len % 4 {
                1 => AutoLen::Total,
                2 => AutoLen::Rest,
                _ => AutoLen::Telegram,
            };
            f = f.with_auto_len(Some(mode), s.lenient);
            self.traits.auto_len.push(name.clone());
            self.traits.lossy_auto_len |= s.lenient || s.optional;
            if s.lenient || s.optional {
                self.traits.unchecked_auto_len.push(name.clone());
            }
        }
        f
    }

    /// Builds a struct's layout from `items`; `in_element`: a repeat group's scalar element.
    fn layout(
        &mut self,
        name: &str,
        items: &[Item],
        depth: usize,
        cs: Charset,
        rest: Option<&Rest>,
    ) -> Layout {
        let mut b = Layout::builder(name);
        // Earlier N fields of this struct that may serve as a count.
        let mut counts: Vec<String> = Vec::new();
        for item in items {
            if self.next >= MAX_FIELDS {
                break;
            }
            match item {
                Item::Scalar(s) => {
                    let f = self.scalar(s, cs, false);
                    if matches!(f.kind, FieldKind::UInt | FieldKind::Int) && f.auto_len.is_none() {
                        counts.push(f.path.clone());
                    }
                    b.field(f);
                }
                Item::Group {
                    count,
                    count_len,
                    max,
                    element,
                } if depth < MAX_DEPTH => {
                    let count_field = match count {
                        Some(i) if !counts.is_empty() => {
                            counts[usize::from(*i) % counts.len()].clone()
                        }
                        _ => {
                            let n = self.name("n");
                            let width = usize::from(count_len % 3) + 1;
                            b.field(FieldLayout::scalar(&n, FieldKind::UInt, width));
                            counts.push(n.clone());
                            n
                        }
                    };
                    let gname = self.name("g");
                    let elem = match element.as_slice() {
                        // A scalar element is a one-field layout named after the group, as
                        // the spec loader builds it (no auto_len there).
                        [Item::Scalar(s)] => {
                            let mut f = self.scalar(s, cs, true);
                            f.path.clone_from(&gname);
                            f.name.clone_from(&gname);
                            Layout::builder(&gname).field(f).build()
                        }
                        [] => Layout::builder(&gname)
                            .field(FieldLayout::scalar("x", FieldKind::Text, 1))
                            .build(),
                        items => self.layout(&gname, items, depth + 1, cs, None),
                    };
                    b.group(&gname, None, &count_field, usize::from(max % 6), &elem);
                }
                Item::Nested { index, inner } if depth < MAX_DEPTH && !inner.is_empty() => {
                    let nname = self.name("s");
                    let inner = self.layout(&nname, inner, depth + 1, cs, None);
                    b.nested(&nname, index.map(|i| usize::from(i % 4)), &inner);
                }
                _ => {}
            }
        }
        if let Some(rest) = rest {
            let name = self.name("r");
            let f = match rest {
                Rest::Text { charset: c } => {
                    let mut f = FieldLayout::scalar(&name, FieldKind::Text, 0);
                    f.charset = Some(charset(*c));
                    f.rest = true;
                    f.len = None;
                    f
                }
                Rest::Raw => {
                    let mut f = FieldLayout::scalar(&name, FieldKind::Raw, 0);
                    f.rest = true;
                    f.len = None;
                    f
                }
                Rest::Filler { len } => {
                    self.traits.filler = true;
                    let mut f =
                        FieldLayout::scalar(&name, FieldKind::Text, usize::from(len % 16) + 1)
                            .with_filler(true);
                    f.charset = Some(cs);
                    f
                }
            };
            b.field(f);
        }
        b.build()
    }
}

/// Characters for generated text: ASCII, KS X 1001 Hangul, a UHC-only syllable, a KS X 1001
/// compatibility ideograph, compatibility and conjoining (NFD) jamo, full-width forms, and
/// characters no charset here holds.
const ALPHABET: &[char] = &[
    'A', 'z', '0', '9', ' ', '~', '가', '한', '똠', '\u{F900}', '豈', 'ㄱ', '\u{1112}', '\u{1161}',
    '\u{11AB}', '\u{3000}', 'Ａ', '～', '＃', 'é', '😀', '\t', '·', '①',
];

fn gen_text(u: &mut Unstructured<'_>, max_chars: usize) -> arbitrary::Result<String> {
    let n = u.int_in_range(0..=max_chars)?;
    (0..n).map(|_| u.choose(ALPHABET).copied()).collect()
}

fn gen_value(u: &mut Unstructured<'_>, f: &FieldLayout) -> arbitrary::Result<Value> {
    let width = f.len.unwrap_or(8);
    Ok(match f.kind {
        FieldKind::Text => Value::Text(gen_text(u, width + 2)?),
        FieldKind::NumericText => {
            if u.ratio(1, 16)? {
                Value::Text(gen_text(u, width)?)
            } else {
                let n = u.int_in_range(0..=width)?;
                let s = (0..n)
                    .map(|_| u.int_in_range(b'0'..=b'9').map(char::from))
                    .collect::<arbitrary::Result<String>>()?;
                Value::Text(s)
            }
        }
        FieldKind::UInt => match u.int_in_range(0u8..=3)? {
            0 => Value::UInt(u128::from(u.arbitrary::<u8>()?)),
            1 => Value::UInt(u.arbitrary()?),
            2 => Value::Text(u.int_in_range(0u32..=999)?.to_string()),
            _ => Value::UInt(u128::from(u.arbitrary::<u32>()?)),
        },
        FieldKind::Int => match u.int_in_range(0u8..=2)? {
            0 => Value::Int(i128::from(u.arbitrary::<i16>()?)),
            1 => Value::Int(u.arbitrary()?),
            _ => Value::Int(i128::from(u.arbitrary::<i64>()?)),
        },
        FieldKind::Raw => {
            let n = u.int_in_range(0..=width)?;
            Value::Raw(u.bytes(n)?.to_vec())
        }
        FieldKind::Group { .. } => Value::Null,
    })
}

/// A record for `layout` from fuzzer values; group counts agree with the items.
fn gen_record(u: &mut Unstructured<'_>, layout: &Layout) -> arbitrary::Result<Record> {
    let mut r = Record::new();
    for f in layout.fields() {
        if let FieldKind::Group {
            count_field,
            max,
            element,
        } = &f.kind
        {
            let n = u.int_in_range(0..=*max)?;
            let items = (0..n)
                .map(|_| gen_record(u, element))
                .collect::<arbitrary::Result<Vec<_>>>()?;
            let count_kind = layout.field(count_field).map(|c| c.kind.clone());
            let count = match count_kind {
                Some(FieldKind::Int) => Value::Int(n as i128),
                _ => Value::UInt(n as u128),
            };
            r.set(count_field, count);
            r.set(&f.path, Value::Group(items));
            continue;
        }
        match u.int_in_range(0u8..=15)? {
            // Missing: the encoder's default.
            0 => {}
            1 if f.optional => r.set(&f.path, Value::Null),
            _ => r.set(&f.path, gen_value(u, f)?),
        }
    }
    Ok(r)
}

/// The encoder's output must decode, and encode∘decode must reproduce it.
fn check_encoded(layout: &Layout, encoded: &[u8], what: &str) -> Record {
    if let Some(n) = layout.len() {
        assert_eq!(
            encoded.len(),
            n,
            "{what}: fixed layout encoded to another length"
        );
    }
    let decoded = layout.decode_record(encoded).unwrap_or_else(|e| {
        panic!(
            "{what}: the encoder's output does not decode: {e}\nbytes: {:?}",
            String::from_utf8_lossy(encoded)
        )
    });
    let again = layout
        .encode_record(&decoded)
        .unwrap_or_else(|e| panic!("{what}: decoded encoder output does not re-encode: {e}"));
    assert_eq!(again, encoded, "{what}: encode(decode(e)) != e");
    decoded
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(spec) = Spec::arbitrary(&mut u) else {
        return;
    };
    let Ok(record_mode) = u.arbitrary::<bool>() else {
        return;
    };
    let mut b = Builder {
        next: 0,
        traits: Traits::default(),
    };
    let layout = b.layout(
        "T",
        &spec.items,
        0,
        charset(spec.charset),
        spec.rest.as_ref(),
    );
    let traits = b.traits;

    if record_mode {
        let Ok(record) = gen_record(&mut u, &layout) else {
            return;
        };
        if let Ok(encoded) = layout.encode_record(&record) {
            check_encoded(&layout, &encoded, "record mode");
        }
        return;
    }

    let bytes = u.take_rest();
    let decoded = match layout.decode_record(bytes) {
        Ok(r) => r,
        Err(e) => {
            assert!(
                e.offset() <= bytes.len(),
                "error offset past the input: {e}"
            );
            let _ = e.to_string();
            assert!(fep_codec::dump(&layout, bytes, false).is_err());
            return;
        }
    };
    if let (Some(n), false) = (layout.len(), traits.filler) {
        assert_eq!(bytes.len(), n, "fixed layout decoded another length");
    }
    let _ = fep_codec::dump(&layout, bytes, false).expect("dump decodes what decode_record does");
    let encoded = match layout.encode_record(&decoded) {
        Ok(e) => e,
        Err(e) => {
            // Narrow text in a full-width field widens on encode and may no longer fit; an
            // unchecked length field may be too narrow for the length it must now hold.
            let field = e.path().rsplit('.').next().unwrap_or("");
            // A telegram short in its filler re-encodes longer: its length may not fit.
            let grew = traits.filler && traits.auto_len.iter().any(|n| n == field);
            assert!(
                traits.fullwidth || grew || traits.unchecked_auto_len.iter().any(|n| n == field),
                "a decoded record does not encode: {e}\nrecord: {decoded:?}"
            );
            return;
        }
    };
    let again = check_encoded(&layout, &encoded, "bytes mode");
    let length_changed = traits.filler && !traits.auto_len.is_empty();
    if !traits.fullwidth && !traits.lossy_auto_len && !length_changed {
        assert_eq!(again, decoded, "decode(encode(decode(x))) != decode(x)");
    }
});
