use fep_codec::Telegram;

#[derive(Telegram)]
struct T {
    #[telegram(len = 4, auto_len = "telegram")]
    length: String,
    #[telegram(len = 4, auto_len = "whole")]
    other: u16,
}

fn main() {}
