//! The scrape arena with jemalloc as the global allocator, as in the binary.
//!
//! jemalloc purges an arena by itself when the last thread bound to it leaves, but a scrape's
//! chunks are freed later, on the server's threads, once the client has them: those pages stay
//! resident until the scrape's last lease goes.

use exporter::arena::{ScrapeLease, ThreadArena};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const MIB: u64 = 1 << 20;

fn resident_anonymous() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("an RssAnon line");
    kib * 1024
}

#[test]
fn chunks_freed_after_the_scrape_threads_left_go_with_the_last_lease() {
    let lease = ScrapeLease::new();
    let before = resident_anonymous();
    let chunks = std::thread::spawn(|| {
        let _arena = ThreadArena::enter();
        (0..64).map(|_| vec![1u8; MIB as usize]).collect::<Vec<Vec<u8>>>()
    })
    .join()
    .expect("the scrape thread");
    // Sent: this thread, outside the arena, frees them.
    drop(chunks);
    let freed = resident_anonymous();
    assert!(freed >= before + 16 * MIB, "jemalloc keeps freed pages for reuse: {before} then {freed} bytes");
    drop(lease);
    let after = resident_anonymous();
    assert!(after < before + 4 * MIB, "the last lease returns them: {before}, {freed}, then {after} bytes");
}
