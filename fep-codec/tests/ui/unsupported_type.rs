use fep_codec::Telegram;

#[derive(Telegram)]
struct T {
    #[telegram(len = 8)]
    rate: f64,
}

fn main() {}
