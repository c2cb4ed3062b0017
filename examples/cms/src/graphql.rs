//! GraphQL at `/graphql` (GraphiQL in a browser) over the read model the REST API reads:
//! articles with the spec's filters and pagination, one article, profiles, comments and
//! tags, as a reader who is not signed in sees them; and `articlePublished`, each article
//! as it reaches readers (scheduled ones at their time), over WebSocket.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use allframe::cqrs::Subscription as Events;
use allframe::extract::Pagination;
use async_graphql::{Context, EmptyMutation, Error, Object, Schema, Subscription};
use futures_util::Stream;

use crate::api::{ArticleOut, ArticlesReply, CommentOut, ProfileOut, article, articles, profile};
use crate::domain::CmsEvent;
use crate::views::{now_ms, rfc3339_ms};
use crate::{AppState, Backend};

/// The CMS's schema, with the framework's depth and complexity limits.
pub type CmsSchema = Schema<QueryRoot, EmptyMutation, SubscriptionRoot>;

pub fn schema() -> CmsSchema {
    allframe::graphql::schema(QueryRoot, EmptyMutation, SubscriptionRoot).finish()
}

fn app<'a>(ctx: &Context<'a>) -> Result<&'a AppState, Error> {
    ctx.data::<AppState>()
}

/// An RFC 3339 time in milliseconds since the epoch, or a GraphQL error naming `what`.
fn millis(what: &str, time: &str) -> Result<u64, Error> {
    rfc3339_ms(time).ok_or_else(|| Error::new(format!("`{what}` is not an RFC 3339 time: {time}")))
}

#[derive(Debug)]
pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// Published articles, newest first, filtered as `GET /api/articles` does; `limit` is
    /// 1 to 100.
    async fn articles(
        &self,
        ctx: &Context<'_>,
        tag: Option<String>,
        author: Option<String>,
        favorited: Option<String>,
        #[graphql(default = 20)] limit: usize,
        #[graphql(default = 0)] offset: usize,
    ) -> Result<ArticlesReply, Error> {
        if !(1..=100).contains(&limit) {
            return Err(Error::new("`limit` must be from 1 to 100"));
        }
        let page = Pagination::<100> { offset, limit };
        let (tag, author, favorited) = (tag.as_deref(), author.as_deref(), favorited.as_deref());
        let reply = app(ctx)?
            .cms
            .read(|m| articles(m, page.page(m.selected(tag, author, favorited)), None))
            .await?;
        Ok(reply)
    }

    /// The published article at `slug`, with its body; `null` if there is none.
    async fn article(&self, ctx: &Context<'_>, slug: String) -> Result<Option<ArticleOut>, Error> {
        let found = app(ctx)?
            .cms
            .read(|m| m.readable(&slug, None).map(|a| article(m, a, None, true)))
            .await?;
        Ok(found)
    }

    /// The comments on the published article at `slug`, newest first.
    async fn comments(&self, ctx: &Context<'_>, slug: String) -> Result<Vec<CommentOut>, Error> {
        let app = app(ctx)?;
        let id = app.cms.article_id(&slug, None).await?;
        Ok(crate::api::comments_of(app, &id, None).await?)
    }

    /// The user called `username`; `null` if there is none.
    async fn profile(
        &self,
        ctx: &Context<'_>,
        username: String,
    ) -> Result<Option<ProfileOut>, Error> {
        let found = app(ctx)?
            .cms
            .read(|m| m.user_by_name.get(&username).map(|id| profile(m, id, None)))
            .await?;
        Ok(found)
    }

    /// Every tag of a published article, sorted.
    async fn tags(&self, ctx: &Context<'_>) -> Result<Vec<String>, Error> {
        let tags = app(ctx)?
            .cms
            .read(|m| m.tags().into_iter().map(str::to_owned).collect())
            .await?;
        Ok(tags)
    }
}

#[derive(Debug)]
pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// Each article as readers first see it: at once for those published or approved now,
    /// at their time for scheduled ones. With `since` (RFC 3339), those published from then
    /// on come first, so a client that reconnects misses none.
    async fn article_published(
        &self,
        ctx: &Context<'_>,
        since: Option<String>,
    ) -> Result<impl Stream<Item = ArticleOut> + use<>, Error> {
        let since = since.map_or(Ok(now_ms()), |s| millis("since", &s))?;
        let app = app(ctx)?.clone();
        // What is published from `since` on, and the position it was read at: the live
        // events start after it, so nothing is delivered twice or missed between the two.
        let (position, due) = app
            .cms
            .read(|m| {
                let due: BinaryHeap<_> = m
                    .published
                    .range((since, 0)..)
                    .map(|((at, _), id)| Reverse((*at, id.clone())))
                    .collect();
                (m.position, due)
            })
            .await?;
        let events = app.cms.subscribe(position);
        Ok(futures_util::stream::unfold(
            Publications { app, events, due },
            Publications::next,
        ))
    }
}

/// The state of one `articlePublished` stream: articles due (by publication time) and the
/// events that add to them.
struct Publications {
    app: AppState,
    events: Events<CmsEvent, Backend>,
    due: BinaryHeap<Reverse<(u64, String)>>,
}

impl Publications {
    /// The next article readers see, once they see it; `None` ends the stream (the store
    /// failed).
    async fn next(mut self) -> Option<(ArticleOut, Self)> {
        loop {
            let now = now_ms();
            let next_at = self.due.peek().map(|Reverse((at, _))| *at);
            if next_at.is_some_and(|at| at <= now) {
                let Reverse((_, id)) = self.due.pop()?;
                let read = self.app.cms.read(|m| {
                    let a = m.articles.get(&id).filter(|a| a.is_public())?;
                    Some(article(m, a, None, true))
                });
                // Deleted since, or approved again for later: not (yet) published.
                if let Some(article) = read.await.ok()? {
                    return Some((article, self));
                }
                continue;
            }
            let wait = next_at.map(|at| Duration::from_millis(at - now));
            tokio::select! {
                event = self.events.next() => {
                    let event = event.ok()?;
                    match event.payload {
                        CmsEvent::ArticlePublished { id, .. } => {
                            self.due.push(Reverse((event.timestamp_ms, id)));
                        }
                        CmsEvent::Approved { id, at_ms, .. } => self.due.push(Reverse((at_ms, id))),
                        _ => {}
                    }
                }
                () = sleep(wait) => {}
            }
        }
    }
}

/// Sleeps for `wait`, or for ever without one.
async fn sleep(wait: Option<Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}
