//! Scrape memory in a jemalloc arena of its own, given back to the system when scrapes pause.
//!
//! A scrape needs megabytes of buffers for a fraction of a second: the pieces the workers write
//! ahead and the chunks queued for the client. Freed into the arenas the watchers' threads are
//! bound to, they stayed resident as dirty pages until later allocations there let jemalloc's
//! decay run: a shard of 100k pods held 12 MiB more after its first scrapes than before them,
//! about a tenth of its memory. In an arena of their own they are handed back in one call
//! [`PURGE_AFTER`] the last scrape in flight ends, chunks the server frees once the client has
//! them included (the [`ScrapeLease`] lives that long). A keeper thread stays bound to the
//! arena, since jemalloc would otherwise purge it whenever the last scrape thread leaves it,
//! and scrapes that come together would fault in fresh pages. The watchers keep the free pages
//! they reuse on every event.
//!
//! Without jemalloc as the global allocator (the library's unit tests) these calls configure an
//! allocator that serves nothing, so they change nothing; `tests/scrape_arena.rs` runs with it.

use parking_lot::{Condvar, Mutex};
use std::{
    ffi::{CString, c_void},
    sync::OnceLock,
    time::Duration,
};
use tracing::{debug, warn};

/// How long the arena keeps its pages after the last scrape in flight ends. Scrapes that come
/// together (a Prometheus pair, a client's retry, a benchmark's loop) reuse them instead of
/// faulting in fresh ones, which cost a tenth of a 10k-pod shard's scrape; the next scrape of
/// a usual interval (10 s or more) finds the pages long gone.
pub const PURGE_AFTER: Duration = Duration::from_millis(500);

/// Scrapes in flight, and whether the arena may hold pages since the last purge.
struct Scrapes {
    active: usize,
    ended: u64,
    dirty: bool,
}

static SCRAPES: Mutex<Scrapes> = Mutex::new(Scrapes { active: 0, ended: 0, dirty: false });
static ENDED: Condvar = Condvar::new();

/// The arena's index, or `None` when jemalloc refused to create it or its keeper did not start.
fn scrape_arena() -> Option<u32> {
    static ARENA: OnceLock<Option<u32>> = OnceLock::new();
    *ARENA.get_or_init(|| {
        let index = match read::<u32>("arenas.create") {
            Ok(index) => index,
            Err(code) => {
                warn!(code, "jemalloc did not create the scrape arena; scrape buffers use the shared arenas");
                return None;
            }
        };
        match std::thread::Builder::new().name("scrape-arena".into()).spawn(move || keep(index)) {
            Ok(_) => Some(index),
            Err(error) => {
                warn!(%error, "the scrape arena's keeper did not start; scrape buffers use the shared arenas");
                None
            }
        }
    })
}

/// Stays bound to the arena, so that jemalloc does not purge it each time the last scrape
/// thread leaves it, and purges it once no scrape has run for [`PURGE_AFTER`].
fn keep(index: u32) {
    if let Err(code) = swap("thread.arena", index) {
        debug!(code, "the scrape arena's keeper could not bind to it");
    }
    let mut scrapes = SCRAPES.lock();
    loop {
        ENDED.wait_while(&mut scrapes, |s| !(s.active == 0 && s.dirty));
        let ended = scrapes.ended;
        let quiet = ENDED.wait_while_for(&mut scrapes, |s| s.active == 0 && s.ended == ended, PURGE_AFTER);
        if quiet.timed_out() {
            scrapes.dirty = false;
            // Unlocked, so that a scrape starting meanwhile need not wait for the purge; it loses
            // no data, since a purge drops free pages only.
            if let Err(code) = parking_lot::MutexGuard::unlocked(&mut scrapes, || purge(index)) {
                debug!(code, "purging the scrape arena failed");
            }
        }
    }
}

fn purge(index: u32) -> Result<(), i32> {
    void(&format!("arena.{index}.purge"))
}

