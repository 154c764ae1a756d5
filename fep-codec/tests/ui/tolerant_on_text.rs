use fep_codec::Telegram;

#[derive(Telegram)]
#[telegram(tolerant)]
struct T {
    #[telegram(len = 10, tolerant)]
    name: String,
    #[telegram(len = 3, tolerant)]
    count: u16,
}

fn main() {}
