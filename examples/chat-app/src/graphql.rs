//! The schema: sign-up and sign-in, channels, messages (history as a Relay connection),
//! and subscriptions to a channel's new messages and to who is online.

use std::sync::Arc;

use allframe::graphql::Transport;
use async_graphql::connection::{Connection, Edge, query};
use async_graphql::{Context, Object, Schema, SimpleObject, Subscription};
use futures_util::{Stream, StreamExt};

use crate::Chat;
use crate::domain::ChannelCommand;
use crate::error::{ChatError, Failure};
use crate::presence::{Online, PresenceChange};
use crate::views::{self, Message};

pub type ChatSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

pub fn schema() -> ChatSchema {
    allframe::graphql::schema(QueryRoot, MutationRoot, SubscriptionRoot).finish()
}

/// Who calls, from their token; a socket's session also counts them online for as long as
/// the socket is open.
#[derive(Debug, Clone)]
pub struct Session {
    pub username: String,
    _online: Option<Arc<Online>>,
}

/// Sessions from `Authorization: Bearer <token>` (over WebSocket, `authorization` in
/// `connection_init`).
pub fn authenticate(
    chat: &Arc<Chat>,
) -> impl Fn(&str, Transport) -> Result<Session, String> + use<> {
    let (keys, presence) = (chat.keys.clone(), Arc::clone(&chat.presence));
    move |credential, transport| {
        let claims = keys
            .verify_authorization(credential)
            .map_err(|why| why.to_string())?;
        let online =
            (transport == Transport::WebSocket).then(|| Arc::new(presence.arrive(&claims.sub)));
        Ok(Session {
            username: claims.sub,
            _online: online,
        })
    }
}

fn chat<'a>(ctx: &Context<'a>) -> &'a Arc<Chat> {
    ctx.data_unchecked::<Arc<Chat>>()
}

fn caller<'a>(ctx: &Context<'a>) -> Result<&'a Session, ChatError> {
    ctx.data_opt::<Session>().ok_or_else(|| {
        ChatError::Unauthenticated(
            "sign in: send `Authorization: Bearer <token>` (on a WebSocket, `authorization` \
             in the `connection_init` payload)"
                .into(),
        )
    })
}

/// Refused unless `user` is in `channel`.
async fn member(chat: &Chat, channel: &str, user: &str) -> Result<(), ChatError> {
    let found = chat
        .read(|m| m.channels.get(channel).map(|c| c.members.contains(user)))
        .await?;
    match found {
        None => Err(ChatError::NotFound(format!("no channel `{channel}`"))),
        Some(false) => Err(ChatError::Forbidden(format!("join `{channel}` to read it"))),
        Some(true) => Ok(()),
    }
}

#[derive(Debug, SimpleObject)]
pub struct ChannelOut {
    name: String,
    members: Vec<String>,
}

#[derive(Debug, SimpleObject)]
pub struct MessageOut {
    /// The message's place in the log: history pages and subscriptions start after it.
    cursor: String,
    channel: String,
    author: String,
    body: String,
    /// When the log recorded it, in milliseconds since the Unix epoch.
    sent_at_ms: u64,
}

impl From<Message> for MessageOut {
    fn from(m: Message) -> Self {
        Self {
            cursor: m.position.to_string(),
            channel: m.channel,
            author: m.author,
            body: m.body,
            sent_at_ms: m.at_ms,
        }
    }
}

/// Most messages in one page of history.
const MAX_PAGE: usize = 100;

#[derive(Debug)]
pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// Who is signed in, if anyone.
    async fn me(&self, ctx: &Context<'_>) -> Option<String> {
        ctx.data_opt::<Session>().map(|s| s.username.clone())
    }

    /// Every channel, by name.
    async fn channels(&self, ctx: &Context<'_>) -> Result<Vec<ChannelOut>, Failure> {
        let read = chat(ctx).read(|m| {
            let out = |(name, c): (&String, &views::ChannelView)| ChannelOut {
                name: name.clone(),
                members: c.members.iter().cloned().collect(),
            };
            m.channels.iter().map(out).collect()
        });
        Ok(read.await?)
    }

    /// Who is online now, by name.
    async fn online(&self, ctx: &Context<'_>) -> Vec<String> {
        chat(ctx).presence.watch().0
    }

    /// A channel's history, oldest first, for its members: Relay's `first`/`after` pages
    /// forward, `last`/`before` back (the newest 50 without either); at most 100 a page.
    /// A page's cursors are log positions, so pages stay put while messages arrive.
    async fn messages(
        &self,
        ctx: &Context<'_>,
        channel: String,
        after: Option<String>,
        before: Option<String>,
        #[graphql(validator(minimum = 0, maximum = 100))] first: Option<i32>,
        #[graphql(validator(minimum = 0, maximum = 100))] last: Option<i32>,
    ) -> Result<Connection<u64, MessageOut>, Failure> {
        let chat = chat(ctx);
        member(chat, &channel, &caller(ctx)?.username).await?;
        query(
            after,
            before,
            first,
            last,
            |after, before, first, last| async move {
                let last = if first.is_none() {
                    Some(last.unwrap_or(50).min(MAX_PAGE))
                } else {
                    last
                };
                let (page, has_previous, has_next) = chat
                    .read(|m| {
                        let Some(c) = m.channels.get(&channel) else {
                            return (vec![], false, false);
                        };
                        let (from, to) =
                            (after.map_or(0, |a: u64| a + 1), before.unwrap_or(u64::MAX));
                        let range: Vec<&Message> =
                            c.messages.range(from..to).map(|(_, m)| m).collect();
                        let (start, end) = match (first, last) {
                            (Some(n), _) => (0, n.min(range.len())),
                            (None, Some(n)) => (range.len().saturating_sub(n), range.len()),
                            (None, None) => (0, range.len()),
                        };
                        let page = range[start..end].iter().map(|m| (*m).clone()).collect();
                        let before_page = start > 0 || c.messages.range(..from).next().is_some();
                        let after_page =
                            end < range.len() || c.messages.range(to..).next().is_some();
                        (page, before_page, after_page)
                    })
                    .await?;
                let mut connection = Connection::new(has_previous, has_next);
                connection.edges.extend(
                    page.into_iter()
                        .map(|m: Message| Edge::new(m.position, MessageOut::from(m))),
                );
                Ok::<_, Failure>(connection)
            },
        )
        .await
        .map_err(|err| Failure(ChatError::BadInput(err.message)))
    }
}

