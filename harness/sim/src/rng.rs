//! A small seeded random number generator for the simulator's pure core.
//!
//! Object uids, generated name suffixes and Flink job ids come from here, so a
//! run with the same seed and the same inputs produces the same objects.
//! Secrets such as the API token must not come from here: they use the OS.

/// SplitMix64: tiny, fast, and good enough for identifiers.
#[derive(Debug, Clone)]
pub struct Rng(u64);

/// The alphabet Kubernetes uses for `generateName` suffixes (no vowels, no
/// look-alike digits), so generated names look like the real ones.
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

impl Rng {
    /// A generator with a fixed seed.
    pub fn seeded(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..bound` (bound > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// `len` lowercase hex digits, e.g. a 32-digit Flink JobID.
    pub fn hex(&mut self, len: usize) -> String {
        let mut out = String::with_capacity(len);
        while out.len() < len {
            out.push_str(&format!("{:016x}", self.next_u64()));
        }
        out.truncate(len);
        out
    }

    /// A version-4-shaped UUID string for `metadata.uid`.
    pub fn uid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }

    /// A `generateName`-style suffix of `len` characters.
    pub fn name_suffix(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| NAME_ALPHABET[self.below(NAME_ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let (mut a, mut b) = (Rng::seeded(7), Rng::seeded(7));
        assert_eq!(a.uid(), b.uid());
        assert_eq!(a.name_suffix(5), b.name_suffix(5));
        assert_ne!(Rng::seeded(8).uid(), Rng::seeded(7).uid());
        let uid = Rng::seeded(1).uid();
        assert_eq!(uid.len(), 36);
        assert_eq!(&uid[14..15], "4");
    }
}
