use fep_codec::Telegram;

#[derive(Telegram)]
struct T {
    #[telegram(len = 8)]
    balance: i64,
}

fn main() {}
