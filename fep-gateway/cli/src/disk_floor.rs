//! The disk's floor under a durable request, for `fep bench`'s everyday table: how long one
//! synced 4 KiB write takes on the file system where the bench's journals live.
//!
//! Every request the gateway answers with `journal_sync = "full"` waits for two such writes,
//! one after the other: its telegram's, before it is sent, and its outcome's, before its caller
//! hears it. Twice this p50 is therefore what, at the median, no gateway on this disk can add
//! less than. It is reported next to the added latency so that a target can be judged against the machine the
//! bench ran on, not against a disk it did not have.
//!
//! The write is the journal log's own (`journal::log`): a page into a file that was
//! allocated, zeroed and synced beforehand, then `fdatasync`, so that only data blocks are
//! flushed — no inode or extent updates.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use crate::everyday::Percentiles;

/// Bytes of one write: the journal log's page.
const PAGE: usize = 4096;
/// Pages the file holds; writes go round it, as the log's do.
const PAGES: u64 = 1024;

/// Measures `samples` synced writes into a scratch file in `dir` (removed afterwards) and
/// returns their latency.
pub fn measure(dir: &Path, samples: usize) -> Result<Percentiles, String> {
    if samples == 0 {
        return Err("disk floor: no samples asked for".into());
    }
    let path = dir.join(format!("fep-disk-floor-{}", std::process::id()));
    let result = measure_at(&path, samples);
    let _ = std::fs::remove_file(&path);
    result
}

fn measure_at(path: &Path, samples: usize) -> Result<Percentiles, String> {
    let io = |what: &str, e: std::io::Error| format!("{what} {}: {e}", path.display());
    let file = File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| io("create", e))?;
    file.write_all_at(&vec![0u8; PAGES as usize * PAGE], 0)
        .map_err(|e| io("allocate", e))?;
    file.sync_all().map_err(|e| io("sync", e))?;
    let mut hist = crate::load::histogram()?;
    let page = [0x5au8; PAGE];
    for i in 0..samples as u64 {
        let started = Instant::now();
        file.write_all_at(&page, (i % PAGES) * PAGE as u64)
            .map_err(|e| io("write", e))?;
        file.sync_data().map_err(|e| io("fdatasync", e))?;
        let micros = started.elapsed().as_micros() as u64;
        // Past the bounds (a sync over two minutes) counts as the longest, never fails the bench.
        hist.saturating_record(micros.max(1));
    }
    Ok(Percentiles::of(&hist))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_synced_writes_and_leaves_no_file() {
        let dir = std::env::temp_dir().join(format!("fep-disk-floor-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let floor = measure(&dir, 50).unwrap();
        assert!(floor.p50_ms > 0.0, "{floor:?}");
        assert!(
            floor.p50_ms <= floor.p99_ms && floor.p99_ms <= floor.p999_ms,
            "{floor:?}"
        );
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "scratch file left behind"
        );
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn a_directory_that_cannot_hold_the_file_is_an_error_naming_it() {
        let missing = std::env::temp_dir().join("fep-disk-floor-no-such-dir/deeper");
        let err = measure(&missing, 10).unwrap_err();
        assert!(err.contains("fep-disk-floor-no-such-dir"), "{err}");
    }

    #[test]
    fn zero_samples_is_refused_before_writing_anything() {
        let missing = std::env::temp_dir().join("fep-disk-floor-never-created");
        let err = measure(&missing, 0).unwrap_err();
        assert!(err.contains("no samples"), "{err}");
    }
}
