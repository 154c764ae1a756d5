//! `fep spec doc`: a family as a Markdown 전문설계서.

use std::fmt::Write as _;

use super::family::{
    CodeOutcome, Element, Family, FieldShape, FieldSpec, LengthPrefix, StructSpec,
};
use crate::charset::Charset;
use crate::field::Sign;
use crate::layout::{AutoLen, FieldKind, FieldLayout};

/// The family as Markdown: message catalogue, one table per struct (header first) listing
/// `# | Field | 한글명 | Type | Len | Offset | Notes` with absolute offsets, then framing,
/// correlation, sequence numbers, response codes, result inquiry, notices and heartbeat.
pub fn spec_doc(family: &Family) -> String {
    let mut out = String::new();
    let title = family.label().unwrap_or(family.name());
    let _ = writeln!(
        out,
        "# {} — 전문설계서 (`{}`)\n",
        cell(title),
        family.name()
    );
    if let Some(src) = family.source() {
        let _ = writeln!(out, "Source: {}\n", src.trim());
    }
    let _ = writeln!(
        out,
        "Offsets are 0-based byte offsets inside the telegram (framing excluded). Lengths are bytes. \
         Text charset: {} unless noted. AN = left-aligned, space padded; N = right-aligned, '0' padded ASCII digits.\n",
        family.charset()
    );
    framing(&mut out, family);

    if !family.messages().is_empty() {
        out.push_str(
            "## Messages\n\n| Key | Name | 한글명 | Struct | Response |\n|---|---|---|---|---|\n",
        );
        for m in family.messages() {
            let when: Vec<String> = m
                .when
                .iter()
                .map(|(f, v)| format!(" when `{}` = {v}", f.path))
                .collect();
            let _ = writeln!(
                out,
                "| {}{} | `{}` | {} | `{}` | {} |",
                m.key_str(),
                when.concat(),
                m.name,
                cell(m.label.as_deref().unwrap_or("")),
                m.struct_name,
                m.response.as_ref().map(|r| r.join("/")).unwrap_or_default()
            );
        }
        out.push('\n');
    }

    for s in family.structs() {
        struct_table(&mut out, family, s);
    }
    metadata(&mut out, family);
    out
}

fn cell(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn framing(out: &mut String, family: &Family) {
    let f = family.framing();
    let length = match f.length {
        LengthPrefix::None => "no length prefix".to_owned(),
        LengthPrefix::Field {
            offset,
            width,
            includes_self,
        } => format!(
            "no prefix: the telegram's own {width}-digit length field at offset {offset} ({})",
            if includes_self {
                "counting the whole telegram"
            } else {
                "counting the bytes after it"
            }
        ),
        LengthPrefix::Ascii {
            width,
            includes_self,
        } => format!(
            "{width}-byte ASCII decimal length, {} itself",
            if includes_self {
                "including"
            } else {
                "excluding"
            }
        ),
        LengthPrefix::Binary {
            width,
            includes_self,
        } => format!(
            "{width}-byte big-endian binary length, {} itself",
            if includes_self {
                "including"
            } else {
                "excluding"
            }
        ),
        LengthPrefix::Fixed { size } => format!("fixed {size}-byte frames"),
    };
    let _ = write!(out, "Framing: {length}");
    if !f.prefix.is_empty() {
        let _ = write!(
            out,
            ", after the fixed prefix `{}`",
            String::from_utf8_lossy(&f.prefix)
        );
    }
    if let Some(max) = f.max {
        let _ = write!(out, ", at most {max} bytes");
    }
    out.push_str(".\n\n");
    if !family.key_fields().is_empty() {
        let keys: Vec<String> = family
            .key_fields()
            .iter()
            .map(|k| format!("`{}` @{} ({} bytes)", k.path, k.offset, k.len))
            .collect();
        let _ = writeln!(out, "Message key (dispatch): {}.\n", keys.join(" + "));
    }
    if family.header_structs().len() > 1 {
        let flavours: Vec<String> = family
            .header_structs()
            .iter()
            .map(|h| format!("`{h}`"))
            .collect();
        let _ = writeln!(
            out,
            "Header flavours (each message starts with one): {}.\n",
            flavours.join(", ")
        );
    }
}

fn type_name(lay: &FieldLayout) -> &'static str {
    match lay.kind {
        FieldKind::Text => "AN",
        FieldKind::NumericText | FieldKind::UInt => "N",
        FieldKind::Int => "SN",
        FieldKind::Raw => "B",
        FieldKind::Group { .. } => "group",
    }
}

