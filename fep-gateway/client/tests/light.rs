//! fep-client stays light for internal services: its normal dependency tree must not pull
//! the gateway's storage, HTTP or config stacks.

use std::process::Command;

#[test]
fn no_sqlite_http_json_or_toml_in_the_dependency_tree() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
        ])
        .arg("fep-client")
        .arg("--manifest-path")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"tokio"), "the tree was read: {tree}");
    for heavy in [
        "rusqlite",
        "axum",
        "reqwest",
        "hyper",
        "serde_json",
        "toml",
        "serde",
    ] {
        assert!(
            !crates.contains(&heavy),
            "{heavy} in fep-client's tree:\n{tree}"
        );
    }
}
