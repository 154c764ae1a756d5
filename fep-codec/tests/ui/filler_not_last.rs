use fep_codec::Telegram;

#[derive(Telegram)]
struct T {
    #[telegram(len = 10, filler)]
    filler: String,
    #[telegram(len = 2)]
    after: String,
    #[telegram(len = 2, filler)]
    amount: u16,
}

fn main() {}
