//! `#[derive(Telegram)]`: a spec struct becomes a byte-exact fixed-length telegram codec.
//!
//! Use it through `fep_codec` (`use fep_codec::Telegram;`), which documents the attributes.
//! The macro works in two steps, like serde's derive: attributes are parsed and validated into
//! a typed model ([`model`]), then code is generated from the model.

mod expand_enum;
mod expand_struct;
mod model;

use proc_macro::TokenStream;
use syn::{parse_macro_input, Data, DeriveInput};

/// Derives `fep_codec::Telegram` for a struct (a telegram layout) or an enum (a message family
/// dispatched by header key fields).
#[proc_macro_derive(Telegram, attributes(telegram))]
pub fn derive_telegram(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    if !input.generics.params.is_empty() {
        return syn::Error::new_spanned(
            &input.generics,
            "#[derive(Telegram)] does not support generic types",
        )
        .to_compile_error()
        .into();
    }
    let result = match &input.data {
        Data::Enum(_) => expand_enum::expand(&input),
        _ => model::parse_struct(&input).and_then(|spec| expand_struct::expand(&spec)),
    };
    result.unwrap_or_else(syn::Error::into_compile_error).into()
}
