//! Item hot scores: 1 h windows sliding every 15 min per (tenant, scenario, item)
//! over VIEW, LIKE and SHARE events, `score = 1·view + 2·like + 3·share`, and the
//! top N items per (tenant, scenario, window).
//!
//! State is kept per 15-minute pane and summed over the window's four panes when
//! it fires, so each event costs one map update however many windows hold it.
//! Adding a partly late event to its pane is exact: the windows it is late for
//! have already fired, so the pane only feeds the windows it is on time for.
//!
//! Optional exponential decay weighs each event by `2^(-age / half_life)` with
//! `age = window_end - timestamp`. It stays exact with panes because the weight
//! factors: each pane keeps its events' weights relative to the pane's end, and
//! the window scales each pane's sum by `2^(-(window_end - pane_end) / half_life)`.
//! Decay is off by default, which gives the plain integer sum the oracle checks.

use std::{collections::VecDeque, num::NonZeroU64};

use serde::{Deserialize, Serialize};

use crate::{
    event::Action,
    features::{GroupKey, counts_plausible, ranking::RankKey, window_entry},
    hash::{FxHashMap, IdKey, IdRef, id_text, update_id},
    window::HOT_WINDOW,
};

/// One firing of the hot-item computation: the top items of one
/// (tenant, scenario, window), best first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HotItems {
    /// The tenant.
    pub tenant_id: String,
    /// The scenario.
    pub scenario_id: String,
    /// The window's start, epoch ms.
    pub window_start: i64,
    /// The window's end (exclusive), epoch ms.
    pub window_end: i64,
    /// At most `hot_top_n` items by score descending, ties by `item_id` ascending;
    /// the rank of `items[i]` is `i + 1`.
    pub items: Vec<HotItem>,
}

/// An item and its score in a window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HotItem {
    /// The item.
    pub item_id: String,
    /// `1·view + 2·like + 3·share`, decayed by age when configured.
    pub score: f64,
}

/// One line of `item_hot.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HotItemRow {
    /// The tenant.
    pub tenant_id: String,
    /// The scenario.
    pub scenario_id: String,
    /// The window's end (exclusive), epoch ms.
    pub window_end: i64,
    /// 1 for the hottest item.
    pub rank: u32,
    /// The item.
    pub item_id: String,
    /// See [`HotItem::score`].
    pub score: f64,
}

impl HotItems {
    /// The ranked rows of `item_hot.jsonl` for this firing.
    pub fn rows(&self) -> impl Iterator<Item = HotItemRow> + '_ {
        self.items.iter().enumerate().map(|(idx, item)| HotItemRow {
            tenant_id: self.tenant_id.clone(),
            scenario_id: self.scenario_id.clone(),
            window_end: self.window_end,
            rank: u32::try_from(idx + 1).unwrap_or(u32::MAX),
            item_id: item.item_id.clone(),
            score: item.score,
        })
    }
}

/// The weight of an event `age_ms` old: `2^(-age / half_life)`.
pub fn decay_weight(age_ms: i64, half_life_ms: NonZeroU64) -> f64 {
    (-(age_ms as f64) / half_life_ms.get() as f64).exp2()
}

/// Per-item counts in one pane.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ItemCounts {
    view: u64,
    like: u64,
    share: u64,
    /// Decayed weighted sum relative to the pane's end, stored as `f64` bits so
    /// a checkpoint round-trips exactly (serde_json's default float parsing may
    /// be one ulp off). Zero when decay is off.
    decayed_bits: u64,
}

impl ItemCounts {
    fn add(&mut self, action: Action, decayed: f64) {
        match action {
            Action::View => self.view += 1,
            Action::Like => self.like += 1,
            Action::Share => self.share += 1,
            Action::Click | Action::Impression => return,
        }
        if decayed != 0.0 {
            self.decayed_bits = (f64::from_bits(self.decayed_bits) + decayed).to_bits();
        }
    }

    fn plausible(&self) -> bool {
        counts_plausible(&[self.view, self.like, self.share])
            && f64::from_bits(self.decayed_bits).is_finite()
    }

