use fep_codec::Telegram;

#[derive(Telegram)]
struct T {
    #[telegram(len = 4, lenient)]
    length: u16,
}

fn main() {}
