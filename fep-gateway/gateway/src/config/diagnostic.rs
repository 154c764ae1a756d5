//! Located problems: [`Diagnostic`] (file, line, column, key path, message), [`ConfigError`],
//! and the locator that turns a key path such as `institution[1].links[0].role` back into the
//! `line:column` of the offending key through toml's spanned document tree.

use std::fmt;
use std::ops::Range;

use toml::de::{DeArray, DeTable, DeValue};
use toml::Spanned;

/// A config text and the name it is shown under in diagnostics (usually its path).
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// File name as shown in diagnostics.
    pub name: &'a str,
    /// The TOML text.
    pub text: &'a str,
}

/// A key path such as `institution[1].links[0].role`: where in the document a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPath(pub String);

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One problem in a config file, located by key path and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// File name as given to the loader.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// Key path such as `institution[1].links[0].role` (empty for syntax errors).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// File name.
        file: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Syntax, type or validation errors (at least one).
    #[error("{}", join_lines(.0))]
    Invalid(Vec<Diagnostic>),
}

impl ConfigError {
    /// All `problems` in reading order: those in the config file `name` first, by position,
    /// then those in other files (spec files). The sort is stable, so problems at one spot keep
    /// the order they were found in.
    pub(super) fn invalid(name: &str, mut problems: Vec<Diagnostic>) -> ConfigError {
        problems.sort_by(|a, b| {
            let key = |d: &Diagnostic| (d.file != name, d.file.clone(), d.line, d.column);
            key(a).cmp(&key(b))
        });
        ConfigError::Invalid(problems)
    }

    /// The located problems (empty for I/O errors).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Io { .. } => &[],
            ConfigError::Invalid(d) => d,
        }
    }
}

fn join_lines(d: &[Diagnostic]) -> String {
    d.iter()
        .map(Diagnostic::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Maps byte spans and key paths of one document to `line:column` diagnostics.
pub(super) struct Locator<'a> {
    text: &'a str,
    name: &'a str,
    root: Spanned<DeTable<'a>>,
}

enum Segment<'p> {
    Key(&'p str),
    Index(usize),
}

/// Splits `a.b[2]."x.y"` into keys and indices; a quoted key (a `[institution.header]` field
/// path) may contain dots.
fn split_path(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            rest = r;
        } else if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"').unwrap_or(r.len());
            out.push(Segment::Key(&r[..end]));
            rest = r.get(end + 1..).unwrap_or("");
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').unwrap_or(r.len());
            if let Ok(n) = r[..end].parse() {
                out.push(Segment::Index(n));
            }
            rest = r.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            out.push(Segment::Key(&rest[..end]));
            rest = &rest[end..];
        }
    }
    out
}

impl<'a> Locator<'a> {
    pub(super) fn new(source: Source<'a>) -> Result<Self, ConfigError> {
        let root = DeTable::parse(source.text).map_err(|e| {
            let root = KeyPath(String::new());
            ConfigError::Invalid(vec![Self::diag(source, e.span(), &root, e.message())])
        })?;
        Ok(Self {
            text: source.text,
            name: source.name,
            root,
        })
    }

    fn source(&self) -> Source<'a> {
        Source {
            name: self.name,
            text: self.text,
        }
    }

    fn diag(
        source: Source<'_>,
        span: Option<Range<usize>>,
        path: &KeyPath,
        msg: &str,
    ) -> Diagnostic {
        let (line, column) = line_col(source.text, span.map(|s| s.start).unwrap_or(0));
        Diagnostic {
            file: source.name.to_string(),
            line,
            column,
            path: path.0.clone(),
            message: normalize_serde_message(msg),
        }
    }

    /// Span of the deepest existing node along `path` (the value, or the key when the
    /// value is a table, so a table error points at its header line).
    fn span_of(&self, path: &str) -> Option<Range<usize>> {
        let mut table: Option<&DeTable<'a>> = Some(self.root.get_ref());
        let mut array: Option<&DeArray<'a>> = None;
        let mut best: Option<Range<usize>> = None;
        for seg in split_path(path) {
            let (key_span, value) = match seg {
                Segment::Key(k) => match table.and_then(|t| t.get_key_value(k)) {
                    Some((key, v)) => (key.span(), v),
                    None => break,
                },
                Segment::Index(n) => match array.and_then(|a| a.get(n)) {
                    Some(v) => (v.span(), v),
                    None => break,
                },
            };
            let value_ref = value.get_ref();
            best = Some(match value_ref {
                DeValue::Table(_) | DeValue::Array(_) => key_span,
                _ => value.span(),
            });
            table = value_ref.as_table();
            array = value_ref.as_array();
        }
        best
    }

    pub(super) fn toml_error(&self, e: &toml::de::Error, path: &str) -> ConfigError {
        let mut path = path.to_string();
        let mut span = e.span();
        // Unknown keys inside buffered values (e.g. the tagged `framing` table) carry the
        // span of the whole table; point at the key itself when we can find it.
        if let Some(field) = unknown_field_name(e.message()) {
            if !path.is_empty() && !path.ends_with(&format!(".{field}")) {
                let candidate = format!("{path}.{field}");
                if let Some(s) = self.span_of(&candidate) {
                    span = Some(s);
                    path = candidate;
                }
            }
        }
        let span = span.or_else(|| self.span_of(&path));
        ConfigError::Invalid(vec![Self::diag(
            self.source(),
            span,
            &KeyPath(path),
            e.message(),
        )])
    }

    /// `(key path, message)` problems located in this document, as one error.
    pub(super) fn invalid(&self, problems: Vec<(KeyPath, String)>) -> ConfigError {
        let located = problems
            .into_iter()
            .map(|(path, message)| self.at_path(&path, message))
            .collect();
        ConfigError::invalid(self.name, located)
    }

    pub(super) fn at_path(&self, path: &KeyPath, message: String) -> Diagnostic {
        let span = self.span_of(&path.0);
        let mut d = Self::diag(self.source(), span, path, "");
        d.message = message;
        d
    }
}

fn unknown_field_name(msg: &str) -> Option<&str> {
    msg.strip_prefix("unknown field `")?.split('`').next()
}

/// 1-based line and column (in characters) of byte offset `at`.
pub(super) fn line_col(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

/// Rewrites serde's backtick style into `unknown variant "x", expected one of a, b`.
fn normalize_serde_message(msg: &str) -> String {
    let msg = msg.trim_end();
    for prefix in ["unknown variant", "unknown field"] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            let ticked: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
            if let Some((bad, expected)) = ticked.split_first() {
                return if expected.is_empty() {
                    format!("{prefix} \"{bad}\", there are none")
                } else {
                    format!(
                        "{prefix} \"{bad}\", expected one of {}",
                        expected.join(", ")
                    )
                };
            }
        }
    }
    msg.replace('`', "\"")
}
