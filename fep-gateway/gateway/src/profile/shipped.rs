//! Profiles of the families shipped in `fep-specs`, built from their embedded TOML exactly as
//! `fep run` builds any family: a convenience for the demo, the benchmarks and tests, not a
//! path of the engine (which knows no family).

use fep_codec::spec::Family;

use super::Profile;

/// Who a Hecto contract is for: the header constants the gateway stamps.
#[derive(Debug, Clone, Copy)]
pub struct HectoContract<'a> {
    /// 업체번호 (company number).
    pub company_no: &'a str,
    /// 은행코드 (the company's bank).
    pub bank_code: &'a str,
}

impl HectoContract<'static> {
    /// The contract the demo, the simulator and the tests use.
    pub const DEMO: HectoContract<'static> = HectoContract {
        company_no: "FEPDEMO01",
        bank_code: "004",
    };
}

impl Profile {
    /// The Hecto real-time firm-banking profile for one company contract, from the
    /// embedded `specs/hecto.toml` and the header values a `fep.toml` would give.
    pub fn hecto(contract: HectoContract<'_>) -> Profile {
        let header = [
            ("header.id_code", fep_specs::hecto::ID_CODE),
            ("header.company_no", contract.company_no),
            ("header.bank_code", contract.bank_code),
            ("header.send_count", "1"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        shipped(fep_specs::HECTO_TOML, &header)
    }

    /// The KIBNET(EFMS) profile, from the embedded `specs/kibnet.toml`, with `org` as the
    /// 취급기관코드 and CS 관리기관코드 of every telegram the gateway builds.
    pub fn kibnet(org: &str) -> Profile {
        let header = [("header.handling_org", org), ("header.cs_org", org)]
            .map(|(k, v)| (k.to_owned(), v.to_owned()));
        shipped(fep_specs::KIBNET_TOML, &header)
    }
}

/// A shipped family's profile. The embedded files are checked by the spec crate's tests and
/// by this module's: a failure here is a build defect, not an input error.
fn shipped(toml: &str, header: &[(String, String)]) -> Profile {
    #[allow(clippy::expect_used)]
    let family = Family::from_toml_str(toml).expect("embedded spec loads");
    #[allow(clippy::expect_used)]
    Profile::from_family(&family, header).expect("embedded spec drives the gateway")
}
