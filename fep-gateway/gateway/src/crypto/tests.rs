//! Published test vectors (RFC 5794 for ARIA, NIST SP 800-38A for AES-CBC and AES-CTR), the
//! errors of bad input, and what `Debug` shows. Round trips over every combination are in
//! `props`.

use super::block::Keyed;
use super::*;

mod props;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).expect("test vector hex")
}

fn block(s: &str) -> [u8; BLOCK] {
    h(s).try_into().expect("one block")
}

/// A cipher over the whole telegram (no header), no padding, with a fixed IV.
fn whole(algorithm: Algorithm, mode: Mode, key: &str, iv: &str) -> TelegramCipher {
    let config = CipherConfig {
        algorithm,
        mode,
        padding: Padding::None,
        key: SecretKey::new(h(key)),
        iv: IvSource::Fixed(block(iv)),
    };
    TelegramCipher::new(&config, Scope::Body { offset: 0 }).expect("valid cipher")
}

/// RFC 5794 Appendix A: ARIA-128, -192 and -256, one block, through the block path (and
/// back); then the same block through CBC with a zero IV, which is ECB on one block.
#[test]
fn aria_matches_rfc_5794_appendix_a() {
    let plain = block("00112233445566778899aabbccddeeff");
    for (algorithm, key, expected) in [
        (
            Algorithm::Aria128,
            "000102030405060708090a0b0c0d0e0f",
            "d718fbd6ab644c739da95f3be6451778",
        ),
        (
            Algorithm::Aria192,
            "000102030405060708090a0b0c0d0e0f1011121314151617",
            "26449c1805dbe7aa25a468ce263a9e79",
        ),
        (
            Algorithm::Aria256,
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "f92bd7c79fb72e2f2b8f80c1972d24fc",
        ),
    ] {
        let keyed = Keyed::new(algorithm, &h(key)).unwrap();
        let mut b = plain;
        keyed.encrypt_block(&mut b);
        assert_eq!(hex::encode(b), expected, "{algorithm} encrypt");
        keyed.decrypt_block(&mut b);
        assert_eq!(b, plain, "{algorithm} decrypt");

        let cbc = whole(
            algorithm,
            Mode::Cbc,
            key,
            "00000000000000000000000000000000",
        );
        assert_eq!(hex::encode(cbc.encrypt(&plain).unwrap()), expected);
        assert_eq!(cbc.decrypt(&h(expected)).unwrap(), plain);
    }
}

/// The four plaintext blocks of NIST SP 800-38A Appendix F.
const NIST_PLAIN: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                          30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";
const NIST_KEY_128: &str = "2b7e151628aed2a6abf7158809cf4f3c";
const NIST_KEY_256: &str = "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";

/// SP 800-38A F.2.1 (CBC-AES128) and F.2.5 (CBC-AES256), encrypt and decrypt.
#[test]
fn aes_cbc_matches_nist_sp_800_38a_f2() {
    let iv = "000102030405060708090a0b0c0d0e0f";
    for (algorithm, key, expected) in [
        (
            Algorithm::Aes128,
            NIST_KEY_128,
            "7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2
             73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7",
        ),
        (
            Algorithm::Aes256,
            NIST_KEY_256,
            "f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d
             39f23369a9d9bacfa530e26304231461 b2eb05e2c39be9fcda6c19078c6a9d1b",
        ),
    ] {
        nist(whole(algorithm, Mode::Cbc, key, iv), expected);
    }
}

/// The cipher turns SP 800-38A's plaintext into `expected` and back.
fn nist(c: TelegramCipher, expected: &str) -> TelegramCipher {
    assert_eq!(c.encrypt(&h(NIST_PLAIN)).unwrap(), h(expected), "{c:?}");
    assert_eq!(c.decrypt(&h(expected)).unwrap(), h(NIST_PLAIN), "{c:?}");
    c
}

