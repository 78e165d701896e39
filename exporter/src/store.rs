//! Rendered exposition bytes per object, grouped by family, and the scrape that concatenates them.
//!
//! ```text
//! watcher (resource, namespace) ──render──▶ Part: uid -> Arc<Rendered>
//! ResourceStore = headers + one Part per watcher      Store = ResourceStores in name order
//! scrape: per resource, snapshot Arcs under a read lock, then per family copy bytes out
//! ```

use parking_lot::RwLock;
use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

/// All samples of one object, rendered once per change: the object's default labels once, then
/// each sample's tail (own labels and value, see [`crate::metric::Sink`]).
///
/// One exact-size shared allocation per object, so that a store of many objects leaves no
/// growth slack or shrink holes in the heap, and a scrape finds the offsets next to the bytes:
///
/// ```text
/// [series u32][families n u32][leading len u32][end of family 0..n u32][leading][tails]
/// ```
///
/// Family `i` is `tails[end(i-1)..end(i)]`. Cloning shares the bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered(Arc<[u8]>);

const HEADER: usize = 12;

impl Rendered {
    /// Packs the default labels, the tails and the end offset of each family in them.
    pub fn new(leading: &[u8], tails: &[u8], ends: &[u32]) -> Self {
        let series = tails.iter().filter(|&&b| b == b'\n').count() as u32;
        let mut data = Vec::with_capacity(HEADER + 4 * ends.len() + leading.len() + tails.len());
        for word in [series, ends.len() as u32, leading.len() as u32].into_iter().chain(ends.iter().copied())
        {
            data.extend_from_slice(&word.to_le_bytes());
        }
        data.extend_from_slice(leading);
        data.extend_from_slice(tails);
        Self(data.into())
    }

    fn word(&self, at: usize) -> usize {
        let bytes = &self.0[at..at + 4];
        u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize
    }

    fn families(&self) -> usize {
        self.word(4)
    }

    fn leading(&self) -> &[u8] {
        let start = HEADER + 4 * self.families();
        &self.0[start..start + self.word(8)]
    }

    fn tails(&self) -> &[u8] {
        &self.0[HEADER + 4 * self.families() + self.word(8)..]
    }

    /// The tails of family `i` (empty when the family wrote nothing or does not exist).
    pub fn family(&self, i: usize) -> &[u8] {
        let n = self.families();
        if i >= n {
            return &[];
        }
        let end = self.word(HEADER + 4 * i);
        let start = if i == 0 { 0 } else { self.word(HEADER + 4 * (i - 1)) };
        &self.tails()[start..end]
    }

    /// Starts loading the lines that [`Rendered::prefetch_family`] reads, without waiting.
    fn prefetch_header(&self, i: usize) {
        let at = self.0.as_ptr();
        prefetch(at);
        prefetch(at.wrapping_add(HEADER + 4 * i));
    }

    /// Starts loading the default labels and the first tails of family `i`, without waiting.
    fn prefetch_family(&self, i: usize) {
        let n = self.families();
        if i >= n {
            return;
        }
        let leading = HEADER + 4 * n;
        let start = if i == 0 { 0 } else { self.word(HEADER + 4 * (i - 1)) };
        let at = self.0.as_ptr();
        prefetch(at.wrapping_add(leading));
        prefetch(at.wrapping_add(leading + self.word(8) + start));
    }

    /// Appends the full sample lines of family `i`, named `name`.
    pub fn expand_family(&self, i: usize, name: &str, out: &mut Vec<u8>) {
        crate::metric::expand_tails(out, name, self.leading(), self.family(i));
    }

    /// Number of sample lines.
    pub fn series(&self) -> u32 {
        self.word(0) as u32
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no sample was written.
    pub fn is_empty(&self) -> bool {
        self.tails().is_empty()
    }
}

type Objects = HashMap<Box<str>, Rendered>;

/// The objects of one watcher (one resource in one namespace, or all namespaces).
#[derive(Default)]
pub struct Part {
    objects: RwLock<Objects>,
    synced: AtomicBool,
    refused: AtomicBool,
}

impl Part {
    /// Inserts or replaces an object's bytes. An update that renders the same bytes (most
    /// updates touch fields no family shows) keeps the stored copy, so the heap stays still.
    pub fn apply(&self, uid: &str, rendered: Rendered) {
        if self.objects.read().get(uid).is_some_and(|old| *old == rendered) {
            return;
        }
        self.objects.write().insert(uid.into(), rendered);
    }

    /// Removes an object; its series disappear from the next scrape.
    pub fn delete(&self, uid: &str) {
        self.objects.write().remove(uid);
    }

    /// Swaps in a complete relisted set, so no scrape ever sees half a list.
    pub fn replace(&self, objects: Objects) {
        let old = std::mem::replace(&mut *self.objects.write(), objects);
        // Drop the old map outside the lock.
        drop(old);
        self.synced.store(true, Ordering::Release);
        self.refused.store(false, Ordering::Release);
    }

