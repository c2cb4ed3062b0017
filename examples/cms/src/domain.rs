//! The CMS's events and its aggregates: users (with whom they follow), articles (with who favorited them) and each article's
//! comment thread. One event type, so the read model sees every fact in order.

use std::collections::{BTreeMap, BTreeSet};

use allframe::cqrs::{Aggregate, Event};
use allframe::openapi::{JsonSchema, schemars};
use serde::{Deserialize, Serialize};

use crate::error::CmsError;

/// What an article says: the fields a writer edits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    pub title: String,
    pub description: String,
    pub body: String,
    /// Sorted, without repeats.
    pub tags: Vec<String>,
}

/// What a user may do; each role may do everything the ones before it may. A reader reads,
/// comments, favorites and follows; an author also writes articles and changes their own;
/// an editor changes anyone's article and removes anyone's comment; an admin also deletes
/// anyone's article and grants roles.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Reader,
    /// What registering gives: RealWorld's clients write articles as soon as they sign up.
    #[default]
    Author,
    Editor,
    Admin,
}

impl Role {
    /// `Ok` when `self` is at least `needed`, else 403 on `resource` saying what it takes
    /// to `act`.
    pub fn at_least(
        self,
        needed: Role,
        resource: &'static str,
        act: &'static str,
    ) -> Result<(), CmsError> {
        if self >= needed {
            Ok(())
        } else {
            Err(CmsError::Forbidden(resource, act))
        }
    }
}

/// Where an article is on its way to its readers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    /// Written or sent back, seen by its author and the editors only.
    Draft,
    /// Submitted, waiting for an editor.
    InReview,
    /// Approved (or written through the spec's own route): readers see it from its
    /// publication time on.
    #[default]
    Published,
}

/// An editor's decision on an article in review.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Readers see it from `at_ms` on (an instant, or a scheduled time).
    Approve { at_ms: u64 },
    /// Back to its author as a draft, with what to change.
    SendBack { comment: String },
}

/// Everything that happens in the CMS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CmsEvent {
    UserRegistered {
        id: String,
        username: String,
        email: String,
        password_hash: String,
        /// Users registered before roles existed were authors.
        #[serde(default)]
        role: Role,
    },
    /// An admin gave user `id` this role.
    RoleGranted {
        id: String,
        role: Role,
    },
    /// The fields that changed; `bio` and `image` may change to nothing.
    UserChanged {
        id: String,
        username: Option<String>,
        email: Option<String>,
        password_hash: Option<String>,
        #[serde(with = "cleared_as_empty")]
        bio: Option<Option<String>>,
        #[serde(with = "cleared_as_empty")]
        image: Option<Option<String>>,
    },
    Followed {
        follower: String,
        followee: String,
    },
    Unfollowed {
        follower: String,
        followee: String,
    },
    ArticlePublished {
        id: String,
        slug: String,
        author: String,
        content: Content,
    },
    /// An article written as a draft: it reaches readers only once an editor approves it.
    DraftWritten {
        id: String,
        slug: String,
        author: String,
        content: Content,
    },
    /// Its author asks the editors to review it.
    Submitted {
        id: String,
    },
    /// An editor approved it: readers see it from `at_ms` on.
    Approved {
        id: String,
        by: String,
        at_ms: u64,
    },
    /// An editor sent it back to its author as a draft.
    SentBack {
        id: String,
        by: String,
        comment: String,
    },
    /// A new version of the article: its whole content, so every version can be read back.
    ArticleEdited {
        id: String,
        slug: String,
        content: Content,
        /// Who edited it (empty in events from before versions were listed).
        #[serde(default)]
        by: String,
    },
    ArticleDeleted {
        id: String,
    },
    Favorited {
        article: String,
        user: String,
    },
    Unfavorited {
        article: String,
        user: String,
    },
    CommentAdded {
        article: String,
        id: u64,
        author: String,
        body: String,
    },
    CommentDeleted {
        article: String,
        id: u64,
    },
}

impl Event for CmsEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::UserRegistered { .. } => "UserRegistered",
            Self::UserChanged { .. } => "UserChanged",
            Self::RoleGranted { .. } => "RoleGranted",
            Self::Followed { .. } => "Followed",
            Self::Unfollowed { .. } => "Unfollowed",
            Self::ArticlePublished { .. } => "ArticlePublished",
            Self::DraftWritten { .. } => "DraftWritten",
            Self::Submitted { .. } => "Submitted",
            Self::Approved { .. } => "Approved",
            Self::SentBack { .. } => "SentBack",
            Self::ArticleEdited { .. } => "ArticleEdited",
            Self::ArticleDeleted { .. } => "ArticleDeleted",
            Self::Favorited { .. } => "Favorited",
            Self::Unfavorited { .. } => "Unfavorited",
            Self::CommentAdded { .. } => "CommentAdded",
            Self::CommentDeleted { .. } => "CommentDeleted",
        }
    }
}

/// A user: who they are and whom they follow.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct User {
    pub id: Option<String>,
    pub following: BTreeSet<String>,
}

