use fep_codec::Telegram;

#[derive(Telegram)]
#[telegram(len = 300)]
struct T {
    #[telegram(len = 100)]
    a: String,
    #[telegram(len = 199)]
    b: String,
}

fn main() {}
