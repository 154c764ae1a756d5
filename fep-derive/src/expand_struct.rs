//! Code generation for `#[derive(Telegram)]` on a struct, from the validated model.
//!
//! Each scalar field gets one `const FieldFormat`; encode and decode are straight-line calls in
//! field order. Offsets are checked here: at macro time when every preceding width is a literal,
//! otherwise by a `const` assertion over the nested types' `FIXED_LEN`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};

use crate::model::{FieldSpec, Shape, StructSpec};

/// What is known about a field's offset while walking the struct.
enum Offset {
    /// Every preceding width is a literal.
    Literal(usize),
    /// Preceding fields include nested types: a const expression.
    Const,
    /// A variable-length field precedes: no fixed offset.
    Variable,
}

pub fn expand(spec: &StructSpec) -> syn::Result<TokenStream> {
    let ident = &spec.ident;
    let name = ident.to_string();

    let mut offset = Offset::Literal(0);
    let mut offset_expr = quote!(::core::option::Option::Some(0usize));
    let mut checks = Vec::new();
    let mut formats = Vec::new();
    let mut encode = Vec::new();
    let mut decode = Vec::new();
    let mut layout = Vec::new();
    let mut post_encode = Vec::new();
    let mut post_decode = Vec::new();

    for f in &spec.fields {
        if let Some((declared, span)) = f.offset {
            match offset {
                Offset::Literal(computed) if computed != declared => {
                    return Err(syn::Error::new(
                        span,
                        format!(
                            "field `{}`: declared offset = {declared}, computed offset = {computed} \
                             (sum of the preceding fields' widths)",
                            f.name()
                        ),
                    ));
                }
                Offset::Literal(_) => {}
                Offset::Const => {
                    let msg = format!(
                        "field `{}`: declared offset = {declared} differs from the offset computed from the preceding fields",
                        f.name()
                    );
                    checks.push(quote_spanned! {span=>
                        const _: () = ::core::assert!(::fep_codec::__private::len_is(#offset_expr, #declared), #msg);
                    });
                }
                Offset::Variable => {
                    return Err(syn::Error::new(
                        span,
                        format!(
                            "field `{}`: `offset` cannot be checked after a variable-length field",
                            f.name()
                        ),
                    ));
                }
            }
        }
        let width = width_expr(f);
        offset = match (&offset, &f.shape, f.len) {
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
        offset_expr = quote!(::fep_codec::__private::add_len(#offset_expr, #width));

        let (fmts, enc, dec, lay) = field_code(spec, f);
        formats.push(fmts);
        encode.push(enc);
        decode.push(dec);
        layout.push(lay);

        if let Some(mode) = &f.auto_len {
            let field_name = f.name();
            let fmt = format_ident!("__F_{}", f.ident);
            let at = format_ident!("__at_{}", f.ident);
            let var = &f.ident;
            let len = f.len.unwrap_or(0);
            let actual_enc = if mode == "total" {
                quote!(buf.len() - __start)
            } else {
                quote!(buf.len() - (#at + #len))
            };
            post_encode.push(quote! {
                ::fep_codec::__private::patch_len(buf, #at, &#fmt, #actual_enc, base)?;
            });
            if !f.lenient {
                let actual_dec = if mode == "total" {
                    quote!(*pos - __start)
                } else {
                    quote!(*pos - (#at + #len))
                };
                post_decode.push(quote! {
                    ::fep_codec::__private::check_len(
                        #field_name,
                        ::fep_codec::__private::CountValue::as_count(&#var),
                        #actual_dec,
                        #at,
                        input,
                    )?;
                });
            }
        }
    }

    if let Some((declared, span)) = spec.len {
        match offset {
            Offset::Literal(total) if total != declared => {
                return Err(syn::Error::new(
                    span,
                    format!("struct `{name}`: declared len = {declared}, but its fields add up to {total} bytes"),
                ));
            }
            Offset::Literal(_) => {}
            Offset::Const => {
                let msg = format!("struct `{name}`: declared len = {declared} differs from the sum of its fields' widths");
                checks.push(quote_spanned! {span=>
                    const _: () = ::core::assert!(::fep_codec::__private::len_is(#offset_expr, #declared), #msg);
                });
            }
            Offset::Variable => {
                return Err(syn::Error::new(
                    span,
                    format!(
                        "struct `{name}`: `len` cannot be declared with variable-length fields"
                    ),
                ));
            }
        }
    }

    let idents: Vec<_> = spec.fields.iter().map(|f| &f.ident).collect();
    Ok(quote! {
        #(#checks)*

        impl ::fep_codec::Telegram for #ident {
            const FIXED_LEN: ::core::option::Option<usize> = #offset_expr;

            fn layout() -> &'static ::fep_codec::Layout {
                static LAYOUT: ::fep_codec::__private::OnceLock<::fep_codec::Layout> =
                    ::fep_codec::__private::OnceLock::new();
                LAYOUT.get_or_init(|| {
                    #(#formats)*
                    let mut b = ::fep_codec::Layout::builder(#name);
                    #(#layout)*
                    b.build()
                })
            }

            #[allow(unused_variables, clippy::identity_op)]
            fn encode_at(
                &self,
                buf: &mut ::fep_codec::__private::BytesMut,
                base: usize,
            ) -> ::core::result::Result<(), ::fep_codec::EncodeError> {
                #(#formats)*
                let __start = buf.len();
                #(#encode)*
                #(#post_encode)*
                ::core::result::Result::Ok(())
            }

            #[allow(unused_variables, clippy::identity_op)]
            fn decode_at(
                input: &[u8],
                pos: &mut usize,
            ) -> ::core::result::Result<Self, ::fep_codec::DecodeError> {
                #(#formats)*
                let __start = *pos;
                #(#decode)*
                #(#post_decode)*
                ::core::result::Result::Ok(Self { #(#idents),* })
            }
        }
    })
}

fn literal_usize(e: &syn::Expr) -> Option<usize> {
    match e {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(i),
            ..
        }) => i.base10_parse().ok(),
        _ => None,
    }
}

/// The field's width as a const `Option<usize>` expression.
fn width_expr(f: &FieldSpec) -> TokenStream {
    let ty = &f.ty;
    match (&f.shape, f.len) {
        (Shape::Scalar, Some(len)) => quote!(::core::option::Option::Some(#len)),
        (Shape::Nested, _) => quote!(<#ty as ::fep_codec::Telegram>::FIXED_LEN),
        (
            Shape::Array {
                n, scalar: true, ..
            },
            Some(len),
        ) => quote!(::core::option::Option::Some(#len * (#n))),
        (Shape::Array { elem, n, .. }, _) => {
            quote!(::fep_codec::__private::mul_len(<#elem as ::fep_codec::Telegram>::FIXED_LEN, #n))
        }
        _ => quote!(::core::option::Option::None),
    }
}

/// The `const FieldFormat` for a scalar (or scalar-element) field.
fn format_const(spec: &StructSpec, f: &FieldSpec, error_name: &str) -> TokenStream {
    let fmt = format_ident!("__F_{}", f.ident);
    let len = f.len.unwrap_or(0);
    let charset = match f.charset.as_deref().unwrap_or(spec.charset.as_str()) {
        "ascii" => quote!(::fep_codec::Charset::Ascii),
        "cp949" => quote!(::fep_codec::Charset::Cp949),
        _ => quote!(::fep_codec::Charset::EucKr),
    };
    let sign = match f.sign.as_deref() {
        Some("leading") => quote!(::fep_codec::Sign::Leading),
        Some("trailing") => quote!(::fep_codec::Sign::Trailing),
        _ => quote!(::fep_codec::Sign::None),
    };
    let (numeric, fullwidth, truncate, blank_zero) =
        (f.numeric, f.fullwidth, f.truncate, f.blank_zero);
    quote! {
        #[allow(non_upper_case_globals)]
        const #fmt: ::fep_codec::FieldFormat = ::fep_codec::FieldFormat {
            name: #error_name,
            len: #len,
            charset: #charset,
            numeric: #numeric,
            fullwidth: #fullwidth,
            truncate: #truncate,
            sign: #sign,
            blank_zero: #blank_zero,
        };
    }
}

/// (format consts, encode, decode, layout) code for one field.
fn field_code(
    spec: &StructSpec,
    f: &FieldSpec,
) -> (TokenStream, TokenStream, TokenStream, TokenStream) {
    let var = &f.ident;
    let name = f.name();
    let ty = &f.ty;
    let fmt = format_ident!("__F_{}", f.ident);
    let at = format_ident!("__at_{}", f.ident);
    let label = match &f.label {
        Some(l) => quote!(::core::option::Option::Some(#l)),
        None => quote!(::core::option::Option::None),
    };
    let mask = f.mask;
    let auto_len = match f.auto_len.as_deref() {
        Some("total") => quote!(::core::option::Option::Some(::fep_codec::AutoLen::Total)),
        Some(_) => quote!(::core::option::Option::Some(::fep_codec::AutoLen::Rest)),
        None => quote!(::core::option::Option::None),
    };
    let lenient = f.lenient;
    let scalar_layout = |value_ty: &syn::Type, rest: bool| {
        quote! {
            ::fep_codec::FieldLayout::from_format(&#fmt, <#value_ty as ::fep_codec::FieldValue>::KIND, #rest)
                .with_label(#label)
                .with_mask(#mask)
                .with_optional(<#value_ty as ::fep_codec::FieldValue>::OPTIONAL)
                .with_auto_len(#auto_len, #lenient)
        }
    };

    match &f.shape {
        Shape::Scalar => {
            let lay = scalar_layout(ty, false);
            (
                format_const(spec, f, &name),
                quote! {
                    let #at = buf.len();
                    ::fep_codec::__private::encode_scalar(&self.#var, &#fmt, buf, base)?;
                },
                quote! {
                    let #at = *pos;
                    let #var: #ty = ::fep_codec::__private::decode_scalar(input, pos, &#fmt)?;
                },
                quote! { b.field(#lay); },
            )
        }
        Shape::Rest => {
            let lay = scalar_layout(ty, true);
            (
                format_const(spec, f, &name),
                quote! { ::fep_codec::__private::encode_rest(&self.#var, &#fmt, buf, base)?; },
                quote! { let #var: #ty = ::fep_codec::__private::decode_rest(input, pos, &#fmt)?; },
                quote! { b.field(#lay); },
            )
        }
        Shape::Nested => (
            TokenStream::new(),
            quote! {
                ::fep_codec::Telegram::encode_at(&self.#var, buf, base).map_err(|e| e.within(#name, ::core::option::Option::None))?;
            },
            quote! {
                let #var = <#ty as ::fep_codec::Telegram>::decode_at(input, pos)
                    .map_err(|e| e.within(#name, ::core::option::Option::None))?;
            },
            quote! { b.nested(#name, ::core::option::Option::None, <#ty as ::fep_codec::Telegram>::layout()); },
        ),
        Shape::Array { elem, n, scalar } => {
            let (fmts, enc_one, dec_one, lay_one) = element_code(spec, f, elem, *scalar);
            (
                fmts,
                quote! {
                    for (__i, __v) in self.#var.iter().enumerate() {
                        #enc_one
                    }
                },
                quote! {
                    let #var: #ty = {
                        let mut __items = ::std::vec::Vec::with_capacity(#n);
                        for __i in 0..(#n) {
                            __items.push({ #dec_one });
                        }
                        <#ty>::try_from(__items).map_err(|_| {
                            ::fep_codec::DecodeError::new(
                                ::fep_codec::DecodeErrorKind::WrongLength { expected: #n, actual: 0 },
                                #name, *pos, &[],
                            )
                        })?
                    };
                },
                quote! {
                    for __i in 0..(#n) {
                        #lay_one
                    }
                },
            )
        }
        Shape::Repeat {
            elem,
            scalar,
            count,
            max,
        } => {
            let (fmts, enc_one, dec_one, _) = element_code(spec, f, elem, *scalar);
            let count_at = format_ident!("__at_{}", count);
            let count_name = count.to_string();
            let element_layout = if *scalar {
                let lay = scalar_layout(elem, false);
                quote! {{
                    let mut e = ::fep_codec::Layout::builder(#name);
                    let mut __f = #lay;
                    __f.path = ::std::string::String::from(#name);
                    __f.name = ::std::string::String::from(#name);
                    e.field(__f);
                    e.build()
                }}
            } else {
                quote!(<#elem as ::fep_codec::Telegram>::layout().clone())
            };
            (
                fmts,
                quote! {
                    ::fep_codec::__private::check_count(
                        #name,
                        ::fep_codec::__private::CountValue::as_count(&self.#count),
                        self.#var.len(),
                        #max,
                        buf.len() - base,
                    )?;
                    for (__i, __v) in self.#var.iter().enumerate() {
                        #enc_one
                    }
                },
                quote! {
                    let __n = ::fep_codec::__private::decoded_count(
                        #count_name,
                        ::fep_codec::__private::CountValue::as_count(&#count),
                        #max,
                        #count_at,
                        input,
                    )?;
                    let mut #var: #ty = ::std::vec::Vec::with_capacity(__n);
                    for __i in 0..__n {
                        #var.push({ #dec_one });
                    }
                },
                quote! { b.group(#name, #label, #count_name, #max, &#element_layout); },
            )
        }
    }
}

/// Encode/decode/layout of one element `__v` / index `__i` of an array or repeat group.
fn element_code(
    spec: &StructSpec,
    f: &FieldSpec,
    elem: &syn::Type,
    scalar: bool,
) -> (TokenStream, TokenStream, TokenStream, TokenStream) {
    let name = f.name();
    let fmt = format_ident!("__F_{}", f.ident);
    let mask = f.mask;
    let label = match &f.label {
        Some(l) => quote!(::core::option::Option::Some(#l)),
        None => quote!(::core::option::Option::None),
    };
    if scalar {
        (
            format_const(spec, f, ""),
            quote! {
                ::fep_codec::__private::encode_scalar(__v, &#fmt, buf, base)
                    .map_err(|e| e.within(#name, ::core::option::Option::Some(__i)))?;
            },
            quote! {
                ::fep_codec::__private::decode_scalar::<#elem>(input, pos, &#fmt)
                    .map_err(|e| e.within(#name, ::core::option::Option::Some(__i)))?
            },
            quote! {
                let mut __f = ::fep_codec::FieldLayout::from_format(&#fmt, <#elem as ::fep_codec::FieldValue>::KIND, false)
                    .with_label(#label)
                    .with_mask(#mask)
                    .with_optional(<#elem as ::fep_codec::FieldValue>::OPTIONAL);
                __f.path = ::std::format!("{}[{}]", #name, __i);
                __f.name = ::std::string::String::from(#name);
                b.field(__f);
            },
        )
    } else {
        (
            TokenStream::new(),
            quote! {
                ::fep_codec::Telegram::encode_at(__v, buf, base)
                    .map_err(|e| e.within(#name, ::core::option::Option::Some(__i)))?;
            },
            quote! {
                <#elem as ::fep_codec::Telegram>::decode_at(input, pos)
                    .map_err(|e| e.within(#name, ::core::option::Option::Some(__i)))?
            },
            quote! { b.nested(#name, ::core::option::Option::Some(__i), <#elem as ::fep_codec::Telegram>::layout()); },
        )
    }
}
