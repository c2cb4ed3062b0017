//! The REST API: commands through the bus, queries on the projections. Each request type's
//! garde rules are checked by `Valid` before a handler runs and written into its schema, so
//! the OpenAPI document says what the server refuses.

use std::sync::Arc;

use allframe::cqrs::CommandBus;
use allframe::extract::{Page, Pagination};
use allframe::http::StatusCode;
use allframe::openapi::routing::{get, post};
use allframe::openapi::{Info, JsonSchema, schemars};
use allframe::validate::Valid;
use allframe::{Json, Path, Problem, Router, State};
use garde::Validate;
use serde::{Deserialize, Serialize};

use crate::Bank;
use crate::commands::{CloseAccount, Deposit, OpenAccount, RequestTransfer, Withdraw};
use crate::transfer::Transfer;
use crate::views::{Audit, AuditRecord, Entry, History, TransferView};

type Bus = State<Arc<CommandBus<Bank>>>;
type Reply<T> = Result<Json<T>, Problem>;

/// An account to open; its id is the client's choice.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
struct NewAccount {
    #[garde(length(min = 1, max = 64), pattern(r"^[A-Za-z0-9_-]+$"))]
    account_id: String,
    #[garde(length(chars, min = 1, max = 200))]
    owner: String,
}

/// An amount of money in cents.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
struct Amount {
    #[garde(range(min = 1, max = 100_000_000))]
    amount_cents: u64,
}

/// A transfer to make; repeating it with the same `transfer_id` moves nothing twice.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
struct NewTransfer {
    #[garde(length(min = 1, max = 64), pattern(r"^[A-Za-z0-9_-]+$"))]
    transfer_id: String,
    /// The payer (must differ from `to`).
    #[garde(length(min = 1, max = 64), pattern(r"^[A-Za-z0-9_-]+$"))]
    from: String,
    #[garde(length(min = 1, max = 64), pattern(r"^[A-Za-z0-9_-]+$"))]
    to: String,
    #[garde(range(min = 1, max = 100_000_000))]
    amount_cents: u64,
}

/// An account's balance.
#[derive(Debug, Serialize, JsonSchema)]
struct AccountView {
    account_id: String,
    balance_cents: u64,
    closed: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
struct Health {
    status: &'static str,
    storage: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct AccountId {
    account_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct TransferId {
    transfer_id: String,
}

async fn health(State(bus): Bus) -> Reply<Health> {
    let bank = bus.handlers();
    bank.query(|_: &Audit| ()).await?;
    Ok(Json(Health {
        status: "ok",
        storage: bank.storage().to_owned(),
    }))
}

async fn open(
    State(bus): Bus,
    Valid(Json(a)): Valid<Json<NewAccount>>,
) -> Result<(StatusCode, Json<AccountView>), Problem> {
    bus.dispatch(OpenAccount {
        account_id: a.account_id.clone(),
        owner: a.owner,
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        account(
            State(bus),
            Path(AccountId {
                account_id: a.account_id,
            }),
        )
        .await?,
    ))
}

async fn account(
    State(bus): Bus,
    Path(AccountId { account_id }): Path<AccountId>,
) -> Reply<AccountView> {
    let account = bus.handlers().ledger.load(&account_id).await?;
    Ok(Json(AccountView {
        account_id,
        balance_cents: account.balance_cents,
        closed: account.closed,
    }))
}

async fn deposit(
    State(bus): Bus,
    Path(AccountId { account_id }): Path<AccountId>,
    Valid(Json(a)): Valid<Json<Amount>>,
) -> Reply<AccountView> {
    bus.dispatch(Deposit {
        account_id: account_id.clone(),
        amount_cents: a.amount_cents,
    })
    .await?;
    account(State(bus), Path(AccountId { account_id })).await
}

async fn withdraw(
    State(bus): Bus,
    Path(AccountId { account_id }): Path<AccountId>,
    Valid(Json(a)): Valid<Json<Amount>>,
) -> Reply<AccountView> {
    bus.dispatch(Withdraw {
        account_id: account_id.clone(),
        amount_cents: a.amount_cents,
    })
    .await?;
    account(State(bus), Path(AccountId { account_id })).await
}

/// Closes an account whose balance is zero.
async fn close(
    State(bus): Bus,
    Path(AccountId { account_id }): Path<AccountId>,
) -> Reply<AccountView> {
    bus.dispatch(CloseAccount {
        account_id: account_id.clone(),
    })
    .await?;
    account(State(bus), Path(AccountId { account_id })).await
}

/// The account's movements, oldest first, each with the balance after it.
async fn history(
    State(bus): Bus,
    Path(AccountId { account_id }): Path<AccountId>,
    page: Pagination<1000>,
) -> Reply<Page<Entry>> {
    let bank = bus.handlers();
    bank.ledger.load(&account_id).await?;
    let entries = bank
        .query(|h: &History| {
            let entries = h.0.get(&account_id).map_or(&[][..], Vec::as_slice);
            page.page(entries).map(Entry::clone)
        })
        .await?;
    Ok(Json(entries))
}

/// Every account event, in the order the store holds them.
async fn audit(State(bus): Bus, page: Pagination<1000>) -> Reply<Page<AuditRecord>> {
    let records = bus
        .handlers()
        .query(|a: &Audit| page.page(&a.0).map(AuditRecord::clone))
        .await?;
    Ok(Json(records))
}

/// Runs the transfer's saga to its end: 201 completed, 422 refused (nothing moved).
async fn transfer(
    State(bus): Bus,
    Valid(Json(t)): Valid<Json<NewTransfer>>,
) -> Result<(StatusCode, Json<TransferView>), Problem> {
    let t = Transfer {
        transfer_id: t.transfer_id,
        from: t.from,
        to: t.to,
        amount_cents: t.amount_cents,
    };
    Ok((
        StatusCode::CREATED,
        Json(bus.dispatch(RequestTransfer(t)).await?),
    ))
}

async fn get_transfer(
    State(bus): Bus,
    Path(TransferId { transfer_id }): Path<TransferId>,
) -> Reply<TransferView> {
    Ok(Json(bus.handlers().transfer(&transfer_id).await?))
}

/// The routes, with the OpenAPI document at `/openapi.json` and its reference at `/docs`.
pub fn router() -> Router<Arc<CommandBus<Bank>>> {
    Router::new()
        .route("/health", get(health))
        .route("/accounts", post(open))
        .route("/accounts/{account_id}", get(account).delete(close))
        .route("/accounts/{account_id}/deposits", post(deposit))
        .route("/accounts/{account_id}/withdrawals", post(withdraw))
        .route("/accounts/{account_id}/history", get(history))
        .route("/audit", get(audit))
        .route("/transfers", post(transfer))
        .route("/transfers/{transfer_id}", get(get_transfer))
        .with_openapi(Info::new("banking-system", env!("CARGO_PKG_VERSION")))
}
