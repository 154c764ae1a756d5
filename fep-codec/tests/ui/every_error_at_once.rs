use fep_codec::Telegram;

// Six mistakes in four fields and the container: six errors, in one compile.
#[derive(Telegram)]
#[telegram(len = 99)]
struct T {
    #[telegram(len = 4, lenght = 5)]
    a: String,
    #[telegram(len = 3, offset = 5)]
    b: u16,
    #[telegram(len = 2, charset = "ascii", truncate)]
    c: u8,
    #[telegram(len = 6, numeric, sign = "leading")]
    d: String,
}

fn main() {}