#[derive(Debug)]
pub struct MutationRoot;

/// Refused unless `name` is 3 to 32 lowercase letters, digits, `-` or `_`.
fn check_name(what: &str, name: &str) -> Result<(), ChatError> {
    let fits = (3..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if fits {
        Ok(())
    } else {
        Err(ChatError::BadInput(format!(
            "a {what} is 3 to 32 of a-z, 0-9, `-` and `_`: `{name}` is not"
        )))
    }
}

#[Object]
impl MutationRoot {
    /// A new user, signed in: the token. The username is 3 to 32 of a-z, 0-9, `-`, `_`;
    /// the password 8 to 128 characters.
    async fn register(
        &self,
        ctx: &Context<'_>,
        username: String,
        password: String,
    ) -> Result<String, Failure> {
        check_name("username", &username)?;
        if !(8..=128).contains(&password.chars().count()) {
            return Err(ChatError::BadInput("a password has 8 to 128 characters".into()).into());
        }
        Ok(chat(ctx).register(&username, &password).await?)
    }

    /// A token for a registered user.
    async fn login(
        &self,
        ctx: &Context<'_>,
        username: String,
        password: String,
    ) -> Result<String, Failure> {
        Ok(chat(ctx).login(&username, &password).await?)
    }

    /// A new channel (its name as a username's), its creator its first member.
    async fn create_channel(&self, ctx: &Context<'_>, name: String) -> Result<bool, Failure> {
        check_name("channel name", &name)?;
        let by = caller(ctx)?.username.clone();
        chat(ctx)
            .channel(ChannelCommand::Create { channel: name, by })
            .await?;
        Ok(true)
    }

    /// Joins `channel` (joining twice changes nothing).
    async fn join_channel(&self, ctx: &Context<'_>, channel: String) -> Result<bool, Failure> {
        let user = caller(ctx)?.username.clone();
        chat(ctx)
            .channel(ChannelCommand::Join { channel, user })
            .await?;
        Ok(true)
    }

    /// Leaves `channel`.
    async fn leave_channel(&self, ctx: &Context<'_>, channel: String) -> Result<bool, Failure> {
        let user = caller(ctx)?.username.clone();
        chat(ctx)
            .channel(ChannelCommand::Leave { channel, user })
            .await?;
        Ok(true)
    }

    /// Posts to a channel one is in: 1 to 2000 characters, at most 5 messages a second
    /// per user (`RATE_LIMITED` past it).
    async fn post_message(
        &self,
        ctx: &Context<'_>,
        channel: String,
        body: String,
    ) -> Result<MessageOut, Failure> {
        let author = caller(ctx)?.username.clone();
        let chat = chat(ctx);
        let position = chat.post(&channel, &author, body.clone()).await?;
        let sent_at_ms = chat
            .read(|m| {
                m.channels
                    .get(&channel)?
                    .messages
                    .get(&position)
                    .map(|m| m.at_ms)
            })
            .await?
            .unwrap_or_default();
        Ok(MessageOut {
            cursor: position.to_string(),
            channel,
            author,
            body,
            sent_at_ms,
        })
    }
}

#[derive(Debug)]
pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// New messages in a channel one is in, from now, or from just after `after` (a
    /// message's cursor: the last one of a history page, so nothing falls between).
    async fn message_posted(
        &self,
        ctx: &Context<'_>,
        channel: String,
        after: Option<String>,
    ) -> Result<impl Stream<Item = MessageOut> + use<>, Failure> {
        let (chat, session) = (Arc::clone(chat(ctx)), caller(ctx)?);
        member(&chat, &channel, &session.username).await?;
        let from = match after {
            Some(cursor) => cursor
                .parse()
                .map_err(|_| ChatError::BadInput(format!("`{cursor}` is not a message cursor")))?,
            None => chat.read(|m| m.position).await?,
        };
        let events = chat.subscribe(from);
        let messages = futures_util::stream::unfold(events, |mut events| async move {
            let event = events.next().await.ok()?;
            Some((views::message(&event), events))
        });
        Ok(messages.filter_map(move |m| {
            let channel = channel.clone();
            async move { m.filter(|m| m.channel == channel).map(MessageOut::from) }
        }))
    }

    /// Who is online: everyone online now (`online: true`), then each change.
    async fn presence(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = PresenceChange> + use<>, Failure> {
        caller(ctx)?;
        let (online, changes) = chat(ctx).presence.watch();
        let now = online.into_iter().map(|username| PresenceChange {
            username,
            online: true,
        });
        let later = futures_util::stream::unfold(changes, |mut changes| async move {
            loop {
                match changes.recv().await {
                    Ok(change) => return Some((change, changes)),
                    // A watcher too slow for the changes skips what it missed.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        Ok(futures_util::stream::iter(now).chain(later))
    }
}
