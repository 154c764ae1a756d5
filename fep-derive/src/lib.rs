//! `#[derive(Telegram)]`: a spec struct becomes a byte-exact fixed-length telegram codec.
//!
//! Use it through `fep_codec` (`use fep_codec::Telegram;`), which documents the attributes.
//! The macro works like serde's derive, in three passes: attributes are parsed once into typed
//! values and a model of the type ([`internals::ast`]), the model is checked as a whole
//! ([`internals::check`]: every error of the type is collected and reported in one compile,
//! each with its span), then code is generated from the checked model.

mod expand_enum;
mod expand_struct;
mod internals;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

use internals::ast::Container;
use internals::Ctxt;

/// Derives `fep_codec::Telegram` for a struct (a telegram layout) or an enum (a message family
/// dispatched by header key fields).
#[proc_macro_derive(Telegram, attributes(telegram))]
pub fn derive_telegram(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

fn expand(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let cx = Ctxt::new();
    let Some(container) = Container::from_ast(&cx, input) else {
        cx.check()?;
        return Err(syn::Error::new_spanned(
            &input.ident,
            "cannot derive Telegram",
        ));
    };
    match &container {
        Container::Struct(s) => {
            let plan = internals::check::check_struct(&cx, s);
            cx.check()?;
            Ok(expand_struct::expand(s, &plan))
        }
        Container::Enum(e) => {
            internals::check::check_enum(&cx, e);
            cx.check()?;
            Ok(expand_enum::expand(e))
        }
    }
}
