//! The RealWorld API under `/api`, as its specification says: bodies wrapped in `user`,
//! `article`, `comment`; `Authorization: Token <jwt>`; 422 naming each invalid field under
//! `errors`, which AllFrame's `Valid` does for every request type below.

use allframe::auth::{Auth, verify_password};
use allframe::extract::Pagination;
use allframe::extract::fields::{nullable, present};
use allframe::graphql::GraphQL;
use allframe::http::StatusCode;
use allframe::openapi::routing::{delete, get, post};
use allframe::openapi::{JsonSchema, schemars, without_default};
use allframe::validate::{Valid, filled};
use allframe::{Json, Path, Problem, Query, Router, State};
use async_graphql::SimpleObject;
use chrono::{DateTime, SecondsFormat};
use garde::Validate;
use serde::{Deserialize, Serialize};

use crate::domain::{ArticleCommand, Content, Role, Stage, ThreadCommand, UserCommand};
use crate::error::CmsError;
use crate::views::{ArticleRow, ReadModel};
use crate::{AppState, UserChange, new_id, slug};

pub(crate) type App = State<AppState>;
pub(crate) type Reply<T> = Result<Json<T>, Problem>;
type Created<T> = Result<(StatusCode, Json<T>), Problem>;

#[derive(Debug, Deserialize, Validate, JsonSchema)]
struct NewUser {
    #[garde(
        custom(filled),
        length(chars, min = 1, max = 64),
        pattern(r"^[A-Za-z0-9_.-]+$")
    )]
    username: String,
    #[garde(
        custom(filled),
        length(max = 254),
        pattern(r"^[^@ \t\r\n]+@[^@ \t\r\n]+$")
    )]
    email: String,
    #[garde(custom(filled), length(chars, min = 8, max = 128))]
    password: String,
}

#[derive(Debug, Deserialize, Validate, JsonSchema)]
struct Login {
    #[garde(custom(filled), length(min = 1, max = 254))]
    email: String,
    #[garde(custom(filled), length(min = 1, max = 128))]
    password: String,
}

/// Left out, a field is unchanged. The spec types username, email and password as strings:
/// `null` for them is refused (422); bio and image are nullable: `null` or `""` clears them.
#[derive(Debug, Deserialize, Validate, JsonSchema)]
struct UpdateUser {
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "String", transform = without_default)]
    #[garde(length(chars, min = 1, max = 64), pattern(r"^[A-Za-z0-9_.-]+$"))]
    username: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "String", transform = without_default)]
    #[garde(length(max = 254), pattern(r"^[^@ \t\r\n]+@[^@ \t\r\n]+$"))]
    email: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "String", transform = without_default)]
    #[garde(length(chars, min = 8, max = 128))]
    password: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(with = "Option<String>", length(max = 2000), transform = without_default)]
    #[garde(inner(length(chars, max = 2000)))]
    bio: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(with = "Option<String>", length(max = 2000), transform = without_default)]
    #[garde(inner(length(max = 2000)))]
    image: Option<Option<String>>,
}

// `transparent`: a 422 names `username`, not `user.username`, as the spec's clients expect.
#[derive(Debug, Deserialize, Validate, JsonSchema)]
#[garde(transparent)]
struct UserBody<T: Validate<Context = ()>> {
    #[garde(dive)]
    user: T,
}

#[derive(Debug, Deserialize, Validate, JsonSchema)]
#[allow(non_snake_case)]
pub(crate) struct NewArticle {
    #[garde(custom(filled), length(chars, min = 1, max = 200))]
    title: String,
    #[garde(custom(filled), length(chars, min = 1, max = 1000))]
    description: String,
    #[garde(custom(filled), length(chars, min = 1, max = 60_000))]
    body: String,
    /// Named as on the wire, since garde's `errors` use the Rust name.
    #[serde(default)]
    #[garde(length(max = 20), inner(length(chars, min = 1, max = 64)))]
    tagList: Vec<String>,
}

