//! The whole pipeline on real files: spec loading, breaker ranges, webhook URLs, names.

use std::path::{Path, PathBuf};

use super::*;
use crate::breaker::{BreakerConfig, WindowType};
use crate::config::Direction;

use crate::config::tests::MINIMAL as CONFIG;

/// A directory holding `fep.toml` (= `config`) and, when `spec` is set, `specs/hecto.toml`.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new(config: &str, spec: Option<&str>) -> Files {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("fep.toml"), config).unwrap();
        if let Some(spec) = spec {
            std::fs::create_dir(dir.path().join("specs")).unwrap();
            std::fs::write(dir.path().join("specs/hecto.toml"), spec).unwrap();
        }
        Files { dir }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("fep.toml")
    }

    fn resolve(&self) -> Result<Resolved, ConfigError> {
        load_and_resolve(self.config_path())
    }

    fn problems(&self) -> Vec<Diagnostic> {
        match self.resolve() {
            Ok(r) => panic!("expected problems, got {:?}", r.config),
            Err(ConfigError::Invalid(d)) => d,
            Err(e) => panic!("expected located problems: {e}"),
        }
    }
}

fn ok(config: &str) -> Resolved {
    Files::new(config, Some(fep_specs::HECTO_TOML))
        .resolve()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn problems(config: &str) -> Vec<Diagnostic> {
    Files::new(config, Some(fep_specs::HECTO_TOML)).problems()
}

/// The only problem at `path`.
fn at<'d>(ds: &'d [Diagnostic], path: &str) -> &'d Diagnostic {
    let mut found = ds.iter().filter(|d| d.path == path);
    match (found.next(), found.next()) {
        (Some(d), None) => d,
        _ => panic!("want exactly one problem at {path}, got:\n{ds:#?}"),
    }
}

/// 1-based line and column of the first `needle` at or after line `from`.
fn pos_from(text: &str, from: usize, needle: &str) -> (usize, usize) {
    text.lines()
        .enumerate()
        .skip(from - 1)
        .find_map(|(i, l)| l.find(needle).map(|c| (i + 1, l[..c].chars().count() + 1)))
        .unwrap_or_else(|| panic!("{needle:?} not in text"))
}

fn pos(text: &str, needle: &str) -> (usize, usize) {
    pos_from(text, 1, needle)
}

fn assert_at(d: &Diagnostic, file: &Path, (line, column): (usize, usize)) {
    assert_eq!(
        (d.file.as_str(), d.line, d.column),
        (file.display().to_string().as_str(), line, column),
        "{d}"
    );
}

#[test]
fn notice_delivery_settings_resolve_with_their_defaults() {
    let policy = |extra: &str| ok(&format!("{CONFIG}{extra}")).settings.institutions[0].notices;
    assert_eq!(policy(""), crate::notices::DeliveryPolicy::default());
    assert_eq!(
        policy("[institution.notices]\nconcurrency = 4\nrate = 250\n"),
        crate::notices::DeliveryPolicy {
            concurrency: 4,
            rate: std::num::NonZeroU32::new(250),
        }
    );
}

#[test]
fn valid_config_resolves_with_expanded_links_and_default_breaker() {
    let text = CONFIG.replace(
        "links = [ { name = \"main\", role = \"outbound\", connect = \"127.0.0.1:9100\" } ]",
        "links = [\n  { name = \"out\", role = \"outbound\", direction = \"send\", connect = \"127.0.0.1:9100\", count = 2 },\n  { name = \"in\", role = \"inbound\", direction = \"recv\", listen = \"127.0.0.1:9200\", allowed_peers = [\"127.0.0.1\"], count = 3 },\n]",
    ) + "[institution.notices]\nwebhook = \"https://hooks.example/fep\"\n";
    let r = ok(&text);
    assert_eq!(r.summary(), "ok: 1 institutions, 2 links");
    let inst = &r.settings.institutions[0];
    let links: Vec<(&str, Direction)> = inst
        .links
        .iter()
        .map(|l| (l.name.as_str(), l.direction))
        .collect();
    // Outbound `count` opens that many connections; an inbound listener stays one entry.
    assert_eq!(
        links,
        [
            ("out-1", Direction::Send),
            ("out-2", Direction::Send),
            ("in", Direction::Recv)
        ]
    );
    assert_eq!(
        inst.links[0].role,
        crate::settings::Role::Outbound {
            connect: "127.0.0.1:9100".parse().unwrap()
        }
    );
    assert_eq!(inst.webhook.as_deref(), Some("https://hooks.example/fep"));
    assert_eq!(inst.breaker.as_deref(), Some(&BreakerConfig::default()));
    assert!(inst
        .profile
        .layout_for(&"2000/100".parse().unwrap())
        .is_some());
}

