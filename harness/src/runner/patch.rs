//! `patch`: a merge, JSON or strategic patch of one object.
//!
//! A missing object is retried until the `patch` deadline (it may be created
//! asynchronously by a controller); a rejection is final unless expected.

use kube::api::{Patch as KubePatch, PatchParams};

use super::{
    apply::judge,
    context::Ctx,
    deadline::{Deadline, until},
    expect, objects,
    report::Failure,
};
use crate::scenario::verbs::{Patch, PatchType};

/// Runs a `patch` step; returns notes for the report.
pub(crate) async fn run(
    ctx: &Ctx<'_>,
    patch: &Patch,
    deadline: &Deadline,
) -> Result<Vec<String>, Failure> {
    let name = ctx.expand(&patch.name)?;
    let namespace = patch
        .namespace
        .as_deref()
        .map(|n| ctx.expand(n))
        .transpose()?;
    let body = ctx.expand_value(&patch.patch)?;
    let expected = expect::expand(ctx, patch.expect.as_ref())?;
    let what = format!("patch of {}/{name}", patch.kind);
    let note = until(deadline, &what, async || {
        let (api, _) = match objects::api_or_pending(
            ctx,
            &patch.api_version,
            &patch.kind,
            namespace.as_deref(),
        )
        .await
        {
            Ok(found) => found,
            Err(pending) => return pending,
        };
        let params = PatchParams::default();
        let result = match patch.patch_type {
            PatchType::Merge => api
                .patch(&name, &params, &KubePatch::Merge(&body))
                .await
                .map(|_| ()),
            PatchType::Strategic => api
                .patch(&name, &params, &KubePatch::Strategic(&body))
                .await
                .map(|_| ()),
            PatchType::Json => json_patch(ctx, &api, &name, &body).await,
        };
        judge(result, expected.as_ref(), &what)
    })
    .await?;
    Ok(note.into_iter().collect())
}

/// Sends an RFC 6902 patch. kube's typed JSON patch needs an older
/// json-patch crate than the workspace uses, so the request is built here.
async fn json_patch(
    ctx: &Ctx<'_>,
    api: &kube::Api<kube::api::DynamicObject>,
    name: &str,
    body: &serde_json::Value,
) -> Result<(), kube::Error> {
    let url = format!("{}/{name}", api.resource_url());
    let bytes = serde_json::to_vec(body).map_err(kube::Error::SerdeError)?;
    let request = http::Request::patch(url)
        .header(http::header::CONTENT_TYPE, "application/json-patch+json")
        .body(bytes)
        .map_err(kube::Error::HttpError)?;
    ctx.kinds
        .client()
        .request::<serde_json::Value>(request)
        .await
        .map(|_| ())
}
