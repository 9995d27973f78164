//! A small, fast, non-cryptographic hasher (the Fx hash of rustc) and an
//! inline id type: the map machinery of the per-event path.
//!
//! The aggregation state is keyed by short strings (user and item ids) looked up
//! once or twice per event, so SipHash's per-call cost would dominate the
//! aggregation budget. Fx is deterministic (no random seed), which also keeps the
//! core reproducible; the pipeline never relies on a map's iteration order
//! anyway: everything it emits or snapshots is sorted first. Fx is not resistant
//! to hash flooding, which is acceptable for ids produced by our own services.

use std::{
    borrow::Borrow,
    collections::HashMap,
    fmt,
    hash::{BuildHasherDefault, Hash, Hasher},
};

/// A `HashMap` using [`FxHasher`] through [`TableHasher`].
pub(crate) type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<TableHasher>>;

/// The multiplier of rustc's Fx hash (a 64-bit odd constant close to 2^64 / golden ratio).
const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// Hashes a word at a time: rotate, xor, multiply.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

/// [`FxHasher`] for hash tables: the same words, but the result rotated so
/// that its best-mixed bits land where the table looks.
///
/// A multiply carries entropy only upwards, so the low bits of an Fx hash
/// depend only on the low bits of the last word mixed in, while `HashMap`
/// (SwissTable) picks the bucket from the low bits. For ids like
/// `video_000123` the last word is the digits' tail, whose low bits take a
/// handful of values: the keys crowded into a few probe groups. Rotating the
/// finished hash (as rustc-hash 2 does) brings the top bits, which depend on
/// every byte, down to the bucket index.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TableHasher(FxHasher);

impl Hasher for TableHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
    }

    #[inline]
    fn write_u8(&mut self, value: u8) {
        self.0.write_u8(value);
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.0.write_u64(value);
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.0.write_usize(value);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0.finish().rotate_left(26)
    }
}

/// Packs 1 to 7 bytes into a word with fixed-size loads (overlapping for
/// lengths 5 to 7, as rustc-hash does): a variable-length copy would be a call
/// to `memcpy` on every short id.
#[inline]
pub(crate) fn tail_word(rest: &[u8]) -> u64 {
    let len = rest.len();
    if len >= 4 {
        let mut low = [0u8; 4];
        let mut high = [0u8; 4];
        low.copy_from_slice(&rest[..4]);
        high.copy_from_slice(&rest[len - 4..]);
        u64::from(u32::from_le_bytes(low)) | (u64::from(u32::from_le_bytes(high)) << 32)
    } else {
        u64::from(rest[0]) | (u64::from(rest[len / 2]) << 8) | (u64::from(rest[len - 1]) << 16)
    }
}

/// The first and last eight bytes (overlapping when shorter than 16), or a
/// packing of all bytes when shorter than 8; fixed-size loads only. For two
/// strings of the same length up to 16 bytes, equal words mean equal strings.
#[inline]
pub(crate) fn words(bytes: &[u8]) -> [u64; 2] {
    let len = bytes.len();
    if len >= 8 {
        let mut first = [0u8; 8];
        let mut last = [0u8; 8];
        first.copy_from_slice(&bytes[..8]);
        last.copy_from_slice(&bytes[len - 8..]);
        [u64::from_le_bytes(first), u64::from_le_bytes(last)]
    } else if len > 0 {
        [tail_word(bytes), 0]
    } else {
        [0, 0]
    }
}

/// Byte-string equality without a call to `memcmp` for ids up to 16 bytes
/// (`[u8]`'s own `==` calls it for any length not known at compile time, and
/// that call dominated comparing short ids).
#[inline]
pub(crate) fn bytes_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len()
        && if left.len() <= 16 {
            words(left) == words(right)
        } else {
            left == right
        }
}

/// A borrowed id as a map key: hashes like `[u8]` and compares with
/// [`bytes_eq`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct IdRef<'a>(pub(crate) &'a [u8]);

impl Hash for IdRef<'_> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl PartialEq for IdRef<'_> {
    #[inline]
    fn eq(&self, other: &IdRef<'_>) -> bool {
        bytes_eq(self.0, other.0)
    }
}