#[derive(Debug, Clone)]
pub enum UserCommand {
    Register {
        id: String,
        username: String,
        email: String,
        password_hash: String,
        role: Role,
    },
    Change(Box<CmsEvent>),
    Grant {
        role: Role,
    },
    Follow {
        followee: String,
    },
    Unfollow {
        followee: String,
    },
}

impl Aggregate for User {
    type Event = CmsEvent;
    type Command = UserCommand;
    type Error = CmsError;

    fn handle(&self, command: UserCommand) -> Result<Vec<CmsEvent>, CmsError> {
        let Some(id) = &self.id else {
            return match command {
                UserCommand::Register {
                    id,
                    username,
                    email,
                    password_hash,
                    role,
                } => Ok(vec![CmsEvent::UserRegistered {
                    id,
                    username,
                    email,
                    password_hash,
                    role,
                }]),
                _ => Err(CmsError::NotFound("user")),
            };
        };
        Ok(match command {
            UserCommand::Register { .. } => return Err(CmsError::Taken("username".into())),
            UserCommand::Change(change) => vec![*change],
            UserCommand::Grant { role } => vec![CmsEvent::RoleGranted {
                id: id.clone(),
                role,
            }],
            // Following is a set: following twice, or unfollowing a stranger, records nothing.
            UserCommand::Follow { followee } if !self.following.contains(&followee) => {
                vec![CmsEvent::Followed {
                    follower: id.clone(),
                    followee,
                }]
            }
            UserCommand::Unfollow { followee } if self.following.contains(&followee) => {
                vec![CmsEvent::Unfollowed {
                    follower: id.clone(),
                    followee,
                }]
            }
            UserCommand::Follow { .. } | UserCommand::Unfollow { .. } => vec![],
        })
    }

    fn apply(&mut self, event: &CmsEvent) {
        match event {
            CmsEvent::UserRegistered { id, .. } => self.id = Some(id.clone()),
            CmsEvent::Followed { followee, .. } => {
                self.following.insert(followee.clone());
            }
            CmsEvent::Unfollowed { followee, .. } => {
                self.following.remove(followee);
            }
            _ => {}
        }
    }
}

/// An article: its author, where it stands and who favorited it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Article {
    pub author: Option<String>,
    pub deleted: bool,
    #[serde(default)]
    pub stage: Stage,
    pub favorited_by: BTreeSet<String>,
}

#[derive(Debug, Clone)]
pub enum ArticleCommand {
    /// A new article by `author`, who must be at least an author: published at once (as
    /// the spec's route does), or a draft.
    Write {
        role: Role,
        id: String,
        slug: String,
        author: String,
        content: Content,
        draft: bool,
    },
    /// Its author submits a draft for review.
    Submit {
        by: String,
        role: Role,
        id: String,
    },
    /// An editor who is not its author decides on an article in review.
    Review {
        by: String,
        role: Role,
        id: String,
        verdict: Verdict,
    },
    /// An edit by `by`: the author, or an editor.
    Edit {
        by: String,
        role: Role,
        id: String,
        slug: String,
        content: Content,
    },
    /// A deletion by `by`: the author, or an admin.
    Delete {
        by: String,
        role: Role,
        id: String,
    },
    Favorite {
        id: String,
        user: String,
    },
    Unfavorite {
        id: String,
        user: String,
    },
}

impl Aggregate for Article {
    type Event = CmsEvent;
    type Command = ArticleCommand;
    type Error = CmsError;

    fn handle(&self, command: ArticleCommand) -> Result<Vec<CmsEvent>, CmsError> {
        use ArticleCommand::*;
        let author = match (&self.author, &command) {
            (None, Write { .. }) => None,
            (Some(_), Write { .. }) => return Err(CmsError::Taken("slug".into())),
            (None, _) => return Err(CmsError::NotFound("article")),
            (Some(_), _) if self.deleted => return Err(CmsError::NotFound("article")),
            (Some(author), _) => Some(author),
        };
        // Its author still needs the author role (a user made a reader changes nothing).
        let author_or = |by: &String, role: Role, needed: Role, act| {
            let needed = if Some(by) == author {
                Role::Author
            } else {
                needed
            };
            role.at_least(needed, "article", act)
        };
        Ok(match command {
            Write {
                role,
                id,
                slug,
                author,
                content,
                draft,
            } => {
                role.at_least(Role::Author, "article", "writing takes the author role")?;
                vec![if draft {
                    CmsEvent::DraftWritten {
                        id,
                        slug,
                        author,
                        content,
                    }
                } else {
                    CmsEvent::ArticlePublished {
                        id,
                        slug,
                        author,
                        content,
                    }
                }]
            }
            Submit { by, role, id } => {
                if Some(&by) != author {
                    return Err(CmsError::Forbidden("article", "only its author submits it"));
                }
                role.at_least(Role::Author, "article", "submitting takes the author role")?;
                self.in_stage(Stage::Draft, "only a draft is submitted for review")?;
                vec![CmsEvent::Submitted { id }]
            }
            Review {
                by,
                role,
                id,
                verdict,
            } => {
                role.at_least(Role::Editor, "article", "reviewing takes the editor role")?;
                if Some(&by) == author {
                    return Err(CmsError::Forbidden("article", "nobody reviews their own"));
                }
                self.in_stage(Stage::InReview, "the article is not in review")?;
                vec![match verdict {
                    Verdict::Approve { at_ms } => CmsEvent::Approved { id, by, at_ms },
                    Verdict::SendBack { comment } => CmsEvent::SentBack { id, by, comment },
                }]
            }
            Edit {
                by,
                role,
                id,
                slug,
                content,
            } => {
                let act = "only the author or an editor may change an article";
                author_or(&by, role, Role::Editor, act)?;
                // What the editors review is what they approve: its author waits.
                if self.stage == Stage::InReview && role < Role::Editor {
                    let why = "the article is in review: it changes after the editor's decision";
                    return Err(CmsError::Stage(why));
                }
                vec![CmsEvent::ArticleEdited {
                    id,
                    slug,
                    content,
                    by,
                }]
            }
            Delete { by, role, id } => {
                let act = "only the author or an admin may delete an article";
                author_or(&by, role, Role::Admin, act)?;
                vec![CmsEvent::ArticleDeleted { id }]
            }
            Favorite { id, user } if !self.favorited_by.contains(&user) => {
                vec![CmsEvent::Favorited { article: id, user }]
            }
            Unfavorite { id, user } if self.favorited_by.contains(&user) => {
                vec![CmsEvent::Unfavorited { article: id, user }]
            }
            Favorite { .. } | Unfavorite { .. } => vec![],
        })
    }

