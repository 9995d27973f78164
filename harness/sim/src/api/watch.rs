//! Watch: a stream of newline-delimited JSON events
//! (`{"type":"ADDED","object":{...}}`) for one kind, as `?watch=true` asks.
//!
//! Start points follow the API server: no `resourceVersion` (or `0`) sends
//! the current objects as synthetic `ADDED` events first; a resourceVersion
//! resumes after it from the store's change history, and one older than the
//! history gets a single `ERROR` event carrying a 410 `Expired` Status.
//! `sendInitialEvents=true` ends the initial events with a BOOKMARK annotated
//! `k8s.io/initial-events-end`. With `allowWatchBookmarks` a BOOKMARK with
//! the current resourceVersion is sent every [`BOOKMARK_INTERVAL`] of real
//! time. `timeoutSeconds` (real seconds; default 30 minutes) ends the stream.
//!
//! With label or field selectors, an object that starts matching is sent as
//! `ADDED` and one that stops matching as `DELETED`, as the API server does.
//! When resuming from a resourceVersion, which objects matched at that
//! version is approximated by which match now.
//!
//! A stream holds no lock while it waits: it sleeps on the shared
//! resourceVersion channel and reads the history when that moves.

use std::{collections::BTreeSet, convert::Infallible, sync::Arc, time::Duration};

use bytes::Bytes;
use futures::Stream;
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::{sync::watch, time::Instant};

use super::{
    read::Selection,
    request::{Query, Representation},
    state::Shared,
};
use crate::{
    clock::SimTime,
    error::ApiError,
    resource::ResourceType,
    store::{ChangeType, ObjectKey},
    table::IncludeObject,
};

/// Real time between periodic bookmarks.
pub(crate) const BOOKMARK_INTERVAL: Duration = Duration::from_secs(5);
/// The stream length when the client gives no `timeoutSeconds`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// Where a watch starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Start {
    /// Current objects as ADDED events, then changes.
    Current { initial_events_end: bool },
    /// Changes after this resourceVersion.
    After(u64),
}

/// A validated watch request.
#[derive(Debug, Clone)]
pub(crate) struct WatchRequest {
    pub(crate) rt: ResourceType,
    pub(crate) selection: Selection,
    /// The object name of a `/watch/.../{name}` path.
    pub(crate) name: Option<String>,
    pub(crate) start: Start,
    pub(crate) bookmarks: bool,
    pub(crate) timeout: Duration,
    pub(crate) repr: Representation,
    pub(crate) include: IncludeObject,
}

impl WatchRequest {
    /// Reads the watch parameters of a query.
    pub(crate) fn from_query(
        rt: ResourceType,
        selection: Selection,
        name: Option<String>,
        query: &Query,
        repr: Representation,
        include: IncludeObject,
    ) -> Result<WatchRequest, ApiError> {
        let start = match query.non_empty("resourceVersion") {
            _ if query.flag("sendInitialEvents") => Start::Current {
                initial_events_end: true,
            },
            None | Some("0") => Start::Current {
                initial_events_end: false,
            },
            Some(text) => Start::After(text.parse().map_err(|_| {
                ApiError::bad_request(format!(
                    "resourceVersion: Invalid value: \"{text}\": must be a valid resource version"
                ))
            })?),
        };
        let timeout = match query.non_empty("timeoutSeconds") {
            Some(text) => Duration::from_secs(text.parse().map_err(|_| {
                ApiError::bad_request(format!("timeoutSeconds: Invalid value: \"{text}\""))
            })?),
            None => DEFAULT_TIMEOUT,
        };
        Ok(WatchRequest {
            rt,
            selection,
            name,
            start,
            bookmarks: query.flag("allowWatchBookmarks"),
            timeout,
            repr,
            include,
        })
    }

    fn in_scope(&self, key: &ObjectKey) -> bool {
        key.group == self.rt.group
            && key.plural == self.rt.plural
            && self
                .selection
                .namespace
                .as_deref()
                .is_none_or(|ns| key.namespace == ns)
            && self.name.as_deref().is_none_or(|name| key.name == name)
    }

    fn selective(&self) -> bool {
        !self.selection.labels.is_empty() || !self.selection.fields.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Starting,
    Streaming,
    Done,
}

/// The state of one watch stream.
struct Watcher {
    shared: Arc<Shared>,
    req: WatchRequest,
    revisions: watch::Receiver<u64>,
    last_rv: u64,
    /// Keys the client currently believes match (only with selectors).
    members: BTreeSet<ObjectKey>,
    deadline: Instant,
    next_bookmark: Instant,
    phase: Phase,
}

/// One event line.
fn event_line(type_: &str, object: Value) -> Vec<u8> {
    let mut line =
        serde_json::to_vec(&json!({"type": type_, "object": object})).unwrap_or_default();
    line.push(b'\n');
    line
}

impl Watcher {
    fn render(&self, obj: &Value, now: SimTime) -> Value {
        super::read::render_object(&self.req.rt, obj, &self.req.repr, self.req.include, now)
    }

    fn bookmark(&self, rv: u64, initial_events_end: bool) -> Vec<u8> {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        event_line(
            "BOOKMARK",
            json!({"kind": self.req.rt.kind, "apiVersion": self.req.rt.api_version(), "metadata": metadata}),
        )
    }

