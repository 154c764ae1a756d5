//! `#[telegram(...)]` attributes parsed once into typed values. A repeated attribute, an
//! unknown one or a bad value is recorded in the [`Ctxt`] with its span and parsing goes on,
//! so every attribute error of a type is reported in one compile.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, Ident, LitInt, LitStr, Token, Type};

use super::Ctxt;

/// A text charset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    Ascii,
    EucKr,
    Cp949,
}

impl Charset {
    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "ascii" => Some(Self::Ascii),
            "euc-kr" => Some(Self::EucKr),
            "cp949" => Some(Self::Cp949),
            _ => None,
        }
    }
}

/// Where a signed N field keeps its sign byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    Leading,
    Trailing,
}

/// What an `auto_len` field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoLen {
    /// The struct it is declared in.
    Total,
    /// The bytes after it, to the end of its struct.
    Rest,
    /// The whole (outermost) telegram.
    Telegram,
}

/// One attribute's value and where it was written; a second occurrence is an error.
pub struct Attr<T> {
    name: &'static str,
    value: Option<(T, Span)>,
}

impl<T> Attr<T> {
    fn none(name: &'static str) -> Self {
        Self { name, value: None }
    }

    fn set(&mut self, cx: &Ctxt, span: Span, value: T) {
        if self.value.is_some() {
            cx.error_at(
                span,
                format!("duplicate telegram attribute `{}`", self.name),
            );
        } else {
            self.value = Some((value, span));
        }
    }

    pub fn get(&self) -> Option<&T> {
        self.value.as_ref().map(|(v, _)| v)
    }

    pub fn span(&self) -> Option<Span> {
        self.value.as_ref().map(|(_, s)| *s)
    }

    pub fn take(self) -> Option<(T, Span)> {
        self.value
    }

    pub fn is_set(&self) -> bool {
        self.value.is_some()
    }
}

impl<T: Copy> Attr<T> {
    pub fn value(&self) -> Option<T> {
        self.get().copied()
    }
}

/// Skips an unknown attribute's value (`= expr` or `(...)`), so the next one still parses.
fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in meta.input);
    }
    Ok(())
}

fn key_of(meta: &ParseNestedMeta) -> String {
    let path = &meta.path;
    path.get_ident()
        .map(ToString::to_string)
        .unwrap_or_else(|| quote::quote!(#path).to_string().replace(' ', ""))
}

/// Parses `= "…"` as one of the `options`, recording an error naming them otherwise.
fn parse_choice<T: Copy>(
    cx: &Ctxt,
    meta: &ParseNestedMeta,
    name: &str,
    options: &[(&str, T)],
) -> syn::Result<Option<(T, Span)>> {
    let lit: LitStr = meta.value()?.parse()?;
    let found = options
        .iter()
        .find(|(s, _)| *s == lit.value())
        .map(|(_, v)| *v);
    if found.is_none() {
        let names: Vec<String> = options.iter().map(|(s, _)| format!("\"{s}\"")).collect();
        let shown = match names.split_last() {
            Some((last, first)) if !first.is_empty() => format!("{} or {last}", first.join(", ")),
            _ => names.concat(),
        };
        cx.error_spanned_by(&lit, format!("`{name}` must be {shown}"));
    }
    Ok(found.map(|v| (v, lit.span())))
}

fn parse_usize(meta: &ParseNestedMeta) -> syn::Result<(usize, Span)> {
    let lit: LitInt = meta.value()?.parse()?;
    Ok((lit.base10_parse()?, lit.span()))
}

fn parse_charset(cx: &Ctxt, meta: &ParseNestedMeta) -> syn::Result<Option<(Charset, Span)>> {
    let lit: LitStr = meta.value()?.parse()?;
    match Charset::parse(&lit.value()) {
        Some(c) => Ok(Some((c, lit.span()))),
        None => {
            cx.error_spanned_by(
                &lit,
                format!(
                    "unknown charset {:?}: expected one of ascii, euc-kr, cp949",
                    lit.value()
                ),
            );
            Ok(None)
        }
    }
}

/// Runs `each` on every item of every `#[telegram(...)]` attribute; a syntax error ends that
/// attribute (recorded), not the others.
fn for_each_item(
    cx: &Ctxt,
    attrs: &[Attribute],
    mut each: impl FnMut(&ParseNestedMeta, &str, Span) -> syn::Result<()>,
) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("telegram")) {
        if let Err(e) = attr.parse_nested_meta(|meta| {
            let key = key_of(&meta);
            let span = meta.path.span();
            each(&meta, &key, span)
        }) {
            cx.syn_error(e);
        }
    }
}

