//! `[session]`: who opens and closes an institution's business day, with which telegrams,
//! and the session commands (개시, 종료예고, TEST-CALL …) an institution may start.
//!
//! The gateway's engine reads only this model: no institution's message names or codes are
//! known to it.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::{AckDef, Builder, Family, NoticeSpec};
use crate::spec::error::SpecError;
use crate::spec::schema::SessionDef;

/// Who opens the business day (업무개시).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Opener {
    /// The gateway sends the sign-on request and waits for its answer (Hecto).
    Gateway,
    /// The institution sends its sign-on command and the gateway answers it (KIBNET's EFMS
    /// sends 0800/2100 개시).
    Institution,
    /// No sign-on: requests may be sent as soon as a link can carry them.
    #[default]
    Nobody,
}

/// An event on which the gateway starts a session telegram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent {
    /// A link able to send came up.
    Connect,
    /// The business date changed.
    DateChange,
    /// The gateway is shutting down.
    Shutdown,
}

impl SessionEvent {
    fn parse(s: &str) -> Option<SessionEvent> {
        match s {
            "connect" => Some(SessionEvent::Connect),
            "date_change" => Some(SessionEvent::DateChange),
            "shutdown" => Some(SessionEvent::Shutdown),
            _ => None,
        }
    }
}

/// What answering an institution's session command does to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommandEffect {
    /// The business day is open (개시, 재개시): requests may go.
    Open,
    /// No new money-moving requests (종료예고); inquiries and other requests still go.
    StopNew,
    /// The business day is over (종료): no new requests until the next open.
    Close,
    /// Answered and recorded, nothing else (TEST-CALL, 장애 통보, 마감지시).
    #[default]
    None,
}

impl CommandEffect {
    fn parse(s: &str) -> Option<CommandEffect> {
        match s {
            "open" => Some(CommandEffect::Open),
            "stop_new" => Some(CommandEffect::StopNew),
            "close" => Some(CommandEffect::Close),
            "none" => Some(CommandEffect::None),
            _ => None,
        }
    }
}

/// A session telegram the institution starts and the gateway answers at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    /// The command's key, `when`, and how its answer is built.
    pub answer: NoticeSpec,
    /// What answering it does to the session.
    pub effect: CommandEffect,
}

/// A test call (상태확인) the gateway sends as an ordinary telegram on an idle session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCallSpec {
    /// The request's key.
    pub key: Vec<String>,
    /// Seconds without traffic before one is sent.
    pub idle_secs: u64,
}

/// The session rules of a family (`[session]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionSpec {
    /// Who opens the business day.
    pub opened_by: Opener,
    /// The sign-on request's key (sent by the gateway when `opened_by` is the gateway).
    pub sign_on: Option<Vec<String>>,
    /// The sign-off request's key (sent by the gateway at the `sign_off_when` events).
    pub sign_off: Option<Vec<String>>,
    /// When the gateway signs on.
    pub sign_on_when: Vec<SessionEvent>,
    /// When the gateway signs off.
    pub sign_off_when: Vec<SessionEvent>,
    /// A test call the gateway sends on idle sessions.
    pub test_call: Option<TestCallSpec>,
    /// Requests refused after a [`CommandEffect::StopNew`] command (종료예고).
    pub money_moving: Vec<Vec<String>>,
    /// Header values the gateway writes into every telegram it sends (e.g. a direction flag).
    pub stamp: Vec<(String, String)>,
    /// Commands the institution starts.
    pub commands: Vec<CommandSpec>,
}

impl SessionSpec {
    /// The command rule matching `telegram` (key and `when`), if it is one.
    pub fn command_of(&self, keys: &[super::KeyField], telegram: &[u8]) -> Option<&CommandSpec> {
        self.commands
            .iter()
            .find(|c| c.answer.matches(keys, telegram))
    }
}

