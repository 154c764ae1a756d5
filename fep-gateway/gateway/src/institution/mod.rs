//! One institution = one failure domain: an actor task that owns the institution's sequencer,
//! in-flight table, timers and link senders. Nothing here is shared with other institutions,
//! and nothing on the request path takes a lock.
//!
//! Request path: admission (bounded queue, in-flight limit, rate, breaker) → 전문번호 from a
//! durably reserved block → stamped into the telegram → journaled → written to a send link →
//! matched by (전송일자, 전문번호) on any recv link → answered. A request whose answer does not
//! come in time is answered `unknown` and, when the spec has a result inquiry, resolved by it;
//! the resolution is recorded under the transaction id.
//!
//! The actor (`actor.rs`, `requests.rs`) is a `tokio::select!` loop that owns the channels and
//! delegates every decision to I/O-free types that take the time as an argument:
//! `sequencer` (전문번호 blocks, day change), `inflight` (correlation key → waiter, deadlines,
//! late responses), `resolver` (inquiry schedule), `session` (sign-on state, link
//! heartbeats), `admission` (queue deadline, rate, breaker, in-flight limit) and `links` (which
//! link is up and can send); `telemetry` holds the metric handles.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Serialize, Serializer};
use tokio::sync::{mpsc, oneshot, watch};

use crate::domain::RejectReason;
use crate::journal::now_ms;
use crate::profile::Profile;
use crate::protocol::Outcome;
use crate::settings::Direction;

mod actor;
mod admission;
mod inflight;
mod links;
mod requests;
mod resolver;
mod sequencer;
mod session;
mod telemetry;
#[cfg(test)]
mod tests;

pub(crate) use actor::spawn;
use admission::Ticket;
pub use session::SessionState;
pub(crate) use session::{Beat, Heartbeat};

/// The answer to a submitted request.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Gateway transaction id (query it at `/v1/transactions/{id}`).
    pub tx_id: u64,
    /// What happened.
    pub outcome: Outcome,
    /// Response code or reason.
    pub detail: String,
    /// The institution's response telegram, if any.
    pub telegram: Bytes,
}

impl Reply {
    fn rejected(tx_id: u64, reason: &RejectReason) -> Reply {
        Reply {
            tx_id,
            outcome: Outcome::Rejected,
            detail: reason.to_string(),
            telegram: Bytes::new(),
        }
    }

    /// `unknown`: the telegram may have reached the institution.
    fn unknown(tx_id: u64, why: &str) -> Reply {
        Reply {
            tx_id,
            outcome: Outcome::Unknown,
            detail: why.to_owned(),
            telegram: Bytes::new(),
        }
    }
}

/// A link's state, as shown in status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// Not connected (connecting, backing off or waiting for the peer).
    Down,
    /// Connected.
    Up,
}

/// Counters of one institution.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counters {
    /// Requests submitted.
    pub requests: u64,
    /// Answered ok.
    pub ok: u64,
    /// Answered declined.
    pub declined: u64,
    /// Answered unknown.
    pub unknown: u64,
    /// Unknowns later resolved (by inquiry or late response).
    pub unknown_resolved: u64,
    /// … of which the institution had executed.
    pub resolved_ok: u64,
    /// … of which the institution had not executed.
    pub resolved_declined: u64,
    /// Unknowns whose inquiries were exhausted: need manual reconciliation.
    pub unresolved: u64,
    /// Times the institution's task recovered from a panic.
    pub restarts: u64,
    /// Rejected before sending.
    pub rejected: u64,
    /// Responses that arrived after their request timed out.
    pub late: u64,
    /// Responses that matched nothing.
    pub unmatched: u64,
    /// Inbound notices recorded.
    pub notices: u64,
    /// Inbound notices that were duplicates.
    pub duplicate_notices: u64,
}

/// A link as shown in status.
#[derive(Debug, Clone, Serialize)]
pub struct LinkStatus {
    /// Link name.
    pub name: String,
    /// What it carries (`send`, `recv` or `both` in JSON).
    #[serde(serialize_with = "direction_word")]
    pub direction: Direction,
    /// Up or down.
    pub state: LinkState,
    /// Inbound links: the address actually listened on (the real port when configured as 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
}

fn direction_word<S: Serializer>(d: &Direction, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(d.as_str())
}

