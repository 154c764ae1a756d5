//! The check pass: every rule a model must satisfy before code is generated — attributes that
//! do not apply to a field, `count`/`rest`/`filler` placement, declared offsets and lengths,
//! dispatch keys. Each violation is recorded with its span; nothing stops at the first.
//!
//! What can only be decided by the compiler (offsets after nested types, whose widths are other
//! types' `FIXED_LEN`) becomes a [`ConstCheck`] that code generation emits as a `const`
//! assertion.

use proc_macro2::Span;

use super::ast::{Enum, Field, Shape, Struct};
use super::attr::Attr;
use super::ty::ValueType;
use super::Ctxt;

/// A check the compiler finishes: the offset of field `index` (or, with `index == fields.len()`,
/// the struct's total length) must equal `declared`.
pub struct ConstCheck {
    pub index: usize,
    pub declared: usize,
    pub span: Span,
    pub message: String,
}

/// What the check pass hands to code generation.
pub struct StructPlan {
    pub const_checks: Vec<ConstCheck>,
}

/// What is known about a field's offset while walking the struct.
enum Offset {
    /// Every preceding width is a literal.
    Literal(usize),
    /// Preceding fields include nested types: known to the compiler only.
    Const,
    /// A variable-length field precedes: no fixed offset.
    Variable,
}

/// Records "`attr` applies to …" at the attribute, when it is set and `applies` is false.
fn applies<T>(cx: &Ctxt, attr: &Attr<T>, applies: bool, msg: impl FnOnce() -> String) {
    if let (Some(span), false) = (attr.span(), applies) {
        cx.error_at(span, msg());
    }
}

fn check_field_attrs(cx: &Ctxt, s: &Struct, f: &Field) {
    let a = &f.attrs;
    let name = f.name();
    let scalar = f.is_scalar();
    let text = scalar && f.value == ValueType::Text && !a.numeric.is_set();
    let what = if scalar {
        f.value.describe()
    } else {
        "a nested struct"
    };
    applies(cx, &a.lenient, a.auto_len.is_set(), || {
        "`lenient` belongs to an `auto_len` field (it accepts a wrong length on decode)".into()
    });
    applies(cx, &a.max, a.count.is_set(), || {
        "`max` belongs to a `count` repeat group".into()
    });
    if a.rest.is_set() {
        applies(cx, &a.len, false, || {
            format!("`rest` field `{name}` takes whatever bytes remain; remove `len`")
        });
        applies(cx, &a.count, false, || {
            "`rest` and `count` do not combine: `rest` is a single String or Vec<u8>".into()
        });
        applies(cx, &a.filler, false, || {
            "`filler` and `rest` do not combine: a filler has a width, `rest` has none".into()
        });
    }
    if a.filler.is_set() && !matches!(f.shape, Shape::Scalar) {
        applies(cx, &a.filler, false, || {
            "`filler` applies to a single String field, not to arrays or groups".into()
        });
    }
    for (attr, attr_name) in [
        (&a.mask, "mask"),
        (&a.numeric, "numeric"),
        (&a.fullwidth, "fullwidth"),
        (&a.truncate, "truncate"),
        (&a.blank_zero, "blank"),
        (&a.tolerant, "tolerant"),
        (&a.filler, "filler"),
    ] {
        applies(cx, attr, scalar, || {
            format!("`{attr_name}` applies to scalar fields; `{name}` is {what}: set it on the fields of its struct")
        });
    }
    if !scalar {
        applies(cx, &a.charset, false, || {
            format!("`charset` applies to scalar fields; `{name}` is a nested struct: set it on its struct")
        });
        applies(cx, &a.sign, false, || {
            format!("`sign` applies to integer fields; `{name}` is a nested struct")
        });
        applies(cx, &a.auto_len, false, || {
            format!("`auto_len` needs an unsigned integer field; `{name}` is a nested struct")
        });
        return;
    }
    applies(cx, &a.numeric, f.value == ValueType::Text, || {
        if f.value.is_integer() {
            "`numeric` is for String fields; integers are always numeric".into()
        } else {
            format!("`numeric` applies to String fields; `{name}` is {what}")
        }
    });
    for (attr, attr_name) in [
        (&a.fullwidth, "fullwidth"),
        (&a.truncate, "truncate"),
        (&a.filler, "filler"),
    ] {
        applies(cx, attr, text, || {
            format!(
                "`{attr_name}` applies to String text fields; `{name}` is {}",
                describe_n(f)
            )
        });
    }
    applies(cx, &a.charset, text, || {
        format!(
            "`charset` applies to String text fields; `{name}` is {}",
            describe_n(f)
        )
    });
    applies(cx, &a.sign, f.value.is_integer(), || {
        format!("`sign` applies to integer fields; `{name}` is {what}")
    });
    applies(cx, &a.blank_zero, f.value.is_integer(), || {
        format!("`blank = \"zero\"` applies to integer fields; `{name}` is {what}")
    });
    applies(cx, &a.tolerant, f.is_number(), || {
        format!(
            "`tolerant` applies to N fields (integers and `numeric` Strings); `{name}` is {what}"
        )
    });
    applies(
        cx,
        &a.auto_len,
        matches!(f.shape, Shape::Scalar) && f.value.is_integer(),
        || {
            let mode = match a.auto_len.value() {
                Some(super::attr::AutoLen::Total) => "total",
                Some(super::attr::AutoLen::Rest) => "rest",
                _ => "telegram",
            };
            format!("`auto_len = \"{mode}\"` needs an unsigned integer field")
        },
    );
    if f.value == ValueType::Signed && !a.sign.is_set() {
        cx.error_spanned_by(
            &f.ty,
            format!("signed field `{name}` needs `sign = \"leading\"` or `sign = \"trailing\"`"),
        );
    }
    if a.tolerant.is_set() && s.tolerant && f.is_number() {
        applies(cx, &a.tolerant, false, || {
            "`tolerant` is already set on the struct".into()
        });
    }
}

