//! The `fep` command line: argument parsing and dispatch to the library. `main.rs` only calls
//! [`main`].

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use fep_codec::spec::{DecodeOptions, Family, OutputFormat};

use fep_gateway::clock::{SharedClock, StartedClock, SystemClock};
use fep_gateway::config::load_and_resolve;
use fep_gateway::gateway::Gateway;

/// Front-end processor gateway for fixed-length telegram institutions.
#[derive(Parser)]
#[command(name = "fep", version, about)]
struct Cli {
    /// Log as JSON lines instead of text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Simulated institutions + the gateway + a load, with a live summary.
    Demo(crate::demo::DemoOptions),
    /// Gateway benchmark: saturation throughput, added latency, RSS with 10k in flight,
    /// everyday-load table; `--only journal` compares journal_commit sqlite and log.
    Bench(crate::bench::BenchOptions),
    /// Run the gateway.
    Run {
        /// Configuration file.
        #[arg(long, default_value = "fep.toml")]
        config: PathBuf,
        /// Start the clock at this time — for date-change drills. Without an offset it is Korea
        /// time (`2026-11-22T23:59:55`), whatever the institutions' zones; with one it is that
        /// instant (`2026-11-22T14:59:55Z`). Each institution reads it in its own `time_zone`.
        #[arg(long, hide = true)]
        clock_start: Option<String>,
    },
    /// Validate a configuration file; errors point at the offending line.
    Check {
        /// Path of the configuration file.
        #[arg(long, default_value = "fep.toml")]
        config: PathBuf,
    },
    /// A simulated institution: the Hecto bank, or with `--spec` any family from its TOML
    /// (for tests, demos and benchmarks).
    Sim {
        #[command(flatten)]
        config: fep_testkit::sim::SimConfig,
        #[command(flatten)]
        spec: SpecSimArgs,
    },
    /// Load generator over the native protocol (or the HTTP API with `--http`).
    Load {
        #[command(flatten)]
        options: crate::load::LoadOptions,
        /// Send over the gateway's HTTP API at this base URL (e.g. `http://127.0.0.1:7780`)
        /// instead of the native protocol; `--addr` and `--connections` are then not used.
        #[arg(long)]
        http: Option<String>,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Decode a telegram (raw bytes or hex) with a spec: field table or JSON.
    Decode {
        /// Spec TOML of the family.
        #[arg(long)]
        spec: PathBuf,
        /// The input is hex text.
        #[arg(long)]
        hex: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Show masked fields in clear.
        #[arg(long)]
        unmask: bool,
        /// Input file, or `-` for standard input.
        input: PathBuf,
    },
    /// Generate Rust derive structs from a spec TOML.
    Codegen {
        /// Spec TOML.
        spec: PathBuf,
    },
    /// Query the journal (read-only; safe while the gateway runs).
    Journal {
        /// Data directory of the gateway (holds journal.db).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        #[command(flatten)]
        query: JournalArgs,
        /// Show each transaction's telegrams decoded with this spec (sensitive fields masked).
        #[arg(long)]
        spec: Option<PathBuf>,
        /// Show masked fields in clear (with --spec); the operator must say why with
        /// --unmask-reason, which is printed to standard error for the audit trail.
        #[arg(long, requires_all = ["spec", "unmask_reason"])]
        unmask: bool,
        /// Why masked fields are shown (required by --unmask; e.g. a ticket number).
        #[arg(long, requires = "unmask", value_parser = non_blank)]
        unmask_reason: Option<String>,
        /// Ledger check: every transaction has exactly one terminal outcome, no number reused.
        #[arg(long)]
        check: bool,
        /// One JSON document: `{"total", "shown", "truncated", "limit", "transactions"}`
        /// (each transaction with its decoded `telegrams` when --spec is given).
        #[arg(long)]
        json: bool,
    },
    /// Repair a journal log that refuses to start because records are missing (the gateway
    /// must be stopped): shows what the log still holds; with --accept-gap reads it back.
    RepairLog {
        /// Data directory of the gateway (holds journal.db and journal.log).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Read every readable record back into the database, past the missing ones: they are
        /// lost to it (transactions they would have settled stay as the database has them).
        #[arg(long)]
        accept_gap: bool,
    },
    /// Spec tools.
    Spec {
        #[command(subcommand)]
        command: SpecCommand,
    },
}

#[derive(Subcommand)]
enum SpecCommand {
    /// Print the family as a Markdown 전문설계서.
    Doc {
        /// Spec TOML.
        spec: PathBuf,
    },
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn load_family(path: &PathBuf) -> Result<Family, ExitCode> {
    // The error already names the file (file:line:col, or file: for I/O errors).
    Family::load(path).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(2)
    })
}

