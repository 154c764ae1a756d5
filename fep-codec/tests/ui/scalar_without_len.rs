use fep_codec::Telegram;

#[derive(Telegram)]
struct T {
    #[telegram(label = "금액")]
    amount: u64,
}

fn main() {}
