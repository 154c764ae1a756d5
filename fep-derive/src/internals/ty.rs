//! Syntactic classification of field types (a proc macro sees names, not resolved types).

use syn::{GenericArgument, PathArguments, Type};

/// The last path segment's name and its generic type arguments.
pub fn path_parts(ty: &Type) -> Option<(String, Vec<&Type>)> {
    let Type::Path(p) = ty else { return None };
    if p.qself.is_some() {
        return None;
    }
    let seg = p.path.segments.last()?;
    let args = match &seg.arguments {
        PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|g| match g {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Some((seg.ident.to_string(), args))
}

const INTEGERS: &[&str] = &[
    "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
];
const SIGNED: &[&str] = &["i8", "i16", "i32", "i64", "i128", "isize"];

/// What a scalar type holds, as far as its name tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// `String` (AN text, or N digits with `numeric`).
    Text,
    /// An unsigned integer.
    Unsigned,
    /// A signed integer.
    Signed,
    /// `Vec<u8>`: raw bytes.
    Bytes,
    /// Anything else (a user type implementing `FieldValue`, or a nested struct).
    Other,
}

impl ValueType {
    pub fn is_integer(self) -> bool {
        matches!(self, Self::Unsigned | Self::Signed)
    }

    /// How the type reads in an error message.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Text => "a String",
            Self::Unsigned | Self::Signed => "an integer",
            Self::Bytes => "raw bytes (Vec<u8>)",
            Self::Other => "not a String",
        }
    }
}

/// The value type of a scalar field type, looking through `Option<_>`.
pub fn value_type(ty: &Type) -> ValueType {
    let Some((name, args)) = path_parts(ty) else {
        return ValueType::Other;
    };
    match name.as_str() {
        "Option" => args.first().map_or(ValueType::Other, |t| value_type(t)),
        "String" => ValueType::Text,
        "Vec" if args.first().is_some_and(|t| is_named(t, "u8")) => ValueType::Bytes,
        n if SIGNED.contains(&n) => ValueType::Signed,
        n if INTEGERS.contains(&n) => ValueType::Unsigned,
        _ => ValueType::Other,
    }
}

fn is_named(ty: &Type, want: &str) -> bool {
    path_parts(ty).is_some_and(|(n, _)| n == want)
}

/// True for `Option<_>`.
pub fn is_option(ty: &Type) -> bool {
    is_named(ty, "Option")
}

/// True for types that are scalars by name (and so need `len`).
pub fn is_known_scalar(ty: &Type) -> bool {
    value_type(ty) != ValueType::Other
}

/// `T` of `Vec<T>`.
pub fn vec_element(ty: &Type) -> Option<Type> {
    match path_parts(ty) {
        Some((name, args)) if name == "Vec" && args.len() == 1 => Some(args[0].clone()),
        _ => None,
    }
}

/// Why a field type can never be a telegram field, if it cannot.
pub fn unsupported(ty: &Type) -> Option<&'static str> {
    match ty {
        Type::Path(_) | Type::Array(_) => {}
        Type::Reference(_) => {
            return Some("references are not supported: use an owned type such as String")
        }
        Type::Tuple(_) => {
            return Some("tuples are not supported: use a nested #[derive(Telegram)] struct")
        }
        Type::Slice(_) => {
            return Some("slices are not supported: use [T; N] or Vec<T> with `count`")
        }
        _ => return Some("unsupported field type"),
    }
    match path_parts(ty)?.0.as_str() {
        "f32" | "f64" => Some(
            "floating-point fields are not supported: use an integer of minor units, or `numeric` String",
        ),
        "bool" | "char" | "str" => {
            Some("unsupported field type: use String (AN) or an integer (N)")
        }
        _ => None,
    }
}
