//! The commands the API sends through the `CommandBus` (their fields were checked by the
//! API's `Valid` extractors), each going to an account or to a transfer saga.

use allframe::Problem;
use allframe::cqrs::{Command, CommandHandler, ValidationError};

use crate::Bank;
use crate::domain::AccountCommand;
use crate::transfer::Transfer;
use crate::views::TransferView;

/// Commands on one account, executed alike.
macro_rules! account_commands {
    ($($name:ident { $($field:ident: $ty:ty),* } => |$c:ident| $command:expr;)*) => {$(
        #[derive(Debug, Clone)]
        pub struct $name { pub account_id: String, $(pub $field: $ty),* }

        impl Command for $name {}

        impl CommandHandler<$name> for Bank {
            type Output = ();
            type Error = Problem;

            async fn handle(&self, $c: $name) -> Result<(), Problem> {
                let id = $c.account_id.clone();
                self.ledger.account(&id, $command).await
            }
        }
    )*};
}

account_commands! {
    OpenAccount { owner: String } => |c| AccountCommand::Open { account_id: c.account_id, owner: c.owner };
    Deposit { amount_cents: u64 } => |c| AccountCommand::Deposit { account_id: c.account_id, amount_cents: c.amount_cents, reference: None };
    Withdraw { amount_cents: u64 } => |c| AccountCommand::Withdraw { account_id: c.account_id, amount_cents: c.amount_cents, reference: None };
    CloseAccount {} => |c| AccountCommand::Close { account_id: c.account_id };
}

/// Moves money between two accounts through the transfer saga. The transfer id is the
/// client's: a request repeated with it moves nothing twice.
#[derive(Debug, Clone)]
pub struct RequestTransfer(pub Transfer);

/// The API's rules checked each field; this is the rule between two of them.
impl Command for RequestTransfer {
    fn validate(&self) -> Result<(), ValidationError> {
        if self.0.from == self.0.to {
            return Err(ValidationError::field("to", "must differ from `from`"));
        }
        Ok(())
    }
}

impl CommandHandler<RequestTransfer> for Bank {
    type Output = TransferView;
    type Error = Problem;

    async fn handle(&self, c: RequestTransfer) -> Result<TransferView, Problem> {
        // Both accounts must exist before anything is recorded.
        self.ledger.load(&c.0.from).await?;
        self.ledger.load(&c.0.to).await?;
        self.run(c.0).await
    }
}
