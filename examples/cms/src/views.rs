//! The read model RealWorld's lists are answered from: users, articles newest first, each
//! article's comments and the tags in use, folded from the CMS's events.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use allframe::cqrs::{Envelope, Projection};

use crate::domain::{CmsEvent, Content, Role, Stage};

#[derive(Debug, Clone)]
pub struct UserRow {
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub bio: Option<String>,
    pub image: Option<String>,
    pub following: BTreeSet<String>,
    pub role: Role,
}

#[derive(Debug, Clone)]
pub struct ArticleRow {
    pub id: String,
    pub slug: String,
    pub author: String,
    /// The newest of `versions`.
    pub content: Arc<Content>,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub favorited_by: BTreeSet<String>,
    pub stage: Stage,
    /// When readers see it from, and its position in the store: its key in
    /// [`ReadModel::published`]. `None` until approved.
    pub published_at: Option<(u64, u64)>,
    /// What the editor who last sent it back asked for.
    pub review_comment: Option<String>,
    /// Every version, the first as published; shared with `content`, not copied.
    pub versions: Vec<Version>,
}

/// One version of an article: its whole content, when and by whom.
#[derive(Debug, Clone)]
pub struct Version {
    pub content: Arc<Content>,
    pub at_ms: u64,
    pub by: String,
}

#[derive(Debug, Clone)]
pub struct CommentRow {
    pub id: u64,
    pub author: String,
    pub body: String,
    pub created_ms: u64,
}

/// Everything the API reads, by id and by the names clients use.
#[derive(Debug, Default)]
pub struct ReadModel {
    pub users: HashMap<String, UserRow>,
    pub user_by_name: HashMap<String, String>,
    /// Keyed by the lowercased email, as it is held unique: `Ann@X` and `ann@x` are one user.
    pub user_by_email: HashMap<String, String>,
    pub articles: HashMap<String, ArticleRow>,
    pub article_by_slug: HashMap<String, String>,
    /// Approved article ids by publication time: a scheduled one is here before readers
    /// see it, so publishing at a time needs no timer.
    pub published: BTreeMap<(u64, u64), String>,
    pub comments: HashMap<String, BTreeMap<u64, CommentRow>>,
    /// The store position of the last event folded in.
    pub position: u64,
}

impl Projection<CmsEvent> for ReadModel {
    const NAME: &'static str = "read-model";

    fn apply(&mut self, event: &Envelope<CmsEvent>) {
        use CmsEvent::*;
        let at = event.timestamp_ms;
        self.position = event.position;
        match &event.payload {
            UserRegistered {
                id,
                username,
                email,
                password_hash,
                role,
            } => {
                self.user_by_name.insert(username.clone(), id.clone());
                self.user_by_email.insert(email.to_lowercase(), id.clone());
                self.users.insert(
                    id.clone(),
                    UserRow {
                        username: username.clone(),
                        email: email.clone(),
                        password_hash: password_hash.clone(),
                        bio: None,
                        image: None,
                        following: BTreeSet::new(),
                        role: *role,
                    },
                );
            }
            RoleGranted { id, role } => {
                if let Some(user) = self.users.get_mut(id) {
                    user.role = *role;
                }
            }
            UserChanged {
                id,
                username,
                email,
                password_hash,
                bio,
                image,
            } => {
                let Some(user) = self.users.get_mut(id) else {
                    return;
                };
                if let Some(username) = username {
                    self.user_by_name.remove(&user.username);
                    self.user_by_name.insert(username.clone(), id.clone());
                    user.username = username.clone();
                }
                if let Some(email) = email {
                    self.user_by_email.remove(&user.email.to_lowercase());
                    self.user_by_email.insert(email.to_lowercase(), id.clone());
                    user.email = email.clone();
                }
                if let Some(hash) = password_hash {
                    user.password_hash = hash.clone();
                }
                if let Some(bio) = bio {
                    user.bio = bio.clone();
                }
                if let Some(image) = image {
                    user.image = image.clone();
                }
            }
            Followed { follower, followee } => {
                if let Some(user) = self.users.get_mut(follower) {
                    user.following.insert(followee.clone());
                }
            }
            Unfollowed { follower, followee } => {
                if let Some(user) = self.users.get_mut(follower) {
                    user.following.remove(followee);
                }
            }
            ArticlePublished {
                id,
                slug,
                author,
                content,
            }
            | DraftWritten {
                id,
                slug,
                author,
                content,
            } => {
                let draft = matches!(event.payload, DraftWritten { .. });
                let published_at = (!draft).then_some((at, event.position));
                self.article_by_slug.insert(slug.clone(), id.clone());
                if let Some(key) = published_at {
                    self.published.insert(key, id.clone());
                }
                let content = Arc::new(content.clone());
                self.articles.insert(
                    id.clone(),
                    ArticleRow {
                        id: id.clone(),
                        slug: slug.clone(),
                        author: author.clone(),
                        content: content.clone(),
                        created_ms: at,
                        updated_ms: at,
                        favorited_by: BTreeSet::new(),
                        stage: if draft {
                            Stage::Draft
                        } else {
                            Stage::Published
                        },
                        published_at,
                        review_comment: None,
                        versions: vec![Version {
                            content,
                            at_ms: at,
                            by: author.clone(),
                        }],
                    },
                );
            }
            Submitted { id } => {
                if let Some(article) = self.articles.get_mut(id) {
                    article.stage = Stage::InReview;
                }
            }
            Approved { id, at_ms, .. } => {
                if let Some(article) = self.articles.get_mut(id) {
                    let key = (*at_ms, event.position);
                    article.stage = Stage::Published;
                    article.published_at = Some(key);
                    article.review_comment = None;
                    self.published.insert(key, id.clone());
                }
            }
            SentBack { id, comment, .. } => {
                if let Some(article) = self.articles.get_mut(id) {
                    article.stage = Stage::Draft;
                    article.review_comment = Some(comment.clone());
                }
            }
            ArticleEdited {
                id,
                slug,
                content,
                by,
            } => {
                let Some(article) = self.articles.get_mut(id) else {
                    return;
                };
                self.article_by_slug.remove(&article.slug);
                self.article_by_slug.insert(slug.clone(), id.clone());
                article.slug = slug.clone();
                article.content = Arc::new(content.clone());
                article.updated_ms = at;
                article.versions.push(Version {
                    content: article.content.clone(),
                    at_ms: at,
                    by: by.clone(),
                });
            }
            ArticleDeleted { id } => {
                if let Some(article) = self.articles.remove(id) {
                    self.article_by_slug.remove(&article.slug);
                    if let Some(key) = article.published_at {
                        self.published.remove(&key);
                    }
                    self.comments.remove(id);
                }
            }
            Favorited { article, user } => {
                if let Some(article) = self.articles.get_mut(article) {
                    article.favorited_by.insert(user.clone());
                }
            }
            Unfavorited { article, user } => {
                if let Some(article) = self.articles.get_mut(article) {
                    article.favorited_by.remove(user);
                }
            }
            CommentAdded {
                article,
                id,
                author,
                body,
            } => {
                self.comments.entry(article.clone()).or_default().insert(
                    *id,
                    CommentRow {
                        id: *id,
                        author: author.clone(),
                        body: body.clone(),
                        created_ms: at,
                    },
                );
            }
            CommentDeleted { article, id } => {
                if let Some(thread) = self.comments.get_mut(article) {
                    thread.remove(id);
                }
            }
        }
    }
}