    fn apply(&mut self, event: &CmsEvent) {
        match event {
            CmsEvent::ArticlePublished { author, .. } => self.author = Some(author.clone()),
            CmsEvent::DraftWritten { author, .. } => {
                self.author = Some(author.clone());
                self.stage = Stage::Draft;
            }
            CmsEvent::Submitted { .. } => self.stage = Stage::InReview,
            CmsEvent::Approved { .. } => self.stage = Stage::Published,
            CmsEvent::SentBack { .. } => self.stage = Stage::Draft,
            CmsEvent::ArticleDeleted { .. } => self.deleted = true,
            CmsEvent::Favorited { user, .. } => {
                self.favorited_by.insert(user.clone());
            }
            CmsEvent::Unfavorited { user, .. } => {
                self.favorited_by.remove(user);
            }
            _ => {}
        }
    }
}

impl Article {
    /// `Ok` in `stage`, else 409 saying why.
    fn in_stage(&self, stage: Stage, why: &'static str) -> Result<(), CmsError> {
        if self.stage == stage {
            Ok(())
        } else {
            Err(CmsError::Stage(why))
        }
    }
}

/// The comments of one article. A comment's id is the version of its event in the thread's
/// stream: unique in the thread, never reused, and known to whoever appended it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Thread {
    events: u64,
    authors: BTreeMap<u64, String>,
}

#[derive(Debug, Clone)]
pub enum ThreadCommand {
    Add {
        article: String,
        author: String,
        body: String,
    },
    /// A deletion by `by`: the comment's author, or an editor.
    Delete {
        article: String,
        id: u64,
        by: String,
        role: Role,
    },
}

impl Aggregate for Thread {
    type Event = CmsEvent;
    type Command = ThreadCommand;
    type Error = CmsError;

    fn handle(&self, command: ThreadCommand) -> Result<Vec<CmsEvent>, CmsError> {
        match command {
            ThreadCommand::Add {
                article,
                author,
                body,
            } => Ok(vec![CmsEvent::CommentAdded {
                article,
                id: self.events + 1,
                author,
                body,
            }]),
            ThreadCommand::Delete {
                article,
                id,
                by,
                role,
            } => match self.authors.get(&id) {
                None => Err(CmsError::NotFound("comment")),
                Some(author) if *author != by => {
                    let act = "only the comment's author or an editor may delete it";
                    role.at_least(Role::Editor, "comment", act)?;
                    Ok(vec![CmsEvent::CommentDeleted { article, id }])
                }
                Some(_) => Ok(vec![CmsEvent::CommentDeleted { article, id }]),
            },
        }
    }

    fn apply(&mut self, event: &CmsEvent) {
        self.events += 1;
        match event {
            CmsEvent::CommentAdded { id, author, .. } => {
                self.authors.insert(*id, author.clone());
            }
            CmsEvent::CommentDeleted { id, .. } => {
                self.authors.remove(id);
            }
            _ => {}
        }
    }
}

/// A field that may be unchanged (`None`, stored `null`), cleared (`Some(None)`, stored `""`)
/// or set. JSON's `null` cannot tell the first two apart: written as `null`, a cleared bio
/// came back unchanged after a restart. Events written before kept `null` for both, and
/// read back as unchanged, as they always were.
mod cleared_as_empty {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Option<Option<String>>,
        out: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            None => out.serialize_none(),
            Some(None) => out.serialize_str(""),
            Some(Some(text)) => out.serialize_str(text),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        input: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Ok(Option::<String>::deserialize(input)?.map(|text| Some(text).filter(|t| !t.is_empty())))
    }
}