/// Container attributes of a struct.
pub struct StructAttrs {
    pub charset: Attr<Charset>,
    pub len: Attr<usize>,
    pub tolerant: Attr<()>,
}

impl StructAttrs {
    pub fn parse(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut a = Self {
            charset: Attr::none("charset"),
            len: Attr::none("len"),
            tolerant: Attr::none("tolerant"),
        };
        for_each_item(cx, attrs, |meta, key, span| {
            match key {
                "charset" => {
                    if let Some((c, _)) = parse_charset(cx, meta)? {
                        a.charset.set(cx, span, c);
                    }
                }
                "len" => {
                    let (n, lit) = parse_usize(meta)?;
                    a.len.set(cx, lit, n);
                }
                "tolerant" => a.tolerant.set(cx, span, ()),
                _ => {
                    cx.error_at(
                        span,
                        format!("unknown telegram container attribute `{key}`; expected `charset`, `len` or `tolerant`"),
                    );
                    skip_value(meta)?;
                }
            }
            Ok(())
        });
        a
    }
}

/// Field attributes as written (typed; applicability is checked by [`super::check`]).
pub struct FieldAttrs {
    pub len: Attr<usize>,
    pub label: Attr<String>,
    pub offset: Attr<usize>,
    pub mask: Attr<()>,
    pub numeric: Attr<()>,
    pub charset: Attr<Charset>,
    pub fullwidth: Attr<()>,
    pub truncate: Attr<()>,
    pub sign: Attr<Sign>,
    pub blank_zero: Attr<()>,
    pub count: Attr<Ident>,
    pub max: Attr<usize>,
    pub rest: Attr<()>,
    pub auto_len: Attr<AutoLen>,
    pub lenient: Attr<()>,
    pub tolerant: Attr<()>,
    pub filler: Attr<()>,
}

const FIELD_ATTRS: &str = "len, label, offset, mask, numeric, charset, fullwidth, truncate, \
     sign, blank, count, max, rest, auto_len, lenient, tolerant, filler";

impl FieldAttrs {
    pub fn parse(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut a = Self {
            len: Attr::none("len"),
            label: Attr::none("label"),
            offset: Attr::none("offset"),
            mask: Attr::none("mask"),
            numeric: Attr::none("numeric"),
            charset: Attr::none("charset"),
            fullwidth: Attr::none("fullwidth"),
            truncate: Attr::none("truncate"),
            sign: Attr::none("sign"),
            blank_zero: Attr::none("blank"),
            count: Attr::none("count"),
            max: Attr::none("max"),
            rest: Attr::none("rest"),
            auto_len: Attr::none("auto_len"),
            lenient: Attr::none("lenient"),
            tolerant: Attr::none("tolerant"),
            filler: Attr::none("filler"),
        };
        for_each_item(cx, attrs, |meta, key, span| {
            match key {
                "len" => {
                    let lit: LitInt = meta.value()?.parse()?;
                    let n: usize = lit.base10_parse()?;
                    if n == 0 {
                        cx.error_spanned_by(&lit, "`len` must be at least 1");
                    } else {
                        a.len.set(cx, span, n);
                    }
                }
                "label" => {
                    let lit: LitStr = meta.value()?.parse()?;
                    a.label.set(cx, span, lit.value());
                }
                "offset" => {
                    let (n, lit) = parse_usize(meta)?;
                    a.offset.set(cx, lit, n);
                }
                "mask" => a.mask.set(cx, span, ()),
                "numeric" => a.numeric.set(cx, span, ()),
                "charset" => {
                    if let Some((c, _)) = parse_charset(cx, meta)? {
                        a.charset.set(cx, span, c);
                    }
                }
                "fullwidth" => a.fullwidth.set(cx, span, ()),
                "truncate" => a.truncate.set(cx, span, ()),
                "sign" => {
                    let options = [("leading", Sign::Leading), ("trailing", Sign::Trailing)];
                    if let Some((s, _)) = parse_choice(cx, meta, "sign", &options)? {
                        a.sign.set(cx, span, s);
                    }
                }
                "blank" => {
                    if parse_choice(cx, meta, "blank", &[("zero", ())])?.is_some() {
                        a.blank_zero.set(cx, span, ());
                    }
                }
                "count" => {
                    let id: Ident = meta.value()?.parse()?;
                    a.count.set(cx, span, id);
                }
                "max" => {
                    let (n, _) = parse_usize(meta)?;
                    a.max.set(cx, span, n);
                }
                "rest" => a.rest.set(cx, span, ()),
                "auto_len" => {
                    let options = [
                        ("total", AutoLen::Total),
                        ("rest", AutoLen::Rest),
                        ("telegram", AutoLen::Telegram),
                    ];
                    if let Some((m, _)) = parse_choice(cx, meta, "auto_len", &options)? {
                        a.auto_len.set(cx, span, m);
                    }
                }
                "lenient" => a.lenient.set(cx, span, ()),
                "tolerant" => a.tolerant.set(cx, span, ()),
                "filler" => a.filler.set(cx, span, ()),
                _ => {
                    cx.error_at(
                        span,
                        format!(
                            "unknown telegram attribute `{key}`; expected one of {FIELD_ATTRS}"
                        ),
                    );
                    skip_value(meta)?;
                }
            }
            Ok(())
        });
        a
    }
}

