//! The typed model of a telegram struct: attributes parsed once into [`FieldSpec`]s and
//! validated (widths, offsets, `count` references, `rest` placement) before any code is
//! generated. Every error carries the span of the attribute or field it is about.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{
    Attribute, Data, DeriveInput, Expr, Fields, GenericArgument, Ident, LitInt, LitStr,
    PathArguments, Type,
};

/// Container attributes of a struct.
pub struct StructSpec {
    pub ident: Ident,
    pub charset: String,
    pub len: Option<(usize, Span)>,
    pub fields: Vec<FieldSpec>,
}

/// How a field is laid out, decided from its type and attributes.
pub enum Shape {
    /// A `FieldValue` of `len` bytes.
    Scalar,
    /// A nested telegram struct.
    Nested,
    /// `[T; N]`; `scalar` when each element is a `len`-byte scalar.
    Array { elem: Type, n: Expr, scalar: bool },
    /// `Vec<T>` with `count = field`; `scalar` when elements are `len`-byte scalars.
    Repeat {
        elem: Type,
        scalar: bool,
        count: Ident,
        max: usize,
    },
    /// Every remaining byte.
    Rest,
}

/// One field: its attributes and shape.
pub struct FieldSpec {
    pub ident: Ident,
    pub ty: Type,
    pub shape: Shape,
    pub len: Option<usize>,
    pub label: Option<String>,
    pub offset: Option<(usize, Span)>,
    pub mask: bool,
    pub numeric: bool,
    pub charset: Option<String>,
    pub fullwidth: bool,
    pub truncate: bool,
    pub sign: Option<String>,
    pub blank_zero: bool,
    pub auto_len: Option<String>,
    pub lenient: bool,
}

impl FieldSpec {
    pub fn name(&self) -> String {
        self.ident.to_string()
    }
}

/// Raw field attributes as written.
#[derive(Default)]
struct FieldAttrs {
    len: Option<usize>,
    label: Option<String>,
    offset: Option<(usize, Span)>,
    mask: bool,
    numeric: bool,
    charset: Option<String>,
    fullwidth: bool,
    truncate: bool,
    sign: Option<String>,
    blank_zero: bool,
    count: Option<Ident>,
    max: Option<usize>,
    rest: bool,
    auto_len: Option<String>,
    lenient: bool,
}

const CHARSETS: &[&str] = &["ascii", "euc-kr", "cp949"];

fn check_charset(lit: &LitStr) -> syn::Result<String> {
    let v = lit.value().to_ascii_lowercase();
    if CHARSETS.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(syn::Error::new_spanned(
            lit,
            format!(
                "unknown charset {:?}: expected one of ascii, euc-kr, cp949",
                lit.value()
            ),
        ))
    }
}

fn parse_field_attrs(attrs: &[Attribute]) -> syn::Result<FieldAttrs> {
    let mut a = FieldAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("telegram")) {
        attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            match key.as_str() {
                "len" => {
                    let lit: LitInt = meta.value()?.parse()?;
                    let n: usize = lit.base10_parse()?;
                    if n == 0 {
                        return Err(syn::Error::new_spanned(lit, "`len` must be at least 1"));
                    }
                    a.len = Some(n);
                }
                "label" => a.label = Some(meta.value()?.parse::<LitStr>()?.value()),
                "offset" => {
                    let lit: LitInt = meta.value()?.parse()?;
                    a.offset = Some((lit.base10_parse()?, lit.span()));
                }
                "mask" => a.mask = true,
                "numeric" => a.numeric = true,
                "charset" => a.charset = Some(check_charset(&meta.value()?.parse()?)?),
                "fullwidth" => a.fullwidth = true,
                "truncate" => a.truncate = true,
                "sign" => {
                    let lit: LitStr = meta.value()?.parse()?;
                    match lit.value().as_str() {
                        "leading" | "trailing" => a.sign = Some(lit.value()),
                        _ => return Err(syn::Error::new_spanned(lit, "`sign` must be \"leading\" or \"trailing\"")),
                    }
                }
                "blank" => {
                    let lit: LitStr = meta.value()?.parse()?;
                    if lit.value() != "zero" {
                        return Err(syn::Error::new_spanned(lit, "`blank` accepts only \"zero\""));
                    }
                    a.blank_zero = true;
                }
                "count" => a.count = Some(meta.value()?.parse()?),
                "max" => a.max = Some(meta.value()?.parse::<LitInt>()?.base10_parse()?),
                "rest" => a.rest = true,
                "auto_len" => {
                    let lit: LitStr = meta.value()?.parse()?;
                    match lit.value().as_str() {
                        "total" | "rest" => a.auto_len = Some(lit.value()),
                        _ => return Err(syn::Error::new_spanned(lit, "`auto_len` must be \"total\" or \"rest\"")),
                    }
                }
                "lenient" => a.lenient = true,
                _ => {
                    return Err(meta.error(format!(
                        "unknown telegram attribute `{}`; expected one of len, label, offset, mask, numeric, \
                         charset, fullwidth, truncate, sign, blank, count, max, rest, auto_len, lenient",
                        key
                    )))
                }
            }
            Ok(())
        })?;
    }
    Ok(a)
}

