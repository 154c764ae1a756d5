//! Errors while loading a TOML spec: they name the file, the TOML line and column, the
//! struct/message and the field.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

/// A TOML spec could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not valid TOML or does not match the schema (unknown key, wrong type).
    #[error("{location}{message}")]
    Syntax {
        /// `file:line:column: ` (empty when unknown).
        location: Location,
        /// The parser's message.
        message: String,
    },
    /// The spec is well-formed TOML but describes an impossible layout (bad length, offset
    /// mismatch, unknown struct, duplicate key ...).
    #[error("{location}{context}: {message}")]
    Invalid {
        /// `file:line:column: ` (empty when unknown).
        location: Location,
        /// What the error is about, e.g. ``struct `Transfer` (message 2000/100) field `amount` ``.
        context: String,
        /// What is wrong.
        message: String,
    },
}

impl SpecError {
    /// The 1-based TOML line the error points at, if known.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Io { .. } => None,
            Self::Syntax { location, .. } | Self::Invalid { location, .. } => location.line,
        }
    }

    /// What the error is about (struct, message, field), for `Invalid` errors.
    pub fn context(&self) -> Option<&str> {
        match self {
            Self::Invalid { context, .. } => Some(context),
            _ => None,
        }
    }

    pub(crate) fn with_file(mut self, file: &std::path::Path) -> Self {
        if let Self::Syntax { location, .. } | Self::Invalid { location, .. } = &mut self {
            location.file = Some(file.to_path_buf());
        }
        self
    }
}

/// Where in the TOML text an error is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// The file, when loaded from one.
    pub file: Option<PathBuf>,
    /// 1-based line.
    pub line: Option<usize>,
    /// 1-based column (in characters).
    pub column: Option<usize>,
}

impl Location {
    /// The line and column of byte `span.start` in `text`.
    pub(crate) fn of(text: &str, span: Option<Range<usize>>) -> Self {
        let Some(span) = span else {
            return Self::default();
        };
        let start = span.start.min(text.len());
        let before = text.get(..start).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .map_or(1, |l| l.chars().count() + 1);
        Self {
            file: None,
            line: Some(line),
            column: Some(column),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}:", file.display())?;
        }
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{l}:{c}: "),
            (Some(l), None) => write!(f, "{l}: "),
            _ if self.file.is_some() => f.write_str(" "),
            _ => Ok(()),
        }
    }
}