#[test]
fn configured_breaker_reaches_the_settings() {
    let text = format!(
        "{CONFIG}[institution.breaker]\nsliding_window_type = \"time_based\"\nsliding_window_size = 30\nfailure_rate_threshold = 25.0\nmax_wait_in_half_open = \"1m\"\n"
    );
    let r = ok(&text);
    let b = r.settings.institutions[0].breaker.clone().unwrap();
    assert_eq!(b.sliding_window_type, WindowType::TimeBased);
    assert_eq!(b.sliding_window_size, 30);
    assert_eq!(b.failure_rate_threshold, 25.0);
    assert_eq!(
        b.max_wait_in_half_open,
        Some(std::time::Duration::from_secs(60))
    );
}

#[test]
fn missing_spec_file_is_reported_at_the_spec_key() {
    let files = Files::new(CONFIG, None);
    let ds = files.problems();
    let d = at(&ds, "institution[0].spec");
    assert_at(d, &files.config_path(), pos(CONFIG, "\"specs/hecto.toml\""));
    assert!(d.message.starts_with("cannot read spec file "), "{d}");
    assert!(d.message.contains("specs/hecto.toml"), "{d}");
    assert_eq!(ds.len(), 1, "{ds:#?}");
}

#[test]
fn spec_syntax_error_points_into_the_spec_file() {
    let spec = "[family]\nname = \"broken\"\nbogus_key = 1\n";
    let files = Files::new(CONFIG, Some(spec));
    let ds = files.problems();
    let d = at(&ds, "institution[0].spec");
    let spec_path = files.dir.path().join("specs/hecto.toml");
    assert_eq!(d.file, spec_path.display().to_string(), "{d}");
    assert!(d.line >= 1 && d.line <= 3, "{d}");
    assert!(d.message.starts_with("in the spec file: "), "{d}");
}

#[test]
fn message_names_mean_nothing_to_the_engine() {
    // The session rules name keys, not Rust-ish message names: renaming them changes nothing.
    let spec = fep_specs::HECTO_TOML
        .replace("SignOnRequest", "LogOnRequest")
        .replace("SignOffRequest", "LogOffRequest");
    let files = Files::new(CONFIG, Some(&spec));
    let r = files
        .resolve()
        .expect("a renamed family still drives the gateway");
    let s = &r.settings.institutions[0].profile.session;
    assert_eq!(s.sign_on, Some("1000/100".parse().unwrap()));
}

#[test]
fn a_session_rule_naming_a_missing_message_is_refused_in_the_spec_file() {
    let spec = fep_specs::HECTO_TOML.replace(
        "sign_on = [\"1000\", \"100\"]",
        "sign_on = [\"1000\", \"900\"]",
    );
    let files = Files::new(CONFIG, Some(&spec));
    let ds = files.problems();
    let d = at(&ds, "institution[0].spec");
    let spec_path = files.dir.path().join("specs/hecto.toml");
    assert_eq!(d.file, spec_path.display().to_string(), "{d}");
    assert!(d.message.contains("1000/900 is not a message"), "{d}");
}

