//! Idempotency keys: a client names a request with a key (HTTP `Idempotency-Key` header, the
//! native protocol's keyed Request), and every request with that key within the institution's
//! `idempotency_window` answers with the **same transaction**, which is sent at most once.
//!
//! - The key is recorded in the journal (`idempotency_keys`, schema change 1) with the
//!   telegram it was first sent with and its transaction id **before** the telegram can be
//!   sent, so a retry after a crash finds it.
//! - Same key, same telegram: the transaction's journaled outcome (replayed), or — while it is
//!   in flight — its outcome when it comes. A key whose transaction was never sent (no row in
//!   the journal, or `rejected`) sends it now, under the same transaction id.
//! - Same key, different telegram or institution: [`IdempotencyError::Reused`], nothing sent.
//!
//! Requests with the same key that meet in this process share one flight: the first one sends,
//! the others wait for its answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rusqlite::{params, OptionalExtension};
use tokio::sync::watch;

use crate::auth::ClientId;
use crate::domain::TxState;
use crate::institution::{next_tx_id, InstitutionHandle, Reply};
use crate::journal::{now_ms, Journal, JournalError, TxRecord, TX_COLUMNS};
use crate::protocol::Outcome;

/// Longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 255;

/// How often a request waits on the journal for a transaction another gateway run left in
/// flight (`sent`), until its deadline.
const POLL: Duration = Duration::from_millis(50);

/// Why a keyed request was not sent.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// The key is empty, too long or not printable ASCII.
    #[error("must be 1 to {MAX_KEY_LEN} printable ASCII characters (no spaces)")]
    InvalidKey,
    /// The key belongs to a different request.
    #[error(
        "key {key:?} was used for a different request (transaction {tx_id}); nothing was sent"
    )]
    Reused {
        /// The key.
        key: String,
        /// The transaction the key belongs to.
        tx_id: u64,
    },
    /// The journal could not record or read the key.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// The answer to a keyed request.
#[derive(Debug, Clone)]
pub struct Keyed {
    /// The transaction's outcome.
    pub reply: Reply,
    /// True when the answer is an earlier request's (nothing was sent for this one).
    pub replayed: bool,
}

/// Whether `key` is acceptable: 1..=[`MAX_KEY_LEN`] bytes of visible ASCII.
pub fn check_key(key: &str) -> Result<(), IdempotencyError> {
    let ok =
        !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(IdempotencyError::InvalidKey)
    }
}

/// One keyed request being handled in this process; later ones with the key wait for it.
#[derive(Clone)]
struct Flight {
    institution: String,
    request: Arc<[u8]>,
    /// `Some(Some(reply))` once answered, `Some(None)` if the first request failed (the
    /// waiters then try themselves).
    done: watch::Receiver<Option<Option<Reply>>>,
}

/// The keyed requests in flight in this process; one per gateway, shared by the HTTP API and
/// the native server.
#[derive(Clone, Default)]
pub struct Idempotency {
    flights: Arc<Mutex<HashMap<String, Flight>>>,
}

/// Removes a flight from the map when its leader is done, however it ends.
struct Landing<'a> {
    flights: &'a Mutex<HashMap<String, Flight>>,
    key: &'a str,
    done: watch::Sender<Option<Option<Reply>>>,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        if self.done.borrow().is_none() {
            self.done.send_replace(Some(None));
        }
        if let Ok(mut map) = self.flights.lock() {
            map.remove(self.key);
        }
    }
}

