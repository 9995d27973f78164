//! User real-time features: 1 h tumbling windows per (tenant, scenario, user)
//! over VIEW, LIKE and SHARE events: three counts and the active period.
//!
//! A user with no VIEW/LIKE/SHARE in a window has no row for it (CLICK and
//! IMPRESSION events never open a user window).

use std::{
    collections::VecDeque,
    hash::{BuildHasher, BuildHasherDefault},
};

use serde::{Deserialize, Serialize};

use crate::{
    event::Action,
    features::{GroupKey, counts_plausible, window_entry},
    hash::{FxHashMap, FxHasher, IdKey, update_id},
    window::{HOUR_MS, USER_WINDOW},
};

/// The part of the day a user was active in. All events of a 1 h window share
/// the window's hour, so the period is that of the window's start hour in the
/// configured UTC offset (default +00:00): `morning` 05:00–11:59, `midday`
/// 12:00–17:59, `evening` 18:00–04:59. The seed names only these three periods,
/// so the night folds into `evening`. With an offset that is not a whole number
/// of hours the local start (e.g. 05:30) is used, by its hour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActivePeriod {
    /// 05:00–11:59 local time.
    Morning,
    /// 12:00–17:59 local time.
    Midday,
    /// 18:00–04:59 local time (evening and night).
    Evening,
}

impl ActivePeriod {
    /// The value written to Redis and the JSON lines (`morning`, `midday`, `evening`).
    pub fn as_str(self) -> &'static str {
        match self {
            ActivePeriod::Morning => "morning",
            ActivePeriod::Midday => "midday",
            ActivePeriod::Evening => "evening",
        }
    }
}

/// The active period of a window starting at `window_start` (epoch ms), seen
/// from a timezone `utc_offset_minutes` east of UTC.
pub fn active_period(window_start: i64, utc_offset_minutes: i32) -> ActivePeriod {
    const DAY_MS: i64 = 24 * HOUR_MS;
    let local = window_start.saturating_add(i64::from(utc_offset_minutes) * 60_000);
    match local.rem_euclid(DAY_MS) / HOUR_MS {
        5..=11 => ActivePeriod::Morning,
        12..=17 => ActivePeriod::Midday,
        _ => ActivePeriod::Evening,
    }
}

/// One row of user features: a user's counts in one window.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UserFeatures {
    /// The tenant.
    pub tenant_id: String,
    /// The scenario.
    pub scenario_id: String,
    /// The user.
    pub user_id: String,
    /// The window's start, epoch ms.
    pub window_start: i64,
    /// The window's end (exclusive), epoch ms.
    pub window_end: i64,
    /// VIEW events in the window.
    pub view: u64,
    /// LIKE events in the window.
    pub like: u64,
    /// SHARE events in the window.
    pub share: u64,
    /// See [`ActivePeriod`].
    pub active_period: ActivePeriod,
}

/// The sort key of a user's row within its window: the plain Fx hash of the
/// id (not the maps' [`crate::hash::TableHasher`]). Row order is part of the
/// output, so this function must not change.
fn id_order(id: &IdKey) -> u64 {
    BuildHasherDefault::<FxHasher>::default().hash_one(id)
}

/// VIEW/LIKE/SHARE counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EngagementCounts {
    pub(crate) view: u64,
    pub(crate) like: u64,
    pub(crate) share: u64,
}

impl EngagementCounts {
    pub(crate) fn add(&mut self, action: Action) {
        match action {
            Action::View => self.view += 1,
            Action::Like => self.like += 1,
            Action::Share => self.share += 1,
            Action::Click | Action::Impression => {}
        }
    }
}

/// The open user-feature windows of one group, sorted by start.
#[derive(Debug, Default)]
pub(crate) struct UserState {
    windows: VecDeque<UserWindow>,
    /// The emptied map of the last fired window: the next window starts with
    /// its capacity instead of growing (and rehashing) from nothing.
    spare: FxHashMap<IdKey, EngagementCounts>,
}

#[derive(Debug)]
struct UserWindow {
    start: i64,
    users: FxHashMap<IdKey, EngagementCounts>,
}

/// A window of [`UserState`] in a checkpoint, users sorted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UserWindowSnapshot {
    start: i64,
    users: Vec<(String, EngagementCounts)>,
}

