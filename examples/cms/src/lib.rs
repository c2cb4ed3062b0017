//! A RealWorld ("Conduit") backend: users, profiles, articles, comments, favorites and
//! tags exactly as the RealWorld API specification says, on AllFrame's CQRS. Users,
//! articles and comment threads are event-sourced aggregates; the spec's lists are one
//! projection; tokens are AllFrame's `auth::Auth` (JWT), passwords argon2id.
//!
//! Run with `cargo run -p cms`; see README.md for the endpoints and the public test suite.

mod api;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod media;
mod versions;
pub mod views;
mod workflow;

use std::sync::Arc;

use allframe::auth::{JwtKeys, hash_password};
use allframe::cqrs::{
    Aggregate, Aggregates, AnyBackend, Projections, Storage, UniqueError, UniqueEvent, UniqueValues,
};
use allframe::extract::FromRef;
use allframe::middleware::{Layer, RequestIdLayer, RequestIdService};
use allframe::{Problem, RouterService, ServerConfig};

use crate::domain::{
    Article, ArticleCommand, CmsEvent, Role, Thread, ThreadCommand, User, UserCommand,
};
use crate::views::ReadModel;

pub use crate::api::router;

/// The backend every store of the CMS uses: whichever `Storage` picked.
pub type Backend = AnyBackend<CmsEvent>;

/// The CMS: its aggregates over one store, the read model folded from it, and the names
/// (usernames, emails) each held by one user, in a store of their own.
#[derive(Debug)]
pub struct Cms {
    names: UniqueValues<AnyBackend<UniqueEvent>>,
    users: Aggregates<User, Backend>,
    articles: Aggregates<Article, Backend>,
    threads: Aggregates<Thread, Backend>,
    views: Projections<CmsEvent, Backend>,
    storage: String,
}

/// What the handlers share: the CMS, the keys that sign its tokens and the uploaded media.
#[derive(Debug, Clone)]
pub struct AppState {
    pub cms: Arc<Cms>,
    pub keys: JwtKeys,
    pub media: media::MediaStore,
}

impl FromRef<AppState> for JwtKeys {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

/// What a registration or a profile change asks for; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UserChange {
    pub username: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    pub bio: Option<Option<String>>,
    pub image: Option<Option<String>>,
}

/// A new id: 64 random bits in hex.
pub fn new_id() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// `How to train your dragon` with id `3fa9...` is `how-to-train-your-dragon-3fa9c1`: the
/// title for people, part of the id so that two articles never share a slug.
pub fn slug(title: &str, id: &str) -> String {
    let words: Vec<String> = title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut slug = words.join("-");
    // At most 80 bytes, cut where a character starts (a title in Chinese has three bytes a
    // character), and not after a dash.
    let end = (0..=slug.len().min(80))
        .rev()
        .find(|&i| slug.is_char_boundary(i))
        .unwrap_or(0);
    slug.truncate(end);
    slug.truncate(slug.trim_end_matches('-').len());
    if !slug.is_empty() {
        slug.push('-');
    }
    slug.push_str(&id[..6]);
    slug
}

macro_rules! execute_on {
    ($($name:ident: $aggregate:ty => $field:ident, $prefix:literal;)*) => {$(
        #[doc = concat!("Executes a command on `", $prefix, "<id>`.")]
        pub async fn $name(&self, id: &str, command: <$aggregate as Aggregate>::Command) -> Result<(), Problem> {
            self.$field.execute(&format!(concat!($prefix, "{}"), id), command).await?;
            Ok(())
        }
    )*};
}

impl Cms {
    /// Opens the CMS's event store in `storage` and catches its read model up.
    pub async fn open(storage: &Storage) -> Result<Self, Problem> {
        let events = storage.open::<CmsEvent>("events").await?;
        let cms = Self {
            names: UniqueValues::new(storage.open("names").await?),
            users: Aggregates::new(events.clone()),
            articles: Aggregates::new(events.clone()),
            threads: Aggregates::new(events.clone()),
            views: Projections::new(events).register::<ReadModel>(),
            storage: storage.to_string(),
        };
        cms.views.catch_up().await?;
        Ok(cms)
    }

    execute_on! {
        user: User => users, "user-";
        article: Article => articles, "article-";
        thread: Thread => threads, "thread-";
    }

    /// Reads the read model once it has caught up with every event appended so far, so a
    /// client reads its own writes.
    pub async fn read<R>(&self, read: impl FnOnce(&ReadModel) -> R) -> Result<R, Problem> {
        Ok(self
            .views
            .query(read)
            .await?
            .expect("registered in Cms::open"))
    }

    /// Every event after store position `after`, as it is appended.
    pub fn subscribe(&self, after: u64) -> allframe::cqrs::Subscription<CmsEvent, Backend> {
        self.articles.store().subscribe(after)
    }

    /// Where the CMS keeps its events, for `/health`.
    pub fn storage(&self) -> &str {
        &self.storage
    }