/// Container attributes of a dispatch enum.
pub struct EnumAttrs {
    pub header: Attr<Type>,
    pub key: Attr<Vec<Ident>>,
}

impl EnumAttrs {
    pub fn parse(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut a = Self {
            header: Attr::none("header"),
            key: Attr::none("key"),
        };
        for_each_item(cx, attrs, |meta, key, span| {
            match key {
                "header" => {
                    let ty: Type = meta.value()?.parse()?;
                    a.header.set(cx, span, ty);
                }
                "key" => {
                    let mut fields = Vec::new();
                    meta.parse_nested_meta(|inner| {
                        match inner.path.get_ident() {
                            Some(id) => fields.push(id.clone()),
                            None => {
                                cx.error_spanned_by(&inner.path, "expected a header field name")
                            }
                        }
                        Ok(())
                    })?;
                    a.key.set(cx, span, fields);
                }
                _ => {
                    cx.error_at(
                        span,
                        format!("unknown telegram enum attribute `{key}`; expected `header = Type` or `key(field, ...)`"),
                    );
                    skip_value(meta)?;
                }
            }
            Ok(())
        });
        a
    }
}

/// Attributes of one dispatch enum variant.
pub struct VariantAttrs {
    pub key: Attr<Vec<LitStr>>,
    /// `when(field = "value", ...)`: header fields that tell apart variants sharing a key.
    pub when: Attr<Vec<(Ident, LitStr)>>,
}

impl VariantAttrs {
    pub fn parse(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut a = Self {
            key: Attr::none("key"),
            when: Attr::none("when"),
        };
        for_each_item(cx, attrs, |meta, key, span| {
            match key {
                "key" => {
                    let content;
                    syn::parenthesized!(content in meta.input);
                    let lits = content.parse_terminated(|p| p.parse::<LitStr>(), Token![,])?;
                    a.key.set(cx, span, lits.into_iter().collect());
                }
                "when" => {
                    let mut conds = Vec::new();
                    meta.parse_nested_meta(|inner| {
                        let value: LitStr = inner.value()?.parse()?;
                        match inner.path.get_ident() {
                            Some(id) => conds.push((id.clone(), value)),
                            None => {
                                cx.error_spanned_by(&inner.path, "expected a header field name")
                            }
                        }
                        Ok(())
                    })?;
                    a.when.set(cx, span, conds);
                }
                _ => {
                    cx.error_at(
                        span,
                        format!("unknown telegram variant attribute `{key}`; expected `key(\"...\", ...)` or `when(field = \"...\")`"),
                    );
                    skip_value(meta)?;
                }
            }
            Ok(())
        });
        a
    }
}
