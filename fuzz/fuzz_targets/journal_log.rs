//! The journal log's reader (`journal::records_in`: what a gateway reads back from its commit
//! log at start) on arbitrary bytes.
//!
//! The first 8 input bytes are `applied` (little-endian: the last record SQLite holds), the
//! rest is the log image: 4 segments of a quarter of it each, rounded down to whole 4 KiB
//! pages, so only images of 16 KiB or more hold records (the seeds are such images).
//!
//! Properties:
//! - `records_in` never panics: torn or forged batches, bad record lengths, records that do
//!   not decode, numbers out of range and missing or repeated records are a count or an
//!   error, and the error's `Display` renders.
//! - Each record counted takes at least 5 bytes of the image (its 4-byte length and a
//!   non-empty payload), so `Ok(n)` has `5 n <= len`.
//! - Reading does not depend on `applied` but for which records are counted and decoded:
//!   when `records_in(image, a)` is `Ok(n)`, `records_in(image, a + k)` is `Ok(n - k)` for
//!   `k <= n` (checked for `k = 1` and `k = n`).

#![no_main]

use fep_gateway::journal::records_in;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((applied, image)) = data.split_first_chunk::<8>() else {
        return;
    };
    let applied = u64::from_le_bytes(*applied);
    match records_in(image, applied) {
        Ok(n) => {
            assert!(
                n.saturating_mul(5) <= image.len() as u64,
                "{n} records in {} bytes",
                image.len()
            );
            let ks: &[u64] = match n {
                0 => &[],
                1 => &[1],
                _ => &[1, n],
            };
            for &k in ks {
                // Records `applied + 1 ..= applied + n` were found: `applied + k` cannot overflow.
                let again = records_in(image, applied + k);
                assert!(
                    matches!(again, Ok(m) if m == n - k),
                    "applied {applied}: {n} records; applied {}: {again:?}",
                    applied + k
                );
            }
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
        }
    }
});