/// An institution's status.
#[derive(Debug, Clone, Serialize)]
pub struct InstitutionStatus {
    /// Name.
    pub name: String,
    /// Signed on for today (kept for compatibility: `session` says more).
    pub signed_on: bool,
    /// The session: `disconnected`, `waiting_for_recv`, `signing_on`, `backing_off`, `ready`,
    /// `signing_off` or `signed_off`. Requests go out only when `ready`.
    pub session: SessionState,
    /// Failed sign-on attempts since the last success.
    pub sign_on_failures: u32,
    /// Business date (YYYYMMDD) of the current number range.
    pub day: u32,
    /// The business time zone (IANA name) the date and 전송시간 are read in.
    pub time_zone: &'static str,
    /// Links.
    pub links: Vec<LinkStatus>,
    /// Requests awaiting an answer.
    pub inflight: usize,
    /// Unknowns still being resolved.
    pub resolving: usize,
    /// Circuit breaker state: closed, open or half_open (none when disabled).
    pub breaker: String,
    /// Counters.
    pub counters: Counters,
    /// The day's 전문번호 range: how much is used, and whether requests can still be numbered.
    pub sequence: SequenceStatus,
    /// Why the sign-on could not be sent (while not signed on), e.g. numbers exhausted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_on_error: Option<String>,
}

/// The day's 전문번호 range as a resource (`sequence` in `/v1/status`).
#[derive(Debug, Clone, Serialize)]
pub struct SequenceStatus {
    /// Highest number gone today: handed out, or lost to a crash (numbers are never reused).
    pub used: u32,
    /// Last number of the range (it starts at 1).
    pub max: u32,
    /// Numbers at the end of the range kept for result inquiries and session telegrams.
    pub reserve: u32,
    /// `used / max`.
    pub used_ratio: f64,
    /// `used_ratio` from which `warning` is set (`[institution.sequence] warn_at_percent`).
    pub warn_ratio: f64,
    /// The usage has reached the threshold.
    pub warning: bool,
    /// Requests have used up their share: they are refused until the next business day.
    pub exhausted: bool,
    /// The reserve is used up too: not even a result inquiry or a sign-on can be numbered.
    pub reserve_exhausted: bool,
}

impl SequenceStatus {
    fn of(u: &sequencer::Usage, warn_percent: u32) -> SequenceStatus {
        let warn_ratio = f64::from(warn_percent) / 100.0;
        SequenceStatus {
            used: u.used,
            max: u.max,
            reserve: u.reserve,
            used_ratio: u.ratio(),
            warn_ratio,
            warning: u.ratio() >= warn_ratio,
            exhausted: u.exhaustion >= sequencer::Exhaustion::Requests,
            reserve_exhausted: u.exhaustion == sequencer::Exhaustion::All,
        }
    }
}

/// Messages from link tasks.
/// `conn` identifies the connection, so a stale `Down` cannot clear a newer connection.
pub(crate) enum LinkEvent {
    /// An inbound link is listening on `addr`.
    Listening {
        link: usize,
        addr: SocketAddr,
    },
    Up {
        link: usize,
        conn: u64,
        sender: mpsc::Sender<Bytes>,
        can_send: bool,
    },
    Frame {
        link: usize,
        conn: u64,
        frame: Bytes,
    },
    Down {
        link: usize,
        conn: u64,
    },
    /// A telegram that came in on its own connection (a `per_telegram` inbound link): the
    /// actor's answers to it go to `reply`, and the connection closes once every holder of
    /// `reply` has let it go.
    Telegram {
        link: usize,
        frame: Bytes,
        reply: mpsc::Sender<Bytes>,
    },
    /// A telegram queued on `link` never reached the institution (a `per_telegram` outbound
    /// link could not connect): it is settled as not sent.
    NotWritten {
        link: usize,
        telegram: Bytes,
        reason: RejectReason,
    },
}

/// A request handed to the actor.
struct Submit {
    telegram: Bytes,
    ticket: Ticket,
    reply: oneshot::Sender<Reply>,
    tx_id: u64,
}

enum Control {
    Status(oneshot::Sender<InstitutionStatus>),
    /// Stop admitting, drain until `drain_until`, sign off, then acknowledge.
    Shutdown {
        done: oneshot::Sender<()>,
        drain_until: Instant,
    },
    /// A new telegram cipher (keys rotated on SIGHUP): what is sent from now on is sealed, and
    /// what is received opened, with it.
    SetCipher(Option<Arc<crate::crypto::EncryptionSettings>>),
    /// The institution's last session command of today found in the journal at start: an
    /// institution-opened day survives a restart (its 개시 is not sent again).
    SessionRestored(fep_codec::spec::CommandEffect),
    /// Test hook: panic inside the actor.
    #[cfg(test)]
    Panic,
    /// Test hook: panic while handling the next expired in-flight entry.
    #[cfg(test)]
    PanicOnExpiry,
}