    fn plain_score(self) -> u64 {
        self.view + 2 * self.like + 3 * self.share
    }
}

fn action_weight(action: Action) -> f64 {
    match action {
        Action::View => 1.0,
        Action::Like => 2.0,
        Action::Share => 3.0,
        Action::Click | Action::Impression => 0.0,
    }
}

/// How hot-item windows are ranked.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HotConfig {
    pub(crate) top_n: usize,
    pub(crate) half_life_ms: Option<NonZeroU64>,
}

/// The open panes of one group, sorted by start.
#[derive(Debug, Default)]
pub(crate) struct HotState {
    panes: VecDeque<Pane>,
    /// The emptied map of the last dropped pane: the next pane starts with its
    /// capacity instead of growing (and rehashing) from nothing.
    spare: FxHashMap<IdKey, ItemCounts>,
}

#[derive(Debug)]
struct Pane {
    start: i64,
    items: FxHashMap<IdKey, ItemCounts>,
}

/// A pane of [`HotState`] in a checkpoint, items sorted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct PaneSnapshot {
    start: i64,
    items: Vec<(String, ItemCounts)>,
}

impl HotState {
    /// Counts an engagement event in its pane, which starts at `start`
    /// (`HOT_WINDOW.pane_start(timestamp)`, which the caller has already).
    /// Allocates only when the pane first sees a long item id.
    pub(crate) fn add(
        &mut self,
        start: i64,
        timestamp: i64,
        item_id: &str,
        action: Action,
        half_life_ms: Option<NonZeroU64>,
    ) {
        debug_assert_eq!(start, HOT_WINDOW.pane_start(timestamp));
        let decayed = match half_life_ms {
            None => 0.0,
            Some(half_life) => {
                action_weight(action)
                    * decay_weight(start + HOT_WINDOW.slide_ms() - timestamp, half_life)
            }
        };
        let spare = &mut self.spare;
        let pane = window_entry(
            &mut self.panes,
            start,
            |p| p.start,
            || Pane {
                start,
                items: std::mem::take(spare),
            },
        );
        update_id(&mut pane.items, item_id, |counts| {
            counts.add(action, decayed)
        });
    }

    /// Fires every window whose last millisecond lies in `(previous, watermark]`
    /// and has at least one item, in window order, then drops the panes no open
    /// window needs; returns how many windows fired.
    pub(crate) fn fire(
        &mut self,
        previous: i64,
        watermark: i64,
        group: &GroupKey,
        config: HotConfig,
        emit: &mut impl FnMut(HotItems),
    ) -> u64 {
        let slide = HOT_WINDOW.slide_ms();
        let due = |start: i64| {
            let last = HOT_WINDOW.window_at(start).max_timestamp();
            previous < last && last <= watermark
        };
        let mut starts: Vec<i64> = Vec::new();
        for pane in &self.panes {
            for back in 0..HOT_WINDOW.windows_per_timestamp() {
                let start = pane.start - back * slide;
                if due(start) {
                    starts.push(start);
                }
            }
        }
        starts.sort_unstable();
        starts.dedup();
        let mut fired = 0;
        if config.top_n > 0 {
            for start in starts {
                emit(self.rank_window(start, group, config));
                fired += 1;
            }
        }
        while self
            .panes
            .front()
            .is_some_and(|pane| HOT_WINDOW.window_at(pane.start).max_timestamp() <= watermark)
        {
            if let Some(mut pane) = self.panes.pop_front()
                && pane.items.capacity() > self.spare.capacity()
            {
                pane.items.clear();
                self.spare = pane.items;
            }
        }
        fired
    }

