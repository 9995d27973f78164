//! The benches' inputs: batches of generated events held in one contiguous
//! buffer (so iterating them costs no allocation and no pointer chasing the
//! real pipeline would not have), and the Redis writes a real engine run emits.

use harness_pipeline::{
    Engine, EngineConfig, GeneratedKind, Generator, GeneratorConfig, GeneratorError, RedisWrite,
};

/// Events per second of event time in the standard load. Low enough that a
/// batch of a few hundred thousand events spans hours of event time, so every
/// kind of window fires while records flow (as in the users' 24×7 job), not
/// only at the final drain; at the generator's default of 1,000/s a 200,000
/// event batch covers 200 s and no 1 h window would fire before the end.
pub const STANDARD_EVENTS_PER_SECOND: f64 = 20.0;

/// The generator configuration of [`Batch::standard`].
pub fn standard_config() -> GeneratorConfig {
    GeneratorConfig {
        events_per_second: STANDARD_EVENTS_PER_SECOND,
        ..GeneratorConfig::default()
    }
}

/// `n` events as JSON lines plus their Kafka keys, in generation order.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    payloads: Vec<u8>,
    payload_ends: Vec<usize>,
    keys: Vec<u8>,
    key_ends: Vec<usize>,
    valid: usize,
}

impl Batch {
    /// The first `n` events of the generator configured by `config`.
    pub fn generate(config: GeneratorConfig, n: usize) -> Result<Batch, GeneratorError> {
        let mut generator = Generator::new(config)?;
        let mut batch = Batch::default();
        let (mut payload, mut key) = (Vec::new(), String::new());
        for _ in 0..n {
            if matches!(
                generator.next_into(&mut payload, &mut key),
                GeneratedKind::Valid
            ) {
                batch.valid += 1;
            }
            batch.payloads.extend_from_slice(&payload);
            batch.payload_ends.push(batch.payloads.len());
            batch.keys.extend_from_slice(key.as_bytes());
            batch.key_ends.push(batch.keys.len());
        }
        Ok(batch)
    }

    /// The benches' standard load: the default generator (10,000
    /// Zipf-distributed users, 5,000 items, 2 tenants × 2 scenarios, a
    /// feed-like action mix, nothing malformed or late) at
    /// [`STANDARD_EVENTS_PER_SECOND`] of event time.
    pub fn standard(n: usize) -> Batch {
        Batch::generate(standard_config(), n)
            .expect("the standard generator configuration is valid")
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.payload_ends.len()
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.payload_ends.is_empty()
    }

    /// Events the generator made valid (the rest are malformed or late on purpose).
    pub fn valid(&self) -> usize {
        self.valid
    }

    /// Total payload bytes.
    pub fn payload_bytes(&self) -> usize {
        self.payloads.len()
    }

    /// The payloads, in order.
    pub fn payloads(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        slices(&self.payloads, &self.payload_ends)
    }

    /// `(key, payload)` pairs, in order.
    pub fn records(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + '_ {
        slices(&self.keys, &self.key_ends).zip(self.payloads())
    }
}

fn slices<'a>(bytes: &'a [u8], ends: &'a [usize]) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
    ends.iter().enumerate().map(move |(i, &end)| {
        let start = if i == 0 { 0 } else { ends[i - 1] };
        &bytes[start..end]
    })
}

/// Runs the engine over `batch` as one split and drains it, returning the
/// Redis writes it emits in order: the realistic mix of user-feature hashes
/// and hot-item sorted sets the sink has to write.
pub fn redis_writes(config: &EngineConfig, batch: &Batch) -> Vec<RedisWrite> {
    let mut engine = Engine::new(config.clone(), &[0]);
    let mut outputs = Vec::new();
    for (offset, payload) in batch.payloads().enumerate() {
        engine.process(0, offset as i64, payload, &mut outputs);
    }
    engine.drain(&mut outputs);
    outputs
        .iter()
        .filter_map(|output| config.redis_write(output))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_holds_what_the_generator_made() -> Result<(), GeneratorError> {
        let config = GeneratorConfig {
            malformed_ratio: 0.1,
            ..GeneratorConfig::default()
        };
        let batch = Batch::generate(config.clone(), 500)?;
        let mut generator = Generator::new(config)?;
        let (mut payload, mut key) = (Vec::new(), String::new());
        let mut valid = 0;
        for (got_key, got_payload) in batch.records() {
            if generator.next_into(&mut payload, &mut key) == GeneratedKind::Valid {
                valid += 1;
            }
            assert_eq!(got_payload, payload.as_slice());
            assert_eq!(got_key, key.as_bytes());
        }
        assert_eq!(batch.len(), 500);
        assert_eq!(batch.valid(), valid);
        assert!(valid < 500, "a tenth should be malformed");
        assert_eq!(
            batch.payload_bytes(),
            batch.payloads().map(<[u8]>::len).sum::<usize>()
        );
        Ok(())
    }

    #[test]
    fn redis_writes_cover_users_and_hot_items() {
        let writes = redis_writes(&EngineConfig::default(), &Batch::standard(20_000));
        let hashes = writes
            .iter()
            .filter(|w| matches!(w, RedisWrite::Hash { .. }))
            .count();
        let zsets = writes
            .iter()
            .filter(|w| matches!(w, RedisWrite::ReplaceZset { .. }))
            .count();
        assert!(hashes > 1000, "{hashes} user-feature writes");
        assert!(zsets > 0, "{zsets} hot-item writes");
    }
}