    fn error_event(err: &ApiError) -> Vec<u8> {
        event_line("ERROR", err.to_status())
    }

    /// The initial events (or the 410 error) of the stream.
    fn start(&mut self) -> Vec<u8> {
        self.revisions.borrow_and_update();
        let shared = self.shared.clone();
        shared.with_cluster(|cluster, now| {
            let rt = &self.req.rt;
            match self.req.start.clone() {
                Start::After(rv) => {
                    if let Err(err) = cluster.store.changes_since(rv) {
                        self.phase = Phase::Done;
                        return Self::error_event(&err);
                    }
                    self.last_rv = rv;
                    if self.req.selective() {
                        self.members = self
                            .req
                            .selection
                            .select(&cluster.store, rt)
                            .iter()
                            .map(|obj| key_of(rt, obj))
                            .filter(|key| self.req.in_scope(key))
                            .collect();
                    }
                    Vec::new()
                }
                Start::Current { initial_events_end } => {
                    let mut out = Vec::new();
                    for obj in self.req.selection.select(&cluster.store, rt) {
                        let key = key_of(rt, &obj);
                        if !self.req.in_scope(&key) {
                            continue;
                        }
                        out.extend(event_line("ADDED", self.render(&obj, now)));
                        self.members.insert(key);
                    }
                    self.last_rv = cluster.store.resource_version();
                    if initial_events_end && self.req.bookmarks {
                        out.extend(self.bookmark(self.last_rv, true));
                    }
                    out
                }
            }
        })
    }

    /// Events for changes since `last_rv`; ends the stream when the kind is
    /// no longer served or the history was lost.
    fn poll(&mut self) -> Vec<u8> {
        self.revisions.borrow_and_update();
        let shared = self.shared.clone();
        shared.with_cluster(|cluster, now| {
            let rt = &self.req.rt;
            if cluster
                .registry
                .get(&rt.group, &rt.version, &rt.plural)
                .is_none()
            {
                self.phase = Phase::Done;
                return Vec::new();
            }
            let changes = match cluster.store.changes_since(self.last_rv) {
                Ok(changes) => changes,
                Err(err) => {
                    self.phase = Phase::Done;
                    return Self::error_event(&err);
                }
            };
            let mut out = Vec::new();
            for change in changes {
                if !self.req.in_scope(&change.key) {
                    continue;
                }
                let event_type = if self.req.selective() {
                    let matches = change.type_ != ChangeType::Deleted
                        && self.req.selection.matches(rt, &change.object);
                    let member = self.members.contains(&change.key);
                    match (change.type_, matches, member) {
                        (ChangeType::Deleted, _, true) | (_, false, true) => {
                            self.members.remove(&change.key);
                            "DELETED"
                        }
                        (_, true, false) => {
                            self.members.insert(change.key.clone());
                            "ADDED"
                        }
                        (_, true, true) => "MODIFIED",
                        _ => continue,
                    }
                } else {
                    change.type_.as_str()
                };
                out.extend(event_line(event_type, self.render(&change.object, now)));
            }
            self.last_rv = cluster.store.resource_version();
            out
        })
    }

    /// The next non-empty chunk of the stream, or `None` when it ends.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            match self.phase {
                Phase::Done => return None,
                Phase::Starting => {
                    self.phase = Phase::Streaming;
                    let chunk = self.start();
                    if !chunk.is_empty() {
                        return Some(Bytes::from(chunk));
                    }
                }
                Phase::Streaming => {
                    let chunk = self.poll();
                    if !chunk.is_empty() {
                        return Some(Bytes::from(chunk));
                    }
                    if self.phase == Phase::Done {
                        return None;
                    }
                    tokio::select! {
                        changed = self.revisions.changed() => {
                            if changed.is_err() {
                                self.phase = Phase::Done;
                            }
                        }
                        _ = tokio::time::sleep_until(self.deadline) => self.phase = Phase::Done,
                        _ = tokio::time::sleep_until(self.next_bookmark), if self.req.bookmarks => {
                            self.next_bookmark = Instant::now() + BOOKMARK_INTERVAL;
                            return Some(Bytes::from(self.bookmark(self.last_rv, false)));
                        }
                    }
                }
            }
        }
    }
}

fn key_of(rt: &ResourceType, obj: &Value) -> ObjectKey {
    ObjectKey::new(
        rt,
        obj["metadata"]["namespace"].as_str().unwrap_or_default(),
        obj["metadata"]["name"].as_str().unwrap_or_default(),
    )
}

/// The body stream of a watch response.
pub(crate) fn stream(
    shared: Arc<Shared>,
    req: WatchRequest,
) -> impl Stream<Item = Result<Frame<Bytes>, Infallible>> + Send {
    let now = Instant::now();
    let watcher = Watcher {
        revisions: shared.subscribe(),
        shared,
        deadline: now + req.timeout,
        next_bookmark: now + BOOKMARK_INTERVAL,
        req,
        last_rv: 0,
        members: BTreeSet::new(),
        phase: Phase::Starting,
    };
    futures::stream::unfold(watcher, |mut watcher| async move {
        let chunk = watcher.next_chunk().await?;
        Some((Ok(Frame::data(chunk)), watcher))
    })
}
