//! `[institution.links.tls]` through the whole pipeline on real files: the rules, PEM files
//! read at resolve time with located errors, relative paths, and `fep check`'s expiry warning.

use std::path::Path;

use super::*;
use crate::config::{load_and_resolve, ConfigError, Diagnostic, Resolved};
use crate::tls::test_pki::{Ca, VALID};

/// A directory with `specs/hecto.toml` and the files given, and `fep.toml` = `config`.
fn files(config: &str, extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("specs")).unwrap();
    std::fs::write(dir.path().join("specs/hecto.toml"), fep_specs::HECTO_TOML).unwrap();
    for (name, text) in extra {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    std::fs::write(dir.path().join("fep.toml"), config).unwrap();
    dir
}

fn resolve(dir: &Path) -> Result<Resolved, ConfigError> {
    load_and_resolve(dir.join("fep.toml"))
}

fn problems(dir: &Path) -> Vec<Diagnostic> {
    match resolve(dir) {
        Ok(r) => panic!("expected problems, got {:?}", r.settings),
        Err(e) => e.diagnostics().to_vec(),
    }
}

/// The 1-based line and column of the first `needle` in `text`.
fn position(text: &str, needle: &str) -> (usize, usize) {
    let (i, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in the config"));
    (i + 1, line.find(needle).unwrap() + 1)
}

const HEAD: &str = r#"
[[institution]]
name = "hecto"
spec = "specs/hecto.toml"
"#;

/// An outbound link with an inline `tls` table, and an inbound one with a `[…tls]` section.
fn both_forms(outbound_tls: &str, inbound_tls: &str) -> String {
    format!(
        r#"{HEAD}
[[institution.links]]
name = "out"
role = "outbound"
connect = "127.0.0.1:9100"
direction = "send"
tls = {{ {outbound_tls} }}

[[institution.links]]
name = "in"
role = "inbound"
listen = "127.0.0.1:0"
allowed_peers = ["127.0.0.1"]
direction = "recv"

[institution.links.tls]
{inbound_tls}
"#
    )
}

/// Both table forms, relative paths (anchored to the config's directory), every key.
#[test]
fn tls_tables_inline_and_as_sections_resolve_with_relative_paths() {
    let (ca, clients) = (Ca::new("bank CA"), Ca::new("clients CA"));
    let ours = ca.localhost();
    let config = both_forms(
        r#"ca_file = "pki/ca.pem", server_name = "bank.example", cert_file = "pki/ours.pem", key_file = "pki/ours.key", handshake_timeout = "3s""#,
        "cert_file = \"pki/ours.pem\"\nkey_file = \"pki/ours.key\"\nclient_auth = \"required\"\nclient_ca_file = \"pki/clients.pem\"",
    );
    let dir = files(
        &config,
        &[
            ("pki/ca.pem", &ca.pem),
            ("pki/clients.pem", &clients.pem),
            ("pki/ours.pem", &ours.cert_pem),
            ("pki/ours.key", &ours.key_pem),
        ],
    );
    let resolved = resolve(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let links = &resolved.settings.institutions[0].links;
    let out = links[0].tls.as_ref().expect("outbound TLS");
    assert_eq!(out.handshake_timeout, Duration::from_secs(3));
    let which: Vec<_> = out.expiry().iter().map(|e| e.which.as_str()).collect();
    assert_eq!(which, ["ours", "ca"]);
    let inbound = links[1].tls.as_ref().expect("inbound TLS");
    assert_eq!(inbound.handshake_timeout, DEFAULT_HANDSHAKE_TIMEOUT);
    assert!(resolved.warnings.is_empty(), "{:?}", resolved.warnings);
    // Key material is not in the settings' debug output.
    let shown = format!("{:?}", resolved.settings);
    assert!(!shown.contains("PRIVATE KEY") && !shown.contains(&ours.key_pem[40..80]));
}

/// A CA file that is not PEM, a key file that holds no key, a missing file: each is an error
/// at its value's line and column, naming the file and never showing a key.
#[test]
fn bad_pem_files_are_errors_located_at_their_keys() {
    let ours = Ca::new("bank CA").localhost();
    let config = both_forms(
        r#"ca_file = "garbage.pem""#,
        "cert_file = \"ours.pem\"\nkey_file = \"not-a-key.pem\"",
    );
    let dir = files(
        &config,
        &[
            ("garbage.pem", "this is not a certificate\n"),
            ("ours.pem", &ours.cert_pem),
            // A certificate where the key should be.
            ("not-a-key.pem", &ours.cert_pem),
        ],
    );
    let found = problems(dir.path());
    let at = |path: &str| {
        found
            .iter()
            .find(|d| d.path == path)
            .unwrap_or_else(|| panic!("no problem at {path}: {found:#?}"))
    };
    let ca = at("institution[0].links[0].tls.ca_file");
    assert_eq!(
        (ca.line, ca.column),
        position(&config, "\"garbage.pem\""),
        "{ca}"
    );
    assert!(
        ca.message.contains("garbage.pem holds no PEM CERTIFICATE"),
        "{ca}"
    );
    let key = at("institution[0].links[1].tls.key_file");
    assert_eq!(
        (key.line, key.column),
        position(&config, "\"not-a-key.pem\""),
        "{key}"
    );
    assert!(
        key.message
            .contains("not-a-key.pem holds no PEM PRIVATE KEY"),
        "{key}"
    );
    assert!(!key.message.contains("BEGIN"), "{key}");
    assert!(found.iter().all(|d| d.file.ends_with("fep.toml")));

    let config = both_forms(
        r#"ca_file = "missing.pem""#,
        "cert_file = \"ours.pem\"\nkey_file = \"ours.pem\"",
    );
    let dir = files(&config, &[("ours.pem", &ours.cert_pem)]);
    let found = problems(dir.path());
    let missing = &found[0];
    assert_eq!(
        missing.path, "institution[0].links[0].tls.ca_file",
        "{found:#?}"
    );
    assert!(
        missing.message.contains("cannot read") && missing.message.contains("missing.pem"),
        "{missing}"
    );
}

/// What `Config::from_source` refuses without opening a file.
#[test]
fn tls_rules_are_checked_with_the_other_link_rules() {
    let config = both_forms(
        r#"pin_sha256 = "abcd", client_auth = "optional", handshake_timeout = "0s""#,
        "cert_file = \"ours.pem\"\nclient_auth = \"required\"\nserver_name = \"x\"",
    );
    let err = crate::config::Config::from_source(crate::config::Source {
        name: "fep.toml",
        text: &config,
    })
    .unwrap_err();
    let found: Vec<(&str, &str)> = err
        .diagnostics()
        .iter()
        .map(|d| (d.path.as_str(), d.message.as_str()))
        .collect();
    let has = |path: &str, words: &str| {
        assert!(
            found.iter().any(|(p, m)| *p == path && m.contains(words)),
            "want {words:?} at {path}: {found:#?}"
        );
    };
    let out = "institution[0].links[0].tls";
    has(&format!("{out}.pin_sha256"), "64 hex digits");
    has(
        &format!("{out}.client_auth"),
        "only applies to inbound links",
    );
    has(&format!("{out}.handshake_timeout"), "must be positive");
    let inb = "institution[0].links[1].tls";
    has(inb, "set cert_file and key_file");
    has(&format!("{inb}.client_auth"), "needs client_ca_file");
    has(
        &format!("{inb}.server_name"),
        "only applies to outbound links",
    );
    let no_trust = both_forms(r#"server_name = "bank.example""#, "");
    let err = crate::config::Config::from_source(crate::config::Source {
        name: "fep.toml",
        text: &no_trust,
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("institution[0].links[0].tls: an outbound TLS link must verify"),
        "{err}"
    );
}

/// A certificate expiring in 10 days: the file resolves, with a warning located at the key.
/// A leaf of `ca` for 127.0.0.1 expiring `days` from today.
fn expiring_in(ca: &Ca, days: u64) -> crate::tls::test_pki::Leaf {
    use chrono::Datelike;
    let soon = chrono::Utc::now().date_naive() + chrono::Days::new(days);
    let date = (soon.year(), soon.month() as u8, soon.day() as u8);
    ca.issue("127.0.0.1", (VALID.0, date))
}

#[test]
fn a_certificate_expiring_within_30_days_is_warned_about() {
    let ca = Ca::new("bank CA");
    let ours = expiring_in(&ca, 10);
    let config = both_forms(
        r#"ca_file = "ca.pem""#,
        "cert_file = \"ours.pem\"\nkey_file = \"ours.key\"",
    );
    let dir = files(
        &config,
        &[
            ("ca.pem", &ca.pem),
            ("ours.pem", &ours.cert_pem),
            ("ours.key", &ours.key_pem),
        ],
    );
    let resolved = resolve(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let [warning] = resolved.warnings.as_slice() else {
        panic!("one warning: {:?}", resolved.warnings);
    };
    assert_eq!(warning.path, "institution[0].links[1].tls.cert_file");
    assert_eq!(
        (warning.line, warning.column),
        position(&config, "\"ours.pem\"")
    );
    assert!(
        warning.message.contains("expires in 9 days")
            || warning.message.contains("expires in 10 days"),
        "{warning}"
    );
}

/// `[server.tls]` and `[[server.clients]]` resolve into the gateway's access: TLS read from
/// relative paths, clients with their rules, the server certificate's expiry warned about.
#[test]
fn server_tls_and_clients_resolve_into_access() {
    use crate::auth::{ClientId, Scope};
    let (ca, clients) = (Ca::new("gateway CA"), Ca::new("clients CA"));
    let ours = expiring_in(&ca, 5);
    let config = format!(
        r#"[server]
admin_listen = "127.0.0.1:0"
[server.tls]
cert_file = "pki/server.pem"
key_file = "pki/server.key"
client_auth = "required"
client_ca_file = "pki/clients.pem"
[[server.clients]]
name = "payroll"
cert_subject = "payroll.bank.internal"
token_sha256 = "{}"
institutions = ["hecto"]
messages = ["2000/100"]
{}"#,
        "ab".repeat(32),
        both_forms(r#"pin_sha256 = "{pin}""#, "").replace("{pin}", &"cd".repeat(32)),
    );
    let config = config.replace(
        "[institution.links.tls]\n\n",
        "[institution.links.tls]\ncert_file = \"pki/server.pem\"\nkey_file = \"pki/server.key\"\n",
    );
    let dir = files(
        &config,
        &[
            ("pki/server.pem", &ours.cert_pem),
            ("pki/server.key", &ours.key_pem),
            ("pki/clients.pem", &clients.pem),
        ],
    );
    let resolved = resolve(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let access = &resolved.access;
    assert!(access.enforced());
    assert!(access.tls.is_some());
    assert_eq!(access.admin_listen, Some("127.0.0.1:0".parse().unwrap()));
    let [payroll] = access.clients.as_slice() else {
        panic!("one client: {:?}", access.clients);
    };
    assert_eq!(payroll.id, ClientId::new("payroll"));
    assert_eq!(
        payroll.rules.institutions,
        Scope::Only(vec!["hecto".into()])
    );
    assert_eq!(
        payroll.rules.messages,
        Scope::Only(vec!["2000/100".parse().unwrap()])
    );
    assert!(!payroll.rules.admin && !payroll.rules.notices);
    assert!(
        resolved
            .warnings
            .iter()
            .any(|w| w.path == "server.tls.cert_file" && w.message.contains("expires in")),
        "{:?}",
        resolved.warnings
    );
    assert!(
        !format!("{access:?}").contains(&"ab".repeat(32)),
        "no token digest in Debug"
    );
}

/// The rules of `[server.tls]` and `[[server.clients]]`, each at its key.
#[test]
fn server_access_rules_are_located_errors() {
    let config = format!(
        r#"[server]
[[server.clients]]
name = "a"
token_sha256 = "xyz"
cert_subject = "a.internal"
institutions = ["nope"]
messages = ["2000//100"]
[[server.clients]]
name = "a"
{}"#,
        both_forms(
            r#"pin_sha256 = "{pin}""#,
            "cert_file = \"x.pem\"\nkey_file = \"x.key\""
        )
        .replace("{pin}", &"cd".repeat(32)),
    );
    let ours = Ca::new("c").localhost();
    let dir = files(
        &config,
        &[("x.pem", &ours.cert_pem), ("x.key", &ours.key_pem)],
    );
    let found = problems(dir.path());
    let paths: Vec<&str> = found.iter().map(|d| d.path.as_str()).collect();
    for path in [
        "server.clients[0].token_sha256",
        "server.clients[0].cert_subject",
        "server.clients[0].institutions",
        "server.clients[0].messages",
        "server.clients[1].name",
        "server.clients[1]",
    ] {
        assert!(paths.contains(&path), "no problem at {path}: {found:#?}");
    }
    let line = found
        .iter()
        .find(|d| d.path == "server.clients[0].token_sha256")
        .map(|d| (d.line, d.column));
    assert_eq!(line, Some(position(&config, "\"xyz\"")));
}