impl Eq for IdRef<'_> {}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // Mixing in the length keeps "a" and "a\0" apart.
            self.add(tail_word(rest) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// The longest id stored inline.
const INLINE_ID: usize = 22;

/// A user or item id as a map key: stored inline when it is at most 22 bytes
/// (ids such as `user_000123` are), so a lookup compares it without following
/// a pointer to the heap, and inserting it allocates nothing. Maps are looked
/// up with the id's bytes (`map.get(id.as_bytes())`), which `Borrow<[u8]>`
/// and a `Hash` identical to `[u8]`'s make possible.
#[derive(Clone)]
pub(crate) enum IdKey {
    Inline { len: u8, bytes: [u8; INLINE_ID] },
    Heap(Box<[u8]>),
}

impl IdKey {
    /// The key of `id`. Inline ids are zero-padded, so two inline keys are
    /// equal exactly when their lengths and whole arrays are.
    #[inline]
    pub(crate) fn new(id: &str) -> IdKey {
        let source = id.as_bytes();
        let len = source.len();
        if len <= 16 {
            // Fixed-size loads instead of a variable-length copy (a call to
            // `memcpy`): this runs for every event's user and item.
            let [low, high] = padded_le_words(source);
            let mut bytes = [0u8; INLINE_ID];
            bytes[..8].copy_from_slice(&low.to_le_bytes());
            bytes[8..16].copy_from_slice(&high.to_le_bytes());
            IdKey::Inline {
                len: len as u8,
                bytes,
            }
        } else if len <= INLINE_ID {
            let mut bytes = [0u8; INLINE_ID];
            bytes[..len].copy_from_slice(source);
            IdKey::Inline {
                len: len as u8,
                bytes,
            }
        } else {
            IdKey::Heap(source.into())
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            IdKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            IdKey::Heap(bytes) => bytes,
        }
    }

    /// The id as text (see [`id_text`]).
    pub(crate) fn to_text(&self) -> String {
        id_text(self.as_bytes())
    }
}

/// Adds `id` to `map` if absent (with `V::default()`) and applies `update` to
/// its value. Short ids take one hash and one probe (the key is built on the
/// stack and compared inline); long ids are looked up by their bytes first, so
/// their key is allocated only when they are new.
#[inline]
pub(crate) fn update_id<V: Default>(
    map: &mut FxHashMap<IdKey, V>,
    id: &str,
    update: impl FnOnce(&mut V),
) {
    if id.len() <= INLINE_ID {
        update(map.entry(IdKey::new(id)).or_default());
    } else if let Some(value) = map.get_mut(id.as_bytes()) {
        update(value);
    } else {
        let mut value = V::default();
        update(&mut value);
        map.insert(IdKey::new(id), value);
    }
}

/// Up to 16 bytes, zero-padded, as two little-endian words; fixed-size loads
/// only.
#[inline]
fn padded_le_words(bytes: &[u8]) -> [u64; 2] {
    let len = bytes.len();
    debug_assert!(len <= 16);
    if len >= 8 {
        let [first, last] = words(bytes);
        // `last` holds bytes `len - 8..len`; shifting drops the ones before
        // byte 8 and leaves zeros above the end.
        [first, last.checked_shr(8 * (16 - len as u32)).unwrap_or(0)]
    } else if len >= 4 {
        let mut head = [0u8; 4];
        let mut tail = [0u8; 4];
        head.copy_from_slice(&bytes[..4]);
        tail.copy_from_slice(&bytes[len - 4..]);
        // The two loads overlap on equal bytes, so or-ing them is exact.
        let word = u64::from(u32::from_le_bytes(head))
            | u64::from(u32::from_le_bytes(tail)) << (8 * (len as u32 - 4));
        [word, 0]
    } else {
        let word = bytes
            .iter()
            .enumerate()
            .fold(0, |word, (idx, byte)| word | u64::from(*byte) << (8 * idx));
        [word, 0]
    }
}

/// An id's bytes as text. Ids are built from `&str`, so this never replaces
/// anything; checking is much cheaper than the lossy conversion's chunked scan.
pub(crate) fn id_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

impl Borrow<[u8]> for IdKey {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Hash for IdKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must equal `<[u8] as Hash>::hash` for `Borrow<[u8]>` lookups.
        self.as_bytes().hash(state);
    }
}

impl PartialEq for IdKey {
    #[inline]
    fn eq(&self, other: &IdKey) -> bool {
        match (self, other) {
            // Fixed-size comparison, no call to `memcmp` (see `IdKey::new`).
            (
                IdKey::Inline { len, bytes },
                IdKey::Inline {
                    len: other_len,
                    bytes: other_bytes,
                },
            ) => len == other_len && bytes == other_bytes,
            _ => self.as_bytes() == other.as_bytes(),
        }
    }
}

impl Eq for IdKey {}