/// "an integer", "a numeric String", … for messages about text-only attributes.
fn describe_n(f: &Field) -> &'static str {
    if f.value == ValueType::Text {
        "a numeric String"
    } else {
        f.value.describe()
    }
}

/// Checks a struct; returns the checks the compiler must finish.
pub fn check_struct(cx: &Ctxt, s: &Struct) -> StructPlan {
    let last = s.fields.len().saturating_sub(1);
    for (i, f) in s.fields.iter().enumerate() {
        check_field_attrs(cx, s, f);
        let name = f.name();
        if matches!(f.shape, Shape::Rest) && i != last {
            cx.error_spanned_by(
                &f.ident,
                format!("`rest` field `{name}` must be the last field"),
            );
        }
        if let (Some(span), true) = (f.attrs.filler.span(), i != last) {
            cx.error_at(
                span,
                format!("`filler` field `{name}` must be the last field (the telegram's trailing filler)"),
            );
        }
        if let Shape::Repeat { count, .. } = &f.shape {
            match s.fields.iter().position(|g| g.ident == *count) {
                None => cx.error_spanned_by(
                    count,
                    format!("`count = {count}`: no field named `{count}` in this struct"),
                ),
                Some(pos) if pos >= i => cx.error_spanned_by(
                    count,
                    format!("`count = {count}`: the count field must come before `{name}`"),
                ),
                Some(pos) => {
                    let target = &s.fields[pos];
                    if !matches!(target.shape, Shape::Scalar) || !target.value.is_integer() {
                        cx.error_spanned_by(
                            count,
                            format!(
                                "`count = {count}`: `{count}` must be an integer field (u8..u128)"
                            ),
                        );
                    }
                }
            }
        }
    }
    let mut plan = StructPlan {
        const_checks: Vec::new(),
    };
    if s.complete {
        check_offsets(cx, s, &mut plan);
    }
    plan
}

