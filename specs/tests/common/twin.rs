//! Comparing a family's TOML layouts with its derive structs, field by field so that a
//! mismatch names the field. Shared by the twin tests of every family.

#![allow(dead_code)]

use fep_codec::spec::Family;
use fep_codec::Layout;

/// The two layouts are equal; on a difference, the first differing field is named.
pub fn assert_same_layout(derive: &Layout, toml: &Layout) {
    assert_eq!(derive.name(), toml.name(), "layout name");
    for (i, (d, t)) in derive.fields().iter().zip(toml.fields()).enumerate() {
        assert_eq!(d, t, "field #{i} of {}", derive.name());
    }
    assert_eq!(
        derive.fields().len(),
        toml.fields().len(),
        "field count of {}",
        derive.name()
    );
    assert_eq!(
        derive.len(),
        toml.len(),
        "total length of {}",
        derive.name()
    );
    assert_eq!(derive, toml);
}

/// Every `(struct name, derive layout)` pair equals the family's struct of that name, and the
/// family has no other struct.
pub fn assert_structs(family: &Family, pairs: &[(&str, &Layout)]) {
    for (name, derive) in pairs {
        let s = family
            .struct_spec(name)
            .unwrap_or_else(|| panic!("{name} missing from the {} TOML", family.name()));
        assert_same_layout(derive, &s.layout);
    }
    assert_eq!(
        family.structs().len(),
        pairs.len(),
        "no extra structs in the TOML"
    );
}
