//! How the sink groups writes into pipelined round trips: what one write
//! costs a request (commands and RESP bytes), where a round trip ends, and
//! the queue of writes taken from the inbox but not yet acknowledged. Pure
//! bookkeeping, no I/O, so the sizing rules are tested without a Redis.

use harness_pipeline::RedisWrite;

use super::{MAX_BYTES_PER_ROUND_TRIP, MAX_COMMANDS_PER_ROUND_TRIP};

/// What writes cost a pipelined request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Size {
    /// Commands sent (`MULTI` and `EXEC` included).
    pub(crate) commands: usize,
    /// RESP-encoded bytes sent: exact, except that a non-integral score is
    /// counted at the longest text an `f64` can take (see [`score_len`]), so
    /// the figure never falls short of what redis-rs sends.
    pub(crate) bytes: usize,
}

impl Size {
    /// The cost of one write, as [`super::add_commands`] encodes it.
    pub(crate) fn of(write: &RedisWrite) -> Size {
        match write {
            RedisWrite::Hash { key, fields } => Size {
                commands: 1,
                bytes: header(2 + 2 * fields.len())
                    + bulk(b"HSET".len())
                    + bulk(key.len())
                    + fields
                        .iter()
                        .map(|(field, value)| bulk(field.len()) + bulk(value.len()))
                        .sum::<usize>(),
            },
            RedisWrite::ReplaceZset { key, members, .. } if members.is_empty() => Size {
                commands: 1,
                bytes: del(key),
            },
            RedisWrite::ReplaceZset {
                key,
                members,
                ttl_secs,
            } => Size {
                // MULTI, DEL, ZADD, EXPIRE, EXEC.
                commands: 5,
                bytes: header(1)
                    + bulk(b"MULTI".len())
                    + del(key)
                    + header(2 + 2 * members.len())
                    + bulk(b"ZADD".len())
                    + bulk(key.len())
                    + members
                        .iter()
                        .map(|(member, score)| bulk(score_len(*score)) + bulk(member.len()))
                        .sum::<usize>()
                    + header(3)
                    + bulk(b"EXPIRE".len())
                    + bulk(key.len())
                    + bulk(digits(*ttl_secs))
                    + header(1)
                    + bulk(b"EXEC".len()),
            },
        }
    }

    /// Whether a request of this size stays within both caps.
    fn fits(self) -> bool {
        self.commands <= MAX_COMMANDS_PER_ROUND_TRIP && self.bytes <= MAX_BYTES_PER_ROUND_TRIP
    }

    /// Whether writes of this size fill a round trip: anything more would
    /// have to wait for the next one.
    fn fills(self) -> bool {
        self.commands >= MAX_COMMANDS_PER_ROUND_TRIP || self.bytes >= MAX_BYTES_PER_ROUND_TRIP
    }
}

impl std::ops::Add for Size {
    type Output = Size;

    fn add(self, other: Size) -> Size {
        Size {
            commands: self.commands + other.commands,
            bytes: self.bytes + other.bytes,
        }
    }
}

impl std::ops::Sub for Size {
    type Output = Size;

    fn sub(self, other: Size) -> Size {
        Size {
            commands: self.commands - other.commands,
            bytes: self.bytes - other.bytes,
        }
    }
}

/// How many of `writes`, from the front, the next round trip carries, and
/// their size: as many as fit both caps, and at least one however large (a
/// write is never split, so a hot-item list's `MULTI ... EXEC` stays whole).
pub(crate) fn next_round_trip(writes: &[RedisWrite]) -> (usize, Size) {
    let mut size = Size::default();
    for (taken, write) in writes.iter().enumerate() {
        let with = size + Size::of(write);
        if taken > 0 && !with.fits() {
            return (taken, size);
        }
        size = with;
    }
    (writes.len(), size)
}

/// Writes taken from the sink's inbox and not yet acknowledged, in order.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// Sent and unsent writes; the sent ones are only kept until the next
    /// push, so that a batch taken whole is never copied.
    writes: Vec<RedisWrite>,
    /// The first write not yet acknowledged.
    start: usize,
    /// The size of `writes[start..]`.
    size: Size,
}