impl Idempotency {
    /// Sends `telegram` to `handle`'s institution under `key`, or answers with the key's
    /// transaction (see the module doc).
    pub async fn submit(
        &self,
        journal: &Journal,
        handle: &InstitutionHandle,
        key: &str,
        telegram: Vec<u8>,
        timeout: Option<Duration>,
        client: Option<&ClientId>,
    ) -> Result<Keyed, IdempotencyError> {
        check_key(key)?;
        // A failed first request hands over to its waiters; bounded, so a journal that keeps
        // failing is reported rather than retried forever.
        for _ in 0..3 {
            let joined = {
                let mut map = self.flights.lock().map_err(|_| JournalError::Stopped)?;
                match map.get(key) {
                    Some(flight) => Err(flight.clone()),
                    None => {
                        let (done, rx) = watch::channel(None);
                        map.insert(
                            key.to_owned(),
                            Flight {
                                institution: handle.name().to_owned(),
                                request: Arc::from(telegram.as_slice()),
                                done: rx,
                            },
                        );
                        Ok(done)
                    }
                }
            };
            match joined {
                Ok(done) => {
                    let landing = Landing {
                        flights: &self.flights,
                        key,
                        done,
                    };
                    let result = lead(journal, handle, key, telegram, timeout, client).await;
                    landing
                        .done
                        .send_replace(Some(result.as_ref().ok().map(|keyed| keyed.reply.clone())));
                    return result;
                }
                Err(mut flight) => {
                    let answer = flight
                        .done
                        .wait_for(Option::is_some)
                        .await
                        .map(|v| v.clone().flatten())
                        .unwrap_or(None);
                    let Some(reply) = answer else { continue };
                    if flight.institution != handle.name() || *flight.request != *telegram {
                        return Err(IdempotencyError::Reused {
                            key: key.to_owned(),
                            tx_id: reply.tx_id,
                        });
                    }
                    return Ok(Keyed {
                        reply,
                        replayed: true,
                    });
                }
            }
        }
        Err(JournalError::Stopped.into())
    }
}

/// What the journal knows about a key when a request claims it.
enum Claim {
    /// The key was free (or expired): it is now this request's, under `tx_id`.
    New,
    /// The key names the same request; its transaction, if it was journaled.
    Same(Option<TxRecord>),
    /// The key names another request.
    Other,
}

/// The first request with `key` in this process: claims the key in the journal, then sends
/// or answers from the journal.
async fn lead(
    journal: &Journal,
    handle: &InstitutionHandle,
    key: &str,
    telegram: Vec<u8>,
    timeout: Option<Duration>,
    client: Option<&ClientId>,
) -> Result<Keyed, IdempotencyError> {
    let window_ms = u64::try_from(handle.idempotency_window().as_millis()).unwrap_or(u64::MAX);
    let (tx_id, claim) = {
        let (key, institution, request) =
            (key.to_owned(), handle.name().to_owned(), telegram.clone());
        let fresh = next_tx_id();
        journal
            .exec(move |txn| claim(txn, &key, &institution, &request, fresh, window_ms))
            .await?
    };
    let send = |telegram| async move {
        if let Some(c) = client {
            journal.expect_client(tx_id, c);
        }
        let reply = handle.request_as(tx_id, telegram, timeout).await;
        journal.forget_client(tx_id);
        Ok(Keyed {
            reply,
            replayed: false,
        })
    };
    match claim {
        Claim::New | Claim::Same(None) => send(telegram).await,
        Claim::Other => Err(IdempotencyError::Reused {
            key: key.to_owned(),
            tx_id,
        }),
        Claim::Same(Some(tx)) if tx.outcome == TxState::Rejected => {
            // Refused before sending: nothing went out, so this is the first send.
            send(telegram).await
        }
        Claim::Same(Some(tx)) => {
            let deadline = Instant::now() + timeout.unwrap_or(handle.request_timeout());
            let reply = settled(journal, tx, deadline).await?;
            Ok(Keyed {
                reply,
                replayed: true,
            })
        }
    }
}