    /// Registers a user; the username and the email are claimed first, so a taken one is
    /// 409 and nothing of the registration is kept. The first user to register is the
    /// admin (whoever holds `role:admin` was first); everyone after is an author.
    pub async fn register(
        &self,
        username: &str,
        email: &str,
        password: &str,
    ) -> Result<String, Problem> {
        let id = new_id();
        let password_hash = hash_password(password).await?;
        let email = email.to_lowercase();
        let names = [("username", username), ("email", email.as_str())];
        // Boxed: two aggregates' commands nested make a future too large for the stack.
        Box::pin(self.names.holding(&names, &id, async {
            let admin = [("role", "admin")];
            let first = match self.names.claim(&admin, &id).await {
                Ok(()) => true,
                Err(UniqueError::Taken { .. }) => false,
                Err(failed) => return Err(failed.into()),
            };
            let register = UserCommand::Register {
                id: id.clone(),
                username: username.to_owned(),
                email: email.clone(),
                password_hash,
                role: if first { Role::Admin } else { Role::Author },
            };
            let held = if first { &admin[..] } else { &[] };
            self.names
                .holding(held, &id, self.user(&id, register))
                .await
        }))
        .await?;
        Ok(id)
    }

    /// Changes user `id`'s profile; a new username or email is claimed before the change
    /// and the old one released after it.
    pub async fn change_user(&self, id: &str, change: UserChange) -> Result<(), Problem> {
        let (old_name, old_email) = self
            .read(|m| {
                m.users
                    .get(id)
                    .map(|u| (u.username.clone(), u.email.clone()))
            })
            .await?
            .ok_or(error::CmsError::NotFound("user"))?;
        let username = change.username.filter(|name| *name != old_name);
        let email = change
            .email
            .map(|email| email.to_lowercase())
            .filter(|email| *email != old_email);
        let mut claimed = Vec::new();
        let mut released = Vec::new();
        if let Some(name) = &username {
            claimed.push(("username", name.as_str()));
            released.push(("username", old_name.as_str()));
        }
        if let Some(email) = &email {
            claimed.push(("email", email.as_str()));
            released.push(("email", old_email.as_str()));
        }
        let password_hash = match change.password {
            Some(password) => Some(hash_password(&password).await?),
            None => None,
        };
        let changed = CmsEvent::UserChanged {
            id: id.to_owned(),
            username: username.clone(),
            email: email.clone(),
            password_hash,
            bio: change.bio,
            image: change.image,
        };
        let change = self.user(id, UserCommand::Change(Box::new(changed)));
        self.names.holding(&claimed, id, change).await?;
        Ok(self.names.release(&released, id).await?)
    }

    /// User `id`'s role.
    pub async fn role(&self, id: &str) -> Result<Role, Problem> {
        self.read(|m| m.users.get(id).map(|u| u.role))
            .await?
            .ok_or_else(|| error::CmsError::NotFound("user").into())
    }

    /// The id of the article at `slug`, if user `viewer` may read it (see
    /// [`ReadModel::readable`]): 404 alike for what does not exist and what is not theirs
    /// to see yet.
    pub async fn article_id(&self, slug: &str, viewer: Option<&str>) -> Result<String, Problem> {
        self.read(|m| m.readable(slug, viewer).map(|a| a.id.clone()))
            .await?
            .ok_or_else(|| error::CmsError::NotFound("article").into())
    }

    /// Adds a comment by `author` to article `article`; its id in the thread (the version
    /// of its event, see [`Thread`]).
    pub async fn comment(&self, article: &str, author: &str, body: String) -> Result<u64, Problem> {
        let add = ThreadCommand::Add {
            article: article.to_owned(),
            author: author.to_owned(),
            body,
        };
        let appended = self
            .threads
            .execute(&format!("thread-{article}"), add)
            .await?;
        Ok(appended.version)
    }

    /// Favorites (or with `false` unfavorites) article `id` for `user`.
    pub async fn favorite(&self, id: &str, user: &str, favorite: bool) -> Result<(), Problem> {
        let (id, user) = (id.to_owned(), user.to_owned());
        let command = if favorite {
            ArticleCommand::Favorite {
                id: id.clone(),
                user,
            }
        } else {
            ArticleCommand::Unfavorite {
                id: id.clone(),
                user,
            }
        };
        self.article(&id, command).await
    }
}

/// The server's limits: bodies over 64 KiB are refused with 413.
pub fn server_config() -> ServerConfig {
    ServerConfig::default().body_limit(64 * 1024)
}

/// The CMS as a service: its routes, each request tagged with an `x-request-id`.
pub type App = RequestIdService<RouterService<AppState>>;

/// The CMS over `storage`, signing tokens with `keys`, keeping uploads in `media_dir`.
pub async fn app(
    storage: &Storage,
    keys: JwtKeys,
    media_dir: impl Into<std::path::PathBuf>,
) -> Result<App, Problem> {
    let cms = Arc::new(Cms::open(storage).await?);
    let media = media::MediaStore::new(media_dir);
    let state = AppState { cms, keys, media };
    let info = allframe::openapi::Info::new("cms", env!("CARGO_PKG_VERSION"));
    let router = router().with_openapi(info).with_state(state);
    Ok(RequestIdLayer::new().layer(router))
}
