//! Where the lease table's memory goes (issue 17): reads a lease file the way the daemon
//! does, builds the table, and prints the heap in use (counted by a global allocator that
//! wraps the system one) at each step, with the sizes of the lease types.
//!
//! `cargo run --release -p dhcpd --example lease_heap -- PATH/dhcpd.leases`
//! (`cargo xtask bench dhcp-memory` leaves one of 65,000 leases in
//! `target/bench-dhcp-memory/leases`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use dhcpd::lease::{Hardware, Lease, LeaseRare, LeaseStore, Uid};

/// The system allocator, counting the bytes in use and the allocations live.
struct Counting;

static BYTES: AtomicUsize = AtomicUsize::new(0);
static BLOCKS: AtomicUsize = AtomicUsize::new(0);
/// The bytes glibc's malloc takes for the blocks in use: each request plus its 8-byte size
/// word, rounded up to 16, and never under 32.
static CHUNKS: AtomicUsize = AtomicUsize::new(0);

/// The chunk glibc's malloc carves for a request of `size` bytes.
fn chunk(size: usize) -> usize {
    (size + 8).next_multiple_of(16).max(32)
}

// SAFETY (unsafe allowed here only: a global allocator cannot be written without it): every call is passed on to the system allocator unchanged; the counters only
// observe the sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        CHUNKS.fetch_add(chunk(layout.size()), Ordering::Relaxed);
        BLOCKS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's layout, as given.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        CHUNKS.fetch_sub(chunk(layout.size()), Ordering::Relaxed);
        BLOCKS.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: a block this allocator gave out, with its layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        BYTES.fetch_add(new_size, Ordering::Relaxed);
        BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        CHUNKS.fetch_add(chunk(new_size), Ordering::Relaxed);
        CHUNKS.fetch_sub(chunk(layout.size()), Ordering::Relaxed);
        // SAFETY: a block this allocator gave out, with its layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn resident_kb() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The heap in use now: (bytes asked for, bytes of malloc chunks).
fn heap() -> (usize, usize) {
    (
        BYTES.load(Ordering::Relaxed),
        CHUNKS.load(Ordering::Relaxed),
    )
}

fn step(what: &str, base: (usize, usize), leases: usize) {
    let (bytes, chunks) = heap();
    let n = leases.max(1);
    println!(
        "{what:<40} heap {:>8.1} MB in {:>8} blocks, {:>5} bytes a lease ({:>5} in malloc chunks); {}",
        bytes as f64 / 1048576.0,
        BLOCKS.load(Ordering::Relaxed),
        bytes.saturating_sub(base.0) / n,
        chunks.saturating_sub(base.1) / n,
        resident_kb()
    );
}

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: lease_heap PATH/dhcpd.leases");
        std::process::exit(2);
    };
    println!(
        "size_of: Lease {} bytes, Option<Hardware> {}, Option<Uid> {}, LeaseRare {} (boxed, for few)",
        size_of::<Lease>(),
        size_of::<Option<Hardware>>(),
        size_of::<Option<Uid>>(),
        size_of::<LeaseRare>()
    );
    let base = heap();
    let mut store = dhcpd::lease::FileStore::new(&path, Default::default());
    let file = match store.load() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let n = file.leases.len();
    step(&format!("read {n} leases (LeaseFile)"), base, n);
    let table = file.table();
    step("table built, file still held", base, n);
    drop(file);
    step("file dropped: the table alone", base, n);
    let durable = table.record_copy();
    step("and the committer's copy", base, n);
    drop(durable);
    drop(table);
    step("table dropped", base, n);
}
