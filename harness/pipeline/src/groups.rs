//! The open state of each (tenant, scenario) and how an event finds it.
//!
//! Every valid event looks up its group, so the lookup is the hottest map
//! access of the engine. Groups are few (tenants × scenarios), so instead of
//! hashing both strings and chasing pointers to compare them, each group keeps
//! a [`Probe`]: the two lengths and, for each string, two words that together
//! cover all of its bytes when it is at most 16 bytes long. Finding a group is
//! a scan comparing five integers per group; only longer ids need a full
//! comparison. Past [`LINEAR_GROUPS`] groups a hash map over the probes takes
//! over. Groups are kept for the engine's life (a few bytes once their windows
//! have fired).

use crate::{
    features::{GroupKey, hot::HotState, metrics::MetricsState, user::UserState},
    hash::{FxHashMap, words},
};

/// Up to this many groups a linear scan over the probes beats hashing.
const LINEAR_GROUPS: usize = 32;

/// The open windows of one (tenant, scenario).
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) key: GroupKey,
    /// The group's position in (tenant, scenario) order, for ordering outputs
    /// without comparing strings.
    pub(crate) rank: u32,
    pub(crate) user: UserState,
    pub(crate) hot: HotState,
    pub(crate) metrics: MetricsState,
}

impl Group {
    pub(crate) fn is_empty(&self) -> bool {
        self.user.is_empty() && self.hot.is_empty() && self.metrics.is_empty()
    }
}

/// A compact fingerprint of a (tenant, scenario): equal for equal keys, and
/// different for different keys whose strings are at most 16 bytes long.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Probe {
    lengths: u64,
    tenant: [u64; 2],
    scenario: [u64; 2],
}

impl Probe {
    #[inline]
    fn new(tenant_id: &str, scenario_id: &str) -> Probe {
        Probe {
            lengths: (tenant_id.len() as u64) << 32 | scenario_id.len() as u64,
            tenant: words(tenant_id.as_bytes()),
            scenario: words(scenario_id.as_bytes()),
        }
    }

    /// One word mixing the whole probe (equal probes fold equal). Only a
    /// filter for the linear scan, which confirms on the full probe, so xor and
    /// rotations are enough: a multiply chain here cost more than the scan.
    #[inline]
    fn folded(&self) -> u64 {
        self.lengths
            ^ self.tenant[0]
            ^ self.tenant[1].rotate_left(13)
            ^ self.scenario[0].rotate_left(29)
            ^ self.scenario[1].rotate_left(43)
    }

    /// Whether equal probes already prove the keys equal.
    #[inline]
    fn is_exact(&self) -> bool {
        self.lengths >> 32 <= 16 && self.lengths & 0xffff_ffff <= 16
    }
}

/// All groups, in creation order, with their lookup structures.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    groups: Vec<Group>,
    /// `probes[i]` is the probe of `groups[i]`.
    probes: Vec<Probe>,
    /// `folded[i]` is `probes[i].folded()`, contiguous for a fast scan.
    folded: Vec<u64>,
    /// Probe -> indices of the groups with it, once there are many groups.
    by_probe: FxHashMap<Probe, Vec<usize>>,
    /// Indices into `groups` in rank order.
    by_rank: Vec<usize>,
}

impl Groups {
    #[inline]
    fn matches(&self, idx: usize, probe: &Probe, tenant_id: &str, scenario_id: &str) -> bool {
        self.probes[idx] == *probe
            && (probe.is_exact()
                || (*self.groups[idx].key.tenant_id == *tenant_id
                    && *self.groups[idx].key.scenario_id == *scenario_id))
    }

    #[inline]
    fn find_probe(&self, probe: &Probe, tenant_id: &str, scenario_id: &str) -> Option<usize> {
        if self.groups.len() <= LINEAR_GROUPS {
            // Scan one folded word per group without branching on the data
            // (events come from groups in no predictable order, so an early
            // exit mispredicted on most lookups); confirm on the full probe.
            let folded = probe.folded();
            let last_match = self
                .folded
                .iter()
                .enumerate()
                .fold(
                    None,
                    |found, (idx, word)| if *word == folded { Some(idx) } else { found },
                );
            let idx = last_match?;
            if self.matches(idx, probe, tenant_id, scenario_id) {
                return Some(idx);
            }
            // Another group folds to the same word: look at each candidate.
            let mut from = 0;
            while let Some(found) = self.folded[from..].iter().position(|word| *word == folded) {
                let idx = from + found;
                if self.matches(idx, probe, tenant_id, scenario_id) {
                    return Some(idx);
                }
                from = idx + 1;
            }
            None
        } else {
            let candidates = self.by_probe.get(probe)?;
            candidates
                .iter()
                .copied()
                .find(|idx| self.matches(*idx, probe, tenant_id, scenario_id))
        }
    }

