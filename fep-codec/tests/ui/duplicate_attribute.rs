use fep_codec::Telegram;

#[derive(Telegram)]
struct T {
    #[telegram(len = 4, label = "a", len = 5)]
    a: String,
    #[telegram(len = 2)]
    #[telegram(mask, mask)]
    b: String,
}

fn main() {}
