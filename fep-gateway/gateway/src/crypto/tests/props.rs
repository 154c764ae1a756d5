//! Round trips (proptest) over every algorithm × mode × padding, for body and field scopes,
//! and arbitrary bytes given to `decrypt` (errors, never panics).

use proptest::prelude::*;

use super::super::*;

/// Every mode with the paddings it takes.
const MODES: [(Mode, Padding); 4] = [
    (Mode::Cbc, Padding::Pkcs7),
    (Mode::Cbc, Padding::Zero),
    (Mode::Cbc, Padding::None),
    (Mode::Ctr, Padding::None),
];

fn config(
    algorithm: Algorithm,
    mode: Mode,
    padding: Padding,
    seed: u8,
    iv: IvSource,
) -> CipherConfig {
    let key = (0..algorithm.key_len())
        .map(|i| seed.wrapping_mul(31).wrapping_add(i as u8))
        .collect();
    CipherConfig {
        algorithm,
        mode,
        padding,
        key: SecretKey::new(key),
        iv,
    }
}

/// The IV rules, with the IV field in the first 16 bytes of the header.
fn iv_rule(which: u8, seed: u8) -> IvSource {
    match which % 3 {
        0 => IvSource::Zero,
        1 => IvSource::Fixed([seed; BLOCK]),
        _ => IvSource::Field(Span { offset: 0, len: 16 }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// decrypt(encrypt(t)) == t over the body, the header untouched, for every combination.
    #[test]
    fn body_round_trips(
        header in proptest::collection::vec(any::<u8>(), 16..40),
        body in proptest::collection::vec(any::<u8>(), 0..200),
        seed in any::<u8>(),
        which_iv in any::<u8>(),
    ) {
        for algorithm in Algorithm::ALL {
            for (mode, padding) in MODES {
                let mut body = body.clone();
                match padding {
                    // Without padding CBC takes whole blocks only.
                    Padding::None if mode == Mode::Cbc => body.truncate(body.len() / BLOCK * BLOCK),
                    // Zero padding cannot tell a final zero byte from padding.
                    Padding::Zero => if let Some(last) = body.last_mut() { *last |= 1 },
                    _ => {}
                }
                let telegram = [header.as_slice(), &body].concat();
                let c = TelegramCipher::new(
                    &config(algorithm, mode, padding, seed, iv_rule(which_iv, seed)),
                    Scope::Body { offset: header.len() },
                ).unwrap();
                let wire = c.encrypt(&telegram).unwrap();
                prop_assert_eq!(&wire[..header.len()], &header[..]);
                match (mode, padding) {
                    (Mode::Ctr, _) | (_, Padding::None) => prop_assert_eq!(wire.len(), telegram.len()),
                    _ => prop_assert_eq!((wire.len() - header.len()) % BLOCK, 0),
                }
                prop_assert_eq!(c.decrypt(&wire).unwrap(), telegram);
            }
        }
    }

    /// Field scopes: the listed fields change in place, everything else stays, and
    /// decryption restores the telegram.
    #[test]
    fn field_round_trips(
        telegram in proptest::collection::vec(any::<u8>(), 140..220),
        widths in proptest::collection::vec(1usize..3, 1..4),
        gaps in proptest::collection::vec(0usize..10, 4),
        seed in any::<u8>(),
        which_iv in any::<u8>(),
    ) {
        for algorithm in Algorithm::ALL {
            for mode in [Mode::Cbc, Mode::Ctr] {
                // Fields after the 16-byte IV field, separated by gaps; CBC ones whole blocks.
                let mut spans = Vec::new();
                let mut at = 16;
                for (i, w) in widths.iter().enumerate() {
                    at += gaps[i];
                    let len = if mode == Mode::Cbc { w * BLOCK } else { w * 7 };
                    spans.push(Span { offset: at, len });
                    at += len;
                }
                let c = TelegramCipher::new(
                    &config(algorithm, mode, Padding::None, seed, iv_rule(which_iv, seed)),
                    Scope::Fields(spans.clone()),
                ).unwrap();
                let wire = c.encrypt(&telegram).unwrap();
                prop_assert_eq!(wire.len(), telegram.len());
                let mut outside = wire.clone();
                let mut orig = telegram.clone();
                for s in &spans {
                    outside[s.offset..s.offset + s.len].fill(0);
                    orig[s.offset..s.offset + s.len].fill(0);
                }
                prop_assert_eq!(outside, orig);
                prop_assert_eq!(c.decrypt(&wire).unwrap(), telegram.clone());
            }
        }
    }

    /// Any bytes at all: decrypt answers Ok or an error, for every mode, padding and scope.
    #[test]
    fn decrypt_never_panics(
        wire in proptest::collection::vec(any::<u8>(), 0..100),
        offset in 0usize..40,
        which_iv in any::<u8>(),
    ) {
        for (mode, padding) in MODES {
            let iv = match iv_rule(which_iv, 3) {
                // An IV field must lie in the clear header.
                IvSource::Field(_) if offset < 16 => IvSource::Zero,
                iv => iv,
            };
            let body = TelegramCipher::new(
                &config(Algorithm::Aria128, mode, padding, 3, iv.clone()),
                Scope::Body { offset },
            ).unwrap();
            let _ = body.decrypt(&wire);
            if padding == Padding::None {
                let fields = TelegramCipher::new(
                    &config(Algorithm::Aes128, mode, padding, 3, iv),
                    Scope::Fields(vec![Span { offset: offset + 16, len: 32 }]),
                ).unwrap();
                let _ = fields.decrypt(&wire);
            }
        }
    }
}
