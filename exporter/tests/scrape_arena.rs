//! The scrape arena with jemalloc as the global allocator, as in the binary.
//!
//! A scrape's chunks are freed after its threads left the arena, on the server's threads, once
//! the client has them: those pages stay resident until a pause after the scrape's last lease.

use exporter::arena::{PURGE_AFTER, ScrapeLease, ThreadArena};
use std::time::{Duration, Instant};

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
fn chunks_freed_after_the_scrape_threads_left_go_after_the_last_lease() {
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
    let dropped = Instant::now();
    let mut after = resident_anonymous();
    while after >= before + 4 * MIB && dropped.elapsed() < PURGE_AFTER + Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
        after = resident_anonymous();
    }
    assert!(
        after < before + 4 * MIB,
        "a pause after the last lease returns them: {before}, {freed}, then {after} bytes"
    );
}
