use fep_codec::Telegram;

#[derive(Telegram)]
struct T {
    #[telegram(len = 4, fullwidth)]
    count: u16,
}

fn main() {}