impl UserState {
    /// Counts an engagement event in the window starting at `start`. Allocates
    /// only when the window first sees a long user id.
    pub(crate) fn add(&mut self, start: i64, user_id: &str, action: Action) {
        let spare = &mut self.spare;
        let window = window_entry(
            &mut self.windows,
            start,
            |w| w.start,
            || UserWindow {
                start,
                users: std::mem::take(spare),
            },
        );
        update_id(&mut window.users, user_id, |counts| counts.add(action));
    }

    /// Fires every window whose last millisecond the watermark has reached;
    /// returns how many fired.
    pub(crate) fn fire(
        &mut self,
        watermark: i64,
        group: &GroupKey,
        utc_offset_minutes: i32,
        emit: &mut impl FnMut(UserFeatures),
    ) -> u64 {
        let mut fired = 0;
        while let Some(window) = self.windows.front() {
            if USER_WINDOW.window_at(window.start).max_timestamp() > watermark {
                break;
            }
            let Some(mut window) = self.windows.pop_front() else {
                break;
            };
            let bounds = USER_WINDOW.window_at(window.start);
            let period = active_period(window.start, utc_offset_minutes);
            // Rows come in an order that depends only on the user ids (their
            // hash, then their bytes), never on arrival order or restores.
            // A window can hold many thousands of users, so what is sorted is
            // (hash, index) pairs: comparing integers and moving 16 bytes is
            // several times cheaper than comparing ids and moving whole entries.
            let users: Vec<(IdKey, EngagementCounts)> = window.users.drain().collect();
            let mut order: Vec<(u64, u32)> = users
                .iter()
                .enumerate()
                .map(|(idx, (user_id, _))| (id_order(user_id), idx as u32))
                .collect();
            order.sort_unstable_by(|left, right| {
                left.0.cmp(&right.0).then_with(|| {
                    let left_id = users[left.1 as usize].0.as_bytes();
                    left_id.cmp(users[right.1 as usize].0.as_bytes())
                })
            });
            for (_, idx) in order {
                let (user_id, counts) = &users[idx as usize];
                emit(UserFeatures {
                    tenant_id: group.tenant_id.to_string(),
                    scenario_id: group.scenario_id.to_string(),
                    user_id: user_id.to_text(),
                    window_start: bounds.start,
                    window_end: bounds.end,
                    view: counts.view,
                    like: counts.like,
                    share: counts.share,
                    active_period: period,
                });
            }
            if window.users.capacity() > self.spare.capacity() {
                self.spare = window.users;
            }
            fired += 1;
        }
        fired
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    pub(crate) fn snapshot(&self) -> Vec<UserWindowSnapshot> {
        self.windows
            .iter()
            .map(|window| {
                let mut users: Vec<(String, EngagementCounts)> = window
                    .users
                    .iter()
                    .map(|(user, counts)| (user.to_text(), *counts))
                    .collect();
                users.sort_unstable_by(|left, right| left.0.cmp(&right.0));
                UserWindowSnapshot {
                    start: window.start,
                    users,
                }
            })
            .collect()
    }

    pub(crate) fn restore(
        snapshots: Vec<UserWindowSnapshot>,
        watermark: i64,
    ) -> Result<UserState, String> {
        let mut state = UserState::default();
        for snapshot in snapshots {
            if !USER_WINDOW.is_start(snapshot.start) {
                return Err(format!(
                    "user window start {} is not a window start (aligned to 1 h, year 9999 at most)",
                    snapshot.start
                ));
            }
            if state.windows.iter().any(|w| w.start == snapshot.start) {
                return Err(format!("user window {} appears twice", snapshot.start));
            }
            if USER_WINDOW.window_at(snapshot.start).max_timestamp() <= watermark {
                return Err(format!(
                    "user window {} should already have fired",
                    snapshot.start
                ));
            }
            if let Some((user, _)) = snapshot
                .users
                .iter()
                .find(|(_, c)| !counts_plausible(&[c.view, c.like, c.share]))
            {
                return Err(format!(
                    "user {user:?} has an implausible count in window {}",
                    snapshot.start
                ));
            }
            let users: FxHashMap<IdKey, EngagementCounts> = snapshot
                .users
                .into_iter()
                .map(|(user, counts)| (IdKey::new(&user), counts))
                .collect();
            window_entry(
                &mut state.windows,
                snapshot.start,
                |w| w.start,
                || UserWindow {
                    start: snapshot.start,
                    users,
                },
            );
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_period_boundaries_in_utc() {
        let day = 20_000 * 24 * HOUR_MS;
        let period = |hour: i64| active_period(day + hour * HOUR_MS, 0);
        assert_eq!(period(4), ActivePeriod::Evening);
        assert_eq!(period(5), ActivePeriod::Morning);
        assert_eq!(period(11), ActivePeriod::Morning);
        assert_eq!(period(12), ActivePeriod::Midday);
        assert_eq!(period(17), ActivePeriod::Midday);
        assert_eq!(period(18), ActivePeriod::Evening);
        assert_eq!(period(23), ActivePeriod::Evening);
        assert_eq!(period(0), ActivePeriod::Evening);
    }

    #[test]
    fn active_period_follows_the_configured_offset() {
        let day = 20_000 * 24 * HOUR_MS;
        // 03:00 UTC is 11:00 at +08:00 (morning) and 22:00 the day before at -05:00.
        assert_eq!(
            active_period(day + 3 * HOUR_MS, 8 * 60),
            ActivePeriod::Morning
        );
        assert_eq!(
            active_period(day + 3 * HOUR_MS, -5 * 60),
            ActivePeriod::Evening
        );
        // 04:00 UTC is 09:30 at +05:30: the morning.
        assert_eq!(
            active_period(day + 4 * HOUR_MS, 5 * 60 + 30),
            ActivePeriod::Morning
        );
        // Before the epoch the day still wraps correctly: -1 h is 23:00.
        assert_eq!(active_period(-HOUR_MS, 0), ActivePeriod::Evening);
        assert_eq!(active_period(-HOUR_MS, 6 * 60), ActivePeriod::Morning);
    }

    #[test]
    fn counts_per_user_and_fires_in_window_order() {
        let group = GroupKey {
            tenant_id: "t".into(),
            scenario_id: "s".into(),
        };
        let mut state = UserState::default();
        state.add(HOUR_MS, "bob", Action::View);
        state.add(0, "bob", Action::Like);
        state.add(0, "alice", Action::Share);
        state.add(0, "bob", Action::View);
        state.add(0, "bob", Action::Click);
        let mut out = Vec::new();
        assert_eq!(
            state.fire(HOUR_MS - 2, &group, 0, &mut |row| out.push(row)),
            0,
            "the first window needs the watermark at 3,599,999"
        );
        assert_eq!(
            state.fire(HOUR_MS - 1, &group, 0, &mut |row| out.push(row)),
            1
        );
        let rows: Vec<(&str, i64, u64, u64, u64)> = out
            .iter()
            .map(|r| (r.user_id.as_str(), r.window_start, r.view, r.like, r.share))
            .collect();
        assert_eq!(rows, vec![("alice", 0, 0, 0, 1), ("bob", 0, 1, 1, 0)]);
        assert!(!state.is_empty());
        assert_eq!(state.fire(i64::MAX, &group, 0, &mut |row| out.push(row)), 1);
        assert_eq!(
            out.last()
                .map(|r| (r.user_id.as_str(), r.window_end, r.view)),
            Some(("bob", 2 * HOUR_MS, 1))
        );
        assert!(state.is_empty());
    }

    #[test]
    fn snapshots_restore_to_the_same_state_and_bad_ones_are_refused() {
        let mut state = UserState::default();
        state.add(0, "b", Action::View);
        state.add(0, "a", Action::Share);
        state.add(HOUR_MS, "a", Action::Like);
        let snapshot = state.snapshot();
        let restored = UserState::restore(snapshot.clone(), 0).map(|s| s.snapshot());
        assert_eq!(restored, Ok(snapshot.clone()));
        let misaligned = vec![UserWindowSnapshot {
            start: 5,
            users: vec![],
        }];
        assert!(UserState::restore(misaligned, 0).is_err());
        let doubled = vec![snapshot[0].clone(), snapshot[0].clone()];
        assert!(UserState::restore(doubled, 0).is_err());
        assert!(
            UserState::restore(snapshot, HOUR_MS - 1).is_err(),
            "the first window is due at 3,599,999"
        );
    }
}
