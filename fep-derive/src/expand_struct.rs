//! Code generation for `#[derive(Telegram)]` on a struct, from the checked model.
//!
//! Each scalar field gets one `const FieldFormat`; encode and decode are straight-line calls in
//! field order. Nothing is validated here: the check pass has already reported every error, and
//! hands over the offset checks only the compiler can finish (emitted as `const` assertions).

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};

use crate::internals::ast::{Field, Shape, Struct};
use crate::internals::attr::{AutoLen, Charset, Sign};
use crate::internals::check::StructPlan;

pub fn expand(spec: &Struct, plan: &StructPlan) -> TokenStream {
    let ident = &spec.ident;
    let name = ident.to_string();

    // `offsets[i]`: the const `Option<usize>` offset of field i (i == len: the total).
    let mut offsets = vec![quote!(::core::option::Option::Some(0usize))];
    let mut formats = Vec::new();
    let mut encode = Vec::new();
    let mut decode = Vec::new();
    let mut layout = Vec::new();
    let mut post_encode = Vec::new();
    let mut post_decode = Vec::new();
    for f in &spec.fields {
        let width = width_expr(f);
        let prev = offsets.last().cloned().unwrap_or_default();
        offsets.push(quote!(::fep_codec::__private::add_len(#prev, #width)));
        let code = field_code(spec, f);
        formats.push(code.formats);
        encode.push(code.encode);
        decode.push(code.decode);
        layout.push(code.layout);
        post_encode.push(code.post_encode);
        post_decode.push(code.post_decode);
    }
    let checks = plan.const_checks.iter().map(|c| {
        let at = &offsets[c.index];
        let (declared, msg) = (c.declared, &c.message);
        quote_spanned! {c.span=>
            const _: () = ::core::assert!(::fep_codec::__private::len_is(#at, #declared), #msg);
        }
    });
    let total = offsets.last().cloned().unwrap_or_default();
    let idents: Vec<_> = spec.fields.iter().map(|f| &f.ident).collect();
    let top_level = top_level_methods();
    quote! {
        #(#checks)*

        impl ::fep_codec::Telegram for #ident {
            const FIXED_LEN: ::core::option::Option<usize> = #total;

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

            #top_level

            #[inline]
            #[allow(unused_variables, clippy::identity_op)]
            fn encode_in(
                &self,
                buf: &mut ::fep_codec::__private::BytesMut,
                ctx: &mut ::fep_codec::EncodeCtx,
            ) -> ::core::result::Result<(), ::fep_codec::EncodeError> {
                #(#formats)*
                let base = ctx.base();
                let __start = buf.len();
                #(#encode)*
                #(#post_encode)*
                ::core::result::Result::Ok(())
            }

            #[inline]
            #[allow(unused_variables, clippy::identity_op)]
            fn decode_in(
                input: &[u8],
                pos: &mut usize,
                ctx: &mut ::fep_codec::DecodeCtx,
            ) -> ::core::result::Result<Self, ::fep_codec::DecodeError> {
                #(#formats)*
                let __start = *pos;
                #(#decode)*
                #(#post_decode)*
                ::core::result::Result::Ok(Self { #(#idents),* })
            }
        }
    }
}

/// The field's width as a const `Option<usize>` expression.
fn width_expr(f: &Field) -> TokenStream {
    let ty = &f.ty;
    match (&f.shape, f.len()) {
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
fn format_const(spec: &Struct, f: &Field, error_name: &str) -> TokenStream {
    let fmt = format_ident!("__F_{}", f.ident);
    let a = &f.attrs;
    let len = f.len().unwrap_or(0);
    let charset = match a.charset.value().unwrap_or(spec.charset) {
        Charset::Ascii => quote!(::fep_codec::Charset::Ascii),
        Charset::Cp949 => quote!(::fep_codec::Charset::Cp949),
        Charset::EucKr => quote!(::fep_codec::Charset::EucKr),
    };
    let sign = match a.sign.value() {
        Some(Sign::Leading) => quote!(::fep_codec::Sign::Leading),
        Some(Sign::Trailing) => quote!(::fep_codec::Sign::Trailing),
        None => quote!(::fep_codec::Sign::None),
    };
    let numeric = a.numeric.is_set();
    let fullwidth = a.fullwidth.is_set();
    let truncate = a.truncate.is_set();
    let blank_zero = a.blank_zero.is_set();
    let tolerant = a.tolerant.is_set() || (spec.tolerant && f.is_number());
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
            tolerant: #tolerant,
        };
    }
}

fn label_expr(f: &Field) -> TokenStream {
    match f.attrs.label.get() {
        Some(l) => quote!(::core::option::Option::Some(#l)),
        None => quote!(::core::option::Option::None),
    }
}

/// Generated code for one field.
#[derive(Default)]
struct FieldCode {
    formats: TokenStream,
    encode: TokenStream,
    decode: TokenStream,
    layout: TokenStream,
    /// Runs after the struct's last field is encoded (length fields of the struct).
    post_encode: TokenStream,
    /// Runs after the struct's last field is decoded.
    post_decode: TokenStream,
}

/// `FieldLayout` expression of a scalar field whose value type is `value_ty`.
fn scalar_layout(f: &Field, value_ty: &syn::Type, rest: bool) -> TokenStream {
    let fmt = format_ident!("__F_{}", f.ident);
    let label = label_expr(f);
    let mask = f.attrs.mask.is_set();
    let lenient = f.attrs.lenient.is_set();
    let filler = f.attrs.filler.is_set();
    let auto_len = match f.attrs.auto_len.value() {
        Some(AutoLen::Total) => quote!(::core::option::Option::Some(::fep_codec::AutoLen::Total)),
        Some(AutoLen::Rest) => quote!(::core::option::Option::Some(::fep_codec::AutoLen::Rest)),
        Some(AutoLen::Telegram) => {
            quote!(::core::option::Option::Some(::fep_codec::AutoLen::Telegram))
        }
        None => quote!(::core::option::Option::None),
    };
    quote! {
        ::fep_codec::FieldLayout::from_format(&#fmt, <#value_ty as ::fep_codec::FieldValue>::KIND, #rest)
            .with_label(#label)
            .with_mask(#mask)
            .with_optional(<#value_ty as ::fep_codec::FieldValue>::OPTIONAL)
            .with_auto_len(#auto_len, #lenient)
            .with_filler(#filler)
    }
}

/// Encode and decode of a scalar field, including `auto_len` and `filler`.
fn scalar_code(f: &Field) -> FieldCode {
    let var = &f.ident;
    let ty = &f.ty;
    let name = f.name();
    let fmt = format_ident!("__F_{}", f.ident);
    let at = format_ident!("__at_{}", f.ident);
    let len = f.len().unwrap_or(0);
    let lenient = f.attrs.lenient.is_set();
    let read = if f.attrs.filler.is_set() {
        quote!(::fep_codec::__private::decode_filler(input, pos, &#fmt, ctx)?)
    } else {
        quote!(::fep_codec::__private::decode_scalar(input, pos, &#fmt)?)
    };
    let declared = quote!(::fep_codec::__private::CountValue::as_count(&#var));
    let mut code = FieldCode::default();
    let write = match f.attrs.auto_len.value() {
        None => quote!(::fep_codec::__private::encode_scalar(&self.#var, &#fmt, buf, base)?;),
        // The length is known once the enclosing struct is written: placeholder digits now,
        // patched after its last field.
        Some(mode @ (AutoLen::Total | AutoLen::Rest)) => {
            let (enc_len, dec_len) = if mode == AutoLen::Total {
                (quote!(buf.len() - __start), quote!(*pos - __start))
            } else {
                (
                    quote!(buf.len() - (#at + #len)),
                    quote!(*pos - (#at + #len)),
                )
            };
            code.post_encode = quote! {
                ::fep_codec::__private::patch_len(buf, #at, &#fmt, #enc_len, base)?;
            };
            if !lenient {
                code.post_decode = quote! {
                    ::fep_codec::__private::check_len(#name, #declared, #dec_len, #at, input)?;
                };
            }
            quote!(::fep_codec::__private::placeholder(buf, &#fmt);)
        }
        // The outermost telegram's length: filled and checked by the top-level encode/decode.
        Some(AutoLen::Telegram) => {
            if !lenient {
                code.post_decode = quote!(ctx.defer_len_check(#name, #declared, #at, input)?;);
            }
            quote! {
                ::fep_codec::__private::placeholder(buf, &#fmt);
                ctx.defer_len(#at, &#fmt)?;
            }
        }
    };
    code.encode = quote! {
        let #at = buf.len();
        #write
    };
    code.decode = quote! {
        let #at = *pos;
        let #var: #ty = #read;
    };
    code
}

/// (format consts, encode, decode, layout) code for one field.
fn field_code(spec: &Struct, f: &Field) -> FieldCode {
    let var = &f.ident;
    let name = f.name();
    let ty = &f.ty;
    let fmt = format_ident!("__F_{}", f.ident);
    let label = label_expr(f);
    match &f.shape {
        Shape::Scalar => {
            let lay = scalar_layout(f, ty, false);
            FieldCode {
                formats: format_const(spec, f, &name),
                layout: quote! { b.field(#lay); },
                ..scalar_code(f)
            }
        }
        Shape::Rest => {
            let lay = scalar_layout(f, ty, true);
            FieldCode {
                formats: format_const(spec, f, &name),
                encode: quote! { ::fep_codec::__private::encode_rest(&self.#var, &#fmt, buf, base)?; },
                decode: quote! { let #var: #ty = ::fep_codec::__private::decode_rest(input, pos, &#fmt)?; },
                layout: quote! { b.field(#lay); },
                ..FieldCode::default()
            }
        }
        Shape::Nested => FieldCode {
            formats: TokenStream::new(),
            encode: quote! {
                ::fep_codec::Telegram::encode_in(&self.#var, buf, ctx)
                    .map_err(|e| e.within(#name, ::core::option::Option::None))?;
            },
            decode: quote! {
                let #var = <#ty as ::fep_codec::Telegram>::decode_in(input, pos, ctx)
                    .map_err(|e| e.within(#name, ::core::option::Option::None))?;
            },
            layout: quote! { b.nested(#name, ::core::option::Option::None, <#ty as ::fep_codec::Telegram>::layout()); },
            ..FieldCode::default()
        },
        Shape::Array { elem, n, scalar } => {
            let one = element_code(spec, f, elem, *scalar);
            let (enc_one, dec_one, lay_one) = (one.encode, one.decode, one.layout);
            FieldCode {
                formats: one.formats,
                encode: quote! {
                    for (__i, __v) in self.#var.iter().enumerate() {
                        #enc_one
                    }
                },
                decode: quote! {
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
                layout: quote! {
                    for __i in 0..(#n) {
                        #lay_one
                    }
                },
                ..FieldCode::default()
            }
        }
        Shape::Repeat {
            elem,
            scalar,
            count,
            max,
        } => {
            let one = element_code(spec, f, elem, *scalar);
            let (enc_one, dec_one) = (one.encode, one.decode);
            let count_at = format_ident!("__at_{}", count);
            let count_name = count.to_string();
            let element_layout = if *scalar {
                let lay = scalar_layout(f, elem, false);
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
            FieldCode {
                formats: one.formats,
                encode: quote! {
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
                decode: quote! {
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
                layout: quote! { b.group(#name, #label, #count_name, #max, &#element_layout); },
                ..FieldCode::default()
            }
        }
    }
}

/// Encode/decode/layout of one element `__v` / index `__i` of an array or repeat group.
fn element_code(spec: &Struct, f: &Field, elem: &syn::Type, scalar: bool) -> FieldCode {
    let name = f.name();
    let fmt = format_ident!("__F_{}", f.ident);
    let mask = f.attrs.mask.is_set();
    let label = label_expr(f);
    if scalar {
        FieldCode {
            formats: format_const(spec, f, ""),
            encode: quote! {
                ::fep_codec::__private::encode_scalar(__v, &#fmt, buf, base)
                    .map_err(|e| e.within(#name, ::core::option::Option::Some(__i)))?;
            },
            decode: quote! {
                ::fep_codec::__private::decode_scalar::<#elem>(input, pos, &#fmt)
                    .map_err(|e| e.within(#name, ::core::option::Option::Some(__i)))?
            },
            layout: quote! {
                let mut __f = ::fep_codec::FieldLayout::from_format(&#fmt, <#elem as ::fep_codec::FieldValue>::KIND, false)
                    .with_label(#label)
                    .with_mask(#mask)
                    .with_optional(<#elem as ::fep_codec::FieldValue>::OPTIONAL);
                __f.path = ::std::format!("{}[{}]", #name, __i);
                __f.name = ::std::string::String::from(#name);
                b.field(__f);
            },
            ..FieldCode::default()
        }
    } else {
        FieldCode {
            formats: TokenStream::new(),
            encode: quote! {
                ::fep_codec::Telegram::encode_in(__v, buf, ctx)
                    .map_err(|e| e.within(#name, ::core::option::Option::Some(__i)))?;
            },
            decode: quote! {
                <#elem as ::fep_codec::Telegram>::decode_in(input, pos, ctx)
                    .map_err(|e| e.within(#name, ::core::option::Option::Some(__i)))?
            },
            layout: quote! { b.nested(#name, ::core::option::Option::Some(__i), <#elem as ::fep_codec::Telegram>::layout()); },
            ..FieldCode::default()
        }
    }
}

/// `encode_at`/`decode_at` (a telegram of its own) of every generated `Telegram` impl: the
/// shared runtime entry points, which patch and check the telegram-length fields.
pub fn top_level_methods() -> TokenStream {
    quote! {
        fn encode_at(
            &self,
            buf: &mut ::fep_codec::__private::BytesMut,
            base: usize,
        ) -> ::core::result::Result<(), ::fep_codec::EncodeError> {
            ::fep_codec::__private::encode_top(self, buf, base)
        }

        fn decode_at(
            input: &[u8],
            pos: &mut usize,
        ) -> ::core::result::Result<Self, ::fep_codec::DecodeError> {
            ::fep_codec::__private::decode_top(input, pos, false)
        }
    }
}
