//! The TOML loaders on arbitrary text: `fep.toml` (`Config::from_str_named`) and spec families
//! (`Family::from_toml_str`).
//!
//! Properties: neither loader panics, and their errors render (`Display`, line, context — the
//! code that turns byte spans into line/column and key paths back into spans is where
//! multi-byte text and odd keys bite). A family that loads also renders as Rust
//! (`codegen`), as a Markdown 전문설계서 (`spec_doc`), and identifies/decodes a telegram
//! without panicking.

#![no_main]

use fep_codec::spec::{codegen, decode, spec_doc, DecodeOptions, Family, OutputFormat};
use fep_gateway::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    match Config::from_source(fep_gateway::config::Source {
        name: "fuzz.toml",
        text: &text,
    }) {
        Ok(config) => {
            let _ = config.link_count();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }

    match Family::from_toml_str(&text) {
        Ok(family) => {
            let _ = codegen(&family);
            let _ = spec_doc(&family);
            // A telegram of spaces and digits the size of each message, and the raw input.
            let sample: Vec<u8> = data.iter().map(|b| b' ' + b % 0x5f).collect();
            for input in [&sample[..], data] {
                let _ = family.identify(input);
                for format in [OutputFormat::Table, OutputFormat::Json] {
                    let options = DecodeOptions {
                        hex: false,
                        format,
                        unmask: false,
                    };
                    let _ = decode(&family, input, &options);
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
            let _ = e.line();
            let _ = e.context();
        }
    }
});
