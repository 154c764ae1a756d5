//! Compile-time diagnostics of `#[derive(Telegram)]`: each file under `tests/ui/` must fail to
//! compile with the message in its `.stderr` twin.

#[test]
fn derive_diagnostics() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