    fn rank_window(&self, start: i64, group: &GroupKey, config: HotConfig) -> HotItems {
        let window = HOT_WINDOW.window_at(start);
        let decayed = config.half_life_ms.is_some();
        let score = |counts: &ItemCounts, pane_scale: f64| {
            if decayed {
                f64::from_bits(counts.decayed_bits) * pane_scale
            } else {
                counts.plain_score() as f64
            }
        };
        let pane_scale = |pane: &Pane| {
            config.half_life_ms.map_or(0.0, |half_life| {
                decay_weight(window.end - (pane.start + HOT_WINDOW.slide_ms()), half_life)
            })
        };
        let panes: Vec<&Pane> = self
            .panes
            .iter()
            .filter(|pane| window.contains(pane.start))
            .collect();
        let ranked: Vec<(&[u8], f64)> = if let [pane] = panes.as_slice() {
            // One pane (the first and last windows of a stream): no merge needed.
            let scale = pane_scale(pane);
            pane.items
                .iter()
                .map(|(item, counts)| (item.as_bytes(), score(counts, scale)))
                .collect()
        } else {
            // Sized for the worst case (no item in two panes), so the merge
            // never rehashes.
            let capacity = panes.iter().map(|pane| pane.items.len()).sum();
            let mut totals: FxHashMap<IdRef<'_>, f64> =
                FxHashMap::with_capacity_and_hasher(capacity, Default::default());
            for pane in panes {
                let scale = pane_scale(pane);
                for (item, counts) in &pane.items {
                    // Integer sums stay exact in f64 far beyond any realistic count.
                    *totals.entry(IdRef(item.as_bytes())).or_default() += score(counts, scale);
                }
            }
            totals
                .into_iter()
                .map(|(item, total)| (item.0, total))
                .collect()
        };
        let mut keys: Vec<RankKey> = ranked
            .iter()
            .enumerate()
            .map(|(idx, (item, score))| RankKey::new(item, *score, idx as u32))
            .collect();
        let order =
            |left: &RankKey, right: &RankKey| left.cmp_by(right, |idx| ranked[idx as usize].0);
        if keys.len() > config.top_n {
            keys.select_nth_unstable_by(config.top_n - 1, order);
            keys.truncate(config.top_n);
        }
        keys.sort_unstable_by(order);
        HotItems {
            tenant_id: group.tenant_id.to_string(),
            scenario_id: group.scenario_id.to_string(),
            window_start: window.start,
            window_end: window.end,
            items: keys
                .iter()
                .map(|key| {
                    let (item, score) = ranked[key.idx as usize];
                    HotItem {
                        item_id: id_text(item),
                        score,
                    }
                })
                .collect(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.panes.is_empty()
    }

    pub(crate) fn snapshot(&self) -> Vec<PaneSnapshot> {
        self.panes
            .iter()
            .map(|pane| {
                let mut items: Vec<(String, ItemCounts)> = pane
                    .items
                    .iter()
                    .map(|(item, counts)| (item.to_text(), *counts))
                    .collect();
                items.sort_unstable_by(|left, right| left.0.cmp(&right.0));
                PaneSnapshot {
                    start: pane.start,
                    items,
                }
            })
            .collect()
    }

    pub(crate) fn restore(
        snapshots: Vec<PaneSnapshot>,
        watermark: i64,
    ) -> Result<HotState, String> {
        let mut state = HotState::default();
        for snapshot in snapshots {
            if !HOT_WINDOW.is_start(snapshot.start) {
                return Err(format!(
                    "hot-item pane start {} is not a pane start (aligned to 15 min, year 9999 at most)",
                    snapshot.start
                ));
            }
            if state.panes.iter().any(|p| p.start == snapshot.start) {
                return Err(format!("hot-item pane {} appears twice", snapshot.start));
            }
            if HOT_WINDOW.window_at(snapshot.start).max_timestamp() <= watermark {
                return Err(format!(
                    "hot-item pane {} should already have been dropped",
                    snapshot.start
                ));
            }
            if let Some((item, _)) = snapshot.items.iter().find(|(_, c)| !c.plausible()) {
                return Err(format!(
                    "item {item:?} has an implausible count in pane {}",
                    snapshot.start
                ));
            }
            let items: FxHashMap<IdKey, ItemCounts> = snapshot
                .items
                .into_iter()
                .map(|(item, counts)| (IdKey::new(&item), counts))
                .collect();
            window_entry(
                &mut state.panes,
                snapshot.start,
                |p| p.start,
                || Pane {
                    start: snapshot.start,
                    items,
                },
            );
        }
        Ok(state)
    }
}
