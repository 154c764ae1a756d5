use fep_codec::Telegram;

#[derive(Telegram)]
struct Item {
    #[telegram(len = 2)]
    x: u8,
}

#[derive(Telegram)]
struct T {
    #[telegram(len = 2)]
    n: String,
    #[telegram(count = n, max = 5)]
    items: Vec<Item>,
}

fn main() {}