/// Writes a command's output to stdout. A reader that went away (`fep decode … | head`) ends
/// the output quietly, as `cat` does, instead of panicking like `print!` on a broken pipe.
fn print_out(text: &str) -> ExitCode {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot write the output: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the command line; the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_json);
    match cli.command {
        // The same pipeline as `fep run`: what passes here starts there.
        Command::Check { config } => match load_and_resolve(&config) {
            Ok(resolved) => {
                for w in &resolved.warnings {
                    eprintln!("warning: {w}");
                }
                if !resolved.access.enforced() {
                    eprintln!("warning: {}", fep_gateway::config::OPEN_ACCESS_WARNING);
                }
                println!("{}", resolved.summary());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Command::Decode {
            spec,
            hex,
            json,
            unmask,
            input,
        } => {
            let family = match load_family(&spec) {
                Ok(f) => f,
                Err(code) => return code,
            };
            let bytes = if input.as_os_str() == "-" {
                let mut buf = Vec::new();
                std::io::stdin().read_to_end(&mut buf).map(|_| buf)
            } else {
                std::fs::read(&input)
            };
            let bytes = match bytes {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("{}: {e}", input.display());
                    return ExitCode::from(2);
                }
            };
            let options = DecodeOptions {
                hex,
                format: if json {
                    OutputFormat::Json
                } else {
                    OutputFormat::Table
                },
                unmask,
            };
            match fep_codec::spec::decode(&family, &bytes, &options) {
                Ok(out) => print_out(&format!("{out}\n")),
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Journal {
            data_dir,
            query,
            spec,
            unmask,
            unmask_reason,
            check,
            json,
        } => {
            if let Some(reason) = unmask_reason.as_deref().filter(|_| unmask) {
                let user = std::env::var("USER").unwrap_or_else(|_| "?".into());
                eprintln!(
                    "fep journal: masked fields shown in clear by {user:?} ({}): {reason}",
                    data_dir.display()
                );
                tracing::warn!(user, reason, data_dir = %data_dir.display(), "fep journal --unmask: masked fields shown in clear");
            }
            let output = JournalOutput {
                spec: spec.as_ref(),
                unmask,
                json,
            };
            journal(&data_dir, &(&query).into(), output, check)
        }
        Command::RepairLog {
            data_dir,
            accept_gap,
        } => repair_log(&data_dir, accept_gap),
        Command::Codegen { spec } => match load_family(&spec) {
            Ok(f) => print_out(&fep_codec::spec::codegen(&f)),
            Err(code) => code,
        },
        Command::Spec {
            command: SpecCommand::Doc { spec },
        } => match load_family(&spec) {
            Ok(f) => print_out(&fep_codec::spec::spec_doc(&f)),
            Err(code) => code,
        },
        command => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            runtime.block_on(run_async(command))
        }
    }
}

/// A value that is not empty or blank (`--unmask-reason`).
fn non_blank(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("must say why (not blank)".into())
    } else {
        Ok(s.to_owned())
    }
}

/// `fep repair-log`: what the journal log holds beyond the database, and, accepted, read back.
fn repair_log(data_dir: &Path, accept_gap: bool) -> ExitCode {
    let db = data_dir.join("journal.db");
    if !db.exists() {
        eprintln!("{}: no journal here", db.display());
        return ExitCode::from(2);
    }
    let report = match fep_gateway::journal::repair_log(&db, accept_gap) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("{}: {e}", data_dir.join("journal.log").display());
            return ExitCode::from(2);
        }
    };
    if !report.log_exists {
        println!("no journal log: nothing to repair");
        return ExitCode::SUCCESS;
    }
    println!(
        "the database holds the log up to record {}; the log holds {} readable record(s) beyond it",
        report.applied, report.readable
    );
    for gap in &report.missing {
        println!(
            "missing: records {}..={} ({} record(s))",
            gap.start,
            gap.end - 1,
            gap.end - gap.start
        );
    }
    if report.read_back {
        tracing::warn!(data_dir = %data_dir.display(), missing = ?report.missing, "fep repair-log: journal log read back past missing records");
        println!(
            "read back: {} record(s) are in the database; the gateway will start. Transactions the \
             missing records would have settled stay as the database has them; `sent` ones are \
             resolved by inquiry at the next start.",
            report.readable
        );
    } else if !report.missing.is_empty() {
        println!("nothing changed; `fep repair-log --accept-gap` reads the readable records back");
        return ExitCode::from(1);
    } else {
        println!("no records missing: the gateway reads the log back itself at start");
    }
    ExitCode::SUCCESS
}

