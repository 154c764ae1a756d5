//! Assembles a running gateway from [`GatewaySettings`]: journal, institution actors, link
//! tasks and the internal listeners.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::SharedClock;
use crate::institution::{self, InstitutionHandle, InstitutionStatus};
use crate::journal::Journal;
use crate::link::{self, LinkContext};
use crate::server::{self, Registry};
use crate::settings::GatewaySettings;

/// Start-up failures.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory or journal could not be opened.
    #[error("journal: {0}")]
    Journal(#[from] crate::journal::JournalError),
    /// A listener could not bind.
    #[error("{0}")]
    Bind(String),
    /// Invalid settings.
    #[error("{0}")]
    Settings(String),
}

/// A running gateway.
pub struct Gateway {
    native_addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    registry: Registry,
    journal: Journal,
    shutdown: watch::Sender<bool>,
}

impl Gateway {
    /// Starts everything; returns once the listeners are bound (links connect in the background).
    pub async fn start(
        settings: GatewaySettings,
        clock: SharedClock,
    ) -> Result<Gateway, StartError> {
        std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
            StartError::Bind(format!("data_dir {}: {e}", settings.data_dir.display()))
        })?;
        // Before anything records a metric: values recorded earlier would be lost.
        let _ = crate::http::prometheus();
        let journal =
            Journal::open_with(&settings.data_dir.join("journal.db"), settings.journal_sync)?;
        journal.keep_days(settings.retention_days);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut registry = HashMap::new();
        for inst in settings.institutions {
            let (handle, events) = institution::spawn(inst.clone(), journal.clone(), clock.clone());
            let ctx =
                LinkContext::new(&inst, events, clock.clone()).map_err(StartError::Settings)?;
            for (i, l) in inst.links.iter().enumerate() {
                link::start(ctx.clone(), i, l.clone(), shutdown_rx.clone())
                    .await
                    .map_err(StartError::Bind)?;
            }
            if let Some(url) = &inst.webhook {
                crate::webhook::spawn(
                    url.clone(),
                    handle.clone(),
                    journal.clone(),
                    shutdown_rx.clone(),
                );
            }
            registry.insert(inst.name.clone(), handle);
        }
        let registry: Registry = Arc::new(registry);
        let idempotency = crate::idempotency::Idempotency::default();
        let listener = TcpListener::bind(settings.native_listen)
            .await
            .map_err(|e| {
                StartError::Bind(format!("native listener {}: {e}", settings.native_listen))
            })?;
        let native_addr = listener
            .local_addr()
            .map_err(|e| StartError::Bind(e.to_string()))?;
        tokio::spawn(server::serve(
            listener,
            registry.clone(),
            journal.clone(),
            idempotency.clone(),
            shutdown_rx.clone(),
        ));
        let http_addr = match settings.http_listen {
            Some(addr) => Some(
                crate::http::serve(
                    addr,
                    registry.clone(),
                    journal.clone(),
                    idempotency,
                    shutdown_rx.clone(),
                )
                .await
                .map_err(StartError::Bind)?,
            ),
            None => None,
        };
        Ok(Gateway {
            native_addr,
            http_addr,
            registry,
            journal,
            shutdown,
        })
    }

    /// Where the native protocol listens.
    pub fn native_addr(&self) -> SocketAddr {
        self.native_addr
    }

    /// Where the HTTP API listens.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// An institution by name.
    pub fn institution(&self, name: &str) -> Option<&InstitutionHandle> {
        self.registry.get(name)
    }

    /// Status of every institution.
    pub async fn status(&self) -> Vec<InstitutionStatus> {
        let mut out = Vec::new();
        for h in self.registry.values() {
            if let Some(s) = h.status().await {
                out.push(s);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The journal.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Graceful stop: stop admitting, drain in-flight up to `deadline`, sign off, close links,
    /// flush the journal.
    pub async fn shutdown(self, deadline: Duration) {
        let drains = self.registry.values().map(|h| h.shutdown(deadline));
        futures::future::join_all(drains).await;
        let _ = self.shutdown.send(true);
        // Give links a moment to write the sign-off.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = self.journal.flush().await;
    }
}
