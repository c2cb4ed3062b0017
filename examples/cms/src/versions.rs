//! An article's version history, beyond the RealWorld spec: every edit is an event holding
//! the whole new content, so each version can be listed, read, compared with another and
//! restored (as a new version: nothing recorded is rewritten).

use std::collections::BTreeMap;
use std::sync::Arc;

use allframe::auth::Auth;
use allframe::openapi::routing::{get, post};
use allframe::openapi::{JsonSchema, schemars};
use allframe::{Json, Path, Problem, Router, State};
use serde::{Deserialize, Serialize};
use similar::TextDiff;

use crate::AppState;
use crate::api::{App, ArticleReply, Reply, Slug, edit_article, viewer};
use crate::domain::Content;
use crate::error::CmsError;
use crate::views::{ArticleRow, ReadModel, Version};

#[derive(Debug, Deserialize, JsonSchema)]
struct VersionPath {
    slug: String,
    version: usize,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct DiffPath {
    slug: String,
    /// Named as in the other version routes, which share the segment.
    #[serde(rename = "version")]
    from: usize,
    to: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct VersionOut {
    version: usize,
    title: String,
    /// Left out of the list, as the spec's article lists leave out bodies.
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag_list: Option<Vec<String>>,
    created_at: String,
    /// The username of whoever wrote this version.
    author: String,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct VersionsReply {
    versions: Vec<VersionOut>,
    versions_count: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
struct VersionReply {
    version: VersionOut,
}

/// Each field that differs between two versions, as a unified diff of its lines.
#[derive(Debug, Serialize, JsonSchema)]
struct DiffReply {
    from: usize,
    to: usize,
    diff: BTreeMap<&'static str, String>,
}

/// Version `number` (counted from 1) of `v`, as the API shows it.
fn version_out(m: &ReadModel, number: usize, v: &Version, whole: bool) -> VersionOut {
    let c = &v.content;
    VersionOut {
        version: number,
        title: c.title.clone(),
        description: whole.then(|| c.description.clone()),
        body: whole.then(|| c.body.clone()),
        tag_list: whole.then(|| c.tags.clone()),
        created_at: crate::api::timestamp(v.at_ms),
        author: m
            .users
            .get(&v.by)
            .map(|u| u.username.clone())
            .unwrap_or_default(),
    }
}

/// Reads the article at `slug` (its id and versions) if `viewer` may, or 404.
async fn versions<R>(
    app: &AppState,
    slug: &str,
    viewer: Option<&str>,
    read: impl FnOnce(&ReadModel, &ArticleRow) -> R,
) -> Result<R, Problem> {
    app.cms
        .read(|m| m.readable(slug, viewer).map(|a| read(m, a)))
        .await?
        .ok_or_else(|| CmsError::NotFound("article").into())
}

fn numbered(versions: &[Version], number: usize) -> Result<&Version, CmsError> {
    number
        .checked_sub(1)
        .and_then(|at| versions.get(at))
        .ok_or(CmsError::NotFound("version"))
}

async fn list(
    State(app): App,
    auth: Option<Auth>,
    Path(Slug { slug }): Path<Slug>,
) -> Reply<VersionsReply> {
    let reply = versions(&app, &slug, viewer(&auth), |m, a| VersionsReply {
        versions_count: a.versions.len(),
        versions: (1..)
            .zip(&a.versions)
            .map(|(n, v)| version_out(m, n, v, false))
            .collect(),
    })
    .await?;
    Ok(Json(reply))
}

async fn one(
    State(app): App,
    auth: Option<Auth>,
    Path(at): Path<VersionPath>,
) -> Reply<VersionReply> {
    let found = versions(&app, &at.slug, viewer(&auth), |m, a| {
        numbered(&a.versions, at.version).map(|v| version_out(m, at.version, v, true))
    })
    .await?;
    Ok(Json(VersionReply { version: found? }))
}

/// A unified diff of one field's lines.
fn field_diff(name: &str, old: &str, new: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .header(name, name)
        .to_string()
}

async fn diff(State(app): App, auth: Option<Auth>, Path(at): Path<DiffPath>) -> Reply<DiffReply> {
    let (old, new): (Arc<Content>, Arc<Content>) =
        versions(&app, &at.slug, viewer(&auth), |_, a| {
            Ok::<_, CmsError>((
                numbered(&a.versions, at.from)?.content.clone(),
                numbered(&a.versions, at.to)?.content.clone(),
            ))
        })
        .await??;
    // One tag a line, so a diff shows tags added and removed.
    let tags = |c: &Content| c.tags.iter().map(|t| format!("{t}\n")).collect::<String>();
    let (old_tags, new_tags) = (tags(&old), tags(&new));
    let fields = [
        ("title", old.title.as_str(), new.title.as_str()),
        ("description", &old.description, &new.description),
        ("body", &old.body, &new.body),
        ("tagList", &old_tags, &new_tags),
    ];
    let diff = fields
        .into_iter()
        .filter(|(_, old, new)| old != new)
        .map(|(name, old, new)| (name, field_diff(name, old, new)))
        .collect();
    Ok(Json(DiffReply {
        from: at.from,
        to: at.to,
        diff,
    }))
}

/// Restores a version as a new one, by whoever may edit the article (its author, an editor).
async fn restore(
    State(app): App,
    Auth(claims): Auth,
    Path(at): Path<VersionPath>,
) -> Reply<ArticleReply> {
    let (id, old) = versions(&app, &at.slug, Some(&claims.sub), |_, a| {
        numbered(&a.versions, at.version).map(|v| (a.id.clone(), (*v.content).clone()))
    })
    .await??;
    edit_article(&app, &claims.sub, &id, |_| old).await
}

/// `/api/articles/{slug}/versions...`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/articles/{slug}/versions", get(list))
        .route("/api/articles/{slug}/versions/{version}", get(one))
        .route(
            "/api/articles/{slug}/versions/{version}/diff/{to}",
            get(diff),
        )
        .route(
            "/api/articles/{slug}/versions/{version}/restore",
            post(restore),
        )
}
