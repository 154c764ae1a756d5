use serde::Deserialize;

use super::diagnostic::line_col;
use super::*;

/// One institution, one outbound link: the smallest valid file (shared with the resolve tests).
pub(super) const MINIMAL: &str = r#"
[[institution]]
name = "hecto"
spec = "specs/hecto.toml"
framing = { kind = "ascii", digits = 4 }
links = [ { name = "main", role = "outbound", connect = "127.0.0.1:9100" } ]
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_source(Source {
        name: "fep.toml",
        text,
    })
}

/// Parses expecting failure; returns the first diagnostic.
fn fail(text: &str) -> Diagnostic {
    match parse(text) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e
            .diagnostics()
            .first()
            .cloned()
            .unwrap_or_else(|| panic!("{e}")),
    }
}

/// 1-based line of the first line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in text"))
}

#[test]
fn minimal_config_gets_defaults() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.server, ServerConfig::default());
    let h = &c.institutions[0];
    assert_eq!(h.framing, Some(Framing::hecto()));
    assert_eq!(h.max_frame, DEFAULT_MAX_FRAME);
    assert_eq!(h.links[0].direction, Direction::Both);
    assert_eq!(h.links[0].count, 1);
    assert_eq!(h.request_timeout, Duration::from_secs(10));
    assert_eq!(h.polling.idle_interval, Duration::from_secs(300));
    assert_eq!(h.unknown, UnknownPolicy::default());
    assert_eq!(h.limits, Limits::default());
    assert!(h.signon.enabled && h.signon.on_connect && h.signon.on_date_change);
    assert_eq!(h.signon.policy(), SignOnPolicy::default());
    assert_eq!(h.time_zone, KST);
    assert_eq!(check_summary(&c), "ok: 1 institutions, 1 links");
}

#[test]
fn time_zone_and_sign_on_timing_are_read() {
    let text = format!(
        "{MINIMAL}time_zone = \"America/New_York\"\n\
         [institution.signon]\nretry_min = \"200ms\"\nretry_max = \"5s\"\nanswer_timeout = \"3s\"\n"
    );
    let h = &parse(&text).unwrap().institutions[0];
    assert_eq!(h.time_zone, chrono_tz::America::New_York);
    assert_eq!(
        h.signon.policy(),
        SignOnPolicy {
            retry_min: Duration::from_millis(200),
            retry_max: Duration::from_secs(5),
            answer_timeout: Duration::from_secs(3),
        }
    );
}

#[test]
fn an_unknown_time_zone_is_refused_at_its_line() {
    let text = format!("{MINIMAL}time_zone = \"Asia/Seol\"\n");
    let d = fail(&text);
    assert_eq!(d.path, "institution[0].time_zone");
    assert_eq!(d.line, line_of(&text, "Asia/Seol"));
    assert!(d.message.contains("unknown time zone \"Asia/Seol\""), "{d}");
}

#[test]
fn sign_on_timing_must_make_sense() {
    let text =
        format!("{MINIMAL}[institution.signon]\nretry_min = \"0s\"\nanswer_timeout = \"0s\"\n");
    let paths: Vec<String> = parse(&text)
        .unwrap_err()
        .diagnostics()
        .iter()
        .map(|d| d.path.clone())
        .collect();
    assert_eq!(
        paths,
        [
            "institution[0].signon.retry_min",
            "institution[0].signon.answer_timeout"
        ]
    );
    let text = format!("{MINIMAL}[institution.signon]\nretry_min = \"2s\"\nretry_max = \"1s\"\n");
    let d = fail(&text);
    assert_eq!(d.path, "institution[0].signon.retry_max");
    assert_eq!(d.line, line_of(&text, "retry_max"));
    assert_eq!(d.message, "must be at least signon.retry_min (2s)");
}

#[test]
fn default_max_frame_fits_a_three_digit_header() {
    let text = MINIMAL.replace("digits = 4", "digits = 3");
    assert_eq!(parse(&text).unwrap().institutions[0].max_frame, 999);
}

/// A value through the same serde adapter the config uses.
fn duration(text: &str) -> Result<Duration, String> {
    #[derive(Debug, Deserialize)]
    struct D {
        #[serde(with = "durations")]
        d: Duration,
    }
    toml::from_str::<D>(&format!("d = {text}"))
        .map(|v| v.d)
        .map_err(|e| e.message().to_owned())
}

