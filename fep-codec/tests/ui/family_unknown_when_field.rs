use fep_codec::Telegram;

#[derive(Telegram)]
struct Header {
    #[telegram(len = 4)]
    msg_type: String,
    #[telegram(len = 1)]
    flag: String,
}

#[derive(Telegram)]
struct Body {
    header: Header,
}

#[derive(Telegram)]
#[telegram(header = Header, key(msg_type))]
enum Family {
    #[telegram(key("0200"), when(flg = "5"))]
    A(Body),
}

fn main() {}