/// SP 800-38A F.5.1 (CTR-AES128) and F.5.5 (CTR-AES256), encrypt and decrypt; and a prefix
/// of the plaintext gives the same prefix of the ciphertext (CTR keeps the length).
#[test]
fn aes_ctr_matches_nist_sp_800_38a_f5() {
    let counter = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
    for (algorithm, key, expected) in [
        (
            Algorithm::Aes128,
            NIST_KEY_128,
            "874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff
             5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee",
        ),
        (
            Algorithm::Aes256,
            NIST_KEY_256,
            "601ec313775789a5b7a7f504bbf3d228 f443e3ca4d62b59aca84e990cacaf5c5
             2b0930daa23de94ce87017ba2d84988d dfc9c58db67aada613c2dd08457941a6",
        ),
    ] {
        let c = nist(whole(algorithm, Mode::Ctr, key, counter), expected);
        let part = &h(NIST_PLAIN)[..37];
        assert_eq!(c.encrypt(part).unwrap(), h(expected)[..37].to_vec());
    }
}

fn config(mode: Mode, padding: Padding, iv: IvSource) -> CipherConfig {
    CipherConfig {
        algorithm: Algorithm::Aria256,
        mode,
        padding,
        key: SecretKey::new((0x41..0x61).collect()),
        iv,
    }
}

fn body_cipher(mode: Mode, padding: Padding, iv: IvSource, offset: usize) -> TelegramCipher {
    TelegramCipher::new(&config(mode, padding, iv), Scope::Body { offset }).unwrap()
}

#[test]
fn the_header_stays_clear_and_cbc_pads_the_body() {
    let c = body_cipher(Mode::Cbc, Padding::Pkcs7, IvSource::Zero, 10);
    let telegram = b"HEADER0001 body of twenty bytes";
    let wire = c.encrypt(telegram).unwrap();
    assert_eq!(&wire[..10], b"HEADER0001");
    assert_eq!(wire.len(), 10 + 32);
    assert_eq!(c.decrypt(&wire).unwrap(), telegram);
    let ctr = body_cipher(Mode::Ctr, Padding::None, IvSource::Zero, 10);
    assert_eq!(ctr.encrypt(telegram).unwrap().len(), telegram.len());
}

#[test]
fn bad_padding_truncation_and_short_telegrams_are_errors() {
    let c = body_cipher(Mode::Cbc, Padding::Pkcs7, IvSource::Zero, 4);
    // A block whose plaintext ends in 0: never valid PKCS#7.
    let raw = body_cipher(Mode::Cbc, Padding::None, IvSource::Zero, 4);
    let wire = raw.encrypt(b"HDR:0123456789abcde\0").unwrap();
    assert_eq!(c.decrypt(&wire), Err(CipherError::BadPadding));
    let good = c.encrypt(b"HDR:payload").unwrap();
    assert_eq!(
        c.decrypt(&good[..good.len() - 1]),
        Err(CipherError::NotBlockMultiple { len: 15 })
    );
    assert_eq!(
        c.decrypt(b"HD"),
        Err(CipherError::ShorterThanHeader { len: 2, header: 4 })
    );
    assert_eq!(
        raw.encrypt(b"HDR:odd"),
        Err(CipherError::NotBlockMultiple { len: 3 })
    );
}

#[test]
fn a_missing_iv_field_is_an_error() {
    let iv = Span { offset: 2, len: 16 };
    let c = body_cipher(Mode::Ctr, Padding::None, IvSource::Field(iv), 18);
    let e = c.decrypt(b"0012345678").unwrap_err();
    assert_eq!(
        e,
        CipherError::IvFieldMissing {
            offset: 2,
            len: 16,
            telegram_len: 10
        }
    );
    assert!(e.to_string().starts_with("IV field missing"), "{e}");
    // The IV field's bytes are the IV: another value, another ciphertext.
    let a = c.encrypt(b"00AAAAAAAAAAAAAAAAsecret").unwrap();
    let b = c.encrypt(b"00BBBBBBBBBBBBBBBBsecret").unwrap();
    assert_ne!(a[18..], b[18..]);
    assert_eq!(c.decrypt(&a).unwrap(), b"00AAAAAAAAAAAAAAAAsecret");
}

