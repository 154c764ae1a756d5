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
    #[telegram(key("0200"), when(flag = "5"))]
    A(Body),
    #[telegram(key("0200"), when(flag = "5"))]
    B(Body),
    #[telegram(key("0300"))]
    C(Body),
    #[telegram(key("0300"), when(flag = "6"))]
    D(Body),
    #[telegram(key("0400"), when(msg_type = "0400"))]
    E(Body),
}

fn main() {}
