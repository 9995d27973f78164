//! URL paths to routes: discovery documents, OpenAPI, the simulator's own
//! clock endpoint and resource paths.
//!
//! Resource paths follow the API server's layout:
//! `/api/v1[/namespaces/{ns}]/{plural}[/{name}[/{subresource}]]` and the
//! same under `/apis/{group}/{version}`, plus the deprecated `/watch/`
//! prefix some clients still use. `/api/v1/namespaces/{name}/status` and
//! `/finalize` are subresources of a namespace, not namespaced resources.

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/healthz`, `/livez`, `/readyz` and their sub-checks.
    Health,
    /// `/version`.
    Version,
    /// `/sim/v1/clock`: the simulator's virtual clock.
    Clock,
    /// `/api`: the core group's versions.
    CoreGroup,
    /// `/apis`: every named group.
    Groups,
    /// `/apis/{group}`: one group's versions.
    Group(String),
    /// `/api/v1` or `/apis/{group}/{version}`: the resources served there.
    GroupVersion { group: String, version: String },
    /// `/openapi/v2`.
    OpenApiV2,
    /// `/openapi/v3`: the index of group-version documents.
    OpenApiV3Index,
    /// `/openapi/v3/api/v1` or `/openapi/v3/apis/{group}/{version}`.
    OpenApiV3 { group: String, version: String },
    /// A resource collection, object or subresource.
    Resource(ResourcePath),
    /// Anything else.
    Unknown,
}

/// The coordinates in a resource path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourcePath {
    pub(crate) group: String,
    pub(crate) version: String,
    pub(crate) plural: String,
    /// `Some` when the path was under `/namespaces/{ns}/`.
    pub(crate) namespace: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) subresource: Option<String>,
    /// The path used the deprecated `/watch/` prefix.
    pub(crate) legacy_watch: bool,
}

/// Parses a URL path (without query) into a route.
pub(crate) fn parse(path: &str) -> Route {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["healthz" | "livez" | "readyz", ..] => Route::Health,
        ["version"] => Route::Version,
        ["sim", "v1", "clock"] => Route::Clock,
        ["api"] => Route::CoreGroup,
        ["apis"] => Route::Groups,
        ["apis", group] => Route::Group(group.to_string()),
        ["api", version] => Route::GroupVersion {
            group: String::new(),
            version: version.to_string(),
        },
        ["apis", group, version] => Route::GroupVersion {
            group: group.to_string(),
            version: version.to_string(),
        },
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", "v3"] => Route::OpenApiV3Index,
        ["openapi", "v3", "api", version] => Route::OpenApiV3 {
            group: String::new(),
            version: version.to_string(),
        },
        ["openapi", "v3", "apis", group, version] => Route::OpenApiV3 {
            group: group.to_string(),
            version: version.to_string(),
        },
        ["api", version, rest @ ..] => resource("", version, rest),
        ["apis", group, version, rest @ ..] => resource(group, version, rest),
        _ => Route::Unknown,
    }
}

fn resource(group: &str, version: &str, rest: &[&str]) -> Route {
    let (legacy_watch, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    let (namespace, rest) = match rest {
        // `namespaces/{name}/status|finalize` address the namespace itself.
        ["namespaces", ns, third, ..] if *third != "status" && *third != "finalize" => {
            (Some(ns.to_string()), &rest[2..])
        }
        rest => (None, rest),
    };
    let path = |plural: &str, name: Option<&str>, sub: Option<&str>| {
        Route::Resource(ResourcePath {
            group: group.to_string(),
            version: version.to_string(),
            plural: plural.to_string(),
            namespace: namespace.clone(),
            name: name.map(str::to_string),
            subresource: sub.map(str::to_string),
            legacy_watch,
        })
    };
    match rest {
        [plural] => path(plural, None, None),
        [plural, name] => path(plural, Some(name), None),
        [plural, name, sub] => path(plural, Some(name), Some(sub)),
        _ => Route::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourcePath {
        match parse(path) {
            Route::Resource(rp) => rp,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn discovery_and_special_routes() {
        assert_eq!(parse("/version"), Route::Version);
        assert_eq!(parse("/readyz/ping"), Route::Health);
        assert_eq!(parse("/api"), Route::CoreGroup);
        assert_eq!(parse("/apis/"), Route::Groups);
        assert_eq!(
            parse("/api/v1"),
            Route::GroupVersion {
                group: String::new(),
                version: "v1".into()
            }
        );
        assert_eq!(
            parse("/apis/apps/v1"),
            Route::GroupVersion {
                group: "apps".into(),
                version: "v1".into()
            }
        );
        assert_eq!(
            parse("/openapi/v3/apis/apps/v1"),
            Route::OpenApiV3 {
                group: "apps".into(),
                version: "v1".into()
            }
        );
        assert_eq!(parse("/sim/v1/clock"), Route::Clock);
        assert_eq!(parse("/nope"), Route::Unknown);
    }

    #[test]
    fn resource_paths() {
        let rp = res("/api/v1/namespaces/ns/pods/p/status");
        assert_eq!(
            (
                rp.namespace.as_deref(),
                rp.plural.as_str(),
                rp.name.as_deref(),
                rp.subresource.as_deref()
            ),
            (Some("ns"), "pods", Some("p"), Some("status"))
        );
        let rp = res("/api/v1/namespaces/ns");
        assert_eq!(
            (rp.namespace, rp.plural.as_str(), rp.name.as_deref()),
            (None, "namespaces", Some("ns"))
        );
        let rp = res("/api/v1/namespaces/ns/finalize");
        assert_eq!(
            (rp.name.as_deref(), rp.subresource.as_deref()),
            (Some("ns"), Some("finalize"))
        );
        let rp = res("/apis/flink.apache.org/v1beta1/namespaces/x/flinkdeployments");
        assert_eq!(
            (rp.group.as_str(), rp.namespace.as_deref(), rp.name),
            ("flink.apache.org", Some("x"), None)
        );
        let rp = res("/api/v1/watch/namespaces/ns/pods/p");
        assert!(rp.legacy_watch);
        assert_eq!(rp.name.as_deref(), Some("p"));
        let rp = res("/api/v1/pods");
        assert_eq!((rp.namespace, rp.name), (None, None));
        assert_eq!(
            parse("/api/v1/namespaces/ns/pods/p/status/extra"),
            Route::Unknown
        );
    }
}