#[test]
fn breaker_ranges_are_all_reported_with_positions() {
    let text = format!(
        "{CONFIG}\n[institution.breaker]\nfailure_rate_threshold = 150.0\nminimum_number_of_calls = 0\npermitted_calls_in_half_open = 0\nsliding_window_size = 0\nwait_duration_in_open_state = \"2d\"\n"
    );
    let ds = problems(&text);
    let cases = [
        (
            "failure_rate_threshold",
            "150.0",
            "must be in (0, 100], got 150",
        ),
        ("minimum_number_of_calls", "0", "must be between 1 and"),
        ("permitted_calls_in_half_open", "0", "must be between 1 and"),
        ("sliding_window_size", "0", "must be between 1 and"),
        ("wait_duration_in_open_state", "\"2d\"", "must be at most"),
    ];
    for (key, value, message) in cases {
        let d = at(&ds, &format!("institution[0].breaker.{key}"));
        let (line, _) = pos(&text, &format!("{key} = "));
        let column = format!("{key} = ").len() + 1;
        assert_eq!((d.line, d.column), (line, column), "{d}");
        assert!(text.lines().nth(line - 1).unwrap().ends_with(value), "{d}");
        assert!(d.message.contains(message), "{key}: {d}");
    }
    assert_eq!(ds.len(), cases.len(), "{ds:#?}");
}

#[test]
fn second_institution_breaker_is_located_in_its_own_table() {
    let second = CONFIG
        .replace("name = \"hecto\"", "name = \"other\"")
        .replace("9100", "9101");
    let text = format!("{CONFIG}{second}[institution.breaker]\nfailure_rate_threshold = 0.0\n");
    let ds = problems(&text);
    let d = at(&ds, "institution[1].breaker.failure_rate_threshold");
    assert_eq!(d.line, pos(&text, "failure_rate_threshold").0);
    assert_eq!(ds.len(), 1, "{ds:#?}");
}

#[test]
fn bad_webhook_urls_are_refused_at_their_value() {
    for (url, why) in [
        ("ftp://x", "the scheme must be http or https, not \"ftp\""),
        ("http://", "is not a URL: empty host"),
        ("garbage", "is not a URL"),
        ("mailto:ops@example.com", "the scheme must be http or https"),
    ] {
        let text = format!("{CONFIG}[institution.notices]\nwebhook = \"{url}\"\n");
        let ds = problems(&text);
        let d = at(&ds, "institution[0].notices.webhook");
        assert_eq!((d.line, d.column), pos(&text, &format!("\"{url}\"")), "{d}");
        assert!(d.message.contains(why), "{url}: {d}");
        assert_eq!(ds.len(), 1, "{url}: {ds:#?}");
    }
}

#[test]
fn duplicate_names_and_independent_problems_are_reported_together() {
    let second = CONFIG.replace(
        "links = [ { name = \"main\", role = \"outbound\", connect = \"127.0.0.1:9100\" } ]",
        "links = [\n  { name = \"a\", role = \"outbound\", connect = \"127.0.0.1:9101\" },\n  { name = \"a\", role = \"outbound\", connect = \"127.0.0.1:9102\" },\n]",
    ) + "[institution.notices]\nwebhook = \"ftp://x\"\n";
    let text = format!("{CONFIG}{second}");
    let ds = problems(&text);
    let second_start = pos_from(&text, 3, "[[institution]]").0;
    let name = at(&ds, "institution[1].name");
    assert_eq!(
        (name.line, name.column),
        pos_from(&text, second_start, "\"hecto\"")
    );
    assert!(
        name.message
            .contains("duplicate institution name \"hecto\" (also institution[0])"),
        "{name}"
    );
    let link = at(&ds, "institution[1].links[1].name");
    let link_line = pos(
        &text,
        "name = \"a\", role = \"outbound\", connect = \"127.0.0.1:9102\"",
    )
    .0;
    assert_eq!(
        (link.line, link.column),
        (link_line, "  { name = ".len() + 1)
    );
    assert!(link.message.contains("duplicate link name \"a\""), "{link}");
    at(&ds, "institution[1].notices.webhook");
    assert_eq!(ds.len(), 3, "{ds:#?}");
    // Reading order: by line in the file.
    assert!(ds.windows(2).all(|w| w[0].line <= w[1].line), "{ds:#?}");
}