#[derive(Debug, Deserialize, Validate, JsonSchema)]
#[allow(non_snake_case)]
struct UpdateArticle {
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "String", transform = without_default)]
    #[garde(length(chars, min = 1, max = 200))]
    title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "String", transform = without_default)]
    #[garde(length(chars, min = 1, max = 1000))]
    description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "String", transform = without_default)]
    #[garde(length(chars, min = 1, max = 60_000))]
    body: Option<String>,
    /// Left out, the tags are kept; `[]` removes them; `null` is a 422.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Vec<String>", transform = without_default)]
    #[garde(length(max = 20), inner(inner(length(chars, min = 1, max = 64))))]
    tagList: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Validate, JsonSchema)]
#[garde(transparent)]
pub(crate) struct ArticleBody<T: Validate<Context = ()>> {
    #[garde(dive)]
    pub(crate) article: T,
}

#[derive(Debug, Deserialize, Validate, JsonSchema)]
struct NewComment {
    #[garde(custom(filled), length(chars, min = 1, max = 10_000))]
    body: String,
}

#[derive(Debug, Deserialize, Validate, JsonSchema)]
#[garde(transparent)]
struct CommentBody {
    #[garde(dive)]
    comment: NewComment,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct Filters {
    tag: Option<String>,
    author: Option<String>,
    favorited: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct Username {
    username: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct Slug {
    pub(crate) slug: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct RoleBody {
    role: Role,
}

#[derive(Debug, Serialize, JsonSchema)]
struct RoleOut {
    username: String,
    role: Role,
}

#[derive(Debug, Serialize, JsonSchema)]
struct RoleReply {
    user: RoleOut,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct CommentPath {
    slug: String,
    id: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
struct UserOut {
    email: String,
    token: String,
    username: String,
    bio: Option<String>,
    image: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct UserReply {
    user: UserOut,
}

#[derive(Debug, Serialize, SimpleObject, JsonSchema)]
#[graphql(name = "Profile")]
pub(crate) struct ProfileOut {
    username: String,
    bio: Option<String>,
    image: Option<String>,
    following: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
struct ProfileReply {
    profile: ProfileOut,
}

#[derive(Debug, Serialize, SimpleObject, JsonSchema)]
#[graphql(name = "Article")]
#[serde(rename_all = "camelCase")]
pub(crate) struct ArticleOut {
    slug: String,
    title: String,
    description: String,
    /// Left out of lists, as the specification says since 2024.
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    tag_list: Vec<String>,
    created_at: String,
    updated_at: String,
    favorited: bool,
    favorites_count: usize,
    author: ProfileOut,
    /// Beyond the spec, only on an article readers do not see yet (never in GraphQL,
    /// which shows what readers see).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[graphql(skip)]
    workflow: Option<WorkflowOut>,
}

/// Where an unpublished article stands.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct WorkflowOut {
    /// `draft`, `inReview`, or `scheduled` (approved, its publication time to come).
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    publish_at: Option<String>,
    /// What the editor who sent it back asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    review_comment: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ArticleReply {
    article: ArticleOut,
}

#[derive(Debug, Serialize, SimpleObject, JsonSchema)]
#[graphql(name = "ArticleList")]
#[serde(rename_all = "camelCase")]
pub(crate) struct ArticlesReply {
    articles: Vec<ArticleOut>,
    articles_count: usize,
}

#[derive(Debug, Serialize, SimpleObject, JsonSchema)]
#[graphql(name = "Comment")]
#[serde(rename_all = "camelCase")]
pub(crate) struct CommentOut {
    id: u64,
    created_at: String,
    updated_at: String,
    body: String,
    author: ProfileOut,
}

#[derive(Debug, Serialize, JsonSchema)]
struct CommentReply {
    comment: CommentOut,
}

#[derive(Debug, Serialize, JsonSchema)]
struct CommentsReply {
    comments: Vec<CommentOut>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct TagsReply {
    tags: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct Health {
    status: &'static str,
    storage: String,
}

/// RFC 3339 with milliseconds in UTC, as the specification's examples write them.
pub(crate) fn timestamp(ms: u64) -> String {
    DateTime::from_timestamp_millis(ms as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// User `id` as `viewer` (a user id, if signed in) sees them.
pub(crate) fn profile(m: &ReadModel, id: &str, viewer: Option<&str>) -> ProfileOut {
    let user = m.users.get(id);
    ProfileOut {
        username: user.map(|u| u.username.clone()).unwrap_or_default(),
        bio: user.and_then(|u| u.bio.clone()),
        image: user.and_then(|u| u.image.clone()),
        following: viewer
            .and_then(|v| m.users.get(v))
            .is_some_and(|v| v.following.contains(id)),
    }
}

pub(crate) fn article(
    m: &ReadModel,
    a: &ArticleRow,
    viewer: Option<&str>,
    with_body: bool,
) -> ArticleOut {
    ArticleOut {
        slug: a.slug.clone(),
        title: a.content.title.clone(),
        description: a.content.description.clone(),
        body: with_body.then(|| a.content.body.clone()),
        tag_list: a.content.tags.clone(),
        created_at: timestamp(a.created_ms),
        updated_at: timestamp(a.updated_ms),
        favorited: viewer.is_some_and(|v| a.favorited_by.contains(v)),
        favorites_count: a.favorited_by.len(),
        author: profile(m, &a.author, viewer),
        workflow: (!a.is_public()).then(|| WorkflowOut {
            status: match a.stage {
                Stage::Draft => "draft",
                Stage::InReview => "inReview",
                Stage::Published => "scheduled",
            },
            publish_at: a.published_at.map(|(at, _)| timestamp(at)),
            review_comment: a.review_comment.clone(),
        }),
    }
}

pub(crate) fn viewer(auth: &Option<Auth>) -> Option<&str> {
    auth.as_ref().map(|Auth(claims)| claims.sub.as_str())
}

/// The signed-in user's answer, with a fresh token.
async fn user_reply(app: &AppState, id: &str) -> Reply<UserReply> {
    let token = app.keys.issue(id)?;
    let user = app
        .cms
        .read(|m| m.users.get(id).cloned())
        .await?
        .ok_or(CmsError::NotFound("user"))?;
    Ok(Json(UserReply {
        user: UserOut {
            email: user.email,
            token,
            username: user.username,
            bio: user.bio,
            image: user.image,
        },
    }))
}

async fn health(State(app): App) -> Reply<Health> {
    app.cms.read(|_| ()).await?;
    Ok(Json(Health {
        status: "ok",
        storage: app.cms.storage().to_owned(),
    }))
}

async fn register(
    State(app): App,
    Valid(Json(body)): Valid<Json<UserBody<NewUser>>>,
) -> Created<UserReply> {
    let NewUser {
        username,
        email,
        password,
    } = body.user;
    let id = app.cms.register(&username, &email, &password).await?;
    Ok((StatusCode::CREATED, user_reply(&app, &id).await?))
}

async fn login(
    State(app): App,
    Valid(Json(body)): Valid<Json<UserBody<Login>>>,
) -> Reply<UserReply> {
    let Login { email, password } = body.user;
    let found = app
        .cms
        .read(|m| {
            let id = m.user_by_email.get(&email.to_lowercase())?;
            Some((id.clone(), m.users[id].password_hash.clone()))
        })
        .await?;
    let refused = || {
        Problem::new(StatusCode::UNAUTHORIZED)
            .with_detail("no user has this email and password")
            .with_field_error("credentials", "invalid")
    };
    let (id, hash) = found.ok_or_else(refused)?;
    if !verify_password(&password, &hash).await {
        return Err(refused());
    }
    user_reply(&app, &id).await
}

async fn current_user(State(app): App, Auth(claims): Auth) -> Reply<UserReply> {
    user_reply(&app, &claims.sub).await
}

async fn update_user(
    State(app): App,
    Auth(claims): Auth,
    Valid(Json(body)): Valid<Json<UserBody<UpdateUser>>>,
) -> Reply<UserReply> {
    let u = body.user;
    let clearable = |v: Option<Option<String>>| v.map(|v| v.filter(|v| !v.is_empty()));
    let change = UserChange {
        username: u.username,
        email: u.email,
        password: u.password,
        bio: clearable(u.bio),
        image: clearable(u.image),
    };
    app.cms.change_user(&claims.sub, change).await?;
    user_reply(&app, &claims.sub).await
}

async fn user_id(app: &AppState, username: &str) -> Result<String, Problem> {
    app.cms
        .read(|m| m.user_by_name.get(username).cloned())
        .await?
        .ok_or_else(|| CmsError::NotFound("profile").into())
}

async fn get_profile(
    State(app): App,
    auth: Option<Auth>,
    Path(Username { username }): Path<Username>,
) -> Reply<ProfileReply> {
    let id = user_id(&app, &username).await?;
    let profile = app.cms.read(|m| profile(m, &id, viewer(&auth))).await?;
    Ok(Json(ProfileReply { profile }))
}

async fn follow(
    State(app): App,
    Auth(claims): Auth,
    Path(Username { username }): Path<Username>,
) -> Reply<ProfileReply> {
    set_following(app, claims.sub, username, true).await
}

async fn unfollow(
    State(app): App,
    Auth(claims): Auth,
    Path(Username { username }): Path<Username>,
) -> Reply<ProfileReply> {
    set_following(app, claims.sub, username, false).await
}

async fn set_following(
    app: AppState,
    me: String,
    username: String,
    on: bool,
) -> Reply<ProfileReply> {
    let followee = user_id(&app, &username).await?;
    let command = if on {
        UserCommand::Follow {
            followee: followee.clone(),
        }
    } else {
        UserCommand::Unfollow {
            followee: followee.clone(),
        }
    };
    app.cms.user(&me, command).await?;
    let profile = app.cms.read(|m| profile(m, &followee, Some(&me))).await?;
    Ok(Json(ProfileReply { profile }))
}

async fn list_articles(
    State(app): App,
    auth: Option<Auth>,
    page: Pagination,
    Query(filters): Query<Filters>,
) -> Reply<ArticlesReply> {
    let me = viewer(&auth);
    let Filters {
        tag,
        author,
        favorited,
    } = &filters;
    let reply = app
        .cms
        .read(|m| {
            let selected = m.selected(tag.as_deref(), author.as_deref(), favorited.as_deref());
            articles(m, page.page(selected), me)
        })
        .await?;
    Ok(Json(reply))
}

pub(crate) fn articles(
    m: &ReadModel,
    page: allframe::extract::Page<&ArticleRow>,
    me: Option<&str>,
) -> ArticlesReply {
    ArticlesReply {
        articles_count: page.total,
        articles: page
            .items
            .into_iter()
            .map(|a| article(m, a, me, false))
            .collect(),
    }
}

async fn feed(State(app): App, Auth(claims): Auth, page: Pagination) -> Reply<ArticlesReply> {
    let me = claims.sub.as_str();
    let reply = app
        .cms
        .read(|m| {
            let following = m.users.get(me).map(|u| &u.following);
            let selected = m
                .newest_first()
                .filter(|a| following.is_some_and(|f| f.contains(&a.author)));
            articles(m, page.page(selected), Some(me))
        })
        .await?;
    Ok(Json(reply))
}

/// Tags as the article keeps them: trimmed, sorted, each once.
fn tags(list: Vec<String>) -> Vec<String> {
    let mut tags: Vec<String> = list
        .iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    tags.sort();
    tags.dedup();
    tags
}

async fn create_article(
    State(app): App,
    Auth(claims): Auth,
    Valid(Json(body)): Valid<Json<ArticleBody<NewArticle>>>,
) -> Created<ArticleReply> {
    write_article(&app, &claims.sub, body.article, false).await
}

/// Writes a new article by user `me`: published at once, or a `draft`.
pub(crate) async fn write_article(
    app: &AppState,
    me: &str,
    new: NewArticle,
    draft: bool,
) -> Created<ArticleReply> {
    let id = new_id();
    let write = ArticleCommand::Write {
        role: app.cms.role(me).await?,
        slug: slug(&new.title, &id),
        id: id.clone(),
        author: me.to_owned(),
        content: Content {
            title: new.title,
            description: new.description,
            body: new.body,
            tags: tags(new.tagList),
        },
        draft,
    };
    app.cms.article(&id, write).await?;
    Ok((
        StatusCode::CREATED,
        article_reply(app, &id, Some(me)).await?,
    ))
}

pub(crate) async fn article_reply(
    app: &AppState,
    id: &str,
    me: Option<&str>,
) -> Reply<ArticleReply> {
    let found = app
        .cms
        .read(|m| m.articles.get(id).map(|a| article(m, a, me, true)))
        .await?;
    let article = found.ok_or(CmsError::NotFound("article"))?;
    Ok(Json(ArticleReply { article }))
}

async fn get_article(
    State(app): App,
    auth: Option<Auth>,
    Path(Slug { slug }): Path<Slug>,
) -> Reply<ArticleReply> {
    let id = app.cms.article_id(&slug, viewer(&auth)).await?;
    article_reply(&app, &id, viewer(&auth)).await
}

async fn update_article(
    State(app): App,
    Auth(claims): Auth,
    Path(Slug { slug: at }): Path<Slug>,
    Valid(Json(body)): Valid<Json<ArticleBody<UpdateArticle>>>,
) -> Reply<ArticleReply> {
    let id = app.cms.article_id(&at, Some(&claims.sub)).await?;
    let change = body.article;
    edit_article(&app, &claims.sub, &id, |old| Content {
        title: change.title.unwrap_or(old.title),
        description: change.description.unwrap_or(old.description),
        body: change.body.unwrap_or(old.body),
        tags: change.tagList.map(tags).unwrap_or(old.tags),
    })
    .await
}

/// Records a new version of article `id` by user `by`, made from the current one; a new
/// title is a new slug.
pub(crate) async fn edit_article(
    app: &AppState,
    by: &str,
    id: &str,
    change: impl FnOnce(Content) -> Content,
) -> Reply<ArticleReply> {
    let (old, old_slug) = app
        .cms
        .read(|m| {
            m.articles
                .get(id)
                .map(|a| ((*a.content).clone(), a.slug.clone()))
        })
        .await?
        .ok_or(CmsError::NotFound("article"))?;
    let old_title = old.title.clone();
    let content = change(old);
    let slug = if content.title != old_title {
        slug(&content.title, id)
    } else {
        old_slug
    };
    let edit = ArticleCommand::Edit {
        role: app.cms.role(by).await?,
        by: by.to_owned(),
        id: id.to_owned(),
        slug,
        content,
    };
    app.cms.article(id, edit).await?;
    article_reply(app, id, Some(by)).await
}

async fn delete_article(
    State(app): App,
    Auth(claims): Auth,
    Path(Slug { slug }): Path<Slug>,
) -> Result<StatusCode, Problem> {
    let id = app.cms.article_id(&slug, Some(&claims.sub)).await?;
    let delete = ArticleCommand::Delete {
        role: app.cms.role(&claims.sub).await?,
        by: claims.sub,
        id: id.clone(),
    };
    app.cms.article(&id, delete).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn favorite(
    State(app): App,
    Auth(claims): Auth,
    Path(Slug { slug }): Path<Slug>,
) -> Reply<ArticleReply> {
    set_favorite(app, claims.sub, slug, true).await
}

async fn unfavorite(
    State(app): App,
    Auth(claims): Auth,
    Path(Slug { slug }): Path<Slug>,
) -> Reply<ArticleReply> {
    set_favorite(app, claims.sub, slug, false).await
}

async fn set_favorite(app: AppState, me: String, slug: String, on: bool) -> Reply<ArticleReply> {
    let id = app.cms.article_id(&slug, Some(&me)).await?;
    app.cms.favorite(&id, &me, on).await?;
    article_reply(&app, &id, Some(&me)).await
}

async fn add_comment(
    State(app): App,
    Auth(claims): Auth,
    Path(Slug { slug }): Path<Slug>,
    Valid(Json(body)): Valid<Json<CommentBody>>,
) -> Created<CommentReply> {
    let article = app.cms.article_id(&slug, Some(&claims.sub)).await?;
    let id = app
        .cms
        .comment(&article, &claims.sub, body.comment.body)
        .await?;
    let mut comments = comments_of(&app, &article, Some(&claims.sub)).await?;
    let comment = comments
        .iter()
        .position(|c| c.id == id)
        .map(|at| comments.swap_remove(at))
        .ok_or(CmsError::NotFound("comment"))?;
    Ok((StatusCode::CREATED, Json(CommentReply { comment })))
}

pub(crate) async fn comments_of(
    app: &AppState,
    article: &str,
    me: Option<&str>,
) -> Result<Vec<CommentOut>, Problem> {
    app.cms
        .read(|m| {
            let thread = m
                .comments
                .get(article)
                .into_iter()
                .flat_map(|t| t.values().rev());
            thread
                .map(|c| CommentOut {
                    id: c.id,
                    created_at: timestamp(c.created_ms),
                    updated_at: timestamp(c.created_ms),
                    body: c.body.clone(),
                    author: profile(m, &c.author, me),
                })
                .collect()
        })
        .await
}

async fn list_comments(
    State(app): App,
    auth: Option<Auth>,
    Path(Slug { slug }): Path<Slug>,
) -> Reply<CommentsReply> {
    let article = app.cms.article_id(&slug, viewer(&auth)).await?;
    let comments = comments_of(&app, &article, viewer(&auth)).await?;
    Ok(Json(CommentsReply { comments }))
}

async fn delete_comment(
    State(app): App,
    Auth(claims): Auth,
    Path(CommentPath { slug, id }): Path<CommentPath>,
) -> Result<StatusCode, Problem> {
    let article = app.cms.article_id(&slug, Some(&claims.sub)).await?;
    let delete = ThreadCommand::Delete {
        article: article.clone(),
        id,
        role: app.cms.role(&claims.sub).await?,
        by: claims.sub,
    };
    app.cms.thread(&article, delete).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn all_tags(State(app): App) -> Reply<TagsReply> {
    let tags = app
        .cms
        .read(|m| m.tags().into_iter().map(str::to_owned).collect())
        .await?;
    Ok(Json(TagsReply { tags }))
}

async fn role_reply(app: &AppState, id: &str) -> Reply<RoleReply> {
    let (username, role) = app
        .cms
        .read(|m| m.users.get(id).map(|u| (u.username.clone(), u.role)))
        .await?
        .ok_or(CmsError::NotFound("user"))?;
    Ok(Json(RoleReply {
        user: RoleOut { username, role },
    }))
}

async fn get_role(
    State(app): App,
    _signed_in: Auth,
    Path(Username { username }): Path<Username>,
) -> Reply<RoleReply> {
    let id = user_id(&app, &username).await?;
    role_reply(&app, &id).await
}

/// An admin gives another user a role; nobody changes their own, so the CMS always keeps an
/// admin.
async fn grant_role(
    State(app): App,
    Auth(claims): Auth,
    Path(Username { username }): Path<Username>,
    Json(body): Json<RoleBody>,
) -> Reply<RoleReply> {
    let role = app.cms.role(&claims.sub).await?;
    role.at_least(Role::Admin, "role", "only an admin grants roles")?;
    let id = user_id(&app, &username).await?;
    if id == claims.sub {
        return Err(CmsError::Forbidden("role", "nobody changes their own role").into());
    }
    let grant = UserCommand::Grant { role: body.role };
    app.cms.user(&id, grant).await?;
    role_reply(&app, &id).await
}

/// The RealWorld routes under `/api`, the CMS's own under `/api/cms`, and `/health`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/api/users", post(register))
        .route("/api/users/login", post(login))
        .route("/api/user", get(current_user).put(update_user))
        .route("/api/profiles/{username}", get(get_profile))
        .route(
            "/api/profiles/{username}/follow",
            post(follow).delete(unfollow),
        )
        .route("/api/articles", get(list_articles).post(create_article))
        .route("/api/articles/feed", get(feed))
        .route(
            "/api/articles/{slug}",
            get(get_article).put(update_article).delete(delete_article),
        )
        .route(
            "/api/articles/{slug}/favorite",
            post(favorite).delete(unfavorite),
        )
        .route(
            "/api/articles/{slug}/comments",
            get(list_comments).post(add_comment),
        )
        .route("/api/articles/{slug}/comments/{id}", delete(delete_comment))
        .route("/api/tags", get(all_tags))
        .route(
            "/api/cms/users/{username}/role",
            get(get_role).put(grant_role),
        )
        .merge(crate::versions::router())
        .merge(crate::workflow::router())
        .merge(crate::media::router())
        .route(
            "/graphql",
            GraphQL::new(crate::graphql::schema()).into_route(),
        )
}