    /// Records that the API server refused to list this part (RBAC 403). It still counts as
    /// settled, so one forbidden resource does not hold back readiness or a re-shard.
    pub fn set_refused(&self) {
        self.refused.store(true, Ordering::Release);
    }

    /// Synced, or refused by the API server.
    pub fn settled(&self) -> bool {
        self.synced() || self.refused.load(Ordering::Acquire)
    }

    /// Whether the first full list has been swapped in.
    pub fn synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// Rendered bytes held (object keys and bookkeeping not counted).
    pub fn byte_size(&self) -> usize {
        self.objects.read().values().map(|r| r.len()).sum()
    }

    /// Object count and series count.
    pub fn counts(&self) -> (usize, u64) {
        let objects = self.objects.read();
        (objects.len(), objects.values().map(|r| u64::from(r.series())).sum())
    }

    fn snapshot_into(&self, out: &mut Vec<Rendered>) {
        out.extend(self.objects.read().values().cloned());
    }
}

/// A builder for a relisted set, filled by `InitApply` events and swapped in on `InitDone`.
pub type Relist = Objects;

/// One enabled resource: its family headers and the parts its watchers fill.
pub struct ResourceStore {
    name: &'static str,
    headers: Vec<Box<[u8]>>,
    family_names: Vec<&'static str>,
    parts: RwLock<Vec<Arc<Part>>>,
}

impl ResourceStore {
    /// A store for `name` with the families' names and precomputed headers, in family order.
    pub fn new(name: &'static str, families: Vec<(&'static str, String)>) -> Self {
        let (family_names, headers): (Vec<_>, Vec<_>) = families.into_iter().unzip();
        Self {
            name,
            headers: headers.into_iter().map(|h: String| h.into_bytes().into_boxed_slice()).collect(),
            family_names,
            parts: RwLock::new(Vec::new()),
        }
    }

    /// The resource name, e.g. `pods`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Replaces the parts (one per watcher), e.g. when namespaces or the shard change.
    pub fn set_parts(&self, parts: Vec<Arc<Part>>) {
        *self.parts.write() = parts;
    }

    /// The current parts.
    pub fn parts(&self) -> Vec<Arc<Part>> {
        self.parts.read().clone()
    }

    /// Whether every part finished its first list or was refused by the API server.
    pub fn settled(&self) -> bool {
        let parts = self.parts.read();
        !parts.is_empty() && parts.iter().all(|p| p.settled())
    }

    /// Objects and series held across parts.
    pub fn counts(&self) -> (usize, u64) {
        self.parts.read().iter().map(|p| p.counts()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }

    /// Snapshot of every object's bytes; locks are held only while cloning the `Arc`s.
    pub fn snapshot(&self) -> Vec<Rendered> {
        let parts = self.parts();
        let mut out = Vec::new();
        for p in &parts {
            p.snapshot_into(&mut out);
        }
        out
    }

    /// The resource's output cut, in order, into pieces of at most `per_piece` objects of one
    /// family (see [`ResourceStore::write_piece`]); none when the resource has no object, since
    /// upstream then writes nothing, not even headers.
    pub fn pieces(&self, objects: usize, per_piece: usize) -> Vec<Piece> {
        let per_piece = per_piece.max(1);
        let mut out = Vec::new();
        for family in 0..self.headers.len() {
            for start in (0..objects).step_by(per_piece) {
                out.push(Piece { family, start, end: start.saturating_add(per_piece).min(objects) });
            }
        }
        out
    }

    /// Appends one piece: the family's header when the piece starts it, then the sample lines
    /// of `objects[piece.start..piece.end]`.
    pub fn write_piece(&self, piece: &Piece, objects: &[Rendered], out: &mut Vec<u8>) {
        if piece.start == 0 {
            out.extend_from_slice(&self.headers[piece.family]);
        }
        let name = self.family_names[piece.family];
        let objects = &objects[piece.start..piece.end];
        // Objects lie scattered over the heap, and a large store is far bigger than the caches:
        // without asking ahead, each object costs a wait on memory for its offsets and another
        // for its bytes. Offsets are asked for two steps before the bytes they point to.
        for (k, o) in objects.iter().enumerate() {
            if let Some(ahead) = objects.get(k + 2 * PREFETCH_DISTANCE) {
                ahead.prefetch_header(piece.family);
            }
            if let Some(ahead) = objects.get(k + PREFETCH_DISTANCE) {
                ahead.prefetch_family(piece.family);
            }
            o.expand_family(piece.family, name, out);
        }
    }

    /// Appends the resource's families (header, then every object's samples) to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>, objects: &[Rendered]) {
        for piece in self.pieces(objects.len(), usize::MAX) {
            self.write_piece(&piece, objects, out);
        }
    }
}

