//! The commands the API sends through the `CommandBus`: each checks its own fields first
//! (the API's schemas state the same bounds), then goes to an account or a transfer saga.

use allframe::Problem;
use allframe::cqrs::{Command, CommandHandler, ValidationError};

use crate::Bank;
use crate::domain::AccountCommand;
use crate::transfer::Transfer;
use crate::views::TransferView;

/// The largest single deposit, withdrawal or transfer the API accepts, in cents.
pub const MAX_AMOUNT_CENTS: u64 = 100_000_000;

/// An account or transfer id: 1 to 64 letters, digits, `-` or `_`.
fn check_id(field: &'static str, id: &str) -> Result<(), ValidationError> {
    let plain = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if id.is_empty() || id.len() > 64 || !plain {
        return Err(ValidationError::field(
            field,
            "must be 1 to 64 letters, digits, `-` or `_`",
        ));
    }
    Ok(())
}

fn check_amount(amount_cents: u64) -> Result<(), ValidationError> {
    if !(1..=MAX_AMOUNT_CENTS).contains(&amount_cents) {
        return Err(ValidationError::field(
            "amount_cents",
            format!("must be between 1 and {MAX_AMOUNT_CENTS}"),
        ));
    }
    Ok(())
}

/// Commands on one account, checked and executed alike.
macro_rules! account_commands {
    ($($name:ident { $($field:ident: $ty:ty),* } => |$c:ident| $check:block $command:expr;)*) => {$(
        #[derive(Debug, Clone)]
        pub struct $name { pub account_id: String, $(pub $field: $ty),* }

        impl Command for $name {
            fn validate(&self) -> Result<(), ValidationError> {
                let $c = self;
                check_id("account_id", &$c.account_id)?;
                $check
            }
        }

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
    OpenAccount { owner: String } => |c| {
        let length = c.owner.trim().chars().count();
        if !(1..=200).contains(&length) {
            return Err(ValidationError::field("owner", "must be 1 to 200 characters"));
        }
        Ok(())
    } AccountCommand::Open { account_id: c.account_id, owner: c.owner.trim().to_owned() };
    Deposit { amount_cents: u64 } => |c| { check_amount(c.amount_cents) }
        AccountCommand::Deposit { account_id: c.account_id, amount_cents: c.amount_cents, reference: None };
    Withdraw { amount_cents: u64 } => |c| { check_amount(c.amount_cents) }
        AccountCommand::Withdraw { account_id: c.account_id, amount_cents: c.amount_cents, reference: None };
    CloseAccount {} => |c| { let _ = c; Ok(()) } AccountCommand::Close { account_id: c.account_id };
}

/// Moves money between two accounts through the transfer saga. The transfer id is the
/// client's: a request repeated with it moves nothing twice.
#[derive(Debug, Clone)]
pub struct RequestTransfer(pub Transfer);

impl Command for RequestTransfer {
    fn validate(&self) -> Result<(), ValidationError> {
        let t = &self.0;
        check_id("transfer_id", &t.transfer_id)?;
        check_id("from", &t.from)?;
        check_id("to", &t.to)?;
        if t.from == t.to {
            return Err(ValidationError::field("to", "must differ from `from`"));
        }
        check_amount(t.amount_cents)
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