#[test]
fn expanded_connection_names_must_not_collide() {
    let text = CONFIG.replace(
        "links = [ { name = \"main\", role = \"outbound\", connect = \"127.0.0.1:9100\" } ]",
        "links = [\n  { name = \"out\", role = \"outbound\", connect = \"127.0.0.1:9100\", count = 2 },\n  { name = \"out-2\", role = \"outbound\", connect = \"127.0.0.1:9101\" },\n]",
    );
    let ds = problems(&text);
    let d = at(&ds, "institution[0].links[1].name");
    assert_eq!(d.line, pos(&text, "\"out-2\"").0);
    assert!(
        d.message
            .contains("connection name \"out-2\" is also used by links[0]"),
        "{d}"
    );
}

#[test]
fn header_problems_point_at_the_header_key() {
    let text = format!(
        "{CONFIG}[institution.header]\n\"header.company_no\" = \"COMPANY01\"\n\"header.no_such\" = \"x\"\n"
    );
    let ds = problems(&text);
    let d = at(&ds, "institution[0].header.\"header.no_such\"");
    assert_eq!((d.line, d.column), pos(&text, "\"x\""), "{d}");
    assert!(d.message.contains("not a field"), "{d}");

    // 13 bytes into the 12-byte 업체번호: refused instead of being left blank.
    let text = format!("{CONFIG}[institution.header]\n\"header.company_no\" = \"COMPANY000001\"\n");
    let ds = problems(&text);
    let d = at(&ds, "institution[0].header.\"header.company_no\"");
    assert_eq!(d.line, pos(&text, "COMPANY000001").0);
    assert!(d.message.contains("holds 12"), "{d}");
}

#[test]
fn structural_errors_stop_before_files_are_opened() {
    // A type error leaves no config to resolve: one problem, and no spec error alongside.
    let text = CONFIG.replace("role = \"outbound\"", "role = \"outbnd\"");
    let files = Files::new(&text, None);
    let ds = files.problems();
    assert_eq!(ds.len(), 1, "{ds:#?}");
    assert_eq!(ds[0].path, "institution[0].links[0].role");
}

