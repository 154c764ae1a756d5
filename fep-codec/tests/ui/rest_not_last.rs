use fep_codec::Telegram;

#[derive(Telegram)]
struct T {
    #[telegram(rest)]
    filler: String,
    #[telegram(len = 2)]
    after: String,
}

fn main() {}