/// Declared offsets and the declared total length against the fields' widths.
fn check_offsets(cx: &Ctxt, s: &Struct, plan: &mut StructPlan) {
    let mut offset = Offset::Literal(0);
    for (i, f) in s.fields.iter().enumerate() {
        if let (Some(declared), Some(span)) = (f.attrs.offset.value(), f.attrs.offset.span()) {
            let name = f.name();
            match offset {
                Offset::Literal(computed) if computed != declared => cx.error_at(
                    span,
                    format!(
                        "field `{name}`: declared offset = {declared}, computed offset = {computed} \
                         (sum of the preceding fields' widths)"
                    ),
                ),
                Offset::Literal(_) => {}
                Offset::Const => plan.const_checks.push(ConstCheck {
                    index: i,
                    declared,
                    span,
                    message: format!(
                        "field `{name}`: declared offset = {declared} differs from the offset computed from the preceding fields"
                    ),
                }),
                Offset::Variable => cx.error_at(
                    span,
                    format!("field `{name}`: `offset` cannot be checked after a variable-length field"),
                ),
            }
        }
        offset = match (&offset, &f.shape, f.len()) {
            (Offset::Variable, ..) | (_, Shape::Repeat { .. } | Shape::Rest, _) => Offset::Variable,
            (Offset::Literal(o), Shape::Scalar, Some(len)) => Offset::Literal(o + len),
            (
                Offset::Literal(o),
                Shape::Array {
                    n, scalar: true, ..
                },
                Some(len),
            ) => match literal_usize(n) {
                Some(n) => Offset::Literal(o + len * n),
                None => Offset::Const,
            },
            _ => Offset::Const,
        };
    }
    let Some((declared, span)) = s.len else {
        return;
    };
    let name = s.ident.to_string();
    match offset {
        Offset::Literal(total) if total != declared => cx.error_at(
            span,
            format!("struct `{name}`: declared len = {declared}, but its fields add up to {total} bytes"),
        ),
        Offset::Literal(_) => {}
        Offset::Const => plan.const_checks.push(ConstCheck {
            index: s.fields.len(),
            declared,
            span,
            message: format!(
                "struct `{name}`: declared len = {declared} differs from the sum of its fields' widths"
            ),
        }),
        Offset::Variable => cx.error_at(
            span,
            format!("struct `{name}`: `len` cannot be declared with variable-length fields"),
        ),
    }
}

/// The value of an integer literal expression.
pub fn literal_usize(e: &syn::Expr) -> Option<usize> {
    match e {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(i),
            ..
        }) => i.base10_parse().ok(),
        _ => None,
    }
}

/// A variant's key values and its `when` conditions (sorted), as text.
fn selector(v: &super::ast::Variant) -> (Vec<String>, Vec<(String, String)>) {
    let key = v.key.iter().map(syn::LitStr::value).collect();
    let mut when: Vec<(String, String)> = v
        .when
        .iter()
        .map(|(f, l)| (f.to_string(), l.value()))
        .collect();
    when.sort();
    (key, when)
}

/// Checks a dispatch enum: key arity, `when` fields, duplicate and unreachable variants.
pub fn check_enum(cx: &Ctxt, e: &Enum) {
    for (i, v) in e.variants.iter().enumerate() {
        if !e.keys.is_empty() && v.key.len() != e.keys.len() {
            cx.error_at(
                v.key_span,
                format!(
                    "key has {} values but the family declares {} key fields",
                    v.key.len(),
                    e.keys.len()
                ),
            );
        }
        for (j, (field, _)) in v.when.iter().enumerate() {
            if e.keys.contains(field) {
                cx.error_spanned_by(
                    field,
                    format!("`{field}` is a key field: give its value in `key(...)`"),
                );
            }
            if v.when[..j].iter().any(|(g, _)| g == field) {
                cx.error_spanned_by(field, format!("`when` names `{field}` twice"));
            }
        }
        let (key, when) = selector(v);
        for prev in &e.variants[..i] {
            let (prev_key, prev_when) = selector(prev);
            if prev_key != key {
                continue;
            }
            if prev_when == when {
                cx.error_spanned_by(
                    &v.ident,
                    format!(
                        "duplicate key: `{}` has the same key{}",
                        prev.ident,
                        if when.is_empty() {
                            "; tell them apart with `when(field = \"...\")`"
                        } else {
                            " and `when`"
                        }
                    ),
                );
            } else if prev_when.is_empty() {
                cx.error_spanned_by(
                    &v.ident,
                    format!(
                        "unreachable: `{}` has the same key and no `when`, so it is chosen first; declare `{}` before it",
                        prev.ident, v.ident
                    ),
                );
            }
        }
    }
}
