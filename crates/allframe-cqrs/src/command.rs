//! Commands and their bus: typed dispatch (a command without a handler does not compile),
//! validation before handling, and idempotency keys with bounded memory.

use std::any::{Any, TypeId};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::Mutex;

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

/// Outcomes of the last `capacity` commands that carried an idempotency key.
struct Seen {
    capacity: usize,
    outputs: HashMap<(TypeId, String), Box<dyn Any + Send>>,
    order: VecDeque<(TypeId, String)>,
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

    /// Validates and handles `command`; with an idempotency key already seen, returns the
    /// remembered output instead.
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
        if let Some(output) = self.remembered::<H::Output>(&key) {
            return Ok(output);
        }
        let output = self.handlers.handle(command).await?;
        self.remember(key, output.clone());
        Ok(output)
    }

    fn remembered<O: Clone + 'static>(&self, key: &(TypeId, String)) -> Option<O> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.outputs
            .get(key)
            .and_then(|o| o.downcast_ref::<O>())
            .cloned()
    }

    fn remember<O: Send + 'static>(&self, key: (TypeId, String), output: O) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.capacity == 0 || seen.outputs.contains_key(&key) {
            return;
        }
        while seen.order.len() >= seen.capacity {
            if let Some(oldest) = seen.order.pop_front() {
                seen.outputs.remove(&oldest);
            }
        }
        seen.order.push_back(key.clone());
        seen.outputs.insert(key, Box::new(output));
    }
}
