//! `[institution.encryption]` through the whole pipeline: keys from files and variables,
//! scopes located in the family's layouts, bad values located, key bytes never shown.

use std::os::unix::fs::PermissionsExt;

use super::*;

/// A 32-byte key in hex; no diagnostic may ever contain it (or its first 8 digits).
const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// `CONFIG` with an encryption table made of `lines`.
fn with(lines: &str) -> String {
    format!("{CONFIG}\n[institution.encryption]\n{lines}\n")
}

/// The files of `config`, with `keys/kib.key` holding `key` (mode `mode`).
fn files(config: &str, key: &str, mode: u32) -> Files {
    files_of(config, fep_specs::HECTO_TOML, key, mode)
}

/// [`files`] with another spec file.
fn files_of(config: &str, spec: &str, key: &str, mode: u32) -> Files {
    let f = Files::new(config, Some(spec));
    let dir = f.dir.path().join("keys");
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("kib.key");
    std::fs::write(&path, key).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    f
}

fn no_key_shown(ds: &[Diagnostic]) {
    for d in ds {
        let text = d.to_string();
        assert!(
            !text.contains(&KEY[..8]) && !text.contains(&KEY[8..16]),
            "{text}"
        );
    }
}

const BODY: &str = r#"algorithm = "aria-256"
mode = "cbc"
padding = "pkcs7"
key_file = "keys/kib.key"
key_format = "hex"
iv = "zero"
scope = "body""#;

#[test]
fn a_body_cipher_resolves_from_a_key_file_and_round_trips_a_telegram() {
    let f = files(&with(BODY), &format!("{KEY}\n"), 0o600);
    let r = f.resolve().unwrap_or_else(|e| panic!("{e}"));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let inst = &r.settings.institutions[0];
    let enc = inst.encryption.as_ref().expect("encryption settings");
    assert!(!enc.journal_plaintext);
    let telegram = inst.profile.admin(&"2000/100".parse().unwrap());
    let wire = enc.cipher.encrypt(&telegram).unwrap();
    // Hecto's header is 100 bytes: it stays clear, the 200-byte body grows to 208.
    assert_eq!(wire[..100], telegram[..100]);
    assert_eq!(wire.len(), 308);
    assert_eq!(enc.cipher.decrypt(&wire).unwrap(), telegram);
    let shown = format!("{:?}", inst);
    assert!(
        !shown.contains(&KEY[..8]) && shown.contains("body from 100"),
        "{shown}"
    );
}

#[test]
fn a_key_from_the_environment_and_a_field_scope() {
    let var = "FEP_TEST_CRYPTO_FIELD_KEY";
    std::env::set_var(var, &KEY[..32]);
    let config = with(&format!(
        "algorithm = \"aes-128\"\nmode = \"cbc\"\npadding = \"none\"\nkey_env = \"{var}\"\n\
         key_format = \"hex\"\niv = {{ hex = \"{}\" }}\nscope = {{ fields = [\"cms_code\"] }}\n\
         journal_plaintext = true",
        &KEY[32..]
    ));
    let r = ok(&config);
    let inst = &r.settings.institutions[0];
    let enc = inst.encryption.as_ref().unwrap();
    assert!(enc.journal_plaintext);
    // cms_code is at 183 in 2000/100 and at 222 in 2000/200: each message its own place.
    for (key, at) in [("2000/100", 183), ("2000/200", 222)] {
        let mut telegram = inst.profile.admin(&key.parse().unwrap());
        telegram[at..at + 16].copy_from_slice(b"CMS0000000000042");
        let wire = enc.cipher.encrypt(&telegram).unwrap();
        assert_eq!(wire.len(), telegram.len());
        assert_ne!(wire[at..at + 16], telegram[at..at + 16], "{key}");
        assert_eq!(wire[..at], telegram[..at], "{key}");
        assert_eq!(enc.cipher.decrypt(&wire).unwrap(), telegram, "{key}");
    }
    std::env::remove_var(var);
}

