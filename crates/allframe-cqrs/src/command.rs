//! Commands and their bus: typed dispatch (a command without a handler does not compile),
//! validation before handling, and idempotency keys with bounded memory.

use std::any::{Any, TypeId};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// A request to change state. Validation runs before any handler sees it.
pub trait Command: Send + 'static {
    /// Checks the command on its own (required fields, ranges); the error says what is wrong.
    fn validate(&self) -> Result<(), ValidationError> {
        Ok(())
    }

    /// A key naming this request: a second dispatch with the same key returns the first
    /// outcome without handling the command again.
    fn idempotency_key(&self) -> Option<&str> {
        None
    }
}

/// What is wrong with a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The offending field, if one.
    pub field: Option<&'static str>,
    /// What is wrong.
    pub message: String,
}

impl ValidationError {
    /// A problem with one field.
    pub fn field(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field),
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field {
            Some(field) => write!(f, "`{field}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ValidationError {}

/// Handles commands of type `C`.
pub trait CommandHandler<C: Command>: Send + Sync {
    /// What a handled command yields (cloned for idempotent repeats).
    type Output: Clone + Send + Sync + 'static;
    /// Why handling failed.
    type Error: From<ValidationError> + Send;

    /// Handles one validated command.
    fn handle(&self, command: C) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send;
}

/// Dispatches commands to the handlers of `H`: `H` implements [`CommandHandler<C>`] for each
/// command type `C` it accepts, so dispatch is a direct, unboxed call and a command nobody
/// handles is a compile error.
pub struct CommandBus<H> {
    handlers: H,
    seen: Mutex<Seen>,
}

impl<H> fmt::Debug for CommandBus<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandBus").finish_non_exhaustive()
    }
}

/// Outcomes of the last `capacity` commands that carried an idempotency key, and the keys
/// whose command is running now.
struct Seen {
    capacity: usize,
    outputs: HashMap<Key, Entry>,
    /// Keys with an output, oldest first (running ones are not counted).
    order: VecDeque<Key>,
}

type Key = (TypeId, String);

enum Entry {
    /// Handling now: a second dispatch of the key waits to be woken here.
    Running(Arc<Notify>),
    Done(Box<dyn Any + Send>),
}

/// How many idempotency keys a bus remembers by default.
pub const DEFAULT_IDEMPOTENCY_CAPACITY: usize = 10_000;

impl<H> CommandBus<H> {
    /// A bus over `handlers`, remembering [`DEFAULT_IDEMPOTENCY_CAPACITY`] keys.
    pub fn new(handlers: H) -> Self {
        Self::with_idempotency_capacity(handlers, DEFAULT_IDEMPOTENCY_CAPACITY)
    }

    /// A bus remembering the outcomes of the last `capacity` keyed commands.
    pub fn with_idempotency_capacity(handlers: H, capacity: usize) -> Self {
        let seen = Seen {
            capacity,
            outputs: HashMap::new(),
            order: VecDeque::new(),
        };
        Self {
            handlers,
            seen: Mutex::new(seen),
        }
    }

    /// The handlers.
    pub fn handlers(&self) -> &H {
        &self.handlers
    }

    /// Validates and handles `command`. With an idempotency key, the command runs once: a
    /// key seen with a success returns that output again, and a dispatch of a key whose
    /// command is running waits for it. A failed (or cancelled) dispatch is not remembered,
    /// so a retry with its key runs the command again.
    pub async fn dispatch<C>(&self, command: C) -> Result<H::Output, H::Error>
    where
        C: Command,
        H: CommandHandler<C>,
    {
        command.validate()?;
        let Some(key) = command
            .idempotency_key()
            .map(|k| (TypeId::of::<C>(), k.to_owned()))
        else {
            return self.handlers.handle(command).await;
        };
        loop {
            let running = {
                let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
                match seen.outputs.get(&key) {
                    Some(Entry::Done(output)) => {
                        let output = output
                            .downcast_ref::<H::Output>()
                            .expect("a key holds its command type, so its handler's output");
                        return Ok(output.clone());
                    }
                    Some(Entry::Running(running)) => Arc::clone(running),
                    None => {
                        let running = Entry::Running(Arc::new(Notify::new()));
                        seen.outputs.insert(key.clone(), running);
                        break;
                    }
                }
            };
            let woken = running.notified();
            tokio::pin!(woken);
            // Registered before looking again, so the first's end cannot slip past.
            woken.as_mut().enable();
            if matches!(
                self.seen.lock().unwrap_or_else(|p| p.into_inner()).outputs.get(&key),
                Some(Entry::Running(r)) if Arc::ptr_eq(r, &running)
            ) {
                woken.await;
            }
        }
        let mut claim = Claim {
            seen: &self.seen,
            key: Some(key),
        };
        let output = self.handlers.handle(command).await?;
        claim.succeed(Box::new(output.clone()));
        Ok(output)
    }
}

/// A key whose command is running; dropped without [`Claim::succeed`] (a failure, a
/// cancelled dispatch) it frees the key and wakes the dispatches waiting on it.
struct Claim<'a> {
    seen: &'a Mutex<Seen>,
    key: Option<Key>,
}

impl Claim<'_> {
    fn succeed(&mut self, output: Box<dyn Any + Send>) {
        let Some(key) = self.key.take() else { return };
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let running = seen.outputs.remove(&key);
        if seen.capacity > 0 {
            while seen.order.len() >= seen.capacity {
                if let Some(oldest) = seen.order.pop_front() {
                    seen.outputs.remove(&oldest);
                }
            }
            seen.order.push_back(key.clone());
            seen.outputs.insert(key, Entry::Done(output));
        }
        if let Some(Entry::Running(running)) = running {
            running.notify_waiters();
        }
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(Entry::Running(running)) = seen.outputs.remove(&key) {
            running.notify_waiters();
        }
    }
}
