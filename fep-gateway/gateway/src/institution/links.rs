//! The links of one institution as its actor sees them: which connection is current, which
//! can send, and the writer queue of each (owned by the link task; the actor only queues).

use std::net::SocketAddr;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{LinkState, LinkStatus};
use crate::domain::RejectReason;
use crate::settings::{Direction, LinkSettings, Role};

/// One configured link.
#[derive(Debug)]
struct Link {
    name: String,
    direction: Direction,
    /// The current connection's writer queue (None while down).
    sender: Option<mpsc::Sender<Bytes>>,
    /// The current connection's id.
    conn: u64,
    can_send: bool,
    /// Inbound links: the bound address.
    listen: Option<SocketAddr>,
}

/// A connection that closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Closed {
    /// The link's name.
    pub name: String,
    /// Answers come back on the same connection (duplex): requests written to it will not be
    /// answered.
    pub duplex: bool,
}

/// All links of an institution; requests go round robin over the send links that are up.
#[derive(Debug)]
pub(crate) struct Links {
    links: Vec<Link>,
    next: usize,
}

impl Links {
    /// The configured links, all down.
    pub fn new(settings: &[LinkSettings]) -> Links {
        let links = settings
            .iter()
            .map(|l| Link {
                name: l.name.clone(),
                direction: l.direction,
                sender: None,
                conn: 0,
                can_send: false,
                listen: match &l.role {
                    Role::Inbound { listen, .. } => Some(*listen),
                    Role::Outbound { .. } => None,
                },
            })
            .collect();
        Links { links, next: 0 }
    }

    /// Inbound link `link` listens on `addr` (the real port when 0 was configured).
    pub fn listening(&mut self, link: usize, addr: SocketAddr) {
        if let Some(l) = self.links.get_mut(link) {
            l.listen = Some(addr);
        }
    }

    /// Connection `conn` of `link` is up; returns the link's name.
    pub fn up(
        &mut self,
        link: usize,
        conn: u64,
        sender: mpsc::Sender<Bytes>,
        can_send: bool,
    ) -> Option<&str> {
        let l = self.links.get_mut(link)?;
        l.sender = Some(sender);
        l.conn = conn;
        l.can_send = can_send;
        Some(&l.name)
    }

    /// Connection `conn` of `link` closed; `None` when it is not the current one (an older
    /// connection of a link that has been replaced) or the link is unknown.
    pub fn down(&mut self, link: usize, conn: u64) -> Option<Closed> {
        let l = self.links.get_mut(link).filter(|l| l.conn == conn)?;
        l.sender = None;
        l.can_send = false;
        Some(Closed {
            name: l.name.clone(),
            duplex: matches!(l.direction, Direction::Both),
        })
    }

    /// Whether any send link is up.
    pub fn can_send(&self) -> bool {
        self.links.iter().any(|l| l.can_send)
    }

    /// Whether any link the institution's answers arrive on (`recv` or `both`) is up.
    pub fn can_recv(&self) -> bool {
        self.links
            .iter()
            .any(|l| l.sender.is_some() && l.direction.can_recv())
    }

    /// Queues a telegram on the next up send link (round robin); returns the link.
    pub fn write(&mut self, telegram: Bytes) -> Result<usize, RejectReason> {
        let n = self.links.len();
        let mut full = false;
        for i in 0..n {
            let idx = (self.next + i) % n;
            let link = &self.links[idx];
            let Some(sender) = link.sender.as_ref().filter(|_| link.can_send) else {
                continue;
            };
            match sender.try_send(telegram.clone()) {
                Ok(()) => {
                    self.next = idx + 1;
                    return Ok(idx);
                }
                Err(mpsc::error::TrySendError::Full(_)) => full = true,
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        Err(if full {
            RejectReason::SendLinksFull
        } else {
            RejectReason::Down
        })
    }

    /// Where to acknowledge a frame that came in on `link`: that link if it is up, else any
    /// up send link.
    pub fn reply_sender(&self, link: usize) -> Option<mpsc::Sender<Bytes>> {
        self.links
            .get(link)
            .and_then(|l| l.sender.clone())
            .or_else(|| {
                self.links
                    .iter()
                    .find(|l| l.can_send)
                    .and_then(|l| l.sender.clone())
            })
    }

    /// The links as shown in status.
    pub fn statuses(&self) -> Vec<LinkStatus> {
        self.links
            .iter()
            .map(|l| LinkStatus {
                name: l.name.clone(),
                direction: l.direction,
                state: if l.sender.is_some() {
                    LinkState::Up
                } else {
                    LinkState::Down
                },
                listen: l.listen,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Vec<LinkSettings> {
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let link = |name: &str, direction| LinkSettings {
            name: name.into(),
            role: Role::Outbound { connect: addr },
            direction,
        };
        vec![
            link("a", Direction::Send),
            link("b", Direction::Send),
            link("r", Direction::Recv),
        ]
    }

    #[test]
    fn writes_go_round_robin_over_up_send_links() {
        let mut links = Links::new(&settings());
        assert_eq!(links.write(Bytes::new()), Err(RejectReason::Down));
        let (a, mut a_rx) = mpsc::channel(8);
        let (b, mut b_rx) = mpsc::channel(8);
        let (r, _r_rx) = mpsc::channel(8);
        links.up(0, 1, a, true);
        links.up(1, 2, b, true);
        links.up(2, 3, r, false);
        let used: Vec<usize> = (0..4)
            .map(|_| links.write(Bytes::from_static(b"t")).unwrap())
            .collect();
        assert_eq!(used, [0, 1, 0, 1], "never the recv link");
        assert!(links.can_recv());
        assert_eq!(links.down(2, 3).map(|c| c.duplex), Some(false));
        assert!(!links.can_recv(), "only the recv link carries answers");
        assert!(links.can_send());
        assert_eq!((a_rx.len(), b_rx.len()), (2, 2));
        let _ = (a_rx.try_recv(), b_rx.try_recv());
    }

    #[test]
    fn a_full_link_is_skipped_and_reported_when_all_are_full() {
        let mut links = Links::new(&settings()[..1]);
        let (a, _a_rx) = mpsc::channel(1);
        links.up(0, 1, a, true);
        assert_eq!(links.write(Bytes::new()), Ok(0));
        assert_eq!(links.write(Bytes::new()), Err(RejectReason::SendLinksFull));
    }

    #[test]
    fn a_stale_down_does_not_clear_the_newer_connection() {
        let mut links = Links::new(&settings());
        let (old, _old_rx) = mpsc::channel(1);
        let (new, _new_rx) = mpsc::channel(1);
        links.up(0, 1, old, true);
        links.up(0, 2, new, true);
        assert_eq!(links.down(0, 1), None);
        assert!(links.can_send());
        assert_eq!(
            links.down(0, 2),
            Some(Closed {
                name: "a".into(),
                duplex: false,
            })
        );
        assert!(!links.can_send());
        assert_eq!(links.statuses()[0].state, LinkState::Down);
    }
}
