//! Resolving `apiVersion` + `kind` to an API resource, so scenarios can use
//! any kind the cluster serves (built-ins and CRDs alike) through `kube`'s
//! dynamic API.
//!
//! Results are cached per run. An unknown kind is not cached: right after a
//! CRD is applied its kind may take a moment to appear, and the `apply` verb
//! retries until its deadline.

use std::{collections::BTreeMap, sync::Mutex};

use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, GroupVersionKind},
    discovery::{Scope, oneshot},
};

/// A kind the cluster serves.
#[derive(Debug, Clone)]
pub struct ResolvedKind {
    /// Group, version, kind and plural.
    pub resource: ApiResource,
    /// Whether objects of this kind live in namespaces.
    pub namespaced: bool,
}

/// Why a kind could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The cluster does not serve this kind (yet).
    #[error("the cluster does not serve kind {kind} in {api_version}")]
    UnknownKind {
        /// The apiVersion asked for.
        api_version: String,
        /// The kind asked for.
        kind: String,
    },
    /// Discovery itself failed.
    #[error("discovery of {api_version} failed")]
    DiscoveryFailed {
        /// The apiVersion asked for.
        api_version: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
}

/// Splits `group/version` (or a core `version`) into its parts.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

/// A per-run cache of resolved kinds.
pub struct Kinds {
    client: Client,
    cache: Mutex<BTreeMap<(String, String), ResolvedKind>>,
}

impl Kinds {
    /// An empty cache over `client`.
    pub fn new(client: Client) -> Kinds {
        Kinds {
            client,
            cache: Mutex::new(BTreeMap::new()),
        }
    }

    /// Resolves `kind` in `api_version`, asking the cluster on a cache miss.
    pub async fn resolve(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<ResolvedKind, ResolveError> {
        let key = (api_version.to_owned(), kind.to_owned());
        if let Some(found) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(found.clone());
        }
        let (group, version) = split_api_version(api_version);
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let unknown = || ResolveError::UnknownKind {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
        };
        let (resource, capabilities) = match oneshot::pinned_kind(&self.client, &gvk).await {
            Ok(found) => found,
            Err(kube::Error::Api(status)) if status.code == 404 => return Err(unknown()),
            Err(kube::Error::Discovery(_)) => return Err(unknown()),
            Err(source) => {
                return Err(ResolveError::DiscoveryFailed {
                    api_version: api_version.to_owned(),
                    source,
                });
            }
        };
        let resolved = ResolvedKind {
            resource,
            namespaced: capabilities.scope == Scope::Namespaced,
        };
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, resolved.clone());
        Ok(resolved)
    }

    /// A dynamic API for `kind`: namespaced in `namespace` for namespaced
    /// kinds, cluster-wide otherwise.
    pub fn api(&self, kind: &ResolvedKind, namespace: &str) -> Api<DynamicObject> {
        if kind.namespaced {
            Api::namespaced_with(self.client.clone(), namespace, &kind.resource)
        } else {
            Api::all_with(self.client.clone(), &kind.resource)
        }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}