#[test]
fn resolve_str_uses_the_given_base_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("specs")).unwrap();
    std::fs::write(dir.path().join("specs/hecto.toml"), fep_specs::HECTO_TOML).unwrap();
    let r = resolve_str(
        Source {
            name: "inline.toml",
            text: CONFIG,
        },
        dir.path(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        r.config.institutions[0].spec,
        dir.path().join("specs/hecto.toml")
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let e = resolve_str(
        Source {
            name: "inline.toml",
            text: CONFIG,
        },
        elsewhere.path(),
    )
    .unwrap_err();
    assert_eq!(e.diagnostics()[0].file, "inline.toml");
    assert_eq!(e.diagnostics()[0].path, "institution[0].spec");
}

#[test]
fn the_sequence_reserve_is_resolved_against_the_specs_range() {
    let r = ok(&format!(
        "{CONFIG}[institution.sequence]\nreserve = \"2%\"\nwarn_at_percent = 90\n"
    ));
    let inst = &r.settings.institutions[0];
    assert_eq!(
        (inst.sequence_reserve, inst.sequence_warn_percent),
        (19_000, 90)
    );
    assert_eq!(ok(CONFIG).settings.institutions[0].sequence_reserve, 9_500);
    let text = format!("{CONFIG}[institution.sequence]\nreserve = 950000\n");
    let ds = problems(&text);
    let d = at(&ds, "institution[0].sequence.reserve");
    assert!(
        d.message.contains("requests would have none") && d.message.contains("1..=950000"),
        "{d}"
    );
}

/// `mode` is `persistent` unless set; `per_telegram` carries its timing (the keys set, the
/// defaults for the others) into the runtime settings.
#[test]
fn link_mode_is_persistent_by_default_and_per_telegram_keeps_its_timing() {
    use crate::settings::{Mode, PerTelegram};
    let text = CONFIG.replace(
        "links = [ { name = \"main\", role = \"outbound\", connect = \"127.0.0.1:9100\" } ]",
        "links = [\n  { name = \"main\", role = \"outbound\", connect = \"127.0.0.1:9100\" },\n  \
         { name = \"out\", role = \"outbound\", mode = \"per_telegram\", connect = \"127.0.0.1:9101\", max_connections = 4 },\n  \
         { name = \"in\", role = \"inbound\", direction = \"recv\", mode = \"per_telegram\", listen = \"127.0.0.1:0\", allowed_peers = [\"127.0.0.1\"], read_timeout = \"2s\", reply_timeout = \"3s\" },\n]",
    );
    let r = ok(&text);
    let modes: Vec<crate::config::LinkMode> = r.config.institutions[0]
        .links
        .iter()
        .map(|l| l.mode)
        .collect();
    use crate::config::LinkMode::{PerTelegram as Per, Persistent};
    assert_eq!(modes, [Persistent, Per, Per]);
    let links = &r.settings.institutions[0].links;
    let d = PerTelegram::default();
    assert_eq!(links[0].mode, Mode::Persistent);
    assert_eq!(
        links[1].mode,
        Mode::PerTelegram(PerTelegram {
            max_connections: 4,
            ..d
        })
    );
    assert_eq!(
        links[2].mode,
        Mode::PerTelegram(PerTelegram {
            max_connections: d.max_connections,
            read_timeout: std::time::Duration::from_secs(2),
            reply_timeout: std::time::Duration::from_secs(3),
        })
    );
}

/// A misspelt mode is refused at its value's position; the per-telegram keys are refused on a
/// persistent link, and an inbound per-telegram link must be `recv`.
#[test]
fn link_mode_problems_are_located() {
    let text = CONFIG.replace(
        "role = \"outbound\", connect",
        "role = \"outbound\", mode = \"per_message\", connect",
    );
    let ds = problems(&text);
    let d = at(&ds, "institution[0].links[0].mode");
    assert!(
        d.message.contains("unknown variant \"per_message\"")
            && d.message.contains("persistent, per_telegram"),
        "{d}"
    );
    let (line, column) = pos(&text, "\"per_message\"");
    assert_eq!((d.line, d.column), (line, column), "{d}");
    assert!(
        d.to_string().contains(&format!(":{line}:{column}: ")),
        "{d}"
    );

    let text = CONFIG.replace(
        "connect = \"127.0.0.1:9100\" }",
        "connect = \"127.0.0.1:9100\", reply_timeout = \"5s\" },\n  { name = \"in\", role = \"inbound\", mode = \"per_telegram\", listen = \"127.0.0.1:0\", allowed_peers = [\"127.0.0.1\"], reply_timeout = \"0s\" }",
    );
    let ds = problems(&text);
    let d = at(&ds, "institution[0].links[0].reply_timeout");
    assert!(
        d.message
            .contains("only applies to links with mode = \"per_telegram\""),
        "{d}"
    );
    assert_eq!(d.line, pos(&text, "reply_timeout = \"5s\"").0);
    assert!(at(&ds, "institution[0].links[1].direction")
        .message
        .contains("use direction = \"recv\""));
    assert_eq!(
        at(&ds, "institution[0].links[1].reply_timeout").message,
        "must be positive"
    );
}

#[cfg(unix)]
mod encryption;

/// A code may mean one outcome only: listed twice in `[institution.response_codes]`, it is
/// refused at the second list (it would otherwise fall back to "declined" silently).
#[test]
fn a_response_code_in_two_lists_is_refused() {
    let text =
        format!("{CONFIG}\n[institution.response_codes]\nsuccess = [\"X1\"]\nunknown = [\"X1\"]\n");
    let files = Files::new(&text, Some(fep_specs::HECTO_TOML));
    let ds = files.problems();
    let d = at(&ds, "institution[0].response_codes.unknown");
    assert!(
        d.message.contains("\"X1\" is also listed in `success`"),
        "{d}"
    );
    // One list each: applied on top of the family's tables.
    let text = format!("{CONFIG}\n[institution.response_codes]\nunknown = [\"SB02\"]\n");
    let r = Files::new(&text, Some(fep_specs::HECTO_TOML))
        .resolve()
        .unwrap();
    let p = &r.settings.institutions[0].profile;
    assert!(p.unknown_codes.contains(&"SB02".to_owned()));
}
