//! `[institution.encryption]` resolved: the key read from its file or variable (checked
//! against the algorithm, warned about when its file is open to others), the IV rule and the
//! scope located in the family's layouts, the cipher built. Key bytes never appear in a
//! message: problems name the file or variable and what is wrong with it.

use std::path::Path;

use super::super::encryption::{fixed_iv, validate, Encryption, IvConfig, ScopeConfig};
use super::{KeyPath, Problems, Reported};
use crate::crypto::{
    CipherConfig, EncryptionSettings, IvSource, KeyFormat, Mode, Padding, Scope, SecretKey,
    TelegramCipher, BLOCK,
};
use crate::profile::{Profile, Span};

impl Problems<'_, '_> {
    /// `[institution.encryption]` resolved, its problems and warnings located.
    pub(super) fn encryption(
        &mut self,
        enc: &Encryption,
        profile: &Profile,
        base: &Path,
        p: &str,
    ) -> Result<Option<EncryptionSettings>, Reported> {
        match resolve(enc, profile, base, p) {
            Ok((settings, warnings)) => {
                for (path, message) in warnings {
                    let w = self.locator.at_path(&KeyPath(path), message);
                    self.warnings.push(w);
                }
                Ok(Some(settings))
            }
            Err(problems) => {
                for (path, message) in problems {
                    self.at(KeyPath(path), message);
                }
                Err(Reported)
            }
        }
    }
}

/// A located problem: key path and message.
type Problem = (String, String);

/// Reads the key and builds the cipher. `base` anchors relative key and IV files.
/// Returns the settings and the warnings (`fep check` shows them; they do not stop a start).
fn resolve(
    enc: &Encryption,
    profile: &Profile,
    base: &Path,
    p: &str,
) -> Result<(EncryptionSettings, Vec<Problem>), Vec<Problem>> {
    let mut structural = false;
    validate(enc, p, &mut |_, _| structural = true);
    if structural {
        // Reported by the cross-field rules already.
        return Err(Vec::new());
    }
    let p = format!("{p}.encryption");
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let key = read_key(enc, base, &p, &mut warnings).map_err(|e| problems.push(e));
    let iv = iv_source(enc, profile, base, &p).map_err(|e| problems.push(e));
    let scope = scope(enc, profile, &p).map_err(|e| problems.extend(e));
    if enc.mode == Mode::Ctr && !matches!(enc.iv, IvConfig::Field(_)) {
        warnings.push((
            format!("{p}.iv"),
            "ctr with a fixed or zero IV repeats its keystream in every telegram (two \
             telegrams give away the XOR of their plaintexts): use iv = { field = … } with a \
             fresh value per telegram"
                .into(),
        ));
    }
    let (Ok(key), Ok(iv), Ok(scope)) = (key, iv, scope) else {
        return Err(problems);
    };
    let config = CipherConfig {
        algorithm: enc.algorithm,
        mode: enc.mode,
        padding: enc.padding.unwrap_or(Padding::None),
        key,
        iv,
    };
    match TelegramCipher::new(&config, scope) {
        Ok(cipher) => Ok((
            EncryptionSettings {
                cipher,
                journal_plaintext: enc.journal_plaintext,
            },
            warnings,
        )),
        Err(e) => Err(vec![(p, e.to_string())]),
    }
}

/// The key from its file or variable, checked against the algorithm's length; a warning when
/// the file is open to group or others.
fn read_key(
    enc: &Encryption,
    base: &Path,
    p: &str,
    warnings: &mut Vec<Problem>,
) -> Result<SecretKey, Problem> {
    let (bytes, source, at) = if let Some(file) = &enc.key_file {
        let path = base.join(file);
        let at = format!("{p}.key_file");
        let bytes = std::fs::read(&path).map_err(|e| {
            (
                at.clone(),
                format!("cannot read key file {}: {e}", path.display()),
            )
        })?;
        if let Some(w) = open_to_others(&path) {
            warnings.push((at.clone(), w));
        }
        (bytes, format!("key file {}", path.display()), at)
    } else if let Some(var) = &enc.key_env {
        let at = format!("{p}.key_env");
        let value = std::env::var_os(var)
            .ok_or_else(|| (at.clone(), format!("environment variable {var} is not set")))?;
        (
            value.into_encoded_bytes(),
            format!("environment variable {var}"),
            at,
        )
    } else {
        // The structural rules already said the key is missing.
        return Err((p.to_owned(), "no key".into()));
    };
    let key = SecretKey::parse(enc.key_format, &bytes)
        .map_err(|e| (at.clone(), format!("{source}: {e}")))?;
    let need = enc.algorithm.key_len();
    if key.len() != need {
        let hint = match enc.key_format {
            KeyFormat::Hex => format!(" ({} hex digits)", need * 2),
            KeyFormat::Raw => String::new(),
        };
        return Err((
            at,
            format!(
                "{source} holds a {}-byte key; {} needs {need} bytes{hint}",
                key.len(),
                enc.algorithm
            ),
        ));
    }
    Ok(key)
}