fn flags(lay: &FieldLayout, default: Charset) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(cs) = lay.charset {
        if cs != default {
            v.push(cs.name().to_owned());
        }
    }
    if lay.kind == FieldKind::NumericText {
        v.push("digits kept as text".into());
    }
    if lay.mask {
        v.push("masked".into());
    }
    if lay.optional {
        v.push("optional (blank)".into());
    }
    if lay.blank_zero {
        v.push("blank = 0".into());
    }
    match lay.sign {
        Sign::None => {}
        Sign::Leading => v.push("sign: leading".into()),
        Sign::Trailing => v.push("sign: trailing".into()),
    }
    if lay.fullwidth {
        v.push("full-width".into());
    }
    if lay.truncate {
        v.push("truncated if long".into());
    }
    if lay.tolerant {
        v.push("spaces accepted for zeros".into());
    }
    if lay.rest {
        v.push("rest of the telegram".into());
    }
    if lay.filler {
        v.push("trailing filler: the telegram may be shorter or longer here".into());
    }
    match lay.auto_len {
        Some(AutoLen::Total) => v.push("= total length".into()),
        Some(AutoLen::Rest) => v.push("= length of what follows".into()),
        Some(AutoLen::Telegram) => v.push("= length of the whole telegram".into()),
        None => {}
    }
    if lay.lenient {
        v.push("length not checked".into());
    }
    v
}

fn struct_table(out: &mut String, family: &Family, s: &StructSpec) {
    let users: Vec<String> = family
        .messages()
        .iter()
        .filter(|m| m.struct_name == s.name)
        .map(|m| format!("{} {}", m.key_str(), m.label.as_deref().unwrap_or(&m.name)))
        .collect();
    let size = s
        .layout
        .len()
        .map_or_else(|| "variable length".to_owned(), |n| format!("{n} bytes"));
    let heading = match (s.label.as_deref(), users.is_empty()) {
        (_, false) => cell(&users.join(", ")),
        (Some(l), true) => cell(l),
        (None, true) => s.name.clone(),
    };
    let _ = writeln!(out, "## {heading} — `{}` ({size})\n", s.name);
    if let Some(d) = &s.doc {
        let _ = writeln!(out, "{}\n", d.trim());
    }
    out.push_str(
        "| # | Field | 한글명 | Type | Len | Offset | Notes |\n|---|---|---|---|---|---|---|\n",
    );
    for (i, f) in s.fields.iter().enumerate() {
        field_row(out, family, s, i + 1, f);
    }
    let total = s
        .layout
        .len()
        .map_or_else(|| "variable".to_owned(), |n| n.to_string());
    let _ = writeln!(out, "\nTotal end offset: **{total}** bytes.\n");
}

fn field_row(out: &mut String, family: &Family, s: &StructSpec, n: usize, f: &FieldSpec) {
    let offset = f.offset.map_or_else(|| "-".to_owned(), |o| o.to_string());
    let width = f.width.map_or_else(|| "-".to_owned(), |w| w.to_string());
    let mut notes: Vec<String> = Vec::new();
    let ty = match &f.shape {
        FieldShape::Scalar(lay) => {
            notes.extend(flags(lay, s.charset));
            type_name(lay).to_owned()
        }
        FieldShape::Nested(name) => {
            let label = family
                .struct_spec(name)
                .and_then(|x| x.label.clone())
                .unwrap_or_else(|| name.clone());
            notes.push(format!("see {label} `{name}`"));
            format!("`{name}`")
        }
        FieldShape::Array { element, n } => match element {
            Element::Scalar(lay) => {
                notes.extend(flags(lay, s.charset));
                notes.push(format!("{n} × {} bytes", lay.len.unwrap_or(0)));
                format!("{} × {n}", type_name(lay))
            }
            Element::Struct(name) => format!("`{name}` × {n}"),
        },
        FieldShape::Group {
            element,
            count,
            max,
        } => {
            notes.push(format!("repeated `{count}` times (max {max})"));
            match element {
                Element::Scalar(lay) => {
                    notes.extend(flags(lay, s.charset));
                    format!("{}({}) × `{count}`", type_name(lay), lay.len.unwrap_or(0))
                }
                Element::Struct(name) => format!("`{name}` × `{count}`"),
            }
        }
    };
    if let Some(note) = &f.note {
        notes.insert(0, note.trim().to_owned());
    }
    let _ = writeln!(
        out,
        "| {n} | `{}` | {} | {} | {} | {} | {} |",
        f.name,
        cell(f.label.as_deref().unwrap_or("")),
        ty,
        width,
        offset,
        cell(&notes.join("; "))
    );
}