#[test]
fn an_iv_field_of_the_header_is_located_in_the_family() {
    let spec = fep_specs::HECTO_TOML.replace(
        r#"{ name = "reserved3",  label = "예비영역3",    type = "AN", len = 18, offset = 82,"#,
        r#"{ name = "iv", type = "AN", len = 16, offset = 82, default = "" },
  { name = "reserved3",  label = "예비영역3",    type = "AN", len = 2, offset = 98,"#,
    );
    assert_ne!(spec, fep_specs::HECTO_TOML);
    let config = with(&BODY.replace("iv = \"zero\"", "iv = { field = \"header.iv\" }"));
    let r = files_of(&config, &spec, KEY, 0o600)
        .resolve()
        .unwrap_or_else(|e| panic!("{e}"));
    let cipher = &r.settings.institutions[0]
        .encryption
        .as_ref()
        .unwrap()
        .cipher;
    assert_eq!(
        cipher.iv_field(),
        Some(crate::profile::Span {
            offset: 82,
            len: 16
        })
    );
}

#[test]
fn bad_values_are_located_and_never_show_the_key() {
    let config = with(
        r#"algorithm = "aria-256"
mode = "ctr"
padding = "pkcs7"
key_file = "keys/kib.key"
key_env = "FEP_X"
key_format = "hex"
iv = { hex = "0011" }
scope = { fields = [] }"#,
    );
    let ds = files(&config, KEY, 0o600).problems();
    no_key_shown(&ds);
    let p = "institution[0].encryption";
    let d = at(&ds, &format!("{p}.padding"));
    assert_eq!(
        d.message,
        "ctr keeps the length and takes no padding (got \"pkcs7\"): remove it"
    );
    assert_eq!((d.line, d.column), pos(&config, "\"pkcs7\""));
    assert_eq!(
        at(&ds, &format!("{p}.key_env")).message,
        "give key_file or key_env, not both"
    );
    let d = at(&ds, &format!("{p}.iv.hex"));
    assert_eq!(d.message, "the IV must be 16 bytes, it has 2");
    assert_eq!((d.line, d.column), pos(&config, "\"0011\""));
    assert_eq!(
        at(&ds, &format!("{p}.scope.fields")).message,
        "list at least one field"
    );
}

#[test]
fn key_problems_name_the_file_not_the_key() {
    let p = "institution[0].encryption.key_file";
    // Too short for aria-256.
    let ds = files(&with(BODY), &KEY[..62], 0o600).problems();
    no_key_shown(&ds);
    let d = at(&ds, p);
    assert!(
        d.message
            .ends_with("holds a 31-byte key; aria-256 needs 32 bytes (64 hex digits)"),
        "{d}"
    );
    assert_eq!((d.line, d.column), pos(&with(BODY), "\"keys/kib.key\""));
    // Not hex: the position, never the character.
    let bad = format!("{}Q{}", &KEY[..40], &KEY[41..]);
    let ds = files(&with(BODY), &bad, 0o600).problems();
    no_key_shown(&ds);
    assert!(at(&ds, p)
        .message
        .ends_with("a character that is not a hex digit at position 40"));
    // Missing file, missing variable.
    let ds = Files::new(&with(BODY), Some(fep_specs::HECTO_TOML)).problems();
    assert!(
        at(&ds, p).message.starts_with("cannot read key file "),
        "{ds:?}"
    );
    let env = with(&BODY.replace(
        "key_file = \"keys/kib.key\"",
        "key_env = \"FEP_TEST_NO_SUCH_KEY\"",
    ));
    let ds = problems(&env);
    let d = at(&ds, "institution[0].encryption.key_env");
    assert_eq!(
        d.message,
        "environment variable FEP_TEST_NO_SUCH_KEY is not set"
    );
}

#[test]
fn cbc_fields_must_be_whole_blocks_and_exist() {
    let config = with(
        &BODY
            .replace("padding = \"pkcs7\"", "padding = \"none\"")
            .replace(
                "scope = \"body\"",
                "scope = { fields = [\"wd_account\", \"no_such\", \"cms_code\"] }",
            ),
    );
    let ds = files(&config, KEY, 0o600).problems();
    let p = "institution[0].encryption.scope.fields";
    let d = at(&ds, &format!("{p}[0]"));
    assert!(
        d.message.starts_with("wd_account is 15 bytes wide in "),
        "{d}"
    );
    assert!(d.message.contains("multiple of 16 bytes"), "{d}");
    assert_eq!((d.line, d.column), pos(&config, "\"wd_account\""));
    let d = at(&ds, &format!("{p}[1]"));
    assert_eq!(
        d.message,
        "no message of the family has a field no_such (at a fixed offset)"
    );
    assert_eq!(ds.len(), 2, "{ds:#?}");
}

#[test]
fn unknown_keys_and_algorithms_are_refused_at_their_line() {
    let config = with(&BODY.replace("aria-256", "aria-512"));
    let ds = files(&config, KEY, 0o600).problems();
    assert_eq!(ds.len(), 1);
    assert!(
        ds[0].message.starts_with("unknown variant \"aria-512\""),
        "{}",
        ds[0]
    );
    assert_eq!(ds[0].line, pos(&config, "aria-512").0);
    let config = with(&format!("{BODY}\nkey = \"{KEY}\""));
    let ds = files(&config, KEY, 0o600).problems();
    assert!(
        ds[0].message.starts_with("unknown field \"key\""),
        "{}",
        ds[0]
    );
}

#[test]
fn check_warns_on_open_key_files_and_ctr_with_a_fixed_iv() {
    let f = files(&with(BODY), KEY, 0o644);
    let r = f.resolve().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    let w = &r.warnings[0];
    assert_eq!(w.path, "institution[0].encryption.key_file");
    assert!(w.message.contains("(mode 644): chmod 600 it"), "{w}");
    no_key_shown(&r.warnings);
    let ctr = with(&BODY.replace("mode = \"cbc\"\npadding = \"pkcs7\"", "mode = \"ctr\""));
    let r = files(&ctr, KEY, 0o400)
        .resolve()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert_eq!(r.warnings[0].path, "institution[0].encryption.iv");
    assert!(r.warnings[0]
        .message
        .starts_with("ctr with a fixed or zero IV"));
}

#[test]
fn the_body_starts_after_the_familys_header_kibnet_too() {
    let r = files_of(&with(BODY), fep_specs::KIBNET_TOML, KEY, 0o600)
        .resolve()
        .unwrap_or_else(|e| panic!("{e}"));
    let cipher = &r.settings.institutions[0]
        .encryption
        .as_ref()
        .unwrap()
        .cipher;
    // KIBNET's AP COMMON is 300 bytes in both flavours.
    assert!(
        format!("{cipher:?}").contains("body from 300"),
        "{cipher:?}"
    );
}