/// Why a key file is too open (readable or writable by group or others), if it is.
#[cfg(unix)]
fn open_to_others(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "key file {} is accessible to group or others (mode {mode:03o}): chmod 600 it",
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn open_to_others(_: &Path) -> Option<String> {
    None
}

fn iv_source(
    enc: &Encryption,
    profile: &Profile,
    base: &Path,
    p: &str,
) -> Result<IvSource, Problem> {
    match &enc.iv {
        IvConfig::Zero => Ok(IvSource::Zero),
        IvConfig::Hex(text) => fixed_iv(KeyFormat::Hex, text.as_bytes())
            .map(IvSource::Fixed)
            .map_err(|m| (format!("{p}.iv.hex"), m)),
        IvConfig::File(file) => {
            let path = base.join(file);
            let at = format!("{p}.iv.file");
            let bytes = std::fs::read(&path).map_err(|e| {
                (
                    at.clone(),
                    format!("cannot read IV file {}: {e}", path.display()),
                )
            })?;
            fixed_iv(enc.key_format, &bytes)
                .map(IvSource::Fixed)
                .map_err(|m| (at, format!("IV file {}: {m}", path.display())))
        }
        IvConfig::Field(path) => {
            let at = format!("{p}.iv.field");
            let span = same_span(profile, path).map_err(|m| (at.clone(), m))?;
            if span.len != BLOCK {
                return Err((
                    at,
                    format!(
                        "the IV field {path} is {} bytes wide; an IV is {BLOCK}",
                        span.len
                    ),
                ));
            }
            Ok(IvSource::Field(span))
        }
    }
}

/// The span of a header field: the same in every message that has it.
fn same_span(profile: &Profile, path: &str) -> Result<Span, String> {
    let mut spans = profile
        .layouts
        .iter()
        .filter_map(|(_, l)| Span::of(l, path));
    let first = spans.next().ok_or_else(|| {
        format!("no message of the family has a field {path} (at a fixed offset)")
    })?;
    if spans.any(|s| s != first) {
        return Err(format!(
            "{path} is not at the same place in every message: it must be a header field"
        ));
    }
    Ok(first)
}

/// The header's length: where the `header.` fields end, the same in every message.
fn header_len(profile: &Profile) -> Result<usize, String> {
    let mut lens = profile.layouts.iter().map(|(_, layout)| {
        layout
            .fields()
            .iter()
            .filter(|f| f.path.starts_with("header."))
            .filter_map(|f| Some(f.offset? + f.len?))
            .max()
    });
    match lens.next() {
        Some(Some(first)) if lens.all(|l| l == Some(first)) => Ok(first),
        Some(Some(_)) => Err(
            "scope = \"body\" needs one header length, and the family's messages have headers \
             of different lengths: list fields instead"
                .into(),
        ),
        _ => Err(
            "scope = \"body\" needs the header's length, and the family's messages have no \
             `header` of fixed fields: list fields instead"
                .into(),
        ),
    }
}

/// The body offset (the header's length), or each message's listed fields.
fn scope(enc: &Encryption, profile: &Profile, p: &str) -> Result<Scope, Vec<Problem>> {
    match &enc.scope {
        ScopeConfig::Body => header_len(profile)
            .map(|offset| Scope::Body { offset })
            .map_err(|m| vec![(format!("{p}.scope"), m)]),
        ScopeConfig::Fields(paths) => {
            let mut problems = Vec::new();
            let key_spans: Vec<Span> = profile.key_fields.iter().map(|f| f.span).collect();
            for (k, path) in paths.iter().enumerate() {
                let at = format!("{p}.scope.fields[{k}]");
                let mut found = false;
                for (key, layout) in &profile.layouts {
                    let Some(s) = Span::of(layout, path) else {
                        continue;
                    };
                    found = true;
                    if enc.mode == Mode::Cbc && (s.len == 0 || !s.len.is_multiple_of(BLOCK)) {
                        problems.push((
                            at.clone(),
                            format!(
                                "{path} is {} bytes wide in {key}: cbc encrypts fields in place \
                             only when they are a multiple of {BLOCK} bytes (use ctr)",
                                s.len
                            ),
                        ));
                        break;
                    }
                    let overlaps =
                        |k: &Span| k.offset < s.offset + s.len && s.offset < k.offset + k.len;
                    if key_spans.iter().any(overlaps) {
                        problems.push((
                            at.clone(),
                            format!(
                            "{path} overlaps the message key: the header's key fields stay clear"
                        ),
                        ));
                        break;
                    }
                }
                if !found {
                    problems.push((
                        at,
                        format!("no message of the family has a field {path} (at a fixed offset)"),
                    ));
                }
            }
            if !problems.is_empty() {
                return Err(problems);
            }
            let messages = profile
                .layouts
                .iter()
                .map(|(key, layout)| {
                    let spans: Vec<Span> = paths
                        .iter()
                        .filter_map(|path| Span::of(layout, path))
                        .collect();
                    (key.clone(), spans)
                })
                .filter(|(_, spans)| !spans.is_empty())
                .collect();
            Ok(Scope::FieldsByMessage {
                key_fields: profile.key_fields.clone(),
                messages,
            })
        }
    }
}
