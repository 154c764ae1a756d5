use fep_codec::Telegram;

#[derive(Telegram)]
struct Header {
    #[telegram(len = 4)]
    msg_type: String,
}

#[derive(Telegram)]
struct Ping {
    header: Header,
}

#[derive(Telegram)]
#[telegram(header = Header, key(msg_typ))]
enum Family {
    #[telegram(key("1000"))]
    Ping(Ping),
}

fn main() {}