#[test]
fn durations() {
    let ok = |t: &str| duration(t).unwrap_or_else(|e| panic!("{t}: {e}"));
    assert_eq!(ok("\"300ms\""), Duration::from_millis(300));
    assert_eq!(ok("\"5s\""), Duration::from_secs(5));
    assert_eq!(ok("\"5m\""), Duration::from_secs(300));
    assert_eq!(ok("\"1h\""), Duration::from_secs(3600));
    assert_eq!(ok("\"1d\""), Duration::from_secs(86_400));
    assert_eq!(ok("\"1m30s\""), Duration::from_secs(90));
    assert_eq!(ok("\"1m 30s\""), Duration::from_secs(90));
    assert_eq!(ok("\"0s\""), Duration::ZERO);
    let err = |t: &str| match duration(t) {
        Ok(d) => panic!("{t} parsed as {d:?}"),
        Err(e) => e,
    };
    // A unit-less string is refused by humantime; humantime's reason is kept in the message.
    let e = err("\"5\"");
    assert!(
        e.contains("invalid duration \"5\"") && e.contains("unit"),
        "{e}"
    );
    let e = err("\"5x\"");
    assert!(e.contains("unknown time unit \"x\""), "{e}");
    assert!(err("\"\"").contains("invalid duration"));
    assert!(err("\"s\"").contains("invalid duration"));
    assert!(err("\"-5s\"").contains("invalid duration"));
    for bare in ["5", "0", "1.5", "-3"] {
        let e = err(bare);
        assert!(e.starts_with(durations::BARE_NUMBER), "{bare}: {e}");
        assert!(e.ends_with(&format!("bare number {bare}")), "{bare}: {e}");
    }
}

#[test]
fn unknown_variant_names_key_and_position() {
    let text = MINIMAL.replace("role = \"outbound\"", "role = \"outbnd\"");
    let d = fail(&text);
    assert_eq!(d.path, "institution[0].links[0].role");
    assert_eq!(d.line, line_of(&text, "outbnd"));
    let col = text
        .lines()
        .nth(d.line - 1)
        .unwrap()
        .find("\"outbnd\"")
        .unwrap()
        + 1;
    assert_eq!(d.column, col);
    assert_eq!(
        d.message,
        "unknown variant \"outbnd\", expected one of outbound, inbound"
    );
    assert!(d.to_string().starts_with(&format!(
        "fep.toml:{}:{col}: institution[0].links[0].role: ",
        d.line
    )));
}

#[test]
fn unknown_field_is_refused_with_position() {
    let text = format!("{MINIMAL}request_timout = \"5s\"\n");
    let d = fail(&text);
    assert!(
        d.message.contains("unknown field \"request_timout\""),
        "{d}"
    );
    assert!(d.path.starts_with("institution[0]"), "{d}");
    assert_eq!(d.line, line_of(&text, "request_timout"));
}

#[test]
fn journal_sync_is_full_unless_set() {
    assert_eq!(
        parse(MINIMAL).unwrap().server.journal_sync,
        JournalSync::Full
    );
    let text = format!("[server]\njournal_sync = \"normal\"\n{MINIMAL}");
    assert_eq!(
        parse(&text).unwrap().server.journal_sync,
        JournalSync::Normal
    );
    let text = format!("[server]\njournal_sync = \"off\"\n{MINIMAL}");
    let d = fail(&text);
    assert_eq!(d.path, "server.journal_sync");
    assert_eq!(d.line, 2);
    assert_eq!(
        d.message,
        "unknown variant \"off\", expected one of full, normal"
    );
}

#[test]
fn unknown_field_in_server_table() {
    let text = format!("[server]\nnative_listen = \"127.0.0.1:1\"\nlisten = \"x\"\n{MINIMAL}");
    let d = fail(&text);
    assert!(d.message.contains("unknown field \"listen\""), "{d}");
    assert_eq!(d.line, 3);
}

#[test]
fn unknown_field_inside_inline_framing_table() {
    let text = MINIMAL.replace("digits = 4", "digits = 4, foo = 1");
    let d = fail(&text);
    assert_eq!(d.path, "institution[0].framing.foo");
    assert_eq!(d.line, line_of(&text, "foo = 1"));
    let col = text.lines().nth(d.line - 1).unwrap().find("1 }").unwrap() + 1;
    assert_eq!(d.column, col);
    assert!(
        d.message
            .starts_with("unknown field \"foo\", expected one of digits"),
        "{d}"
    );
}