/// Milliseconds since the Unix epoch, as event timestamps count them.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// An RFC 3339 time (`2026-12-24T18:00:00Z`) in milliseconds since the Unix epoch (0 for
/// times before it); `None` if it is not one.
pub fn rfc3339_ms(time: &str) -> Option<u64> {
    chrono::DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.timestamp_millis().max(0) as u64)
}

impl ArticleRow {
    /// Whether readers see it now: approved, and its publication time has come.
    pub fn is_public(&self) -> bool {
        self.published_at.is_some_and(|(at, _)| at <= now_ms())
    }
}

impl ReadModel {
    /// Published articles readers see now, newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = &ArticleRow> {
        self.published
            .range(..=(now_ms(), u64::MAX))
            .rev()
            .filter_map(|(_, id)| self.articles.get(id))
    }

    /// What the spec's article list selects: published, newest first, with `tag`, by the
    /// user called `author`, favorited by the user called `favorited`.
    pub fn selected<'a>(
        &'a self,
        tag: Option<&'a str>,
        author: Option<&str>,
        favorited: Option<&str>,
    ) -> impl Iterator<Item = &'a ArticleRow> + 'a {
        let by_name = |name: Option<&str>| name.map(|n| self.user_by_name.get(n));
        let (author, favorited) = (by_name(author), by_name(favorited));
        self.newest_first().filter(move |a| {
            tag.is_none_or(|t| a.content.tags.iter().any(|own| own == t))
                && author.is_none_or(|id| id == Some(&a.author))
                && favorited.is_none_or(|id| id.is_some_and(|id| a.favorited_by.contains(id)))
        })
    }

    /// Every tag of an article readers see, sorted.
    pub fn tags(&self) -> BTreeSet<&str> {
        self.newest_first()
            .flat_map(|a| a.content.tags.iter().map(String::as_str))
            .collect()
    }

    /// User `viewer`'s role; `None` for nobody signed in or a user unknown here.
    pub fn role(&self, viewer: Option<&str>) -> Option<Role> {
        viewer.and_then(|v| self.users.get(v)).map(|u| u.role)
    }

    /// The article at `slug` if `viewer` may read it: readers see what is published, its
    /// author and the editors also what is not (yet).
    pub fn readable(&self, slug: &str, viewer: Option<&str>) -> Option<&ArticleRow> {
        let article = self.articles.get(self.article_by_slug.get(slug)?)?;
        let insider = viewer == Some(article.author.as_str())
            || self.role(viewer).is_some_and(|r| r >= Role::Editor);
        (article.is_public() || insider).then_some(article)
    }
}
