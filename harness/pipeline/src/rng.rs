//! Seeded randomness for the generator: xoshiro256** seeded through SplitMix64,
//! and a Zipf sampler over a precomputed CDF.
//!
//! Written here rather than taken from `rand` to keep the pure core's
//! dependency list short and the output stable across dependency upgrades: a
//! seed means the same events forever.

/// xoshiro256** (Blackman and Vigna): fast, 256 bits of state, good quality.
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    state: [u64; 4],
}

impl Rng {
    /// Expands a 64-bit seed with SplitMix64, as the xoshiro authors recommend.
    pub(crate) fn seeded(seed: u64) -> Rng {
        let mut mix = seed;
        let mut next = || {
            mix = mix.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = mix;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Rng {
            state: [next(), next(), next(), next()],
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let [s0, s1, s2, s3] = &mut self.state;
        let result = s1.wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = *s1 << 17;
        *s2 ^= *s0;
        *s3 ^= *s1;
        *s1 ^= *s2;
        *s0 ^= *s3;
        *s2 ^= t;
        *s3 = s3.rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[0, bound)` (Lemire's multiply-shift; the bias is below
    /// 2^-32 for the bounds used here). `bound == 0` gives 0.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// Uniform in `[low, high]`; `low` when `high < low`.
    pub(crate) fn between(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        low + self.below(high - low + 1)
    }

    /// `true` with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.next_f64() < p
    }
}

/// Samples ranks `0..n` with probability proportional to `1 / (rank + 1)^exponent`.
#[derive(Clone, Debug)]
pub(crate) struct Zipf {
    /// `cdf[k]` = P(rank <= k); the last entry is 1.
    cdf: Vec<f64>,
}

impl Zipf {
    /// `n >= 1` ranks; exponent 0 is uniform.
    pub(crate) fn new(n: u32, exponent: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n as usize);
        let mut total = 0.0;
        for rank in 1..=n {
            total += (f64::from(rank)).powf(-exponent);
            cdf.push(total);
        }
        for value in &mut cdf {
            *value /= total;
        }
        if let Some(last) = cdf.last_mut() {
            *last = 1.0;
        }
        Zipf { cdf }
    }

    pub(crate) fn sample(&self, rng: &mut Rng) -> u32 {
        let u = rng.next_f64();
        let rank = self.cdf.partition_point(|&p| p <= u);
        rank.min(self.cdf.len().saturating_sub(1)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_stream_and_others_differ() {
        let first: Vec<u64> = (0..8)
            .scan(Rng::seeded(7), |rng, _| Some(rng.next_u64()))
            .collect();
        let again: Vec<u64> = (0..8)
            .scan(Rng::seeded(7), |rng, _| Some(rng.next_u64()))
            .collect();
        let other: Vec<u64> = (0..8)
            .scan(Rng::seeded(8), |rng, _| Some(rng.next_u64()))
            .collect();
        assert_eq!(first, again);
        assert_ne!(first, other);
    }

    #[test]
    fn ranges_are_respected() {
        let mut rng = Rng::seeded(1);
        for _ in 0..10_000 {
            let value = rng.between(3, 5);
            assert!((3..=5).contains(&value));
            let unit = rng.next_f64();
            assert!((0.0..1.0).contains(&unit));
        }
        assert_eq!(rng.below(0), 0);
        assert_eq!(rng.between(9, 2), 9);
    }

    #[test]
    fn zipf_prefers_low_ranks_in_the_expected_proportion() {
        // With exponent 1 over 3 ranks, P = (1, 1/2, 1/3) / (11/6) = 6/11, 3/11, 2/11.
        let zipf = Zipf::new(3, 1.0);
        let mut rng = Rng::seeded(3);
        let mut counts = [0u32; 3];
        let draws = 110_000;
        for _ in 0..draws {
            counts[zipf.sample(&mut rng) as usize] += 1;
        }
        let expected = [60_000.0, 30_000.0, 20_000.0];
        for (count, want) in counts.iter().zip(expected) {
            assert!(
                (f64::from(*count) - want).abs() < want * 0.02,
                "counts {counts:?}, expected about {expected:?}"
            );
        }
    }
}