    /// The index of the group, if it exists.
    pub(crate) fn find(&self, tenant_id: &str, scenario_id: &str) -> Option<usize> {
        self.find_probe(&Probe::new(tenant_id, scenario_id), tenant_id, scenario_id)
    }

    /// The group, created (with no windows) if new.
    #[inline]
    pub(crate) fn get_or_insert(&mut self, tenant_id: &str, scenario_id: &str) -> &mut Group {
        let probe = Probe::new(tenant_id, scenario_id);
        let idx = match self.find_probe(&probe, tenant_id, scenario_id) {
            Some(idx) => idx,
            None => self.insert(probe, tenant_id, scenario_id),
        };
        &mut self.groups[idx]
    }

    #[cold]
    #[inline(never)]
    fn insert(&mut self, probe: Probe, tenant_id: &str, scenario_id: &str) -> usize {
        let idx = self.groups.len();
        self.groups.push(Group {
            key: GroupKey {
                tenant_id: tenant_id.into(),
                scenario_id: scenario_id.into(),
            },
            rank: 0,
            user: UserState::default(),
            hot: HotState::default(),
            metrics: MetricsState::default(),
        });
        self.probes.push(probe);
        self.folded.push(probe.folded());
        if self.groups.len() > LINEAR_GROUPS {
            if self.by_probe.is_empty() {
                for (old, old_probe) in self.probes.iter().enumerate() {
                    self.by_probe.entry(*old_probe).or_default().push(old);
                }
            } else {
                self.by_probe.entry(probe).or_default().push(idx);
            }
        }
        // Re-rank: new groups are rare (once per tenant and scenario).
        let mut order: Vec<usize> = (0..self.groups.len()).collect();
        order.sort_by(|l, r| self.groups[*l].key.cmp(&self.groups[*r].key));
        for (rank, group) in order.iter().enumerate() {
            self.groups[*group].rank = rank as u32;
        }
        self.by_rank = order;
        idx
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Group> {
        self.groups.iter()
    }

    /// How many groups there are.
    pub(crate) fn len(&self) -> usize {
        self.groups.len()
    }

    /// The group of rank `rank` (`0..len()`, in (tenant, scenario) order).
    pub(crate) fn by_rank_mut(&mut self, rank: usize) -> &mut Group {
        &mut self.groups[self.by_rank[rank]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_tell_short_keys_apart_exactly() {
        let names = [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "abce",
            "demo",
            "vlog_feed",
            "vlog_fees",
            "short_video",
            "0123456789abcdef",
            "0123456789abcdeg",
        ];
        for left in names {
            for right in names {
                assert_eq!(
                    words(left.as_bytes()) == words(right.as_bytes()) && left.len() == right.len(),
                    left == right,
                    "{left:?} vs {right:?}"
                );
            }
        }
    }

    #[test]
    fn groups_are_found_again_with_short_long_and_many_keys() {
        let mut groups = Groups::default();
        let long = "a-tenant-id-longer-than-sixteen-bytes";
        let mut keys = vec![
            (long.to_string(), "s".to_string()),
            (format!("{long}!"), "s".to_string()),
        ];
        for idx in 0..40 {
            keys.push((
                format!("t{idx}"),
                if idx % 2 == 0 {
                    "vlog_feed".into()
                } else {
                    "short_video".into()
                },
            ));
        }
        for (tenant, scenario) in &keys {
            groups.get_or_insert(tenant, scenario);
        }
        assert_eq!(groups.iter().count(), keys.len(), "no two keys collapsed");
        for (idx, (tenant, scenario)) in keys.iter().enumerate() {
            assert_eq!(groups.find(tenant, scenario), Some(idx));
        }
        assert_eq!(groups.find("t1", "vlog_feed"), None);
        let mut ranked: Vec<(&GroupKey, u32)> = groups.iter().map(|g| (&g.key, g.rank)).collect();
        ranked.sort_by_key(|(_, rank)| *rank);
        assert!(
            ranked.windows(2).all(|pair| pair[0].0 < pair[1].0),
            "ranks follow key order"
        );
    }
}
