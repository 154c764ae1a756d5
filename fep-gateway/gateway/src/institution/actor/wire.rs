//! The institution's telegram cipher on the actor's paths: what is built and matched is the
//! clear telegram; what crosses the wire, and is journaled as such, is its encrypted form
//! (`[institution.encryption]`, `crate::crypto`).

use super::*;
use crate::crypto::CipherError;
use crate::domain::TelegramDirection;
use crate::journal::TelegramRow;

impl Actor {
    /// The wire form of a stamped telegram: as it is without a cipher; else with a fresh IV
    /// in the header's IV field (when the IV travels there) and encrypted.
    pub(in crate::institution) fn seal(&self, plain: &Bytes) -> Result<Bytes, CipherError> {
        let Some(enc) = &self.cipher else {
            return Ok(plain.clone());
        };
        let mut clear = plain.to_vec();
        if let Some(iv) = enc.cipher.iv_field() {
            if let Some(slot) = clear.get_mut(iv.offset..iv.offset + iv.len) {
                // Printable, so that an AN field stays one; unique per telegram is what
                // CBC and CTR need.
                slot.iter_mut()
                    .for_each(|b| *b = fastrand::alphanumeric() as u8);
            }
        }
        enc.cipher.encrypt(&clear).map(Bytes::from)
    }

    /// The clear form of a telegram as received (or as journaled when sent).
    pub(in crate::institution) fn open(&self, wire: &Bytes) -> Result<Bytes, CipherError> {
        match &self.cipher {
            None => Ok(wire.clone()),
            Some(enc) => enc.cipher.decrypt(wire).map(Bytes::from),
        }
    }

    /// Journals the clear view of a telegram beside its wire bytes, when configured.
    pub(in crate::institution) fn journal_plain(&self, row: &TelegramRow, clear: &Bytes) {
        if !self.cipher.as_ref().is_some_and(|c| c.journal_plaintext) {
            return;
        }
        let direction = match row.direction {
            TelegramDirection::In => TelegramDirection::InPlain,
            _ => TelegramDirection::OutPlain,
        };
        self.journal.record_telegram_nowait(TelegramRow {
            direction,
            raw: clear.clone(),
            tx_id: None,
            ..row.clone()
        });
    }
}
