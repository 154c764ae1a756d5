//! Encode writes straight into the output buffer: no heap allocation per field, even for
//! Korean text, full-width mapping, nested structs and repeat groups. Decode allocates only
//! the owned Strings (and the Vec of a repeat group).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::BytesMut;
use fep_codec::Telegram;

struct Counting;

thread_local! {
    /// Allocations made by this thread. Per thread: the test harness's other threads (output
    /// capture, the next test starting) allocate whenever they like, and a process-wide count
    /// saw them now and then. Const-initialised with no destructor, so counting never
    /// allocates itself.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// Allocations made by the calling thread so far.
fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Tests that read the counter run one at a time (kept from when it was process-wide).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(len = 8)]
struct Item {
    #[telegram(len = 4)]
    code: u16,
    #[telegram(len = 4)]
    tag: String,
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
struct Transfer {
    #[telegram(len = 15, mask)]
    account: String,
    #[telegram(len = 13)]
    amount: u64,
    #[telegram(len = 14, fullwidth)]
    memo: String,
    #[telegram(len = 12)]
    holder: String,
    #[telegram(len = 9)]
    fee: Option<u32>,
    #[telegram(len = 13, sign = "trailing")]
    balance: i64,
    pair: [Item; 2],
    #[telegram(len = 1)]
    n: u8,
    #[telegram(count = n, max = 3)]
    items: Vec<Item>,
}

#[test]
fn encode_into_allocates_nothing_and_decode_only_strings() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let t = Transfer {
        account: "110123456789".into(),
        amount: 1_000_000,
        memo: "월급 3월".into(),
        holder: "홍길동".into(),
        fee: None,
        balance: -500,
        pair: [
            Item {
                code: 1,
                tag: "AB".into(),
            },
            Item {
                code: 2,
                tag: "가".into(),
            },
        ],
        n: 1,
        items: vec![Item {
            code: 3,
            tag: "CD".into(),
        }],
    };
    let mut buf = BytesMut::with_capacity(1024);
    t.encode_into(&mut buf).unwrap(); // warm-up: nothing lazy should remain
    buf.clear();
    let before = allocations();
    t.encode_into(&mut buf).unwrap();
    let during = allocations() - before;
    assert_eq!(during, 0, "encode_into allocated {during} times");

    let before = allocations();
    let back = Transfer::decode(&buf).unwrap();
    let during = allocations() - before;
    // 3 top-level Strings (+1 to narrow the full-width memo) + 2 array tags + the array's
    // staging Vec + 1 group Vec + 1 group tag.
    assert!(during <= 9, "decode allocated {during} times");
    assert_eq!(back, t);
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
#[telegram(len = 8, tolerant)]
struct LenHeader {
    #[telegram(len = 4, auto_len = "telegram")]
    length: u16,
    #[telegram(len = 4)]
    code: u16,
}

#[derive(Telegram, Debug, Clone, PartialEq, Eq, Default)]
struct SelfFramed {
    header: LenHeader,
    #[telegram(len = 13)]
    amount: u64,
    #[telegram(len = 5, filler)]
    filler: String,
}

#[test]
fn a_telegram_length_inside_a_nested_header_is_patched_without_allocating() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let t = SelfFramed {
        header: LenHeader { length: 0, code: 7 },
        amount: 42,
        filler: String::new(),
    };
    let mut buf = BytesMut::with_capacity(64);
    t.encode_into(&mut buf).unwrap();
    buf.clear();
    let before = allocations();
    t.encode_into(&mut buf).unwrap();
    let during = allocations() - before;
    assert_eq!(during, 0, "encode_into allocated {during} times");
    assert_eq!(&buf[..8], b"00260007");

    let before = allocations();
    let back = SelfFramed::decode(&buf).unwrap();
    let during = allocations() - before;
    assert!(during <= 1, "decode allocated {during} times (one String)");
    assert_eq!(back.header.length, 26);
}

/// The counter is not blind: an allocation on this thread is counted, and the tests above
/// would fail if encoding allocated.
#[test]
fn the_counter_sees_this_threads_allocations() {
    let before = allocations();
    let boxed = std::hint::black_box(Box::new(7u64));
    assert_eq!(allocations() - before, 1);
    drop(boxed);
}
