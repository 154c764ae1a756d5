//! The decryption path of `[institution.encryption]` (`TelegramCipher::decrypt`) on arbitrary
//! bytes, for every mode and padding, over a body, over fixed fields and over fields chosen by
//! the message key (Hecto's header), with a zero, fixed or header-field IV.
//!
//! The first input byte picks the cipher; the rest is the wire telegram.
//!
//! Properties:
//! - `decrypt` never panics: bad padding, partial blocks, telegrams shorter than their header,
//!   a missing IV field or a missing field are errors, and their `Display` renders.
//! - When `decrypt(x)` is `Ok(p)`, `encrypt(p)` is `x` again: CTR and unpadded CBC are
//!   bijections, PKCS#7 is checked strictly, and zero padding strips at most the 15 zero bytes
//!   encryption would add back.

#![no_main]

use std::sync::OnceLock;

use fep_gateway::crypto::{
    Algorithm, CipherConfig, IvSource, Mode, Padding, Scope, SecretKey, TelegramCipher,
};
use fep_gateway::profile::{HectoContract, Profile, Span};
use libfuzzer_sys::fuzz_target;

/// Every cipher the selector byte can pick.
fn ciphers() -> &'static [TelegramCipher] {
    static CIPHERS: OnceLock<Vec<TelegramCipher>> = OnceLock::new();
    CIPHERS.get_or_init(|| {
        let hecto = Profile::hecto(HectoContract::DEMO);
        let by_message = Scope::FieldsByMessage {
            key_fields: hecto.key_fields.clone(),
            messages: vec![
                (
                    "2000/100".parse().expect("key"),
                    vec![Span {
                        offset: 183,
                        len: 16,
                    }],
                ),
                (
                    "2000/200".parse().expect("key"),
                    vec![Span {
                        offset: 222,
                        len: 16,
                    }],
                ),
            ],
        };
        let mut out = Vec::new();
        for (i, algorithm) in Algorithm::ALL.into_iter().enumerate() {
            let key = SecretKey::new((0..algorithm.key_len() as u8).collect());
            let ivs = [
                IvSource::Zero,
                IvSource::Fixed([i as u8; 16]),
                IvSource::Field(Span {
                    offset: 56,
                    len: 16,
                }),
            ];
            for iv in ivs {
                for (mode, padding) in [
                    (Mode::Cbc, Padding::Pkcs7),
                    (Mode::Cbc, Padding::Zero),
                    (Mode::Cbc, Padding::None),
                    (Mode::Ctr, Padding::None),
                ] {
                    let config = CipherConfig {
                        algorithm,
                        mode,
                        padding,
                        key: key.clone(),
                        iv: iv.clone(),
                    };
                    let mut scopes = vec![Scope::Body { offset: 100 }];
                    if padding == Padding::None {
                        scopes.push(Scope::Fields(vec![
                            Span {
                                offset: 100,
                                len: 16,
                            },
                            Span {
                                offset: 140,
                                len: 32,
                            },
                        ]));
                        scopes.push(by_message.clone());
                    }
                    for scope in scopes {
                        out.push(TelegramCipher::new(&config, scope).expect("valid cipher"));
                    }
                }
            }
        }
        out
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, wire)) = data.split_first() else {
        return;
    };
    let all = ciphers();
    let cipher = &all[usize::from(pick) % all.len()];
    match cipher.decrypt(wire) {
        Ok(plain) => {
            let again = cipher.encrypt(&plain).unwrap_or_else(|e| {
                panic!("{cipher:?}: decrypted, but encrypting back failed: {e}")
            });
            assert_eq!(again, wire, "{cipher:?}: encrypt(decrypt(x)) != x");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