/// The last path segment's name and its generic arguments, for syntactic type checks.
fn path_parts(ty: &Type) -> Option<(String, Vec<&Type>)> {
    let Type::Path(p) = ty else { return None };
    if p.qself.is_some() {
        return None;
    }
    let seg = p.path.segments.last()?;
    let args = match &seg.arguments {
        PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|g| match g {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Some((seg.ident.to_string(), args))
}

const INTEGERS: &[&str] = &[
    "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
];
const SIGNED: &[&str] = &["i8", "i16", "i32", "i64", "i128", "isize"];

/// True for types that are scalars by name (and so need `len`).
fn is_known_scalar(ty: &Type) -> bool {
    match path_parts(ty) {
        Some((name, args)) => match name.as_str() {
            "String" => true,
            "Option" => args.first().is_some_and(|t| is_known_scalar(t)),
            "Vec" => args
                .first()
                .is_some_and(|t| path_parts(t).is_some_and(|(n, _)| n == "u8")),
            n => INTEGERS.contains(&n),
        },
        None => false,
    }
}

/// The integer type name of a (possibly `Option`-wrapped) field, if it is one.
fn integer_name(ty: &Type) -> Option<String> {
    let (name, args) = path_parts(ty)?;
    if name == "Option" {
        return integer_name(args.first()?);
    }
    INTEGERS.contains(&name.as_str()).then_some(name)
}

fn is_string_or_bytes(ty: &Type) -> bool {
    match path_parts(ty) {
        Some((name, args)) => {
            name == "String"
                || (name == "Vec"
                    && args
                        .first()
                        .is_some_and(|t| path_parts(t).is_some_and(|(n, _)| n == "u8")))
        }
        None => false,
    }
}

fn unsupported(ty: &Type) -> Option<&'static str> {
    match ty {
        Type::Path(_) | Type::Array(_) => {}
        Type::Reference(_) => {
            return Some("references are not supported: use an owned type such as String")
        }
        Type::Tuple(_) => {
            return Some("tuples are not supported: use a nested #[derive(Telegram)] struct")
        }
        Type::Slice(_) => {
            return Some("slices are not supported: use [T; N] or Vec<T> with `count`")
        }
        _ => return Some("unsupported field type"),
    }
    match path_parts(ty)?.0.as_str() {
        "f32" | "f64" => Some("floating-point fields are not supported: use an integer of minor units, or `numeric` String"),
        "bool" | "char" | "str" => Some("unsupported field type: use String (AN) or an integer (N)"),
        _ => None,
    }
}

fn field_shape(field: &syn::Field, a: &FieldAttrs) -> syn::Result<Shape> {
    let ty = &field.ty;
    if let Some(reason) = unsupported(ty) {
        return Err(syn::Error::new_spanned(ty, reason));
    }
    if a.rest {
        if !is_string_or_bytes(ty) {
            return Err(syn::Error::new_spanned(
                ty,
                "a `rest` field must be String or Vec<u8>",
            ));
        }
        return Ok(Shape::Rest);
    }
    if let Some(count) = &a.count {
        let elem = match path_parts(ty) {
            Some((name, args)) if name == "Vec" && args.len() == 1 => args[0].clone(),
            _ => {
                return Err(syn::Error::new_spanned(
                    ty,
                    "a field with `count` must be a Vec<T>",
                ))
            }
        };
        let Some(max) = a.max else {
            return Err(syn::Error::new_spanned(
                count,
                "a `count` repeat group needs `max = N` (the most elements accepted)",
            ));
        };
        return Ok(Shape::Repeat {
            elem,
            scalar: a.len.is_some(),
            count: count.clone(),
            max,
        });
    }
    if let Type::Array(arr) = ty {
        return Ok(Shape::Array {
            elem: (*arr.elem).clone(),
            n: arr.len.clone(),
            scalar: a.len.is_some(),
        });
    }
    if a.len.is_some() {
        return Ok(Shape::Scalar);
    }
    if is_known_scalar(ty) {
        let name = field
            .ident
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        return Err(syn::Error::new_spanned(
            ty,
            format!(
                "field `{name}` is a scalar and needs `#[telegram(len = N)]` (its width in bytes)"
            ),
        ));
    }
    Ok(Shape::Nested)
}

/// Parses and validates a struct.
pub fn parse_struct(input: &DeriveInput) -> syn::Result<StructSpec> {
    let mut charset = "euc-kr".to_owned();
    let mut len = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("telegram")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("charset") {
                charset = check_charset(&meta.value()?.parse()?)?;
            } else if meta.path.is_ident("len") {
                let lit: LitInt = meta.value()?.parse()?;
                len = Some((lit.base10_parse()?, lit.span()));
            } else {
                return Err(
                    meta.error("unknown telegram container attribute; expected `charset` or `len`")
                );
            }
            Ok(())
        })?;
    }
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "expected a struct or an enum",
        ));
    };
    let Fields::Named(named) = &data.fields else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(Telegram)] needs a struct with named fields",
        ));
    };
    let mut fields = Vec::new();
    for field in &named.named {
        let a = parse_field_attrs(&field.attrs)?;
        let shape = field_shape(field, &a)?;
        let ident = field
            .ident
            .clone()
            .ok_or_else(|| syn::Error::new(field.span(), "unnamed field"))?;
        fields.push(FieldSpec {
            ident,
            ty: field.ty.clone(),
            shape,
            len: a.len,
            label: a.label,
            offset: a.offset,
            mask: a.mask,
            numeric: a.numeric,
            charset: a.charset,
            fullwidth: a.fullwidth,
            truncate: a.truncate,
            sign: a.sign,
            blank_zero: a.blank_zero,
            auto_len: a.auto_len,
            lenient: a.lenient,
        });
    }
    let spec = StructSpec {
        ident: input.ident.clone(),
        charset,
        len,
        fields,
    };
    validate(&spec)?;
    Ok(spec)
}

