use fep_codec::Telegram;

#[derive(Telegram)]
struct Header {
    #[telegram(len = 10)]
    id: String,
}

#[derive(Telegram)]
struct Message {
    header: Header,
    #[telegram(len = 6, offset = 100)]
    amount: u32,
}

fn main() {}
