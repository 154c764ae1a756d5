use fep_codec::Telegram;

#[derive(Telegram)]
struct T {
    #[telegram(len = 4, lenght = 5)]
    a: String,
}

fn main() {}
