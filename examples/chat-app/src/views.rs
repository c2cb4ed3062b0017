//! The read model: channels, their members and their messages, folded from the log.

use std::collections::{BTreeMap, BTreeSet};

use allframe::cqrs::{Envelope, Projection};

use crate::domain::ChatEvent;

/// A message as the log recorded it; its store position is its cursor.
#[derive(Debug, Clone)]
pub struct Message {
    pub position: u64,
    pub channel: String,
    pub author: String,
    pub body: String,
    pub at_ms: u64,
}

#[derive(Debug, Clone, Default)]
pub struct ChannelView {
    pub members: BTreeSet<String>,
    /// By position: pages are ranges, stable while new messages arrive.
    pub messages: BTreeMap<u64, Message>,
}

#[derive(Debug, Default)]
pub struct ReadModel {
    pub channels: BTreeMap<String, ChannelView>,
    /// The position of the last event folded in.
    pub position: u64,
}

impl Projection<ChatEvent> for ReadModel {
    const NAME: &'static str = "channels";

    fn apply(&mut self, event: &Envelope<ChatEvent>) {
        self.position = event.position;
        match &event.payload {
            ChatEvent::Registered { .. } => {}
            ChatEvent::ChannelCreated { channel, .. } => {
                self.channels.entry(channel.clone()).or_default();
            }
            ChatEvent::Joined { channel, user } => {
                self.channel(channel).members.insert(user.clone());
            }
            ChatEvent::Left { channel, user } => {
                self.channel(channel).members.remove(user);
            }
            ChatEvent::Posted { channel, .. } => {
                if let Some(posted) = message(event) {
                    self.channel(channel)
                        .messages
                        .insert(event.position, posted);
                }
            }
        }
    }
}

impl ReadModel {
    fn channel(&mut self, name: &str) -> &mut ChannelView {
        self.channels.entry(name.to_owned()).or_default()
    }
}

/// The message a store event posted, if it is one.
pub fn message(event: &Envelope<ChatEvent>) -> Option<Message> {
    match &event.payload {
        ChatEvent::Posted {
            channel,
            author,
            body,
        } => Some(Message {
            position: event.position,
            channel: channel.clone(),
            author: author.clone(),
            body: body.clone(),
            at_ms: event.timestamp_ms,
        }),
        _ => None,
    }
}