/// Claims `key` for `request` under `fresh`, or reports what it already names.
fn claim(
    txn: &rusqlite::Transaction<'_>,
    key: &str,
    institution: &str,
    request: &[u8],
    fresh: u64,
    window_ms: u64,
) -> Result<(u64, Claim), JournalError> {
    let now = now_ms();
    let cutoff = i64::try_from(now.saturating_sub(window_ms)).unwrap_or(0);
    let existing: Option<(String, Vec<u8>, i64)> = txn
        .prepare_cached(
            "SELECT institution, request, tx_id FROM idempotency_keys
             WHERE key = ?1 AND created_ms >= ?2",
        )?
        .query_row(params![key, cutoff], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    match existing {
        Some((inst, req, id)) => {
            let id = id as u64;
            if inst != institution || req != request {
                return Ok((id, Claim::Other));
            }
            Ok((id, Claim::Same(get_tx(txn, id)?)))
        }
        None => {
            // Expired keys of this institution go first (an expired row of this key too).
            txn.prepare_cached(
                "DELETE FROM idempotency_keys WHERE institution = ?1 AND created_ms < ?2",
            )?
            .execute(params![institution, cutoff])?;
            txn.prepare_cached(
                "INSERT OR REPLACE INTO idempotency_keys (key, institution, request, tx_id, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![key, institution, request, fresh as i64, now as i64])?;
            Ok((fresh, Claim::New))
        }
    }
}

fn get_tx(txn: &rusqlite::Transaction<'_>, id: u64) -> Result<Option<TxRecord>, JournalError> {
    Ok(txn
        .prepare_cached(&format!(
            "SELECT {TX_COLUMNS} FROM transactions WHERE id = ?1"
        ))?
        .query_row(params![id as i64], TxRecord::from_row)
        .optional()?)
}

/// The institution's answer to a journaled transaction: the last telegram received with its
/// 전송일자 and 전문번호.
fn response_of(txn: &rusqlite::Transaction<'_>, tx: &TxRecord) -> Result<Bytes, JournalError> {
    let raw: Option<Vec<u8>> = txn
        .prepare_cached(
            "SELECT raw FROM telegrams WHERE day = ?1 AND msg_no = ?2 AND institution = ?3
             AND direction = 'in' ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![tx.day, tx.msg_no, tx.institution], |r| r.get(0))
        .optional()?;
    Ok(raw.map(Bytes::from).unwrap_or_default())
}

/// The journaled outcome of `tx` as a reply, waiting (until `deadline`) while it is still in
/// flight; past the deadline the answer is `unknown`, as for any request whose answer has
/// not come.
async fn settled(
    journal: &Journal,
    tx: TxRecord,
    deadline: Instant,
) -> Result<Reply, JournalError> {
    let id = tx.id;
    let mut tx = Some(tx);
    loop {
        if let Some((t, outcome)) = tx.take().and_then(|t| {
            let outcome = answered(t.outcome)?;
            Some((t, outcome))
        }) {
            let detail = match &t.resolved {
                Some(r) => format!("{} (resolved: {r})", t.detail),
                None => t.detail.clone(),
            };
            let telegram = journal.exec(move |txn| response_of(txn, &t)).await?;
            return Ok(Reply {
                tx_id: id,
                outcome,
                detail,
                telegram,
            });
        }
        if Instant::now() >= deadline {
            return Ok(Reply {
                tx_id: id,
                outcome: Outcome::Unknown,
                detail: "in flight: its outcome is not journaled yet; ask again with the same key"
                    .into(),
                telegram: Bytes::new(),
            });
        }
        tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
        tx = journal.get_tx(id).await?;
    }
}

/// The outcome a caller is told for a journaled state; `None` while it is in flight.
fn answered(state: TxState) -> Option<Outcome> {
    match state {
        TxState::Sent => None,
        TxState::Ok => Some(Outcome::Ok),
        TxState::Declined => Some(Outcome::Declined),
        TxState::Unknown => Some(Outcome::Unknown),
        TxState::Rejected => Some(Outcome::Rejected),
    }
}

/// The transaction a key names, if the key is within `window` (for lookups by key).
pub async fn find(
    journal: &Journal,
    key: &str,
    window_of: impl Fn(&str) -> Option<Duration> + Send + 'static,
) -> Result<Option<(u64, Option<TxRecord>)>, IdempotencyError> {
    check_key(key)?;
    let key = key.to_owned();
    let now = now_ms();
    Ok(journal
        .exec(move |txn| {
            let row: Option<(String, i64, i64)> = txn
                .prepare_cached(
                    "SELECT institution, tx_id, created_ms FROM idempotency_keys WHERE key = ?1",
                )?
                .query_row(params![key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let Some((institution, id, created)) = row else {
                return Ok(None);
            };
            let window = window_of(&institution).unwrap_or_default();
            let age = now.saturating_sub(created as u64);
            if u128::from(age) >= window.as_millis() {
                return Ok(None);
            }
            Ok(Some((id as u64, get_tx(txn, id as u64)?)))
        })
        .await?)
}

#[cfg(test)]
mod tests;