#[test]
fn bare_number_duration_is_refused() {
    let text = format!("{MINIMAL}\n[institution.polling]\nidle_interval = 5\n");
    let d = fail(&text);
    assert_eq!(d.path, "institution[0].polling.idle_interval");
    assert_eq!(d.line, line_of(&text, "idle_interval"));
    assert_eq!(d.column, "idle_interval = ".len() + 1);
    assert!(
        d.message
            .contains("a duration needs a unit, e.g. \"5s\" or \"500ms\""),
        "{d}"
    );
    // A top-level key of the institution, as in the docs' example.
    let text = format!("{MINIMAL}request_timeout = 5\n");
    let d = fail(&text);
    assert_eq!(d.path, "institution[0].request_timeout");
    assert_eq!(d.line, line_of(&text, "request_timeout"));
    assert!(d.message.starts_with(durations::BARE_NUMBER), "{d}");
}

#[test]
fn bad_duration_points_at_value() {
    let text = format!("{MINIMAL}request_timeout = \"5 parsecs\"\n");
    let d = fail(&text);
    assert_eq!(d.path, "institution[0].request_timeout");
    assert_eq!(d.line, line_of(&text, "parsecs"));
    assert!(d.message.contains("invalid duration"), "{d}");
}

#[test]
fn syntax_error_has_position() {
    let text = "[server]\nnative_listen = \n";
    let d = fail(text);
    assert_eq!(d.line, 2);
    assert!(d.path.is_empty());
}

#[test]
fn missing_required_key() {
    let text = MINIMAL.replace("spec = \"specs/hecto.toml\"\n", "");
    let d = fail(&text);
    assert!(d.message.contains("missing field \"spec\""), "{d}");
    assert!(d.path.starts_with("institution[0]"), "{d}");
    assert_eq!(d.line, line_of(&text, "[[institution]]"));
}

#[test]
fn duplicate_institution_name() {
    let second = MINIMAL.replace("9100", "9101");
    let text = format!("{MINIMAL}{second}");
    let d = fail(&text);
    assert_eq!(d.path, "institution[1].name");
    assert!(
        d.message.contains("duplicate institution name \"hecto\""),
        "{d}"
    );
    // The second `name = "hecto"` line.
    let second_line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("name = \"hecto\""))
        .nth(1)
        .unwrap()
        .0
        + 1;
    assert_eq!(d.line, second_line);
}

#[test]
fn outbound_without_connect() {
    let text = MINIMAL.replace(", connect = \"127.0.0.1:9100\"", "");
    let d = fail(&text);
    assert_eq!(d.path, "institution[0].links[0].connect");
    assert!(d.message.contains("needs connect"), "{d}");
    assert_eq!(d.line, line_of(&text, "links = ["));
}

#[test]
fn inbound_rules() {
    let text = r#"
[[institution]]
name = "split"
spec = "s.toml"
framing = { kind = "ascii", digits = 4 }

[[institution.links]]
name = "out"
role = "outbound"
direction = "send"
connect = "10.0.0.1:9000"

[[institution.links]]
name = "in"
role = "inbound"
direction = "recv"
connect = "10.0.0.1:9001"
"#;
    let err = parse(text).unwrap_err();
    let ds = err.diagnostics();
    let connect = ds
        .iter()
        .find(|d| d.path == "institution[0].links[1].connect")
        .unwrap_or_else(|| panic!("{err}"));
    assert_eq!(connect.line, 17);
    assert_eq!(connect.column, 11);
    let listen = ds
        .iter()
        .find(|d| d.path == "institution[0].links[1].listen")
        .unwrap_or_else(|| panic!("{err}"));
    assert!(listen.message.contains("needs listen"));
    // Missing key: points at the link's table header.
    assert_eq!(listen.line, 13);
    assert!(ds
        .iter()
        .any(|d| d.path == "institution[0].links[1].allowed_peers"));
}

#[test]
fn needs_a_recv_link() {
    let text = MINIMAL.replace(
        "role = \"outbound\"",
        "role = \"outbound\", direction = \"send\"",
    );
    let d = fail(&text);
    assert_eq!(d.path, "institution[0].links");
    assert!(d.message.contains("no link can receive"), "{d}");
    assert_eq!(d.line, line_of(&text, "links = ["));
}