/// One scrape in flight. The arena is purged [`PURGE_AFTER`] the last lease is dropped, unless
/// another scrape began: hold it until the last byte of the scrape's buffers is freed.
#[derive(Debug)]
pub struct ScrapeLease(());

impl ScrapeLease {
    /// Counts a scrape in.
    pub fn new() -> Self {
        let mut scrapes = SCRAPES.lock();
        scrapes.active += 1;
        scrapes.dirty = true;
        Self(())
    }
}

impl Default for ScrapeLease {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ScrapeLease {
    fn drop(&mut self) {
        let mut scrapes = SCRAPES.lock();
        scrapes.active -= 1;
        if scrapes.active == 0 {
            scrapes.ended += 1;
            ENDED.notify_all();
        }
    }
}

/// While alive, the calling thread allocates from the scrape arena; dropping it restores the
/// thread's previous arena (blocking threads are pooled and run other work too).
#[derive(Debug)]
pub struct ThreadArena {
    previous: Option<u32>,
}

impl ThreadArena {
    /// Moves the calling thread's allocations to the scrape arena.
    pub fn enter() -> Self {
        let previous = scrape_arena().and_then(|index| swap("thread.arena", index).ok());
        Self { previous }
    }
}

impl Drop for ThreadArena {
    fn drop(&mut self) {
        if let Some(previous) = self.previous {
            let _ = swap("thread.arena", previous);
        }
    }
}

/// `mallctl` on `name`, reading the old value into `old` and writing `new`, each when given.
/// Errors are jemalloc's errno values.
fn mallctl<T: Copy>(name: &str, old: Option<&mut T>, new: Option<&mut T>) -> Result<(), i32> {
    let name = CString::new(name).map_err(|_| EINVAL)?;
    let mut old_len = std::mem::size_of::<T>();
    let (old_ptr, old_len_ptr) = match old {
        Some(old) => ((old as *mut T).cast::<c_void>(), &raw mut old_len),
        None => (std::ptr::null_mut(), std::ptr::null_mut()),
    };
    let (new_ptr, new_len) = match new {
        Some(new) => ((new as *mut T).cast::<c_void>(), std::mem::size_of::<T>()),
        None => (std::ptr::null_mut(), 0),
    };
    // SAFETY: `name` is NUL-terminated; each pointer is null or points at a live `T` whose size
    // is passed beside it, and every name used here takes exactly a `T` (unsigned for
    // `arenas.create` and `thread.arena`, nothing for `arena.<i>.purge`).
    #[allow(unsafe_code)]
    let code = unsafe { tikv_jemalloc_sys::mallctl(name.as_ptr(), old_ptr, old_len_ptr, new_ptr, new_len) };
    if code == 0 { Ok(()) } else { Err(code) }
}

fn read<T: Copy + Default>(name: &str) -> Result<T, i32> {
    let mut value = T::default();
    mallctl(name, Some(&mut value), None)?;
    Ok(value)
}

fn swap(name: &str, value: u32) -> Result<u32, i32> {
    let (mut old, mut new) = (0u32, value);
    mallctl(name, Some(&mut old), Some(&mut new))?;
    Ok(old)
}

fn void(name: &str) -> Result<(), i32> {
    mallctl::<u8>(name, None, None)
}

/// jemalloc's answer to a name it does not know, used for one that cannot be passed to it.
const EINVAL: i32 = 22;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entering_and_leaving_restores_the_thread_arena() {
        let before = read::<u32>("thread.arena").expect("thread.arena");
        {
            let _inside = ThreadArena::enter();
            assert_eq!(read::<u32>("thread.arena"), Ok(scrape_arena().expect("arena created")));
        }
        assert_eq!(read::<u32>("thread.arena"), Ok(before));
    }

    #[test]
    fn the_arena_can_be_purged() {
        assert_eq!(purge(scrape_arena().expect("arena created")), Ok(()));
    }
}