impl Pending {
    /// Nothing is waiting to be sent.
    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.writes.len()
    }

    /// The waiting writes already fill the next round trip.
    pub(crate) fn fills_round_trip(&self) -> bool {
        self.size.fills()
    }

    /// Queues `writes` behind those waiting.
    pub(crate) fn push(&mut self, writes: Vec<RedisWrite>) {
        self.size = writes.iter().fold(self.size, |size, w| size + Size::of(w));
        if self.is_empty() {
            self.writes = writes;
        } else {
            self.writes.drain(..self.start);
            self.writes.extend(writes);
        }
        self.start = 0;
    }

    /// The writes the next round trip carries (see [`next_round_trip`]);
    /// hand its result to [`Pending::acknowledged`] once Redis has them.
    pub(crate) fn next_round_trip(&self) -> (&[RedisWrite], Size) {
        let waiting = &self.writes[self.start..];
        let (taken, size) = next_round_trip(waiting);
        (&waiting[..taken], size)
    }

    /// The first `count` waiting writes, of `size`, are acknowledged.
    pub(crate) fn acknowledged(&mut self, count: usize, size: Size) {
        self.start += count;
        self.size = self.size - size;
    }
}

/// `*<n>\r\n`: the header of a command of `args` arguments.
fn header(args: usize) -> usize {
    1 + digits(args as u64) + 2
}

/// `$<len>\r\n<bytes>\r\n`: one argument of `len` bytes.
fn bulk(len: usize) -> usize {
    1 + digits(len as u64) + 2 + len + 2
}

fn del(key: &str) -> usize {
    header(2) + bulk(b"DEL".len()) + bulk(key.len())
}

