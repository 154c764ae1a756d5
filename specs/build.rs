//! Generates Rust from the TOML specs (`fep_codec::spec::codegen`) into `OUT_DIR`, so
//! `tests/codegen.rs` can `include!` and compile it. A spec that fails to load becomes a
//! `compile_error!` in the generated file: only the codegen test fails, never the library.

use std::path::Path;

fn generate(manifest: &Path, toml: &str, out: &Path, name: &str) {
    let path = manifest.join(toml);
    println!("cargo:rerun-if-changed={}", path.display());
    let code = match fep_codec::spec::Family::load(&path) {
        Ok(family) => fep_codec::spec::codegen(&family),
        Err(e) => format!("compile_error!({:?});\n", e.to_string()),
    };
    if let Err(e) = std::fs::write(out.join(name), code) {
        println!("cargo:warning=cannot write {name}: {e}");
    }
}

fn main() {
    let (Some(manifest), Some(out)) = (
        std::env::var_os("CARGO_MANIFEST_DIR"),
        std::env::var_os("OUT_DIR"),
    ) else {
        println!("cargo:warning=CARGO_MANIFEST_DIR / OUT_DIR not set; skipping codegen");
        return;
    };
    let (manifest, out) = (Path::new(&manifest), Path::new(&out));
    println!("cargo:rerun-if-changed=build.rs");
    generate(manifest, "hecto.toml", out, "hecto_generated.rs");
    generate(manifest, "kibnet.toml", out, "kibnet_generated.rs");
    generate(
        manifest,
        "tests/data/shinhan.toml",
        out,
        "shinhan_generated.rs",
    );
    generate(
        manifest,
        "tests/data/general.toml",
        out,
        "general_generated.rs",
    );
}
