//! Code generation for `#[derive(Telegram)]` on an enum: a message family dispatched by the
//! header's key fields.
//!
//! ```text
//! #[telegram(header = Header, key(msg_type, biz_type))]
//! enum Family { #[telegram(key("2000", "100"))] Transfer(Transfer), ... }
//! ```

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, Ident, LitStr, Type};

struct Variant {
    ident: Ident,
    ty: Type,
    key: Vec<LitStr>,
}

pub fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let ident = &input.ident;
    let mut header: Option<Type> = None;
    let mut key_fields: Vec<Ident> = Vec::new();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("telegram")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("header") {
                header = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("key") {
                meta.parse_nested_meta(|inner| {
                    let id = inner.path.get_ident().cloned().ok_or_else(|| inner.error("expected a header field name"))?;
                    key_fields.push(id);
                    Ok(())
                })?;
            } else {
                return Err(meta.error("unknown telegram enum attribute; expected `header = Type` or `key(field, ...)`"));
            }
            Ok(())
        })?;
    }
    let Some(header) = header else {
        return Err(syn::Error::new_spanned(
            ident,
            "a telegram family enum needs #[telegram(header = HeaderType, key(field, ...))]",
        ));
    };
    if key_fields.is_empty() {
        return Err(syn::Error::new_spanned(
            ident,
            "a telegram family enum needs `key(field, ...)` naming the header's key fields",
        ));
    }
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new_spanned(ident, "expected an enum"));
    };

    let mut variants = Vec::new();
    for v in &data.variants {
        let ty =
            match &v.fields {
                Fields::Unnamed(u) if u.unnamed.len() == 1 => u.unnamed[0].ty.clone(),
                _ => return Err(syn::Error::new_spanned(
                    v,
                    "each variant must hold exactly one telegram struct, e.g. `Transfer(Transfer)`",
                )),
            };
        let mut key = None;
        for attr in v.attrs.iter().filter(|a| a.path().is_ident("telegram")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("key") {
                    let content;
                    syn::parenthesized!(content in meta.input);
                    let lits = content.parse_terminated(|p| p.parse::<LitStr>(), syn::Token![,])?;
                    key = Some(lits.into_iter().collect::<Vec<_>>());
                    Ok(())
                } else {
                    Err(meta
                        .error("unknown telegram variant attribute; expected `key(\"...\", ...)`"))
                }
            })?;
        }
        let Some(key) = key else {
            return Err(syn::Error::new_spanned(
                &v.ident,
                "variant needs #[telegram(key(\"...\", ...))]",
            ));
        };
        if key.len() != key_fields.len() {
            return Err(syn::Error::new_spanned(
                &v.ident,
                format!(
                    "key has {} values but the family declares {} key fields",
                    key.len(),
                    key_fields.len()
                ),
            ));
        }
        if let Some(prev) = variants.iter().find(|p: &&Variant| {
            p.key
                .iter()
                .map(LitStr::value)
                .eq(key.iter().map(LitStr::value))
        }) {
            return Err(syn::Error::new_spanned(
                &v.ident,
                format!("duplicate key: `{}` has the same key", prev.ident),
            ));
        }
        variants.push(Variant {
            ident: v.ident.clone(),
            ty,
            key,
        });
    }

    let names: Vec<String> = key_fields.iter().map(ToString::to_string).collect();
    let keys: Vec<TokenStream> = variants
        .iter()
        .map(|v| {
            let k = &v.key;
            quote!(&[#(#k),*])
        })
        .collect();
    let v_idents: Vec<&Ident> = variants.iter().map(|v| &v.ident).collect();
    let v_types: Vec<&Type> = variants.iter().map(|v| &v.ty).collect();
    let indices: Vec<usize> = (0..variants.len()).collect();
    let count = variants.len();

    Ok(quote! {
        // Misspelled key fields fail here, pointing at the name.
        const _: fn(&#header) = |h: &#header| { let _ = (#(&h.#key_fields),*); };

        impl #ident {
            const __KEY_FIELDS: &'static [&'static str] = &[#(#names),*];
            const __KEYS: &'static [&'static [&'static str]] = &[#(#keys),*];
        }

        impl ::fep_codec::Telegram for #ident {
            const FIXED_LEN: ::core::option::Option<usize> = ::core::option::Option::None;

            /// The shared header's layout; each variant's full layout is `layout_for_key`.
            fn layout() -> &'static ::fep_codec::Layout {
                <#header as ::fep_codec::Telegram>::layout()
            }

            fn encode_at(
                &self,
                buf: &mut ::fep_codec::__private::BytesMut,
                base: usize,
            ) -> ::core::result::Result<(), ::fep_codec::EncodeError> {
                static KEYS: ::fep_codec::__private::OnceLock<
                    ::core::result::Result<::std::vec::Vec<::fep_codec::__private::KeyField>, ::std::string::String>,
                > = ::fep_codec::__private::OnceLock::new();
                let start = buf.len();
                let key = ::fep_codec::TelegramFamily::key(self);
                match self {
                    #(Self::#v_idents(v) => ::fep_codec::Telegram::encode_at(v, buf, base)?,)*
                }
                ::fep_codec::__private::write_key(
                    &KEYS,
                    <#header as ::fep_codec::Telegram>::layout,
                    Self::__KEY_FIELDS,
                    key,
                    buf,
                    start,
                )
            }

            fn decode_at(
                input: &[u8],
                pos: &mut usize,
            ) -> ::core::result::Result<Self, ::fep_codec::DecodeError> {
                static KEYS: ::fep_codec::__private::OnceLock<
                    ::core::result::Result<::std::vec::Vec<::fep_codec::__private::KeyField>, ::std::string::String>,
                > = ::fep_codec::__private::OnceLock::new();
                let index = ::fep_codec::__private::select(
                    &KEYS,
                    <#header as ::fep_codec::Telegram>::layout,
                    Self::__KEY_FIELDS,
                    Self::__KEYS,
                    input,
                    *pos,
                )?;
                match index {
                    #(#indices => ::core::result::Result::Ok(Self::#v_idents(<#v_types as ::fep_codec::Telegram>::decode_at(input, pos)?)),)*
                    _ => ::core::result::Result::Err(::fep_codec::DecodeError::new(
                        ::fep_codec::DecodeErrorKind::UnknownKey { key: ::std::string::String::new() },
                        "", *pos, &[],
                    )),
                }
            }
        }

        impl ::fep_codec::TelegramFamily for #ident {
            const KEY_FIELDS: &'static [&'static str] = Self::__KEY_FIELDS;

            fn keys() -> &'static [&'static [&'static str]] {
                Self::__KEYS
            }

            fn key(&self) -> &'static [&'static str] {
                match self {
                    #(Self::#v_idents(_) => Self::__KEYS[#indices],)*
                }
            }

            fn layout_for_key(key: &[&str]) -> ::core::option::Option<&'static ::fep_codec::Layout> {
                let layouts: [fn() -> &'static ::fep_codec::Layout; #count] =
                    [#(<#v_types as ::fep_codec::Telegram>::layout),*];
                Self::__KEYS.iter().position(|k| *k == key).and_then(|i| layouts.get(i)).map(|f| f())
            }
        }
    })
}