fn metadata(out: &mut String, family: &Family) {
    let mut section = String::new();
    if !family.correlation().is_empty() {
        let _ = writeln!(
            section,
            "- **Correlation key**: {} (a response carries the request's values).",
            code_list(family.correlation())
        );
    }
    if let Some(s) = family.sequence() {
        let _ = write!(
            section,
            "- **Sequence number**: `{}`, {}..={}",
            s.field, s.min, s.max
        );
        if let Some(r) = &s.reset {
            let _ = write!(section, ", reset {r}");
        }
        if !s.unique_with.is_empty() {
            let _ = write!(section, "; unique with {}", code_list(&s.unique_with));
        }
        section.push_str(".\n");
    }
    if let Some(d) = family.date() {
        let _ = write!(section, "- **Date**: `{}`", d.field);
        if let Some(f) = &d.format {
            let _ = write!(section, " ({f})");
        }
        if let Some(t) = &d.time_field {
            let _ = write!(
                section,
                ", time `{t}`{}",
                d.time_format
                    .as_ref()
                    .map(|f| format!(" ({f})"))
                    .unwrap_or_default()
            );
        }
        section.push_str(".\n");
    }
    if let Some(h) = family.heartbeat() {
        let req: Vec<String> = h
            .request
            .iter()
            .map(|(k, v)| format!("`{k}` = `{v}`"))
            .collect();
        let resp: Vec<String> = h
            .response
            .iter()
            .map(|(k, v)| format!("`{k}` = `{v}`"))
            .collect();
        let _ = write!(
            section,
            "- **Heartbeat** `{}`: request {}; response {}",
            h.struct_name,
            req.join(", "),
            resp.join(", ")
        );
        if !h.echo.is_empty() {
            let _ = write!(section, ", echoing {}", code_list(&h.echo));
        }
        if let Some(i) = h.interval_secs {
            let _ = write!(section, "; sent after {i} s idle");
        }
        section.push_str(".\n");
    }
    for q in family.inquiries() {
        let fors: Vec<String> = q.for_keys.iter().map(|k| k.join("/")).collect();
        let _ = write!(
            section,
            "- **Result inquiry** {} resolves {} whose outcome is unknown; `{}` names the original",
            q.key.join("/"),
            fors.join(", "),
            q.key_field
        );
        if !q.copy.is_empty() {
            let c: Vec<String> = q
                .copy
                .iter()
                .map(|(to, from)| format!("`{to}` ← `{from}`"))
                .collect();
            let _ = write!(section, " ({})", c.join(", "));
        }
        if let Some(d) = q.delay_secs {
            let _ = write!(section, "; first after {d} s");
        }
        if let Some(i) = q.interval_secs {
            let _ = write!(section, ", repeated every {i} s while unknown");
        }
        if let Some(r) = &q.result_field {
            let _ = write!(section, "; result in `{r}`");
        }
        if !q.not_found.is_empty() {
            let _ = write!(section, "; not found: {}", code_list(&q.not_found));
        }
        section.push_str(".\n");
    }
    for n in family.notices() {
        let _ = write!(
            section,
            "- **Unsolicited notice** {}: acknowledge with {}",
            n.key.join("/"),
            n.ack.join("/")
        );
        if n.copy_all {
            section.push_str(", copying every field");
        } else if !n.copy.is_empty() {
            let _ = write!(section, ", copying {}", code_list(&n.copy));
        }
        if !n.set.is_empty() {
            let s: Vec<String> = n
                .set
                .iter()
                .map(|(k, v)| format!("`{k}` = `{v}`"))
                .collect();
            let _ = write!(section, ", setting {}", s.join(", "));
        }
        if let Some(a) = &n.after {
            let _ = write!(section, " (after: {a})");
        }
        section.push_str(".\n");
    }
    if !section.is_empty() {
        let _ = writeln!(out, "## Session rules\n\n{section}");
    }
    if let Some(r) = family.response_code() {
        let _ = writeln!(
            out,
            "## Response codes (`{}`)\n\n| Code | Meaning | Outcome |\n|---|---|---|",
            r.field
        );
        let mut codes: Vec<&String> = r.success.iter().chain(&r.unknown).collect();
        for (c, _) in &r.meanings {
            if !codes.contains(&c) {
                codes.push(c);
            }
        }
        for c in codes {
            let outcome = match r.outcome(c) {
                CodeOutcome::Success => "success",
                CodeOutcome::Unknown => "unknown → result inquiry",
                CodeOutcome::InProgress => "in progress → asked again",
                CodeOutcome::Declined => "declined",
            };
            let _ = writeln!(
                out,
                "| `{c}` | {} | {outcome} |",
                cell(r.meaning(c).unwrap_or(""))
            );
        }
        out.push('\n');
    }
}

fn code_list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
