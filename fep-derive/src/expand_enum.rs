//! Code generation for `#[derive(Telegram)]` on an enum: a message family dispatched by the
//! header's key fields, from the checked model.
//!
//! ```text
//! #[telegram(header = Header, key(msg_type, tx_code))]
//! enum Family {
//!     #[telegram(key("0200", "1100"), when(sr_flag = "6"))] Deposit(Deposit),
//!     #[telegram(key("0200", "1100"), when(sr_flag = "5"))] Payment(Payment),
//! }
//! ```
//!
//! The selector fields are the key fields followed by every field a `when` names; each variant
//! is a pattern over them (`None` where it does not care). Decoding picks the first variant
//! whose pattern the frame's bytes hold; encoding writes the variant's pattern back.

use proc_macro2::TokenStream;
use quote::quote;
use syn::Ident;

use crate::internals::ast::Enum;

pub fn expand(e: &Enum) -> TokenStream {
    let ident = &e.ident;
    let header = &e.header;
    let key_fields = &e.keys;

    // Key fields, then each `when` field once, in order of first appearance.
    let mut when_fields: Vec<&Ident> = Vec::new();
    for v in &e.variants {
        for (f, _) in &v.when {
            if !when_fields.contains(&f) {
                when_fields.push(f);
            }
        }
    }
    let names: Vec<String> = key_fields.iter().map(ToString::to_string).collect();
    let selectors: Vec<String> = key_fields
        .iter()
        .chain(when_fields.iter().copied())
        .map(ToString::to_string)
        .collect();
    let keys: Vec<TokenStream> = e
        .variants
        .iter()
        .map(|v| {
            let k = &v.key;
            quote!(&[#(#k),*])
        })
        .collect();
    let patterns: Vec<TokenStream> = e
        .variants
        .iter()
        .map(|v| {
            let key = v
                .key
                .iter()
                .map(|k| quote!(::core::option::Option::Some(#k)));
            let when = when_fields
                .iter()
                .map(|f| match v.when.iter().find(|(g, _)| g == *f) {
                    Some((_, lit)) => quote!(::core::option::Option::Some(#lit)),
                    None => quote!(::core::option::Option::None),
                });
            quote!(&[#(#key,)* #(#when),*])
        })
        .collect();
    let conditions: Vec<TokenStream> = e
        .variants
        .iter()
        .map(|v| {
            let pairs = v.when.iter().map(|(f, lit)| {
                let f = f.to_string();
                quote!((#f, #lit))
            });
            quote!(&[#(#pairs),*])
        })
        .collect();
    let v_idents: Vec<&Ident> = e.variants.iter().map(|v| &v.ident).collect();
    let v_types: Vec<&syn::Type> = e.variants.iter().map(|v| &v.ty).collect();
    let indices: Vec<usize> = (0..e.variants.len()).collect();
    let count = e.variants.len();
    let top_level = crate::expand_struct::top_level_methods();

    quote! {
        // Misspelled key or `when` fields fail here, pointing at the name.
        const _: fn(&#header) = |h: &#header| { let _ = (#(&h.#key_fields,)* #(&h.#when_fields),*); };

        impl #ident {
            const __KEY_FIELDS: &'static [&'static str] = &[#(#names),*];
            const __SELECTORS: &'static [&'static str] = &[#(#selectors),*];
            const __KEYS: &'static [&'static [&'static str]] = &[#(#keys),*];
            const __PATTERNS: &'static [&'static [::core::option::Option<&'static str>]] =
                &[#(#patterns),*];
            const __CONDITIONS: &'static [&'static [(&'static str, &'static str)]] =
                &[#(#conditions),*];

            /// Where the selector fields sit in the header (resolved once).
            fn __selector_cache() -> &'static ::fep_codec::__private::KeyCache {
                static KEYS: ::fep_codec::__private::KeyCache = ::fep_codec::__private::OnceLock::new();
                &KEYS
            }

            fn __index(&self) -> usize {
                match self {
                    #(Self::#v_idents(_) => #indices,)*
                }
            }
        }

        impl ::fep_codec::Telegram for #ident {
            const FIXED_LEN: ::core::option::Option<usize> = ::core::option::Option::None;

            /// The shared header's layout; each variant's full layout is `layout_for_key`.
            fn layout() -> &'static ::fep_codec::Layout {
                <#header as ::fep_codec::Telegram>::layout()
            }

            #top_level

            fn encode_in(
                &self,
                buf: &mut ::fep_codec::__private::BytesMut,
                ctx: &mut ::fep_codec::EncodeCtx,
            ) -> ::core::result::Result<(), ::fep_codec::EncodeError> {
                let start = buf.len();
                match self {
                    #(Self::#v_idents(v) => ::fep_codec::Telegram::encode_in(v, buf, ctx)?,)*
                }
                ::fep_codec::__private::write_key(
                    Self::__selector_cache(),
                    <#header as ::fep_codec::Telegram>::layout,
                    Self::__SELECTORS,
                    Self::__PATTERNS[self.__index()],
                    buf,
                    start,
                )
            }

            fn decode_in(
                input: &[u8],
                pos: &mut usize,
                ctx: &mut ::fep_codec::DecodeCtx,
            ) -> ::core::result::Result<Self, ::fep_codec::DecodeError> {
                let index = ::fep_codec::__private::select(
                    Self::__selector_cache(),
                    <#header as ::fep_codec::Telegram>::layout,
                    Self::__SELECTORS,
                    Self::__PATTERNS,
                    input,
                    *pos,
                )?;
                match index {
                    #(#indices => ::core::result::Result::Ok(Self::#v_idents(<#v_types as ::fep_codec::Telegram>::decode_in(input, pos, ctx)?)),)*
                    _ => ::core::result::Result::Err(::fep_codec::DecodeError::new(
                        ::fep_codec::DecodeErrorKind::UnknownKey { key: ::std::string::String::new() },
                        "", *pos, &[],
                    )),
                }
            }

            fn layout_of(&self) -> &'static ::fep_codec::Layout {
                match self {
                    #(Self::#v_idents(_) => <#v_types as ::fep_codec::Telegram>::layout(),)*
                }
            }
        }

        impl ::fep_codec::TelegramFamily for #ident {
            const KEY_FIELDS: &'static [&'static str] = Self::__KEY_FIELDS;

            fn keys() -> &'static [&'static [&'static str]] {
                Self::__KEYS
            }

            fn key(&self) -> &'static [&'static str] {
                Self::__KEYS[self.__index()]
            }

            fn layout_for_key(key: &[&str]) -> ::core::option::Option<&'static ::fep_codec::Layout> {
                Self::__KEYS
                    .iter()
                    .position(|k| *k == key)
                    .and_then(<Self as ::fep_codec::TelegramFamily>::variant_layout)
            }

            fn conditions() -> &'static [&'static [(&'static str, &'static str)]] {
                Self::__CONDITIONS
            }

            fn variant_index(&self) -> usize {
                self.__index()
            }

            fn variant_layout(index: usize) -> ::core::option::Option<&'static ::fep_codec::Layout> {
                let layouts: [fn() -> &'static ::fep_codec::Layout; #count] =
                    [#(<#v_types as ::fep_codec::Telegram>::layout),*];
                layouts.get(index).map(|f| f())
            }
        }
    }
}
