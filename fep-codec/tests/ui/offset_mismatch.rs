use fep_codec::Telegram;

#[derive(Telegram)]
struct Header {
    #[telegram(len = 9)]
    id_code: String,
    #[telegram(len = 3)]
    bank_code: u16,
    #[telegram(len = 6, offset = 32)]
    msg_no: u32,
}

fn main() {}
