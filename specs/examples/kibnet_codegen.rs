//! A KIBNET telegram — LENGTH as field 1 of its nested 공통부 — decoded by the Rust that
//! `fep codegen specs/kibnet.toml` generates (built into `OUT_DIR` by `build.rs`), then
//! re-encoded and compared byte for byte.
//!
//! ```text
//! cargo run -p fep-specs --example kibnet_codegen            # the hand-built golden vectors
//! cargo run -p fep-specs --example kibnet_codegen -- FILE    # a telegram of your own (raw bytes)
//! cargo run -p fep-specs --example kibnet_codegen -- --save FILE   # write the 지급이체 vector
//! ```

#[allow(missing_docs, clippy::all)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/kibnet_generated.rs"));
}

#[path = "../tests/common/kibnet_vectors.rs"]
mod vectors;

use fep_codec::{Telegram, TelegramFamily};
use generated::KibnetMessage;

fn show(what: &str, bytes: &[u8]) -> bool {
    println!(
        "== {what}: {} bytes, LENGTH field {:?}",
        bytes.len(),
        String::from_utf8_lossy(&bytes[..4.min(bytes.len())])
    );
    let m = match KibnetMessage::decode(bytes) {
        Ok(m) => m,
        Err(e) => {
            println!("   decode error: {e}");
            return false;
        }
    };
    let name = format!("{m:?}");
    let name = name.split('(').next().unwrap_or("?");
    println!(
        "   decoded by generated code as {name} {} {:?}",
        m.key().join("/"),
        m.condition()
    );
    if let KibnetMessage::PaymentRequest(p) | KibnetMessage::PaymentResponse(p) = &m {
        // Masked fields (accounts, 복기부호) are not printed.
        println!(
            "   header.length={} sr_flag={:?} tx_seq={} resp_code={:?} bank_resp={:?} amount={} dep_name={:?}",
            p.header.length,
            p.header.sr_flag,
            p.header.tx_seq,
            p.header.resp_code,
            p.header.bank_resp,
            p.accounts.amount,
            p.accounts.dep_name
        );
    }
    match m.encode() {
        Ok(again) if again == bytes => {
            println!(
                "   re-encoded: {} bytes, identical to the input",
                again.len()
            );
            true
        }
        Ok(again) => {
            let first = again.iter().zip(bytes).position(|(a, b)| a != b);
            println!(
                "   re-encoded canonically: {} bytes, LENGTH {:?}, first difference at {:?}",
                again.len(),
                String::from_utf8_lossy(&again[..4]),
                first.or(Some(bytes.len().min(again.len())))
            );
            false
        }
        Err(e) => {
            println!("   encode error: {e}");
            false
        }
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, file] if flag == "--save" => {
            if let Err(e) = std::fs::write(file, vectors::payment_request()) {
                eprintln!("{file}: {e}");
                return std::process::ExitCode::FAILURE;
            }
            println!("wrote the 0200/1100 지급이체 golden vector to {file}");
            std::process::ExitCode::SUCCESS
        }
        [file] => match std::fs::read(file) {
            Ok(bytes) => {
                if show(file, &bytes) {
                    std::process::ExitCode::SUCCESS
                } else {
                    std::process::ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("{file}: {e}");
                std::process::ExitCode::FAILURE
            }
        },
        _ => {
            let identical = [
                (
                    "0200/1100 지급이체 (FLAG 5, 제휴 header)",
                    vectors::payment_request(),
                ),
                (
                    "0210/1100 지급이체 응답 (FLAG 6)",
                    vectors::payment_response(),
                ),
                (
                    "0200/1100 가상계좌 입금 (FLAG 6, 가상계좌 header)",
                    vectors::va_deposit_request(),
                ),
            ]
            .iter()
            .all(|(what, bytes)| show(what, bytes));
            // Real deviations: decoded tolerantly, re-encoded canonically (not identical).
            show(
                "real 0200/1100 with 수표권종 \" 0\"",
                &vectors::va_deposit_with_check_kind(b" 0"),
            );
            show(
                "real 500-byte 0810/2100 개시 응답",
                &vectors::open_response_500(),
            );
            if identical {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}
