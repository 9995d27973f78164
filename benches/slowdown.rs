//! The deliberately slowed build (cargo feature `slowed`, off by default):
//! extra work the bench wrappers add to the measured paths, so that
//! `cargo xtask bench --gate --features slowed` shows the gate failing.
//!
//! Nothing here touches the production crates: the wrappers in the bench
//! targets call these functions around the real code, and without the feature
//! they compile to nothing.

/// Whether this is the slowed build.
pub const SLOWED: bool = cfg!(feature = "slowed");

/// Extra work per event on the `core` decode + aggregate path: the event is
/// decoded twice more, which roughly triples that path's decoding cost while the
/// decode-only baseline stays as it is.
#[inline]
pub fn per_event(payload: &[u8]) {
    if SLOWED {
        for _ in 0..2 {
            let _ = std::hint::black_box(harness_pipeline::decode(std::hint::black_box(payload)));
        }
    }
}

/// How many writes the `redis_sink` wrapper hands the sink at a time: all of
/// them normally; in the slowed build small slices, which costs round trips
/// (each slice ends in its own round trip) as a sink that stopped batching would.
pub fn sink_slice(total: usize) -> usize {
    if SLOWED { 50 } else { total.max(1) }
}
