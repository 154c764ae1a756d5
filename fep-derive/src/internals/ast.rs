//! The model of a telegram type: a struct's fields with their typed attributes and shapes, or
//! a dispatch enum's header, key fields and variants. Built from the syntax tree with every
//! problem recorded in the [`Ctxt`]; [`super::check`] then validates the model as a whole.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Expr, Fields, Ident, LitStr, Type};

use super::attr::{Charset, EnumAttrs, FieldAttrs, StructAttrs, VariantAttrs};
use super::ty::{self, ValueType};
use super::Ctxt;

/// A type deriving `Telegram` (built once per derive: the size difference costs nothing).
#[allow(clippy::large_enum_variant)]
pub enum Container {
    Struct(Struct),
    Enum(Enum),
}

/// A telegram struct.
pub struct Struct {
    pub ident: Ident,
    /// Default charset of its text fields.
    pub charset: Charset,
    /// Declared total length (checked).
    pub len: Option<(usize, Span)>,
    /// Every N field of the struct is tolerant.
    pub tolerant: bool,
    pub fields: Vec<Field>,
    /// False when a field could not be modelled (its error is recorded): offsets after it are
    /// unknown, so the offset and length checks are skipped rather than reported twice.
    pub complete: bool,
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

/// One field of a struct.
pub struct Field {
    pub ident: Ident,
    pub ty: Type,
    pub shape: Shape,
    /// What its scalar values hold (the element's, for arrays and groups of scalars).
    pub value: ValueType,
    pub attrs: FieldAttrs,
}

impl Field {
    pub fn name(&self) -> String {
        self.ident.to_string()
    }

    /// Width of one scalar value, when the field (or its element) is a scalar.
    pub fn len(&self) -> Option<usize> {
        self.attrs.len.value()
    }

    /// True when the field (or its element) is a `len`-byte scalar.
    pub fn is_scalar(&self) -> bool {
        matches!(
            self.shape,
            Shape::Scalar
                | Shape::Rest
                | Shape::Array { scalar: true, .. }
                | Shape::Repeat { scalar: true, .. }
        )
    }

