use fep_codec::Telegram;

#[derive(Telegram)]
struct Item {
    #[telegram(len = 2)]
    x: u8,
}

#[derive(Telegram)]
struct T {
    #[telegram(count = n, max = 5)]
    items: Vec<Item>,
    #[telegram(len = 2)]
    n: u8,
}

fn main() {}
