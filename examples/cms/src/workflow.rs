//! The publishing workflow, beyond the RealWorld spec: an author writes a draft and submits
//! it; an editor who is not its author approves it, at once or for a time, or sends it back
//! with a comment. Readers see an article from its publication time on (the spec's lists,
//! feed and tags hold only those), and scheduling needs no timer: lists are filtered by the
//! time they are read at.

use std::cmp::Reverse;

use allframe::auth::Auth;
use allframe::extract::Pagination;
use allframe::openapi::routing::{get, post};
use allframe::openapi::{JsonSchema, schemars};
use allframe::validate::Valid;
use allframe::{Json, Path, Problem, Router, State};
use garde::Validate;
use serde::Deserialize;

use crate::AppState;
use crate::api::{
    App, ArticleBody, ArticleReply, ArticlesReply, NewArticle, Reply, Slug, article_reply,
    articles, write_article,
};
use crate::domain::{ArticleCommand, Role, Stage, Verdict};
use crate::views::{ArticleRow, now_ms, rfc3339_ms};

/// Fields named as on the wire, since garde's error paths use the Rust names.
#[derive(Debug, Deserialize, Validate, JsonSchema)]
#[allow(non_snake_case)]
struct Approval {
    /// RFC 3339; absent, or already past, publishes now.
    #[garde(inner(custom(rfc3339)))]
    publishAt: Option<String>,
}

fn rfc3339(value: &str, _: &()) -> garde::Result {
    rfc3339_ms(value)
        .map(drop)
        .ok_or_else(|| garde::Error::new("is not an RFC 3339 time (2026-12-24T18:00:00Z)"))
}

#[derive(Debug, Deserialize, Validate, JsonSchema)]
struct SendBack {
    /// What the author should change.
    #[garde(length(chars, min = 1, max = 2000))]
    comment: String,
}

/// `POST /api/cms/drafts`: a new article as a draft, seen by its author and the editors.
async fn write_draft(
    State(app): App,
    Auth(claims): Auth,
    Valid(Json(body)): Valid<Json<ArticleBody<NewArticle>>>,
) -> Result<(allframe::http::StatusCode, Json<ArticleReply>), Problem> {
    write_article(&app, &claims.sub, body.article, true).await
}

/// `GET /api/cms/drafts`: the signed-in user's articles readers do not see yet, newest first.
async fn my_drafts(State(app): App, Auth(claims): Auth, page: Pagination) -> Reply<ArticlesReply> {
    let me = claims.sub.as_str();
    let reply = app
        .cms
        .read(|m| {
            let mut mine: Vec<&ArticleRow> = m
                .articles
                .values()
                .filter(|a| a.author == me && !a.is_public())
                .collect();
            mine.sort_by_key(|a| Reverse(a.created_ms));
            articles(m, page.page(mine), Some(me))
        })
        .await?;
    Ok(Json(reply))
}

/// `GET /api/cms/review`: what waits for an editor, oldest first.
async fn review_queue(
    State(app): App,
    Auth(claims): Auth,
    page: Pagination,
) -> Reply<ArticlesReply> {
    let me = claims.sub.as_str();
    let reply = app
        .cms
        .read(|m| {
            let role = m.role(Some(me)).unwrap_or(Role::Reader);
            role.at_least(Role::Editor, "article", "the review queue is the editors'")?;
            let mut waiting: Vec<&ArticleRow> = m
                .articles
                .values()
                .filter(|a| a.stage == Stage::InReview)
                .collect();
            waiting.sort_by_key(|a| a.created_ms);
            Ok::<_, Problem>(articles(m, page.page(waiting), Some(me)))
        })
        .await??;
    Ok(Json(reply))
}

/// `POST /api/articles/{slug}/submit`: its author asks for a review.
async fn submit(
    State(app): App,
    Auth(claims): Auth,
    Path(Slug { slug }): Path<Slug>,
) -> Reply<ArticleReply> {
    let me = claims.sub.as_str();
    let id = app.cms.article_id(&slug, Some(me)).await?;
    let submit = ArticleCommand::Submit {
        by: me.to_owned(),
        role: app.cms.role(me).await?,
        id: id.clone(),
    };
    app.cms.article(&id, submit).await?;
    article_reply(&app, &id, Some(me)).await
}

/// `POST /api/articles/{slug}/approve` with `{}` or `{"publishAt": "<RFC 3339>"}`.
async fn approve(
    State(app): App,
    Auth(claims): Auth,
    Path(Slug { slug }): Path<Slug>,
    Valid(Json(body)): Valid<Json<Approval>>,
) -> Reply<ArticleReply> {
    let at = body.publishAt.and_then(|at| rfc3339_ms(&at)).unwrap_or(0);
    // Never in the past: an approved article joins the lists as the newest.
    let at_ms = at.max(now_ms());
    review(&app, &claims.sub, &slug, Verdict::Approve { at_ms }).await
}

/// `POST /api/articles/{slug}/return` with `{"comment": "..."}`: back to its author.
async fn send_back(
    State(app): App,
    Auth(claims): Auth,
    Path(Slug { slug }): Path<Slug>,
    Valid(Json(body)): Valid<Json<SendBack>>,
) -> Reply<ArticleReply> {
    let verdict = Verdict::SendBack {
        comment: body.comment,
    };
    review(&app, &claims.sub, &slug, verdict).await
}

async fn review(app: &AppState, me: &str, slug: &str, verdict: Verdict) -> Reply<ArticleReply> {
    let id = app.cms.article_id(slug, Some(me)).await?;
    let review = ArticleCommand::Review {
        by: me.to_owned(),
        role: app.cms.role(me).await?,
        id: id.clone(),
        verdict,
    };
    app.cms.article(&id, review).await?;
    article_reply(app, &id, Some(me)).await
}

/// The workflow's routes, under `/api/cms` and beside the spec's article routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/cms/drafts", get(my_drafts).post(write_draft))
        .route("/api/cms/review", get(review_queue))
        .route("/api/articles/{slug}/submit", post(submit))
        .route("/api/articles/{slug}/approve", post(approve))
        .route("/api/articles/{slug}/return", post(send_back))
}