#[test]
fn needs_a_send_link() {
    let text = MINIMAL.replace(
        "role = \"outbound\"",
        "role = \"outbound\", direction = \"recv\"",
    );
    let d = fail(&text);
    assert!(d.message.contains("no link can send"), "{d}");
}

#[test]
fn zero_limits_are_rejected_at_their_line() {
    let text = format!("{MINIMAL}\n[institution.limits]\nmax_inflight = 8\nrate_tps = 0\n");
    let d = fail(&text);
    assert_eq!(d.path, "institution[0].limits.rate_tps");
    assert_eq!(d.line, line_of(&text, "rate_tps"));
    assert_eq!(d.column, "rate_tps = ".len() + 1);
}

#[test]
fn notice_delivery_concurrency_and_rate() {
    for bad in ["0", "10001"] {
        let text = format!("{MINIMAL}\n[institution.notices]\nconcurrency = {bad}\n");
        let d = fail(&text);
        assert_eq!(d.path, "institution[0].notices.concurrency");
        assert_eq!(d.line, line_of(&text, "concurrency"));
        assert!(d.message.contains("between 1 and 10000"), "{d}");
    }
}

#[test]
fn negative_limit_is_a_type_error() {
    let text = format!("{MINIMAL}\n[institution.limits]\nqueue_depth = -1\n");
    let d = fail(&text);
    assert_eq!(d.path, "institution[0].limits.queue_depth");
    assert_eq!(d.line, line_of(&text, "queue_depth"));
}

#[test]
fn max_frame_beyond_header_capacity() {
    let text = format!("{MINIMAL}max_frame = 20000\n");
    let d = fail(&text);
    assert_eq!(d.path, "institution[0].max_frame");
    assert!(d.message.contains("9999"), "{d}");
    assert_eq!(d.line, line_of(&text, "max_frame"));
}

#[test]
fn bad_framing_values() {
    let text = MINIMAL.replace("digits = 4", "digits = 12");
    let d = fail(&text);
    assert_eq!(d.path, "institution[0].framing");
    assert!(d.message.contains("digits must be 1..=9"), "{d}");
    let text = MINIMAL.replace("kind = \"ascii\"", "kind = \"asci\"");
    let d = fail(&text);
    assert!(d.message.contains("unknown variant \"asci\""), "{d}");
    assert!(d.path.starts_with("institution[0].framing"), "{d}");
}

#[test]
fn bad_connect_address() {
    let text = MINIMAL.replace("127.0.0.1:9100", "bank.example.com");
    let d = fail(&text);
    assert_eq!(d.path, "institution[0].links[0].connect");
    assert!(d.message.contains("not host:port"), "{d}");
}

#[test]
fn listen_address_collision_with_server() {
    let text = r#"
[server]
native_listen = "0.0.0.0:7700"

[[institution]]
name = "x"
spec = "x.toml"
framing = { kind = "binary", width = 2 }
links = [
  { name = "in", role = "inbound", listen = "0.0.0.0:7700", allowed_peers = ["10.0.0.9"] },
]
"#;
    let d = fail(text);
    assert_eq!(d.path, "institution[0].links[0].listen");
    assert!(d.message.contains("server.native_listen"), "{d}");
    assert_eq!(d.line, 10);
}

#[test]
fn no_institutions() {
    let d = fail("[server]\n");
    assert_eq!(d.path, "institution");
    assert_eq!(d.line, 1);
}

#[test]
fn multibyte_text_columns_count_characters() {
    let text = MINIMAL.replace("name = \"hecto\"", "name = \"헥토\"");
    let d = fail(&text);
    assert_eq!(d.path, "institution[0].name");
    assert_eq!(d.column, 8);
    assert_eq!(line_col("가나\n다x", "가나\n다".len()), (2, 2));
}

#[test]
fn oversized_binary_width_is_an_error_not_a_panic() {
    let text = MINIMAL.replace(
        "kind = \"ascii\", digits = 4",
        "kind = \"binary\", width = 8",
    );
    let d = fail(&text);
    assert_eq!(d.path, "institution[0].framing");
    assert!(d.message.contains("width must be 2 or 4"), "{d}");
}

