//! A real-time chat: users register and sign in (argon2id, JWT), create and join
//! channels and post messages over GraphQL; messages are commands whose events are the
//! message log, history is a projection paged Relay-style, and subscriptions over WebSocket
//! deliver new messages and who is online.
//!
//! Run with `cargo run -p chat-app`; see README.md.

pub mod domain;
pub mod error;
pub mod graphql;
pub mod presence;
pub mod views;

use std::num::NonZeroU32;
use std::sync::Arc;

use allframe::auth::{JwtKeys, hash_password, verify_password};
use allframe::cqrs::{Aggregates, AnyBackend, Projections, Storage, Subscription};
use allframe::graphql::GraphQL;
use allframe::routing::get;
use allframe::{Json, Problem, Router, RouterService, ServerConfig, State};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::domain::{Account, Channel, ChannelCommand, ChatEvent, Register};
use crate::error::ChatError;
use crate::presence::Presence;
use crate::views::ReadModel;

/// The backend every store of the chat uses: whichever `Storage` picked.
pub type Backend = AnyBackend<ChatEvent>;

/// What one user or socket may do.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest message, in characters.
    pub message_chars: usize,
    /// Messages a user may post per second (as a steady rate, bursts up to it).
    pub messages_per_second: NonZeroU32,
    /// Operations (subscriptions mostly) running at once on one socket.
    pub operations_per_socket: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            message_chars: 2000,
            messages_per_second: NonZeroU32::new(5).expect("not zero"),
            operations_per_socket: 8,
        }
    }
}

/// The chat: its aggregates over one store, the read model, who is online, the limits.
#[derive(Debug)]
pub struct Chat {
    accounts: Aggregates<Account, Backend>,
    channels: Aggregates<Channel, Backend>,
    views: Projections<ChatEvent, Backend>,
    pub presence: Arc<Presence>,
    pub keys: JwtKeys,
    pub limits: Limits,
    posting: DefaultKeyedRateLimiter<String>,
    storage: String,
}

impl Chat {
    /// Opens the chat's event store in `storage` and catches its read model up.
    pub async fn open(storage: &Storage, keys: JwtKeys, limits: Limits) -> Result<Self, Problem> {
        let events = storage.open::<ChatEvent>("events").await?;
        let chat = Self {
            accounts: Aggregates::new(events.clone()),
            channels: Aggregates::new(events.clone()),
            views: Projections::new(events).register::<ReadModel>(),
            presence: Arc::default(),
            keys,
            limits,
            posting: RateLimiter::keyed(Quota::per_second(limits.messages_per_second)),
            storage: storage.to_string(),
        };
        chat.views.catch_up().await?;
        Ok(chat)
    }

    /// Reads the read model once it has every event appended so far (a client reads its
    /// own writes).
    pub async fn read<R>(&self, read: impl FnOnce(&ReadModel) -> R) -> Result<R, ChatError> {
        Ok(self
            .views
            .query(read)
            .await?
            .expect("registered in Chat::open"))
    }

    /// Every event after store position `after`, as it is appended.
    pub fn subscribe(&self, after: u64) -> Subscription<ChatEvent, Backend> {
        self.channels.store().subscribe(after)
    }

    /// Registers `username`; a token for them.
    pub async fn register(&self, username: &str, password: &str) -> Result<String, ChatError> {
        let password_hash = hash_password(password).await?;
        let register = Register {
            username: username.to_owned(),
            password_hash,
        };
        self.accounts
            .execute(&format!("user-{username}"), register)
            .await?;
        Ok(self.keys.issue(username)?)
    }

    /// A token for `username` if `password` is theirs.
    pub async fn login(&self, username: &str, password: &str) -> Result<String, ChatError> {
        let (account, _) = self.accounts.load(&format!("user-{username}")).await?;
        let wrong = || ChatError::Unauthenticated("wrong username or password".into());
        let hash = account.password_hash.ok_or_else(wrong)?;
        if !verify_password(password, &hash).await {
            return Err(wrong());
        }
        Ok(self.keys.issue(username)?)
    }

    /// Decides `command` on its channel.
    pub async fn channel(&self, command: ChannelCommand) -> Result<u64, ChatError> {
        let (ChannelCommand::Create { channel, .. }
        | ChannelCommand::Join { channel, .. }
        | ChannelCommand::Leave { channel, .. }
        | ChannelCommand::Post { channel, .. }) = &command;
        let stream = format!("channel-{channel}");
        Ok(self.channels.execute(&stream, command).await?.last_position)
    }

    /// Posts `body` to `channel` as `author`, within the message limits; its position.
    pub async fn post(&self, channel: &str, author: &str, body: String) -> Result<u64, ChatError> {
        let chars = body.chars().count();
        if chars == 0 || chars > self.limits.message_chars {
            return Err(ChatError::BadInput(format!(
                "a message has 1 to {} characters, this one {chars}",
                self.limits.message_chars
            )));
        }
        if self.posting.check_key(&author.to_owned()).is_err() {
            return Err(ChatError::Limited(format!(
                "at most {} messages a second: wait a moment",
                self.limits.messages_per_second
            )));
        }
        let post = ChannelCommand::Post {
            channel: channel.to_owned(),
            author: author.to_owned(),
            body,
        };
        self.channel(post).await
    }
}

#[derive(Debug, serde::Serialize)]
struct Health {
    status: &'static str,
    storage: String,
}

async fn health(State(chat): State<Arc<Chat>>) -> Result<Json<Health>, Problem> {
    chat.views.query(|_: &ReadModel| ()).await?;
    Ok(Json(Health {
        status: "ok",
        storage: chat.storage.clone(),
    }))
}

/// The server's limits: request bodies (and WebSocket messages) over 64 KiB are refused.
pub fn server_config() -> ServerConfig {
    ServerConfig::default().body_limit(64 * 1024)
}

/// The chat as a service: `/graphql` (GraphiQL in a browser, subscriptions over WebSocket)
/// and `/health`.
pub async fn app(
    storage: &Storage,
    keys: JwtKeys,
    limits: Limits,
) -> Result<RouterService<Arc<Chat>>, Problem> {
    let chat = Arc::new(Chat::open(storage, keys, limits).await?);
    let graphql = GraphQL::new(graphql::schema())
        .authenticate(graphql::authenticate(&chat))
        .max_operations(limits.operations_per_socket);
    Ok(Router::new()
        .route("/graphql", graphql.into_route())
        .route("/health", get(health))
        .with_state(chat))
}
