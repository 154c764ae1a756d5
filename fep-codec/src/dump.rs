//! Human-readable field tables with sensitive fields masked.

use std::fmt::Write as _;

use crate::dynamic::{Record, Value};
use crate::error::DecodeError;
use crate::layout::{FieldKind, Layout};

/// Masks a sensitive value: keeps a short head and tail so operators can tell values apart,
/// never the whole value. Short values are masked completely.
pub fn mask_value(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    if n < 8 {
        return "*".repeat(n);
    }
    let (head, tail) = (3, 2);
    chars[..head]
        .iter()
        .chain(std::iter::repeat_n(&'*', n - head - tail))
        .chain(&chars[n - tail..])
        .collect()
}

/// Renders `bytes` decoded by `layout` as a table: offset, len, path, label, value.
///
/// Fields marked `mask` show a masked value unless `unmask` is set.
pub fn dump(layout: &Layout, bytes: &[u8], unmask: bool) -> Result<String, DecodeError> {
    let record = layout.decode_record(bytes)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>6} {:>4}  {:<28} {:<20} value",
        "offset", "len", "path", "label"
    );
    let mut pos = 0;
    write_rows(&mut out, layout, &record, "", &mut pos, unmask);
    Ok(out)
}

fn write_rows(
    out: &mut String,
    layout: &Layout,
    record: &Record,
    prefix: &str,
    pos: &mut usize,
    unmask: bool,
) {
    for f in layout.fields() {
        let value = record.get(&f.path);
        if let (FieldKind::Group { element, .. }, Some(Value::Group(items))) = (&f.kind, value) {
            for (i, item) in items.iter().enumerate() {
                write_rows(
                    out,
                    element,
                    item,
                    &format!("{prefix}{}[{i}].", f.path),
                    pos,
                    unmask,
                );
            }
            continue;
        }
        let len = match (f.len, value) {
            (Some(len), _) => len,
            // `rest`: whatever was left; its length is the encoded value's.
            (None, _) => 0,
        };
        let shown = match value {
            Some(Value::Text(s)) if f.mask && !unmask => mask_value(s),
            Some(Value::UInt(v)) if f.mask && !unmask => mask_value(&v.to_string()),
            Some(Value::Text(s)) => format!("{s:?}"),
            Some(Value::Null) | None => "(blank)".to_owned(),
            Some(Value::UInt(v)) => v.to_string(),
            Some(Value::Int(v)) => v.to_string(),
            Some(Value::Raw(b)) => b.iter().map(|b| format!("{b:02x}")).collect(),
            Some(Value::Group(_)) => String::new(),
        };
        let len_shown = if f.rest {
            "*".to_owned()
        } else {
            len.to_string()
        };
        let _ = writeln!(
            out,
            "{:>6} {:>4}  {:<28} {:<20} {}",
            pos,
            len_shown,
            format!("{prefix}{}", f.path),
            f.label.as_deref().unwrap_or(""),
            shown
        );
        *pos += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::FieldLayout;

    #[test]
    fn masks_keep_head_and_tail_only() {
        assert_eq!(mask_value("110123456789"), "110*******89");
        assert_eq!(mask_value("1234"), "****");
        assert_ne!(mask_value("12345678"), "12345678");
    }

    #[test]
    fn dump_masks_sensitive_fields() {
        let l = Layout::builder("T")
            .field(
                FieldLayout::scalar("account", FieldKind::Text, 12)
                    .with_mask(true)
                    .with_label(Some("계좌번호")),
            )
            .field(FieldLayout::scalar("amount", FieldKind::UInt, 5))
            .build();
        let table = dump(&l, b"11012345678900042", false).unwrap();
        assert!(table.contains("110*******89"), "{table}");
        assert!(!table.contains("110123456789"), "{table}");
        assert!(table.contains("계좌번호"), "{table}");
        assert!(table.contains("    12    5  amount"), "{table}");
        let clear = dump(&l, b"11012345678900042", true).unwrap();
        assert!(clear.contains("\"110123456789\""), "{clear}");
    }
}
