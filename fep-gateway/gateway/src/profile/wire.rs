//! The family's `[framing]` as the link codec's [`Framing`]: one definition of how telegrams
//! are delimited, read by `fep decode`, the gateway and the simulator alike.

use fep_codec::spec::{Family, LengthPrefix};

use crate::framing::Framing;

/// Why a family's `[framing]` cannot delimit telegrams on a TCP connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// `length = "none"`: only a transport that delimits messages could carry it.
    #[error("spec {family}: [framing] has no length (length = \"none\"); TCP needs one — set `framing` in fep.toml")]
    NoLength {
        /// The family.
        family: String,
    },
    /// A width the link codec cannot read.
    #[error("spec {family}: [framing] width {width} is not supported on links ({why})")]
    Width {
        /// The family.
        family: String,
        /// The width given.
        width: usize,
        /// What is supported.
        why: &'static str,
    },
    /// A prefix that is not text.
    #[error("spec {family}: [framing] prefix is not ASCII text")]
    Prefix {
        /// The family.
        family: String,
    },
}

/// The link framing a family's spec describes, and its largest telegram (when it says).
pub fn framing_of(family: &Family) -> Result<(Framing, Option<usize>), WireError> {
    let spec = family.framing();
    let name = || family.name().to_owned();
    let prefix = if spec.prefix.is_empty() {
        None
    } else if spec.prefix.is_ascii() {
        Some(String::from_utf8_lossy(&spec.prefix).into_owned())
    } else {
        return Err(WireError::Prefix { family: name() });
    };
    let digits = |width: usize| {
        u8::try_from(width)
            .ok()
            .filter(|d| (1..=9).contains(d))
            .ok_or(WireError::Width {
                family: name(),
                width,
                why: "1 to 9 digits",
            })
    };
    let framing = match spec.length {
        LengthPrefix::None => return Err(WireError::NoLength { family: name() }),
        LengthPrefix::Ascii {
            width,
            includes_self,
        } => Framing::Ascii {
            digits: digits(width)?,
            includes_self,
            prefix,
        },
        LengthPrefix::Binary {
            width,
            includes_self,
        } => Framing::Binary {
            width: u8::try_from(width)
                .ok()
                .filter(|w| *w == 2 || *w == 4)
                .ok_or(WireError::Width {
                    family: name(),
                    width,
                    why: "2 or 4 bytes",
                })?,
            includes_self,
            prefix,
        },
        LengthPrefix::Fixed { size } => Framing::Fixed { size, prefix },
        LengthPrefix::Field {
            offset,
            width,
            includes_self,
        } => Framing::Field {
            offset,
            digits: digits(width)?,
            includes_self,
            prefix,
        },
    };
    Ok((framing, spec.max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_families_frame_as_their_pages_say() {
        let hecto = Family::from_toml_str(fep_specs::HECTO_TOML).unwrap();
        assert_eq!(framing_of(&hecto).unwrap(), (Framing::hecto(), Some(2000)));
        let kib = Family::from_toml_str(fep_specs::KIBNET_TOML).unwrap();
        assert_eq!(
            framing_of(&kib).unwrap(),
            (
                Framing::Field {
                    offset: 0,
                    digits: 4,
                    includes_self: true,
                    prefix: None
                },
                Some(2000)
            )
        );
    }
}
