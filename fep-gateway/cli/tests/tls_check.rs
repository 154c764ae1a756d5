//! `fep check` on a config with TLS links: a certificate expiring within 30 days is a
//! warning (the file is still accepted), a bad PEM file an error at its key.

use std::path::Path;
use std::process::Command;

use chrono::Datelike;

/// A CA and a leaf for 127.0.0.1 it issued, valid until `days` from today; (CA PEM, leaf
/// PEM, leaf key PEM).
fn certificates(days: u64) -> (String, String, String) {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let end = chrono::Utc::now().date_naive() + chrono::Days::new(days);
    let mut leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".into()]).expect("params");
    leaf.not_before = rcgen::date_time_ymd(2020, 1, 1);
    leaf.not_after = rcgen::date_time_ymd(end.year(), end.month() as u8, end.day() as u8);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = leaf.signed_by(&key, &issuer).expect("leaf");
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

/// A config whose inbound link presents `ours.pem`/`ours.key` and whose outbound link trusts
/// `ca.pem`, all in `dir`.
fn write_config(dir: &Path) -> std::path::PathBuf {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../specs/hecto.toml");
    let config = format!(
        r#"[[institution]]
name = "bank"
spec = "{}"

[[institution.links]]
name = "send"
role = "outbound"
connect = "127.0.0.1:9100"
direction = "send"
tls = {{ ca_file = "ca.pem" }}

[[institution.links]]
name = "recv"
role = "inbound"
listen = "127.0.0.1:0"
allowed_peers = ["127.0.0.1"]
direction = "recv"

[institution.links.tls]
cert_file = "ours.pem"
key_file = "ours.key"
"#,
        spec.display()
    );
    let path = dir.join("fep.toml");
    std::fs::write(&path, config).expect("config");
    path
}

fn fep_check(config: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fep"))
        .args(["check", "--config"])
        .arg(config)
        .output()
        .expect("fep check")
}

#[test]
fn fep_check_warns_about_a_certificate_expiring_in_10_days() {
    let dir = tempfile::tempdir().expect("dir");
    let (ca, cert, key) = certificates(10);
    for (name, text) in [("ca.pem", &ca), ("ours.pem", &cert), ("ours.key", &key)] {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    let config = write_config(dir.path());
    let out = fep_check(&config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok: 1 institutions, 2 links"
    );
    let warning = stderr
        .lines()
        .find(|l| l.starts_with("warning: "))
        .unwrap_or_else(|| panic!("no warning: {stderr}"));
    assert!(
        warning.contains("fep.toml:20:13: institution[0].links[1].tls.cert_file: certificate in"),
        "{warning}"
    );
    assert!(
        warning.contains("expires in 9 days") || warning.contains("expires in 10 days"),
        "{warning}"
    );
    assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");

    // The same file with a key file that is not PEM: refused, at the key.
    std::fs::write(dir.path().join("ours.key"), "not a key").expect("write");
    let out = fep_check(&config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("fep.toml:21:12: institution[0].links[1].tls.key_file:")
            && stderr.contains("ours.key holds no PEM PRIVATE KEY block"),
        "{stderr}"
    );
}