    /// True for N fields: integers, and `numeric` Strings.
    pub fn is_number(&self) -> bool {
        self.is_scalar()
            && (self.value.is_integer()
                || (self.value == ValueType::Text && self.attrs.numeric.is_set()))
    }
}

/// A dispatch enum: variants selected by header key fields.
pub struct Enum {
    pub ident: Ident,
    pub header: Type,
    pub keys: Vec<Ident>,
    pub variants: Vec<Variant>,
}

/// One dispatch variant.
pub struct Variant {
    pub ident: Ident,
    pub ty: Type,
    pub key: Vec<LitStr>,
    pub key_span: Span,
    pub when: Vec<(Ident, LitStr)>,
}

impl Container {
    /// The model of `input`, or `None` when it cannot be built at all (errors in `cx`).
    pub fn from_ast(cx: &Ctxt, input: &DeriveInput) -> Option<Container> {
        if !input.generics.params.is_empty() {
            cx.error_spanned_by(
                &input.generics,
                "#[derive(Telegram)] does not support generic types",
            );
            return None;
        }
        match &input.data {
            Data::Struct(data) => {
                let attrs = StructAttrs::parse(cx, &input.attrs);
                let Fields::Named(named) = &data.fields else {
                    cx.error_spanned_by(
                        &input.ident,
                        "#[derive(Telegram)] needs a struct with named fields",
                    );
                    return None;
                };
                let fields: Vec<Field> = named.named.iter().filter_map(|f| field(cx, f)).collect();
                Some(Container::Struct(Struct {
                    ident: input.ident.clone(),
                    charset: attrs.charset.value().unwrap_or(Charset::EucKr),
                    len: attrs.len.take(),
                    tolerant: attrs.tolerant.is_set(),
                    complete: fields.len() == named.named.len(),
                    fields,
                }))
            }
            Data::Enum(data) => {
                let attrs = EnumAttrs::parse(cx, &input.attrs);
                let header = attrs.header.take().map(|(t, _)| t);
                let keys = attrs.key.take().map(|(k, _)| k).unwrap_or_default();
                if header.is_none() {
                    cx.error_spanned_by(
                        &input.ident,
                        "a telegram family enum needs #[telegram(header = HeaderType, key(field, ...))]",
                    );
                }
                if keys.is_empty() {
                    cx.error_spanned_by(
                        &input.ident,
                        "a telegram family enum needs `key(field, ...)` naming the header's key fields",
                    );
                }
                let variants = data
                    .variants
                    .iter()
                    .filter_map(|v| variant(cx, v))
                    .collect();
                Some(Container::Enum(Enum {
                    ident: input.ident.clone(),
                    header: header?,
                    keys,
                    variants,
                }))
            }
            Data::Union(_) => {
                cx.error_spanned_by(&input.ident, "expected a struct or an enum");
                None
            }
        }
    }
}

fn variant(cx: &Ctxt, v: &syn::Variant) -> Option<Variant> {
    let attrs = VariantAttrs::parse(cx, &v.attrs);
    let ty = match &v.fields {
        Fields::Unnamed(u) if u.unnamed.len() == 1 => u.unnamed[0].ty.clone(),
        _ => {
            cx.error_spanned_by(
                v,
                "each variant must hold exactly one telegram struct, e.g. `Transfer(Transfer)`",
            );
            return None;
        }
    };
    let key_span = attrs.key.span().unwrap_or_else(|| v.ident.span());
    let Some((key, _)) = attrs.key.take() else {
        cx.error_spanned_by(&v.ident, "variant needs #[telegram(key(\"...\", ...))]");
        return None;
    };
    Some(Variant {
        ident: v.ident.clone(),
        ty,
        key,
        key_span,
        when: attrs.when.take().map(|(w, _)| w).unwrap_or_default(),
    })
}

fn field(cx: &Ctxt, f: &syn::Field) -> Option<Field> {
    let attrs = FieldAttrs::parse(cx, &f.attrs);
    let Some(ident) = f.ident.clone() else {
        cx.error_at(f.span(), "unnamed field");
        return None;
    };
    let ty = &f.ty;
    if let Some(reason) = ty::unsupported(ty) {
        cx.error_spanned_by(ty, reason);
        return None;
    }
    let len = attrs.len.value();
    let (shape, value) = if attrs.rest.is_set() {
        let value = ty::value_type(ty);
        if !matches!(value, ValueType::Text | ValueType::Bytes) || ty::is_option(ty) {
            cx.error_spanned_by(ty, "a `rest` field must be String or Vec<u8>");
        }
        (Shape::Rest, value)
    } else if let Some((count, _)) = attrs.count.get().map(|c| (c.clone(), ())) {
        let Some(elem) = ty::vec_element(ty) else {
            cx.error_spanned_by(ty, "a field with `count` must be a Vec<T>");
            return None;
        };
        let max = match attrs.max.value() {
            Some(m) => m,
            None => {
                cx.error_spanned_by(
                    &count,
                    "a `count` repeat group needs `max = N` (the most elements accepted)",
                );
                0
            }
        };
        let value = if len.is_some() {
            ty::value_type(&elem)
        } else {
            ValueType::Other
        };
        (
            Shape::Repeat {
                elem,
                scalar: len.is_some(),
                count,
                max,
            },
            value,
        )
    } else if let Type::Array(arr) = ty {
        let value = if len.is_some() {
            ty::value_type(&arr.elem)
        } else {
            ValueType::Other
        };
        (
            Shape::Array {
                elem: (*arr.elem).clone(),
                n: arr.len.clone(),
                scalar: len.is_some(),
            },
            value,
        )
    } else if len.is_some() {
        (Shape::Scalar, ty::value_type(ty))
    } else if ty::is_known_scalar(ty) {
        cx.error_spanned_by(
            ty,
            format!(
                "field `{ident}` is a scalar and needs `#[telegram(len = N)]` (its width in bytes)"
            ),
        );
        return None;
    } else {
        (Shape::Nested, ValueType::Other)
    };
    Some(Field {
        ident,
        ty: ty.clone(),
        shape,
        value,
        attrs,
    })
}
