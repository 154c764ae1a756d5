use fep_codec::Telegram;

#[derive(Telegram)]
struct T {
    #[telegram(len = 4, max = 3)]
    a: String,
}

fn main() {}