/// Objects between a scrape's prefetch of an object's bytes and its use of them.
const PREFETCH_DISTANCE: usize = 4;

/// Asks the CPU to load the cache line holding `at`; a hint with no other effect.
#[inline(always)]
fn prefetch(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and changes nothing but the cache, whatever the address.
    #[allow(unsafe_code)]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// A slice of one resource's output: family `family` for objects `start..end` of a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// Family index.
    pub family: usize,
    /// First object.
    pub start: usize,
    /// One past the last object.
    pub end: usize,
}

/// Every enabled resource, in sorted name order (upstream's writer order).
#[derive(Default)]
pub struct Store {
    resources: Vec<Arc<ResourceStore>>,
}

impl Store {
    /// A store over `resources`, sorted by name.
    pub fn new(mut resources: Vec<Arc<ResourceStore>>) -> Self {
        resources.sort_by_key(|r| r.name());
        Self { resources }
    }

    /// The resource stores in output order.
    pub fn resources(&self) -> &[Arc<ResourceStore>] {
        &self.resources
    }

    /// Whether every resource finished its first list or was refused (never true for an empty
    /// store, which only exists before the shard is known).
    pub fn settled(&self) -> bool {
        !self.resources.is_empty() && self.resources.iter().all(|r| r.settled())
    }

    /// The whole exposition as one buffer (used by `render` and tests).
    pub fn exposition(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for r in &self.resources {
            let snapshot = r.snapshot();
            r.write_to(&mut out, &snapshot);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An object without default labels whose family `i` holds `families[i]` as tails.
    fn rendered(families: &[&str]) -> Rendered {
        let mut buf = Vec::new();
        let mut ends = Vec::new();
        for f in families {
            buf.extend_from_slice(f.as_bytes());
            ends.push(buf.len() as u32);
        }
        Rendered::new(&[], &buf, &ends)
    }

    #[test]
    fn families_are_grouped_across_objects_with_one_header_each() {
        let store = ResourceStore::new("pods", vec![("a", "# A\n".into()), ("b", "# B\n".into())]);
        let part = Arc::new(Part::default());
        store.set_parts(vec![part.clone()]);
        part.apply("u1", rendered(&["} 1\n", ",x=\"y\"} 2\n"]));
        part.apply("u2", Rendered::new(b"k=\"v\"", b"} 3\n} 4\n", &[4, 8]));
        let store = Store::new(vec![Arc::new(store)]);
        let text = String::from_utf8(store.exposition()).expect("utf8");
        let mut families = text.split("# ").filter(|f| !f.is_empty()).map(|f| {
            let mut lines: Vec<&str> = f.lines().collect();
            lines.sort_unstable();
            lines
        });
        assert_eq!(families.next().expect("A"), ["A", "a 1", "a{k=\"v\"} 3"]);
        assert_eq!(families.next().expect("B"), ["B", "b{k=\"v\"} 4", "b{x=\"y\"} 2"]);
    }

    #[test]
    fn a_resource_without_objects_writes_nothing() {
        let store = ResourceStore::new("pods", vec![("a", "# A\n".into())]);
        store.set_parts(vec![Arc::new(Part::default())]);
        assert!(Store::new(vec![Arc::new(store)]).exposition().is_empty());
    }

    #[test]
    fn delete_removes_series_and_replace_swaps_whole_sets() {
        let part = Part::default();
        part.apply("u1", rendered(&["} 1\n"]));
        part.apply("u2", rendered(&["} 2\n"]));
        part.delete("u1");
        assert_eq!(part.counts(), (1, 1));
        assert!(!part.synced());
        let mut relist = Relist::new();
        relist.insert("u3".into(), rendered(&["} 3\n"]));
        part.replace(relist);
        assert_eq!(part.counts(), (1, 1));
        assert!(part.synced());
        assert!(part.settled());
    }

    #[test]
    fn a_refused_part_settles_until_it_lists() {
        let part = Part::default();
        assert!(!part.settled());
        part.set_refused();
        assert!(part.settled() && !part.synced());
        part.replace(Relist::new());
        assert!(part.synced());
    }

    #[test]
    fn resources_are_written_in_name_order() {
        let make = |name: &'static str, line: &str| {
            let s = ResourceStore::new(name, vec![(name, format!("# {name}\n"))]);
            let p = Arc::new(Part::default());
            p.apply("u", rendered(&[line]));
            s.set_parts(vec![p]);
            Arc::new(s)
        };
        let store = Store::new(vec![make("pods", "} 1\n"), make("nodes", "} 2\n")]);
        assert_eq!(
            String::from_utf8(store.exposition()).expect("utf8"),
            "# nodes\nnodes 2\n# pods\npods 1\n"
        );
    }
}