#[test]
fn impossible_settings_are_refused_when_the_cipher_is_built() {
    let mut wrong_key = config(Mode::Cbc, Padding::Pkcs7, IvSource::Zero);
    wrong_key.key = SecretKey::new(vec![1; 31]);
    assert_eq!(
        TelegramCipher::new(&wrong_key, Scope::Body { offset: 0 }).unwrap_err(),
        CipherError::KeyLength {
            algorithm: Algorithm::Aria256,
            expected: 32,
            got: 31
        }
    );
    let span = |offset, len| Span { offset, len };
    let refused = |c: CipherConfig, scope| TelegramCipher::new(&c, scope).unwrap_err();
    assert_eq!(
        refused(
            config(Mode::Cbc, Padding::None, IvSource::Zero),
            Scope::Fields(vec![span(10, 12)])
        ),
        CipherError::FieldNotBlockMultiple {
            offset: 10,
            len: 12
        }
    );
    assert_eq!(
        refused(
            config(Mode::Cbc, Padding::Pkcs7, IvSource::Zero),
            Scope::Fields(vec![span(10, 16)])
        ),
        CipherError::FieldsNeedNoPadding {
            padding: Padding::Pkcs7
        }
    );
    assert_eq!(
        refused(
            config(Mode::Ctr, Padding::Zero, IvSource::Zero),
            Scope::Body { offset: 0 }
        ),
        CipherError::PaddingWithCtr {
            padding: Padding::Zero
        }
    );
    assert_eq!(
        refused(
            config(Mode::Ctr, Padding::None, IvSource::Zero),
            Scope::Fields(vec![span(10, 5), span(12, 5)])
        ),
        CipherError::FieldsOverlap {
            first: 10,
            second: 12
        }
    );
    assert_eq!(
        refused(
            config(Mode::Ctr, Padding::None, IvSource::Field(span(4, 16))),
            Scope::Body { offset: 10 }
        ),
        CipherError::IvFieldEncrypted { offset: 4, len: 16 }
    );
    assert_eq!(
        refused(
            config(Mode::Ctr, Padding::None, IvSource::Field(span(4, 8))),
            Scope::Body { offset: 40 }
        ),
        CipherError::IvFieldWidth { offset: 4, len: 8 }
    );
}

#[test]
fn fields_are_encrypted_in_place_and_a_short_telegram_is_an_error() {
    let spans = vec![
        Span {
            offset: 20,
            len: 16,
        },
        Span { offset: 2, len: 16 },
    ];
    let c = TelegramCipher::new(
        &config(Mode::Cbc, Padding::None, IvSource::Zero),
        Scope::Fields(spans),
    )
    .unwrap();
    let t = b"AA0123456789abcdefBB0123456789abcdefCC".to_vec();
    let wire = c.encrypt(&t).unwrap();
    assert_eq!(wire.len(), t.len());
    assert_eq!(
        (&wire[..2], &wire[18..20], &wire[36..]),
        (&b"AA"[..], &b"BB"[..], &b"CC"[..])
    );
    assert_ne!(wire[2..18], t[2..18]);
    assert_eq!(c.decrypt(&wire).unwrap(), t);
    assert_eq!(
        c.decrypt(&t[..30]),
        Err(CipherError::FieldMissing {
            offset: 20,
            len: 16,
            telegram_len: 30
        })
    );
}

#[test]
fn debug_shows_the_fingerprint_never_the_key() {
    let c = body_cipher(Mode::Cbc, Padding::Pkcs7, IvSource::Zero, 10);
    let key = config(Mode::Cbc, Padding::Pkcs7, IvSource::Zero).key;
    let shown = format!("{c:?} {c:#?}");
    let raw: String = (0x41u8..0x61).map(char::from).collect();
    assert!(!shown.contains(&raw[..8]), "{shown}");
    assert!(
        !shown
            .to_lowercase()
            .contains(&hex::encode(key.expose())[..8]),
        "{shown}"
    );
    assert!(
        shown.contains("aria-256") && shown.contains("cbc"),
        "{shown}"
    );
    assert!(shown.contains(&key.fingerprint()), "{shown}");
    assert_eq!(c.key_fingerprint(), key.fingerprint());
    let settings = EncryptionSettings {
        cipher: c,
        journal_plaintext: false,
    };
    assert!(!format!("{settings:?}").contains(&raw[..8]));
    assert_eq!(format!("{key:?}"), "SecretKey(32 bytes)");
}