impl Builder<'_> {
    /// Checks and builds `[session]`.
    pub(super) fn session(
        &self,
        family: &Family,
        def: &Spanned<SessionDef>,
    ) -> Result<SessionSpec, SpecError> {
        let span = Some(def.span());
        let d = def.get_ref();
        let ctx = "[session]";
        let opened_by = match &d.opened_by {
            None => {
                if d.sign_on.is_some() {
                    Opener::Gateway
                } else {
                    Opener::Nobody
                }
            }
            Some(s) => match s.get_ref().as_str() {
                "gateway" => Opener::Gateway,
                "institution" => Opener::Institution,
                "none" => Opener::Nobody,
                other => {
                    return Err(self.err(
                        Some(s.span()),
                        ctx,
                        format!(
                        "opened_by = {other:?}: expected \"gateway\", \"institution\" or \"none\""
                    ),
                    ))
                }
            },
        };
        let request = |key: &Option<Vec<String>>, what: &str| -> Result<(), SpecError> {
            let Some(key) = key else { return Ok(()) };
            let m = family.message_by_key(key).ok_or_else(|| {
                self.err(
                    span.clone(),
                    ctx,
                    format!("{what} {} is not a message of this family", key.join("/")),
                )
            })?;
            if m.response.is_none() {
                return Err(self.err(
                    span.clone(),
                    ctx,
                    format!(
                        "{what} {} has no `response` in [[messages]]: the gateway could not tell its answer",
                        key.join("/")
                    ),
                ));
            }
            Ok(())
        };
        request(&d.sign_on, "sign_on")?;
        request(&d.sign_off, "sign_off")?;
        if opened_by != Opener::Gateway && d.sign_on.is_some() {
            return Err(self.err(
                span,
                ctx,
                "`sign_on` is the request the gateway sends: it needs opened_by = \"gateway\"",
            ));
        }
        if opened_by == Opener::Gateway && d.sign_on.is_none() {
            return Err(self.err(
                span,
                ctx,
                "opened_by = \"gateway\" needs `sign_on`, the request the gateway sends",
            ));
        }
        let events = |list: &Option<Vec<Spanned<String>>>,
                      default: &[SessionEvent]|
         -> Result<Vec<SessionEvent>, SpecError> {
            let Some(list) = list else {
                return Ok(default.to_vec());
            };
            list.iter()
                .map(|e| {
                    SessionEvent::parse(e.get_ref()).ok_or_else(|| {
                        self.err(
                            Some(e.span()),
                            ctx,
                            format!(
                                "event {:?}: expected \"connect\", \"date_change\" or \"shutdown\"",
                                e.get_ref()
                            ),
                        )
                    })
                })
                .collect()
        };
        let sign_on_when = events(
            &d.sign_on_when,
            &[SessionEvent::Connect, SessionEvent::DateChange],
        )?;
        let sign_off_when = match &d.sign_off {
            Some(_) => events(&d.sign_off_when, &[SessionEvent::Shutdown])?,
            None => Vec::new(),
        };
        // What the engine does: it signs on whenever a line comes up, and off at shutdown.
        // A rule asking for something else would load and be silently ignored.
        if opened_by == Opener::Gateway && !sign_on_when.contains(&SessionEvent::Connect) {
            return Err(self.err(
                span,
                ctx,
                "sign_on_when must include \"connect\": a new line needs the day opened on it",
            ));
        }
        if sign_on_when.contains(&SessionEvent::Shutdown)
            || sign_off_when.iter().any(|e| *e != SessionEvent::Shutdown)
        {
            return Err(self.err(
                span,
                ctx,
                "sign_on_when takes \"connect\" and \"date_change\"; sign_off_when takes \"shutdown\"",
            ));
        }
        let test_call = match &d.test_call {
            None => None,
            Some(t) => {
                let tspan = Some(t.span());
                let t = t.get_ref();
                request(&Some(t.key.clone()), "test_call")?;
                let idle_secs = t.idle_secs.unwrap_or(60);
                if idle_secs == 0 {
                    return Err(self.err(tspan, ctx, "test_call idle_secs must be at least 1"));
                }
                Some(TestCallSpec {
                    key: t.key.clone(),
                    idle_secs,
                })
            }
        };
        let money_moving = match &d.money_moving {
            Some(keys) => {
                for k in keys {
                    self.message_layout(family, k, span.clone(), ctx)?;
                }
                keys.clone()
            }
            // The requests a result inquiry resolves are the ones that move money.
            None => family
                .inquiries()
                .iter()
                .flat_map(|q| q.for_keys.iter().cloned())
                .collect(),
        };
        for (path, value) in &d.stamp {
            let p = Spanned::new(span.clone().unwrap_or(0..0), path.clone());
            self.check_in_all(family, &p, "[session] stamp")?;
            self.fits_everywhere(family, path, value, span.clone())?;
        }
        let mut commands = Vec::new();
        for c in &d.commands {
            let cspan = Some(c.span());
            let c = c.get_ref();
            let cctx = format!("[[session.commands]] {}", c.key.join("/"));
            let effect = match &c.effect {
                None => CommandEffect::None,
                Some(e) => CommandEffect::parse(e.get_ref()).ok_or_else(|| {
                    self.err(
                        Some(e.span()),
                        &cctx,
                        format!(
                            "effect = {:?}: expected \"open\", \"stop_new\", \"close\" or \"none\"",
                            e.get_ref()
                        ),
                    )
                })?,
            };
            let rule = AckDef {
                key: &c.key,
                when: &c.when,
                ack: &c.ack,
                copy: c.copy.as_ref(),
                set: &c.set,
            };
            let answer = self.ack_rule(family, &rule, cspan, &cctx)?;
            commands.push(CommandSpec { answer, effect });
        }
        if opened_by == Opener::Institution
            && !commands.iter().any(|c| c.effect == CommandEffect::Open)
        {
            return Err(self.err(
                span,
                ctx,
                "opened_by = \"institution\" needs a [[session.commands]] with effect = \"open\"",
            ));
        }
        Ok(SessionSpec {
            opened_by,
            sign_on: d.sign_on.clone(),
            sign_off: d.sign_off.clone(),
            sign_on_when,
            sign_off_when,
            test_call,
            money_moving,
            stamp: sorted(&d.stamp),
            commands,
        })
    }

    /// `value` fits field `path` in every message (a stamp is written into all of them).
    fn fits_everywhere(
        &self,
        family: &Family,
        path: &str,
        value: &str,
        span: Option<Range<usize>>,
    ) -> Result<(), SpecError> {
        for m in family.messages() {
            if let Some(len) = m.layout.field(path).and_then(|f| f.len) {
                if value.len() > len {
                    return Err(self.err(
                        span,
                        "[session] stamp",
                        format!(
                            "{value:?} is {} bytes; `{path}` holds {len} in message {}",
                            value.len(),
                            m.key_str()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn sorted(map: &BTreeMap<String, String>) -> Vec<(String, String)> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}