/// How `fep journal` shows what it found.
struct JournalOutput<'a> {
    /// Decode each transaction's telegrams with this spec.
    spec: Option<&'a PathBuf>,
    /// Show masked fields in clear.
    unmask: bool,
    /// One JSON document instead of a table.
    json: bool,
}

fn journal(
    data_dir: &std::path::Path,
    query: &fep_gateway::ledger::JournalQuery,
    output: JournalOutput<'_>,
    check: bool,
) -> ExitCode {
    let ledger = match fep_gateway::ledger::Ledger::open(&data_dir.join("journal.db")) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{}: {e}", data_dir.join("journal.db").display());
            return ExitCode::from(2);
        }
    };
    if ledger.log_backlog() > 0 {
        eprintln!(
            "note: {} record(s) in {} are not in the database yet: a running gateway adds them \
             within milliseconds; a stopped one reads them back when it starts. Until then they \
             are missing below.",
            ledger.log_backlog(),
            data_dir.join("journal.log").display()
        );
    }
    if check {
        return match ledger.check(query) {
            Ok(r) => {
                println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
                if r.reused_numbers == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("ledger check failed: {e}");
                ExitCode::from(2)
            }
        };
    }
    let family = match output.spec.map(load_family).transpose() {
        Ok(f) => f,
        Err(code) => return code,
    };
    let (rows, total) = match ledger
        .transactions(query)
        .and_then(|rows| Ok((rows, ledger.count(query)?)))
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("journal query failed: {e}");
            return ExitCode::from(2);
        }
    };
    // A row may be added between the two queries: never claim fewer than shown.
    let total = total.max(rows.len() as u64);
    let truncated = (rows.len() as u64) < total;
    // The telegrams of a transaction, decoded in `format` (None without --spec).
    let decoded = |t: &fep_gateway::journal::TxRecord, format| {
        let family = family.as_ref()?;
        let options = DecodeOptions {
            hex: false,
            format,
            unmask: output.unmask,
        };
        let telegrams = ledger
            .telegrams(&t.institution, t.day, t.msg_no)
            .unwrap_or_default();
        Some(
            telegrams
                .into_iter()
                .map(|g| {
                    let shown = fep_codec::spec::decode(family, &g.raw, &options)
                        .unwrap_or_else(|e| e.to_string());
                    (g, shown)
                })
                .collect::<Vec<_>>(),
        )
    };
    if output.json {
        let transactions: Vec<serde_json::Value> = rows
            .iter()
            .map(|t| {
                let mut v = serde_json::to_value(t).unwrap_or_default();
                if let Some(telegrams) = decoded(t, OutputFormat::Json) {
                    v["telegrams"] = telegrams
                        .into_iter()
                        .map(|(g, shown)| {
                            serde_json::json!({
                                "ts_ms": g.ts_ms,
                                "direction": g.direction,
                                "msg_type": g.msg_type,
                                "decoded": serde_json::from_str::<serde_json::Value>(&shown)
                                    .unwrap_or(serde_json::Value::String(shown)),
                            })
                        })
                        .collect();
                }
                v
            })
            .collect();
        let doc = serde_json::json!({
            "total": total,
            "shown": rows.len(),
            "truncated": truncated,
            "limit": query.limit,
            "transactions": transactions,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    println!(
        "{:>20} {:<12} {:>8} {:>6} {:<9} {:<9} {:<10} {:<16} detail",
        "tx", "institution", "day", "no", "type", "outcome", "resolved", "client"
    );
    for t in &rows {
        println!(
            "{:>20} {:<12} {:>8} {:>6} {:<9} {:<9} {:<10} {:<16} {}",
            t.id,
            t.institution,
            t.day,
            t.msg_no,
            t.msg_type,
            t.outcome,
            t.resolved.map_or("-", |r| r.as_str()),
            t.client.as_ref().map_or("-", |c| c.as_str()),
            t.detail
        );
        for (g, shown) in decoded(t, OutputFormat::Table).unwrap_or_default() {
            println!("  -- {} {} --\n{shown}", g.direction, g.msg_type);
        }
    }
    if truncated {
        println!(
            "showing the newest {} of {} transactions; use --limit to see more (or filters)",
            thousands(rows.len() as u64),
            thousands(total)
        );
    }
    ExitCode::SUCCESS
}

/// `2345` → `"2,345"`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    // The first group takes what is left over by threes; the rest are whole groups.
    let first = match digits.len() % 3 {
        0 => 3.min(digits.len()),
        r => r,
    };
    let (head, rest) = digits.split_at(first);
    let mut out = head.to_owned();
    for group in rest.as_bytes().chunks(3) {
        out.push(',');
        out.extend(group.iter().map(|&b| char::from(b)));
    }
    out
}

async fn run_async(command: Command) -> ExitCode {
    let result = match command {
        Command::Demo(opts) => crate::demo::run(opts).await.and_then(|s| {
            if s.lost == 0 {
                Ok(())
            } else {
                Err(format!("{} requests lost", s.lost))
            }
        }),
        Command::Bench(opts) => crate::bench::run(&opts)
            .await
            .map(|r| crate::bench::print(&r)),
        Command::Run {
            config,
            clock_start,
        } => run_gateway(config, clock_start).await,
        Command::Sim { config, spec } => match &spec.spec {
            None => fep_testkit::sim::run(config, shutdown_signal())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Some(path) => run_spec_sim(path, &spec, &config).await,
        },
        Command::Load {
            options,
            http,
            json,
        } => {
            let bar = indicatif::ProgressBar::new_spinner();
            let shown = bar.clone();
            let progress = move |live: &crate::load::LiveCounters, elapsed| {
                shown.set_message(crate::load::progress_line(live, elapsed))
            };
            let report = match &http {
                Some(base) => crate::load::run_http(&options, base, progress).await,
                None => crate::load::run(&options, progress).await,
            };
            match report {
                Ok(report) => {
                    bar.finish_and_clear();
                    if json {
                        println!("{}", serde_json::to_string(&report).unwrap_or_default());
                    } else {
                        println!(
                            "requests {}  ok {}  declined {}  unknown {}  rejected {}  lost {}  sent late {}\nthroughput {:.0} req/s\nlatency p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms",
                            report.requests, report.ok, report.declined, report.unknown, report.rejected, report.lost, report.late,
                            report.tps, report.p50_ms, report.p90_ms, report.p99_ms, report.p999_ms, report.max_ms
                        );
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        _ => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_gateway(config: PathBuf, clock_start: Option<String>) -> Result<(), String> {
    let resolved = load_and_resolve(&config).map_err(|e| e.to_string())?;
    for w in &resolved.warnings {
        tracing::warn!("{w}");
    }
    let (settings, access) = (resolved.settings, resolved.access);
    if !access.enforced() {
        eprintln!("warning: {}", fep_gateway::config::OPEN_ACCESS_WARNING);
    }
    let clock: SharedClock = match clock_start {
        Some(s) => Arc::new(StartedClock::parse(&s).map_err(|e| format!("--clock-start: {e}"))?),
        None => Arc::new(SystemClock),
    };
    let gateway = Gateway::start_with(settings, access, clock)
        .await
        .map_err(|e| error_chain(&e))?;
    // Machine-readable readiness line for supervisors and black-box tests; inbound links add
    // `listen.<institution>.<link>=<addr>` (the real port when configured as 0), and
    // `admin=<addr>` with `admin_listen`.
    let admin: String = gateway
        .admin_addr()
        .map(|a| format!(" admin={a}"))
        .unwrap_or_default();
    let listen: String = gateway
        .listen_addrs()
        .iter()
        .map(|l| format!(" listen.{}.{}={}", l.institution, l.link, l.addr))
        .collect();
    println!(
        "fep ready native={} http={}{admin}{listen}",
        gateway.native_addr(),
        gateway
            .http_addr()
            .map(|a| a.to_string())
            .unwrap_or_default()
    );
    until_shutdown_reloading_tls(&gateway, &config).await;
    eprintln!("shutting down: draining in-flight requests (up to 10 s), signing off");
    gateway.shutdown(Duration::from_secs(10)).await;
    Ok(())
}

/// `fep sim --spec`: options only the spec-driven simulator reads. It also reads `--listen`,
/// `--connect-back` and `--seed`; the Hecto bank's other flags do not apply to it.
#[derive(clap::Args)]
struct SpecSimArgs {
    /// Simulate the institution of this family spec (TOML) instead of the built-in Hecto bank.
    #[arg(long)]
    spec: Option<PathBuf>,
    /// Scenario TOML: outcome rates, latency, notices, scheduled commands, connection habits
    /// (docs/new-institution.md). Only with --spec.
    #[arg(long, requires = "spec")]
    scenario: Option<PathBuf>,
    /// One telegram per connection: on accepted connections (read one, answer, close) and
    /// towards --connect-back (connect, send, read the acknowledgement, close). Only with --spec.
    #[arg(long, requires = "spec")]
    per_telegram: bool,
}

/// Runs the spec-driven simulator until Ctrl-C / SIGTERM.
async fn run_spec_sim(
    path: &std::path::Path,
    args: &SpecSimArgs,
    config: &fep_testkit::sim::SimConfig,
) -> Result<(), String> {
    use fep_testkit::spec_sim::{run, Scenario, SpecSimOptions};
    let defaults = fep_testkit::sim::SimConfig {
        listen: config.listen,
        connect_back: config.connect_back,
        seed: config.seed,
        ..fep_testkit::sim::SimConfig::default()
    };
    if *config != defaults {
        // The Hecto bank's own flags would silently do nothing: say so.
        eprintln!(
            "warning: with --spec, only --listen, --connect-back and --seed apply; \
             put rates, latency and notices in --scenario"
        );
    }
    let family = Family::load(path).map_err(|e| e.to_string())?;
    let mut scenario = match &args.scenario {
        Some(p) => Scenario::load(p).map_err(|e| e.to_string())?,
        None => Scenario::default(),
    };
    if args.per_telegram {
        scenario.connections.per_telegram_listen = true;
        scenario.connections.per_telegram_connect_back = true;
    }
    let opts = SpecSimOptions {
        listen: config.listen,
        connect_back: config.connect_back,
        seed: config.seed,
    };
    run(family, scenario, opts, shutdown_signal())
        .await
        .map(|stats| eprintln!("{stats:?}"))
        .map_err(|e| error_chain(&e))
}

/// An error and its causes, `outer: inner: …` (typed errors keep their causes as sources).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Waits for SIGTERM or Ctrl-C; meanwhile each SIGHUP reads the TLS certificate and key files
/// and the telegram encryption keys again (rotation without dropping links; logged).
async fn until_shutdown_reloading_tls(gateway: &Gateway, config: &std::path::Path) {
    #[cfg(unix)]
    if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        let stop = shutdown_signal();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                Some(()) = hup.recv() => {
                    gateway.reload_tls();
                    reload_keys(gateway, config).await;
                }
            }
        }
    }
    shutdown_signal().await;
}

/// Reads the configuration again for its telegram encryption keys and puts them into the
/// running institutions; a configuration that no longer passes keeps the old keys.
async fn reload_keys(gateway: &Gateway, config: &std::path::Path) {
    match load_and_resolve(config) {
        Ok(resolved) => {
            let replaced = gateway.reload_ciphers(&resolved.settings).await;
            tracing::info!(institutions = ?replaced, "telegram encryption keys reloaded");
        }
        Err(e) => {
            tracing::error!(error = %e, "SIGHUP: configuration not reloaded, the old encryption keys stay");
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Filters of `fep journal`; all optional, combined with AND.
#[derive(Debug, Clone, clap::Args)]
pub struct JournalArgs {
    /// 전송일자 (YYYYMMDD).
    #[arg(long)]
    pub date: Option<u32>,
    /// Institution name.
    #[arg(long)]
    pub institution: Option<String>,
    /// 전문번호.
    #[arg(long)]
    pub msg_no: Option<u32>,
    /// Transaction state: sent, ok, declined, unknown or rejected.
    #[arg(long)]
    pub outcome: Option<fep_gateway::domain::TxState>,
    /// Transaction id.
    #[arg(long)]
    pub tx: Option<u64>,
    /// Most rows shown.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
}

impl From<&JournalArgs> for fep_gateway::ledger::JournalQuery {
    fn from(a: &JournalArgs) -> Self {
        fep_gateway::ledger::JournalQuery {
            date: a.date,
            institution: a.institution.clone(),
            msg_no: a.msg_no,
            outcome: a.outcome,
            tx: a.tx,
            limit: a.limit,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_grouped_by_threes() {
        for (n, shown) in [
            (0, "0"),
            (7, "7"),
            (999, "999"),
            (1_000, "1,000"),
            (12_345, "12,345"),
            (123_456, "123,456"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(super::thousands(n), shown);
        }
    }
}