fn validate(spec: &StructSpec) -> syn::Result<()> {
    let last = spec.fields.len().saturating_sub(1);
    for (i, f) in spec.fields.iter().enumerate() {
        let name = f.name();
        if matches!(f.shape, Shape::Rest) && i != last {
            return Err(syn::Error::new_spanned(
                &f.ident,
                format!("`rest` field `{name}` must be the last field"),
            ));
        }
        if let Shape::Repeat { count, .. } = &f.shape {
            let Some(pos) = spec.fields.iter().position(|g| g.ident == *count) else {
                return Err(syn::Error::new_spanned(
                    count,
                    format!("`count = {count}`: no field named `{count}` in this struct"),
                ));
            };
            if pos >= i {
                return Err(syn::Error::new_spanned(
                    count,
                    format!("`count = {count}`: the count field must come before `{name}`"),
                ));
            }
            let target = &spec.fields[pos];
            if !matches!(target.shape, Shape::Scalar) || integer_name(&target.ty).is_none() {
                return Err(syn::Error::new_spanned(
                    count,
                    format!("`count = {count}`: `{count}` must be an integer field (u8..u128)"),
                ));
            }
        }
        if let Some(mode) = &f.auto_len {
            if !matches!(f.shape, Shape::Scalar) || integer_name(&f.ty).is_none() {
                return Err(syn::Error::new_spanned(
                    &f.ty,
                    format!("`auto_len = \"{mode}\"` needs an unsigned integer field"),
                ));
            }
        }
        if let Some(int) = integer_name(&f.ty) {
            if SIGNED.contains(&int.as_str()) && f.sign.is_none() {
                return Err(syn::Error::new_spanned(
                    &f.ty,
                    format!(
                        "signed field `{name}` needs `sign = \"leading\"` or `sign = \"trailing\"`"
                    ),
                ));
            }
        }
        if f.numeric && path_parts(&f.ty).is_some_and(|(n, _)| INTEGERS.contains(&n.as_str())) {
            return Err(syn::Error::new_spanned(
                &f.ty,
                "`numeric` is for String fields; integers are always numeric",
            ));
        }
    }
    Ok(())
}