proptest::proptest! {
    #[test]
    fn mutated_configs_never_panic(
        edits in proptest::collection::vec(
            (proptest::arbitrary::any::<proptest::sample::Index>(),
             proptest::sample::select(vec!["", "\"", "=", "[", "]", "{", "}", ",", "\n", "0",
                 "-1", "99999999999", "x", "both", "inbound", "8", ".", "ü"])),
            1..6),
    ) {
        let mut text = format!("{MINIMAL}\n[institution.limits]\nrate_tps = 5\n");
        for (at, insert) in edits {
            let mut i = at.index(text.len() + 1);
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            text.insert_str(i, insert);
        }
        if let Err(e) = Config::from_source(Source {
            name: "fep.toml",
            text: &text,
        }) {
            for d in e.diagnostics() {
                proptest::prop_assert!(d.line >= 1 && d.line <= text.lines().count().max(1) + 1);
                proptest::prop_assert!(d.column >= 1);
            }
            proptest::prop_assert!(!e.diagnostics().is_empty());
        }
    }
}

#[test]
fn load_resolves_spec_relative_to_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fep.toml");
    std::fs::write(&path, MINIMAL).unwrap();
    std::fs::create_dir(dir.path().join("specs")).unwrap();
    std::fs::write(dir.path().join("specs/hecto.toml"), fep_specs::HECTO_TOML).unwrap();
    let c = load_and_resolve(&path)
        .unwrap_or_else(|e| panic!("{e}"))
        .config;
    assert_eq!(c.institutions[0].spec, dir.path().join("specs/hecto.toml"));
    let missing = load_and_resolve(dir.path().join("nope.toml")).unwrap_err();
    assert!(matches!(missing, ConfigError::Io { .. }));
}

#[test]
fn a_listen_address_used_twice_is_refused_but_port_0_never_clashes() {
    let config = |a: &str, b: &str| {
        format!(
            r#"
[server]
native_listen = "127.0.0.1:0"
http_listen = "127.0.0.1:0"

[[institution]]
name = "hecto"
spec = "specs/hecto.toml"
framing = {{ kind = "ascii", digits = 4 }}
links = [
  {{ name = "a", role = "inbound", listen = "{a}", allowed_peers = ["127.0.0.1"] }},
  {{ name = "b", role = "inbound", listen = "{b}", allowed_peers = ["127.0.0.1"] }},
]
"#
        )
    };
    parse(&config("127.0.0.1:0", "127.0.0.1:0")).expect("port 0 asks the OS for a port: no clash");
    let d = fail(&config("127.0.0.1:9200", "127.0.0.1:9200"));
    assert!(
        d.to_string().contains("already used by"),
        "a real port bound twice is refused: {d}"
    );
}

#[test]
fn sequence_reserve_is_a_count_or_a_percentage() {
    let reserve = |value: &str| {
        let text = format!("{MINIMAL}\n[institution.sequence]\nreserve = {value}\n");
        parse(&text).map(|c| c.institutions[0].sequence.reserve)
    };
    assert_eq!(
        parse(MINIMAL).unwrap().institutions[0].sequence,
        Sequence {
            reserve: SequenceReserve::Percent(1.0),
            warn_at_percent: 80
        }
    );
    assert_eq!(reserve("50").unwrap(), SequenceReserve::Count(50));
    assert_eq!(reserve("\"2.5%\"").unwrap(), SequenceReserve::Percent(2.5));
    assert_eq!(SequenceReserve::Percent(1.0).numbers(30), 1, "rounded up");
    assert_eq!(SequenceReserve::Percent(1.0).numbers(950_000), 9_500);
    assert_eq!(SequenceReserve::Count(3).numbers(30), 3);
    for bad in ["-1", "\"100%\"", "\"5\"", "\"x%\"", "1.5"] {
        let text = format!("{MINIMAL}\n[institution.sequence]\nreserve = {bad}\n");
        let d = fail(&text);
        assert_eq!(d.path, "institution[0].sequence.reserve", "{bad}: {d}");
        assert_eq!(d.line, line_of(&text, "reserve ="), "{bad}");
    }
}

#[test]
fn sequence_warning_threshold_is_a_percentage() {
    for bad in ["0", "101"] {
        let text = format!("{MINIMAL}\n[institution.sequence]\nwarn_at_percent = {bad}\n");
        let d = fail(&text);
        assert_eq!(d.path, "institution[0].sequence.warn_at_percent", "{d}");
        assert_eq!(d.line, line_of(&text, "warn_at_percent"));
    }
}
