//! The hot-item ranking order (score descending, then item id ascending by
//! bytes) and its precomputed integer form.
//!
//! A hot-item window ranks a few thousand items, many with equal scores, so
//! most comparisons fall through to the ids. [`RankKey`] holds the score as an
//! order-preserving integer and the id's first 16 bytes as two big-endian
//! words, so sorting compares integers; only ids longer than 16 bytes that
//! agree on their first 16 need their bytes.

use std::cmp::Ordering;

/// An item's place in the ranking order (score descending by
/// `f64::total_cmp`, then the item's bytes ascending: UTF-8 bytes sort like
/// the strings they encode), ready to sort. `idx` says which item it
/// is in the caller's list, whose bytes break the rare ties described above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RankKey {
    /// Larger scores give smaller values.
    score: u64,
    /// The first 16 bytes, zero-padded, as big-endian words.
    prefix: [u64; 2],
    len: u32,
    pub(crate) idx: u32,
}

impl RankKey {
    /// The key of `item` with `score`, at `idx` in the caller's list.
    #[inline]
    pub(crate) fn new(item: &[u8], score: f64, idx: u32) -> RankKey {
        RankKey {
            score: !total_order_bits(score),
            prefix: padded_prefix(item),
            len: u32::try_from(item.len()).unwrap_or(u32::MAX),
            idx,
        }
    }

    /// Compares in the ranking order the items the keys stand for;
    /// `item(idx)` gives an item's bytes.
    #[inline]
    pub(crate) fn cmp_by<'a>(&self, other: &RankKey, item: impl Fn(u32) -> &'a [u8]) -> Ordering {
        (self.score, self.prefix)
            .cmp(&(other.score, other.prefix))
            .then_with(|| {
                if self.len > 16 && other.len > 16 {
                    // Equal first 16 bytes: the rest decides.
                    item(self.idx)[16..].cmp(&item(other.idx)[16..])
                } else {
                    // Equal zero-padded prefixes: one id is the other plus
                    // trailing zero bytes, and the shorter sorts first.
                    self.len.cmp(&other.len)
                }
            })
    }
}

/// `f64::total_cmp`'s order as an unsigned integer order.
#[inline]
fn total_order_bits(value: f64) -> u64 {
    let bits = value.to_bits();
    // Negative numbers: flip everything (larger magnitude sorts lower);
    // positive: set the sign bit so they sort above all negatives.
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// The first 16 bytes of `bytes`, zero-padded, as two big-endian words, built
/// with fixed-size loads (a variable-length copy would call `memcpy`).
#[inline]
fn padded_prefix(bytes: &[u8]) -> [u64; 2] {
    let len = bytes.len();
    if len >= 16 {
        [be_word(&bytes[..8]), be_word(&bytes[8..16])]
    } else if len >= 8 {
        // The last eight bytes end at `len`; shifting drops the ones before
        // byte 8 (they are in the first word) and pads with zeros.
        let tail = be_word(&bytes[len - 8..]);
        [
            be_word(&bytes[..8]),
            tail.checked_shl(8 * (16 - len as u32)).unwrap_or(0),
        ]
    } else {
        [short_word(bytes), 0]
    }
}

#[inline]
fn be_word(eight: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(eight);
    u64::from_be_bytes(word)
}

/// Up to 7 bytes, zero-padded, as a big-endian word.
#[inline]
fn short_word(bytes: &[u8]) -> u64 {
    let len = bytes.len();
    if len >= 4 {
        let mut head = [0u8; 4];
        let mut tail = [0u8; 4];
        head.copy_from_slice(&bytes[..4]);
        tail.copy_from_slice(&bytes[len - 4..]);
        // The two loads overlap on equal bytes, so or-ing them is exact.
        u64::from(u32::from_be_bytes(head)) << 32
            | u64::from(u32::from_be_bytes(tail)) << (8 * (8 - len as u32))
    } else {
        bytes.iter().enumerate().fold(0, |word, (idx, byte)| {
            word | u64::from(*byte) << (56 - 8 * idx)
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The ranking order, stated directly.
    fn rank_order(left: (&[u8], f64), right: (&[u8], f64)) -> Ordering {
        right.1.total_cmp(&left.1).then_with(|| left.0.cmp(right.0))
    }

    fn naive_prefix(bytes: &[u8]) -> [u64; 2] {
        let mut padded = [0u8; 16];
        for (slot, byte) in padded.iter_mut().zip(bytes) {
            *slot = *byte;
        }
        [be_word(&padded[..8]), be_word(&padded[8..])]
    }

    #[test]
    fn prefixes_are_the_zero_padded_first_sixteen_bytes_at_every_length() {
        let source: Vec<u8> = (1..=40).map(|b| b * 5).collect();
        for len in 0..=source.len() {
            let bytes = &source[..len];
            assert_eq!(padded_prefix(bytes), naive_prefix(bytes), "length {len}");
        }
    }

    #[test]
    fn scores_keep_the_total_order() {
        let values = [
            f64::NEG_INFINITY,
            -3.5,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            1.0,
            2.0,
            1e300,
            f64::INFINITY,
            f64::NAN,
        ];
        for left in values {
            for right in values {
                assert_eq!(
                    total_order_bits(left).cmp(&total_order_bits(right)),
                    left.total_cmp(&right),
                    "{left} vs {right}"
                );
            }
        }
    }

    fn item() -> impl Strategy<Value = Vec<u8>> {
        // Few distinct bytes and shared prefixes, so ties and prefix cases
        // (ids equal but for trailing zeros, equal first 16 bytes) are common.
        prop_oneof![
            proptest::collection::vec(prop_oneof![Just(0u8), Just(b'a'), Just(255u8)], 0..24),
            proptest::collection::vec(any::<u8>(), 0..4).prop_map(|tail| [
                b"video_0000000000".as_slice(),
                &tail
            ]
            .concat()),
        ]
    }

    proptest! {
        #[test]
        fn keys_compare_like_the_ranking_order(
            left in item(),
            right in item(),
            left_score in prop_oneof![Just(1.0f64), Just(2.0), any::<f64>()],
            right_score in prop_oneof![Just(1.0f64), Just(2.0), any::<f64>()],
        ) {
            let items = [left.as_slice(), right.as_slice()];
            let keys = [RankKey::new(items[0], left_score, 0), RankKey::new(items[1], right_score, 1)];
            prop_assert_eq!(
                keys[0].cmp_by(&keys[1], |idx| items[idx as usize]),
                rank_order((items[0], left_score), (items[1], right_score))
            );
        }
    }
}
