//! The chat's events and the aggregates that decide them: an account per username, a
//! channel per name whose events (members and messages) are the message log.

use std::collections::BTreeSet;

use allframe::cqrs::{Aggregate, Event};
use serde::{Deserialize, Serialize};

use crate::error::ChatError;

/// Everything that happens in the chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ChatEvent {
    Registered {
        username: String,
        password_hash: String,
    },
    ChannelCreated {
        channel: String,
        by: String,
    },
    Joined {
        channel: String,
        user: String,
    },
    Left {
        channel: String,
        user: String,
    },
    Posted {
        channel: String,
        author: String,
        body: String,
    },
}

impl Event for ChatEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Registered { .. } => "Registered",
            Self::ChannelCreated { .. } => "ChannelCreated",
            Self::Joined { .. } => "Joined",
            Self::Left { .. } => "Left",
            Self::Posted { .. } => "Posted",
        }
    }
}

/// A user's account, on stream `user-<username>`: the username is taken by its first event.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Account {
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Register {
    pub username: String,
    pub password_hash: String,
}

impl Aggregate for Account {
    type Event = ChatEvent;
    type Command = Register;
    type Error = ChatError;

    fn handle(&self, command: Register) -> Result<Vec<ChatEvent>, ChatError> {
        if self.password_hash.is_some() {
            return Err(ChatError::Conflict(format!(
                "the username `{}` is taken",
                command.username
            )));
        }
        Ok(vec![ChatEvent::Registered {
            username: command.username,
            password_hash: command.password_hash,
        }])
    }

    fn apply(&mut self, event: &ChatEvent) {
        if let ChatEvent::Registered { password_hash, .. } = event {
            self.password_hash = Some(password_hash.clone());
        }
    }
}

/// A channel, on stream `channel-<name>`: who is in it decides who may post.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Channel {
    pub created: bool,
    pub members: BTreeSet<String>,
}

/// What a user asks of a channel.
#[derive(Debug, Clone)]
pub enum ChannelCommand {
    Create {
        channel: String,
        by: String,
    },
    Join {
        channel: String,
        user: String,
    },
    Leave {
        channel: String,
        user: String,
    },
    Post {
        channel: String,
        author: String,
        body: String,
    },
}

impl Aggregate for Channel {
    type Event = ChatEvent;
    type Command = ChannelCommand;
    type Error = ChatError;

    fn handle(&self, command: ChannelCommand) -> Result<Vec<ChatEvent>, ChatError> {
        use ChannelCommand::*;
        let missing = |channel: &str| ChatError::NotFound(format!("no channel `{channel}`"));
        match command {
            Create { channel, by } if self.created => {
                let _ = by;
                Err(ChatError::Conflict(format!(
                    "the channel `{channel}` exists"
                )))
            }
            Create { channel, by } => Ok(vec![
                ChatEvent::ChannelCreated {
                    channel: channel.clone(),
                    by: by.clone(),
                },
                ChatEvent::Joined { channel, user: by },
            ]),
            Join { channel, .. } | Leave { channel, .. } | Post { channel, .. }
                if !self.created =>
            {
                Err(missing(&channel))
            }
            // Joining twice or leaving a channel one is not in changes nothing.
            Join { user, .. } if self.members.contains(&user) => Ok(vec![]),
            Join { channel, user } => Ok(vec![ChatEvent::Joined { channel, user }]),
            Leave { user, .. } if !self.members.contains(&user) => Ok(vec![]),
            Leave { channel, user } => Ok(vec![ChatEvent::Left { channel, user }]),
            Post {
                channel, author, ..
            } if !self.members.contains(&author) => Err(ChatError::Forbidden(format!(
                "join `{channel}` to post in it"
            ))),
            Post {
                channel,
                author,
                body,
            } => Ok(vec![ChatEvent::Posted {
                channel,
                author,
                body,
            }]),
        }
    }

    fn apply(&mut self, event: &ChatEvent) {
        match event {
            ChatEvent::ChannelCreated { .. } => self.created = true,
            ChatEvent::Joined { user, .. } => {
                self.members.insert(user.clone());
            }
            ChatEvent::Left { user, .. } => {
                self.members.remove(user);
            }
            ChatEvent::Registered { .. } | ChatEvent::Posted { .. } => {}
        }
    }
}
