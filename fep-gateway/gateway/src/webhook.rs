//! At-least-once delivery of recorded notices to an internal HTTP endpoint.
//!
//! One task per institution with a webhook: it first re-sends every notice the journal still
//! marks undelivered (e.g. after a crash), then each new one, in order, retrying with jittered
//! exponential backoff until the endpoint answers 2xx. Only then is the notice marked
//! delivered. Receivers deduplicate by `notice_id`.

use std::time::Duration;

use backon::BackoffBuilder;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::institution::{InstitutionHandle, ShutdownRx};
use crate::journal::Journal;

/// The JSON body POSTed for each notice.
#[derive(Debug, Serialize)]
pub struct WebhookNotice<'a> {
    /// Institution name.
    pub institution: &'a str,
    /// Journal id: stable across retries, the receiver's deduplication key.
    pub notice_id: u64,
    /// Message type, e.g. `"4000/100"`.
    #[serde(rename = "type")]
    pub msg_type: String,
    /// The raw telegram, hex.
    pub telegram_hex: String,
}

/// Starts the delivery task of one institution.
pub(crate) fn spawn(
    url: String,
    handle: InstitutionHandle,
    journal: Journal,
    mut shutdown: ShutdownRx,
) {
    let mut rx = handle.notices();
    tokio::spawn(async move {
        let client = match reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "webhook client not available");
                return;
            }
        };
        let name = handle.name().to_owned();
        // Backlog first: recorded but never delivered.
        if let Ok(pending) = journal.pending_notices().await {
            for n in pending.into_iter().filter(|n| n.institution == name) {
                if !deliver(
                    &client,
                    &url,
                    &handle,
                    &journal,
                    n.id,
                    &n.telegram,
                    &mut shutdown,
                )
                .await
                {
                    return;
                }
            }
        }
        loop {
            let notice = tokio::select! {
                n = rx.recv() => n,
                _ = shutdown.changed() => return,
            };
            match notice {
                Ok(n) => {
                    if !deliver(
                        &client,
                        &url,
                        &handle,
                        &journal,
                        n.id,
                        &n.telegram,
                        &mut shutdown,
                    )
                    .await
                    {
                        return;
                    }
                }
                // Missed ones stay undelivered in the journal and go out after a restart.
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(institution = %name, missed, "webhook delivery lagging")
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

/// Posts until 2xx or shutdown; false on shutdown.
async fn deliver(
    client: &reqwest::Client,
    url: &str,
    handle: &InstitutionHandle,
    journal: &Journal,
    id: u64,
    telegram: &[u8],
    shutdown: &mut ShutdownRx,
) -> bool {
    let profile = handle.profile();
    let body = WebhookNotice {
        institution: handle.name(),
        notice_id: id,
        msg_type: profile
            .msg_key(telegram)
            .map(|k| crate::domain::MsgKey::from(k).to_string())
            .unwrap_or_default(),
        telegram_hex: hex::encode(telegram),
    };
    let mut delays = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(30))
        .with_jitter()
        .without_max_times()
        .build();
    loop {
        match client.post(url).json(&body).send().await {
            Ok(r) if r.status().is_success() => {
                let _ = journal.notice_delivered(id).await;
                metrics::counter!("fep_notices_delivered_total", "institution" => handle.name().to_owned()).increment(1);
                return true;
            }
            Ok(r) => {
                tracing::warn!(institution = handle.name(), notice_id = id, status = %r.status(), "webhook refused the notice; retrying")
            }
            Err(e) => {
                tracing::warn!(institution = handle.name(), notice_id = id, error = %e, "webhook unreachable; retrying")
            }
        }
        let delay = delays.next().unwrap_or(Duration::from_secs(30));
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return false,
        }
    }
}