impl fmt::Debug for IdKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&String::from_utf8_lossy(self.as_bytes()), f)
    }
}

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasher, BuildHasherDefault};

    use super::*;

    fn hash(value: &str) -> u64 {
        BuildHasherDefault::<FxHasher>::default().hash_one(value)
    }

    #[test]
    fn ids_hash_and_compare_like_their_bytes_inline_or_not() {
        let hasher = BuildHasherDefault::<FxHasher>::default();
        for id in [
            "",
            "user_000123",
            "exactly-twenty-two-by",
            "twenty-three-bytes-long",
            "ü-ünïcödé",
        ] {
            let key = IdKey::new(id);
            assert_eq!(key.as_bytes(), id.as_bytes());
            assert_eq!(key.to_text(), id);
            assert_eq!(hasher.hash_one(&key), hasher.hash_one(id.as_bytes()));
        }
        assert!(matches!(
            IdKey::new("exactly-twenty-two-by"),
            IdKey::Inline { .. }
        ));
        assert!(matches!(
            IdKey::new("twenty-three-bytes-long"),
            IdKey::Heap(_)
        ));
        let mut map: FxHashMap<IdKey, u32> = FxHashMap::default();
        map.insert(IdKey::new("a"), 1);
        map.insert(IdKey::new("twenty-three-bytes-long"), 2);
        assert_eq!(map.get(b"a".as_slice()), Some(&1));
        assert_eq!(map.get(b"twenty-three-bytes-long".as_slice()), Some(&2));
        assert_eq!(map.get(b"b".as_slice()), None);
    }

    #[test]
    fn table_hashes_spread_sequential_ids_over_the_low_bits() {
        // SwissTable takes the bucket from the low bits. Raw Fx hashes of these
        // ids share 21 values of their low 10 bits; the table's rotated hash
        // must use nearly all 1,024.
        let table = BuildHasherDefault::<TableHasher>::default();
        let raw = BuildHasherDefault::<FxHasher>::default();
        let ids: Vec<String> = (1..=5000).map(|idx| format!("video_{idx:06}")).collect();
        let buckets = |hash_one: &dyn Fn(&[u8]) -> u64| {
            let mut seen: Vec<u64> = ids
                .iter()
                .map(|id| hash_one(id.as_bytes()) & 1023)
                .collect();
            seen.sort_unstable();
            seen.dedup();
            seen.len()
        };
        let spread = buckets(&|id| table.hash_one(id));
        let raw_spread = buckets(&|id| raw.hash_one(id));
        assert!(spread > 900, "{spread} of 1024 buckets used");
        assert!(
            raw_spread < 100,
            "the raw hash is expected to crowd: {raw_spread}"
        );
    }

    #[test]
    fn inline_keys_are_zero_padded_copies_at_every_length() {
        let source = "abcdefghijklmnopqrstuvwxyz";
        for len in 0..=source.len() {
            let id = &source[..len];
            let key = IdKey::new(id);
            assert_eq!(key.as_bytes(), id.as_bytes(), "length {len}");
            if let IdKey::Inline { bytes, .. } = key {
                let mut expected = [0u8; INLINE_ID];
                expected[..len].copy_from_slice(id.as_bytes());
                assert_eq!(bytes, expected, "length {len}");
            } else {
                assert!(len > INLINE_ID, "length {len} should be inline");
            }
        }
    }

    #[test]
    fn update_id_counts_short_and_long_ids_once_each() {
        let long = "an-id-longer-than-twenty-two-bytes";
        let mut map: FxHashMap<IdKey, u32> = FxHashMap::default();
        for id in ["a", long, "a", "ab", long, "a"] {
            update_id(&mut map, id, |count| *count += 1);
        }
        assert_eq!(map.len(), 3);
        assert_eq!(map.get(b"a".as_slice()), Some(&3));
        assert_eq!(map.get(long.as_bytes()), Some(&2));
        assert_eq!(map.get(b"ab".as_slice()), Some(&1));
        assert!(IdKey::new("ab") != IdKey::new("ab\0"));
        assert!(IdKey::new(long) == IdKey::new(long));
    }

    #[test]
    fn equal_strings_hash_equal_and_neighbours_differ() {
        assert_eq!(hash("user_000123"), hash(&String::from("user_000123")));
        let values = [
            "",
            "a",
            "a\0",
            "ab",
            "user_000123",
            "user_000124",
            "user_0001230",
        ];
        for (idx, left) in values.iter().enumerate() {
            for right in &values[idx + 1..] {
                assert_ne!(hash(left), hash(right), "{left:?} and {right:?} collide");
            }
        }
    }
}
