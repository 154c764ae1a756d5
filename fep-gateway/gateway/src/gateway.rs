//! Assembles a running gateway from [`GatewaySettings`]: journal, institution actors, link
//! tasks and the internal listeners.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::Access;
use crate::clock::SharedClock;
use crate::http::Routes;
use crate::institution::{self, InstitutionHandle, InstitutionStatus};
use crate::journal::{Journal, JournalError};
use crate::link::{self, LinkContext, LinkError};
use crate::notices::Notices;
use crate::server::{self, Registry};
use crate::settings::GatewaySettings;

/// How long [`Gateway::shutdown`] waits for the links to write what they hold (the sign-off)
/// and close: a peer that stopped reading cannot hold the shutdown longer.
const LINK_CLOSE_DEADLINE: Duration = Duration::from_secs(5);

/// How long [`Gateway::shutdown`] waits for notice delivery to record the acknowledgements it
/// received.
const NOTICES_STOP_DEADLINE: Duration = Duration::from_secs(5);

/// Start-up failures.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory cannot be created.
    #[error("data_dir {path}: cannot create it")]
    DataDir {
        /// The configured directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The journal cannot be opened.
    #[error("journal {path}: cannot open it")]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// Why.
        #[source]
        source: JournalError,
    },
    /// An institution's link cannot start (framing settings, an inbound address in use).
    #[error(transparent)]
    Link(#[from] LinkError),
    /// An internal listener cannot bind.
    #[error("{what} listener: cannot listen on {addr}")]
    Listen {
        /// `native`, `http` or `admin`.
        what: &'static str,
        /// The configured address.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// Where an inbound link listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    /// Institution name.
    pub institution: String,
    /// Link name.
    pub link: String,
    /// The bound address (the real port when 0 was configured).
    pub addr: SocketAddr,
}

/// A running gateway.
pub struct Gateway {
    native_addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    admin_addr: Option<SocketAddr>,
    listen_addrs: Vec<ListenAddr>,
    registry: Registry,
    journal: Journal,
    notices: Notices,
    shutdown: watch::Sender<bool>,
    /// The link tasks; each ends once its link has flushed and closed after shutdown.
    links: Vec<JoinHandle<()>>,
    /// The links with TLS, for [`Gateway::reload_tls`].
    tls: Vec<crate::tls::TlsLink>,
}

impl Gateway {
    /// Starts everything with open internal interfaces (plain TCP, no clients: development
    /// and tests); returns once the listeners are bound (links connect in the background).
    pub async fn start(
        settings: GatewaySettings,
        clock: SharedClock,
    ) -> Result<Gateway, StartError> {
        Gateway::start_with(settings, Access::default(), clock).await
    }

    /// Starts everything, the native and HTTP listeners with `access` (TLS, clients and
    /// their rules, the admin listener); returns once the listeners are bound.
    pub async fn start_with(
        settings: GatewaySettings,
        access: Access,
        clock: SharedClock,
    ) -> Result<Gateway, StartError> {
        let access = Arc::new(access);
        std::fs::create_dir_all(&settings.data_dir).map_err(|source| StartError::DataDir {
            path: settings.data_dir.clone(),
            source,
        })?;
        // Before anything records a metric: values recorded earlier would be lost.
        let _ = crate::http::prometheus();
        let path = settings.data_dir.join("journal.db");
        let journal = Journal::open_mode(&path, settings.journal_sync, settings.journal_commit)
            .map_err(|source| StartError::Journal { path, source })?;
        journal.keep_days(settings.retention_days);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let notices = Notices::start(
            journal.clone(),
            settings
                .institutions
                .iter()
                .map(|i| (i.name.clone(), i.notices)),
            shutdown_rx.clone(),
        );
        let mut registry = HashMap::new();
        let (mut links, mut listen_addrs, mut tls) = (Vec::new(), Vec::new(), Vec::new());
        for inst in settings.institutions {
            let (handle, events) = institution::spawn(inst.clone(), journal.clone(), clock.clone());
            let ctx = LinkContext::new(&inst, events, clock.clone())?;
            for (i, l) in inst.links.iter().enumerate() {
                tls.extend(crate::tls::TlsLink::of(&inst.name, l));
                let task = link::start(ctx.clone(), i, l.clone(), shutdown_rx.clone()).await?;
                if let Some(addr) = task.listen {
                    listen_addrs.push(ListenAddr {
                        institution: inst.name.clone(),
                        link: l.name.clone(),
                        addr,
                    });
                }
                links.push(task.done);
            }
            if let Some(url) = &inst.webhook {
                crate::webhook::spawn(
                    url.clone(),
                    inst.webhook_tls.clone(),
                    inst.webhook_unmasked,
                    handle.clone(),
                    notices.clone(),
                    shutdown_rx.clone(),
                );
            }
            registry.insert(inst.name.clone(), handle);
        }
        let registry: Registry = Arc::new(registry);
        let idempotency = crate::idempotency::Idempotency::default();
        let native = settings.native_listen;
        let listen_error = |what, addr| move |source| StartError::Listen { what, addr, source };
        let listener = TcpListener::bind(native)
            .await
            .map_err(listen_error("native", native))?;
        let native_addr = listener
            .local_addr()
            .map_err(listen_error("native", native))?;
        tokio::spawn(server::serve(
            listener,
            registry.clone(),
            journal.clone(),
            idempotency.clone(),
            notices.clone(),
            access.clone(),
            shutdown_rx.clone(),
        ));
        let routes = match access.admin_listen {
            Some(_) => Routes::Api,
            None => Routes::All,
        };
        let http_addr = match settings.http_listen {
            Some(addr) => Some(
                crate::http::serve(
                    addr,
                    registry.clone(),
                    journal.clone(),
                    idempotency.clone(),
                    access.clone(),
                    routes,
                    shutdown_rx.clone(),
                )
                .await
                .map_err(listen_error("http", addr))?,
            ),
            None => None,
        };
        let admin_addr = match access.admin_listen {
            Some(addr) => Some(
                crate::http::serve(
                    addr,
                    registry.clone(),
                    journal.clone(),
                    idempotency,
                    access.clone(),
                    Routes::Admin,
                    shutdown_rx.clone(),
                )
                .await
                .map_err(listen_error("admin", addr))?,
            ),
            None => None,
        };
        if let Some(server_tls) = &access.tls {
            crate::tls::export_expiry("-", "server", server_tls);
            tls.push(crate::tls::TlsLink {
                institution: "-".into(),
                link: "server".into(),
                tls: server_tls.clone(),
            });
        }
        Ok(Gateway {
            native_addr,
            http_addr,
            admin_addr,
            listen_addrs,
            registry,
            journal,
            notices,
            shutdown,
            links,
            tls,
        })
    }

    /// Reads every TLS link's certificate and key files again (SIGHUP): new connections use
    /// the new ones, open connections and links stay up; a link whose files are not good
    /// keeps what it had. One result per link with TLS.
    pub fn reload_tls(&self) -> Vec<crate::tls::TlsReload> {
        crate::tls::reload_all(&self.tls)
    }

    /// Puts the telegram ciphers of `settings` (a configuration read again, its key files
    /// with it) into the running institutions of the same names: keys rotate without
    /// dropping a link. Returns the institutions whose cipher was replaced.
    pub async fn reload_ciphers(&self, settings: &GatewaySettings) -> Vec<String> {
        let mut replaced = Vec::new();
        for inst in &settings.institutions {
            let Some(handle) = self.institution(&inst.name) else {
                continue;
            };
            if handle.set_cipher(inst.encryption.clone()).await {
                replaced.push(inst.name.clone());
            }
        }
        replaced
    }

    /// Where the native protocol listens.
    pub fn native_addr(&self) -> SocketAddr {
        self.native_addr
    }

    /// Where the HTTP API listens.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Where `/metrics` and `/v1/status` are served when `admin_listen` is configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// Where the inbound links listen, in configuration order.
    pub fn listen_addrs(&self) -> &[ListenAddr] {
        &self.listen_addrs
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

    /// Notice delivery (consumer groups over the journal).
    pub fn notices(&self) -> &Notices {
        &self.notices
    }

    /// Graceful stop: stop admitting, drain in-flight up to `deadline`, sign off and await the
    /// answer (up to each institution's `signon.answer_timeout`) while every link is still
    /// open, then close links (waiting until each has written what it holds, at most 5 s),
    /// record the notice acknowledgements received (at most 5 s), flush the journal.
    pub async fn shutdown(self, deadline: Duration) {
        let drains = self.registry.values().map(|h| h.shutdown(deadline));
        futures::future::join_all(drains).await;
        // Signed off (answers received or given up on): on this signal each link writes its
        // queue, flushes and closes, and its task ends.
        let _ = self.shutdown.send(true);
        let closed = futures::future::join_all(self.links);
        if tokio::time::timeout(LINK_CLOSE_DEADLINE, closed)
            .await
            .is_err()
        {
            tracing::warn!(
                "links did not close within {LINK_CLOSE_DEADLINE:?}: what they held may not have been written"
            );
        }
        self.notices.stopped(NOTICES_STOP_DEADLINE).await;
        let _ = self.journal.flush().await;
    }
}

#[cfg(test)]
mod tests;