/// Decimal digits of `n`.
fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// The length of a score as redis-rs writes it (`ryu`'s shortest form):
/// exact for integral scores below 10^16, which `ryu` prints as `123.0` (the
/// engine's scores without decay are sums of integers); anything else is
/// counted at 24 characters, the longest `ryu` prints for an `f64`
/// (`-2.2250738585072014e-308`), rather than formatting every score twice.
fn score_len(score: f64) -> usize {
    const LONGEST: usize = 24;
    let magnitude = score.abs();
    if score.fract() == 0.0 && magnitude < 1e16 {
        usize::from(score.is_sign_negative()) + digits(magnitude as u64) + ".0".len()
    } else {
        LONGEST
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn hash(key_len: usize, value_len: usize) -> RedisWrite {
        RedisWrite::Hash {
            key: "k".repeat(key_len.max(1)),
            fields: vec![("view", "7".repeat(value_len)), ("like", "0".into())],
        }
    }

    fn zset(members: Vec<(String, f64)>) -> RedisWrite {
        RedisWrite::ReplaceZset {
            key: "hot:items:t:s".into(),
            members,
            ttl_secs: 7200,
        }
    }

    /// What redis-rs actually sends for `write`: the independent measure.
    fn encoded(write: &RedisWrite) -> (usize, usize) {
        let mut pipe = redis::pipe();
        super::super::add_commands(&mut pipe, write);
        (pipe.len(), pipe.get_packed_pipeline().len())
    }

    fn any_write() -> impl Strategy<Value = RedisWrite> {
        let member = ("[a-z0-9_]{1,12}", any::<f64>());
        let integral = ("[a-z0-9_]{1,12}", -1e6_f64..1e12_f64).prop_map(|(m, s)| (m, s.trunc()));
        prop_oneof![
            (
                "[a-z:0-9]{1,40}",
                proptest::collection::vec(".{0,30}", 0..10)
            )
                .prop_map(|(key, values)| RedisWrite::Hash {
                    key,
                    fields: values.into_iter().map(|v| ("field", v)).collect(),
                }),
            proptest::collection::vec(prop_oneof![member, integral], 0..40).prop_map(zset),
        ]
    }

    proptest! {
        /// The counted size is redis-rs's encoding: exact when scores are
        /// integral, never below it otherwise.
        #[test]
        fn size_is_what_redis_rs_sends(write in any_write()) {
            let (commands, bytes) = encoded(&write);
            let size = Size::of(&write);
            prop_assert_eq!(size.commands, commands);
            let exact = match &write {
                RedisWrite::ReplaceZset { members, .. } => members
                    .iter()
                    .all(|(_, s)| s.fract() == 0.0 && s.abs() < 1e16),
                RedisWrite::Hash { .. } => true,
            };
            if exact {
                prop_assert_eq!(size.bytes, bytes);
            } else {
                prop_assert!(size.bytes >= bytes, "counted {} < sent {}", size.bytes, bytes);
            }
        }

        /// Round trips carry every write once, in order; each stays within
        /// the caps unless it is a single write; and each is full: the next
        /// write would not have fitted.
        #[test]
        fn round_trips_are_full_ordered_and_capped(
            sizes in proptest::collection::vec((1_usize..60, 0_usize..12_000), 1..300),
        ) {
            let writes: Vec<RedisWrite> =
                sizes.iter().map(|&(key, value)| hash(key, value)).collect();
            let mut rest = writes.as_slice();
            let mut sent = Vec::new();
            while !rest.is_empty() {
                let (taken, size) = next_round_trip(rest);
                let chunk = &rest[..taken];
                prop_assert!(taken >= 1);
                let (commands, bytes) = chunk.iter().map(encoded).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
                prop_assert_eq!((size.commands, size.bytes), (commands, bytes));
                prop_assert!(
                    taken == 1 || (commands <= MAX_COMMANDS_PER_ROUND_TRIP && bytes <= MAX_BYTES_PER_ROUND_TRIP),
                    "{taken} writes, {commands} commands, {bytes} bytes"
                );
                if let Some(next) = rest.get(taken) {
                    let (_, next_bytes) = encoded(next);
                    prop_assert!(
                        commands + 1 > MAX_COMMANDS_PER_ROUND_TRIP || bytes + next_bytes > MAX_BYTES_PER_ROUND_TRIP,
                        "a round trip of {bytes} bytes left out a write of {next_bytes}"
                    );
                }
                sent.extend_from_slice(chunk);
                rest = &rest[taken..];
            }
            prop_assert_eq!(sent, writes);
        }

        /// Batches pushed into the queue come out in order, however they are
        /// interleaved with acknowledged round trips, and the queue knows
        /// when a round trip is full.
        #[test]
        fn pending_keeps_order_across_pushes(
            batches in proptest::collection::vec(
                proptest::collection::vec((1_usize..20, 0_usize..12_000), 0..200),
                1..12,
            ),
            send_after in proptest::collection::vec(any::<bool>(), 12),
        ) {
            let batches: Vec<Vec<RedisWrite>> = batches
                .iter()
                .map(|b| b.iter().map(|&(k, v)| hash(k, v)).collect())
                .collect();
            let mut pending = Pending::default();
            let mut sent = Vec::new();
            for (batch, send) in batches.iter().zip(&send_after) {
                pending.push(batch.clone());
                if *send && !pending.is_empty() {
                    send_one(&mut pending, &mut sent);
                }
                let (waiting, _) = pending.next_round_trip();
                let all_fit = waiting.len() == pending.writes.len() - pending.start;
                // Full means the waiting writes do not all fit one round trip,
                // or exactly reach a cap.
                let waiting_bytes: usize = pending.writes[pending.start..].iter().map(|w| encoded(w).1).sum();
                let waiting_commands = pending.writes.len() - pending.start;
                prop_assert_eq!(
                    pending.fills_round_trip(),
                    !all_fit
                        || waiting_bytes >= MAX_BYTES_PER_ROUND_TRIP
                        || waiting_commands >= MAX_COMMANDS_PER_ROUND_TRIP
                );
            }
            while !pending.is_empty() {
                send_one(&mut pending, &mut sent);
            }
            prop_assert_eq!(sent, batches.concat());
            prop_assert_eq!(pending.size, Size::default());
        }
    }

    /// Sends the next round trip of `pending` into `sent`.
    fn send_one(pending: &mut Pending, sent: &mut Vec<RedisWrite>) {
        let (writes, size) = pending.next_round_trip();
        let count = writes.len();
        sent.extend_from_slice(writes);
        pending.acknowledged(count, size);
    }

    #[test]
    fn a_write_larger_than_a_round_trip_goes_alone() {
        let big = hash(10, MAX_BYTES_PER_ROUND_TRIP + 1);
        let writes = [hash(10, 10), big.clone(), hash(10, 10)];
        assert_eq!(next_round_trip(&writes).0, 1);
        assert_eq!(next_round_trip(&writes[1..]).0, 1);
        assert_eq!(next_round_trip(&writes[2..]).0, 1);
    }

    #[test]
    fn the_command_cap_holds_for_tiny_writes() {
        let deletes: Vec<RedisWrite> = (0..MAX_COMMANDS_PER_ROUND_TRIP + 5)
            .map(|_| zset(Vec::new()))
            .collect();
        let (taken, size) = next_round_trip(&deletes);
        assert_eq!(taken, MAX_COMMANDS_PER_ROUND_TRIP);
        assert!(
            size.bytes < MAX_BYTES_PER_ROUND_TRIP,
            "the byte cap bound first"
        );
    }
}