/// Handle to an institution actor; cheap to clone.
#[derive(Clone)]
pub struct InstitutionHandle {
    name: Arc<str>,
    default_timeout: Duration,
    idempotency_window: Duration,
    /// The longest wait for the sign-off's answer at shutdown.
    sign_off_wait: Duration,
    profile: Arc<Profile>,
    submit: mpsc::Sender<Submit>,
    control: mpsc::Sender<Control>,
    /// `fep_rejected_total` of requests refused before they reach the actor.
    queue_full: metrics::Counter,
    stopped: metrics::Counter,
    /// … and the same refusals for `counters.rejected` in status (shared with the actor).
    refused: Arc<AtomicU64>,
}

static NEXT_TX: AtomicU64 = AtomicU64::new(0);

/// A process-unique transaction id that also does not repeat across restarts (time-based start).
pub fn next_tx_id() -> u64 {
    let _ = NEXT_TX.compare_exchange(0, now_ms() * 1000, Ordering::Relaxed, Ordering::Relaxed);
    NEXT_TX.fetch_add(1, Ordering::Relaxed)
}

/// The engine's monotonic time: tokio's clock, so tests can pause and advance it.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl InstitutionHandle {
    /// Institution name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The institution's telegram profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The institution's `request_timeout`: how long a request waits when it names none.
    pub fn request_timeout(&self) -> Duration {
        self.default_timeout
    }

    /// How long an idempotency key answers with its transaction (`idempotency_window`).
    pub fn idempotency_window(&self) -> Duration {
        self.idempotency_window
    }

    /// Submits a telegram (header fields the gateway owns are filled in); the reply comes when
    /// it is settled — never dropped: a closed actor answers `rejected`. `None` = the
    /// institution's `request_timeout`. The telegram is shared, not copied, up to the link
    /// (stamping the header copies it only if the caller still holds it).
    pub async fn request(&self, telegram: impl Into<Bytes>, timeout: Option<Duration>) -> Reply {
        self.request_as(next_tx_id(), telegram, timeout).await
    }

    /// [`InstitutionHandle::request`] under a transaction id from [`next_tx_id`] that the
    /// caller recorded first (an idempotency key's transaction).
    pub async fn request_as(
        &self,
        tx_id: u64,
        telegram: impl Into<Bytes>,
        timeout: Option<Duration>,
    ) -> Reply {
        let (reply, rx) = oneshot::channel();
        let submit = Submit {
            telegram: telegram.into(),
            ticket: Ticket {
                queued_at: now(),
                timeout: timeout.unwrap_or(self.default_timeout),
            },
            reply,
            tx_id,
        };
        let refused = match self.submit.try_send(submit) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.queue_full.increment(1);
                Some(RejectReason::QueueFull)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.stopped.increment(1);
                Some(RejectReason::Stopped)
            }
        };
        if let Some(reason) = refused {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Reply::rejected(tx_id, &reason);
        }
        // The actor answers every submission it took; a reply dropped unanswered can only
        // mean the task died mid-request, after which the telegram may have been sent.
        rx.await.unwrap_or_else(|_| {
            Reply::unknown(tx_id, "institution task stopped while handling the request")
        })
    }

    /// Replaces the institution's telegram cipher (a rotated key), without touching its
    /// links; false when the institution is stopped.
    pub async fn set_cipher(&self, cipher: Option<crate::crypto::EncryptionSettings>) -> bool {
        self.control
            .send(Control::SetCipher(cipher.map(Arc::new)))
            .await
            .is_ok()
    }

    /// Current status (None if the actor is gone or does not answer within a second).
    pub async fn status(&self) -> Option<InstitutionStatus> {
        let (tx, rx) = oneshot::channel();
        self.control.send(Control::Status(tx)).await.ok()?;
        tokio::time::timeout(Duration::from_secs(1), rx)
            .await
            .ok()?
            .ok()
    }

    /// Stops admitting, waits up to `deadline` for in-flight requests, then signs off and waits
    /// for the answer (up to the institution's `signon.answer_timeout`) while its links are
    /// still open; returns when the institution is done with its links.
    pub async fn shutdown(&self, deadline: Duration) {
        let (done, rx) = oneshot::channel();
        let drain_until = now() + deadline;
        let stop = Control::Shutdown { done, drain_until };
        if self.control.send(stop).await.is_ok() {
            // The actor keeps both deadlines itself; this one only guards against a stuck task.
            let bound = deadline + self.sign_off_wait + Duration::from_secs(1);
            let _ = tokio::time::timeout(bound, rx).await;
        }
    }
}

/// Sends a watch-triggered shutdown to background tasks.
pub(crate) type ShutdownRx = watch::Receiver<bool>;
