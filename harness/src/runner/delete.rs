//! `delete`: delete objects by name or labels, then (by default) wait until
//! they are gone, within the `delete` deadline.

use kube::api::DeleteParams;

use super::{
    apply::judge,
    context::Ctx,
    deadline::{Check, Deadline, until},
    expect,
    objects::{self, Target},
    report::Failure,
};
use crate::scenario::verbs::Delete;

/// Runs a `delete` step; returns notes for the report.
pub(crate) async fn run(
    ctx: &Ctx<'_>,
    delete: &Delete,
    deadline: &Deadline,
) -> Result<Vec<String>, Failure> {
    let target = Target::expanded(
        ctx,
        &delete.api_version,
        &delete.kind,
        delete.name.as_deref(),
        delete.labels.as_ref(),
        delete.namespace.as_deref(),
    )?;
    let expected = expect::expand(ctx, delete.expect.as_ref())?;
    let what = format!("delete of {}", target.describe());
    let note = until(deadline, &what, async || {
        let objects = match objects::fetch(ctx, &target).await {
            Ok(objects) => objects,
            Err(err) => return Check::pending(err.message()),
        };
        if objects.is_empty() && expected.is_none() {
            return Check::Done(None);
        }
        let (api, _) = match objects::api_or_pending(
            ctx,
            &target.api_version,
            &target.kind,
            target.namespace.as_deref(),
        )
        .await
        {
            Ok(found) => found,
            Err(pending) => return pending,
        };
        // With `expect`, a missing named object is asked for anyway: the
        // expected answer may well be that 404.
        let names: Vec<String> = match (&target.name, expected.is_some() && objects.is_empty()) {
            (Some(name), true) => vec![name.clone()],
            _ => objects
                .iter()
                .map(|o| objects::object_name(o).to_owned())
                .collect(),
        };
        for name in names {
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(err)
                    if expected.is_none()
                        && objects::status_of(&err).is_some_and(|s| s.code == 404) => {}
                Err(err) => return judge(Err(err), expected.as_ref(), &what),
            }
        }
        judge(Ok(()), expected.as_ref(), &what)
    })
    .await?;
    if delete.wait && expected.is_none() {
        until(
            deadline,
            &format!("waiting for {} to be gone", target.describe()),
            async || match objects::fetch(ctx, &target).await {
                Ok(objects) if objects.is_empty() => Check::Done(()),
                Ok(objects) => Check::pending(format!(
                    "{} still present",
                    objects
                        .iter()
                        .map(objects::object_name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                Err(err) => Check::pending(err.message()),
            },
        )
        .await?;
    }
    Ok(note.into_iter().collect())
}
