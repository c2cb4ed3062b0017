//! Order processing as a saga: reserve the stock, take the payment, ship. A step that fails
//! for good (a declined card, a payment provider that does not answer in time, stock that
//! ran out) undoes the steps before it, newest first; progress is in the store, so a
//! checkout interrupted by a crash is resumed when the shop starts again.

use std::sync::Arc;
use std::time::Duration;

use allframe::cqrs::{AnyBackend, EventStore, Saga, SagaEvent, SagaStep, StepFuture, StepPolicy};
use serde::{Deserialize, Serialize};

use crate::Domain;
use crate::domain::{Line, OrderCommand, ProductCommand};

/// What the saga works on, recorded when it starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkout {
    pub order_id: String,
    pub lines: Vec<Line>,
    pub payment_token: String,
}

/// The checkout saga, recording to `store`. The payment provider gets half a second per
/// attempt and one retry.
pub(crate) fn saga(
    domain: &Arc<Domain>,
    store: EventStore<SagaEvent, AnyBackend<SagaEvent>>,
) -> CheckoutSaga {
    let payment = StepPolicy {
        timeout: Duration::from_millis(500),
        retries: 1,
        backoff: Duration::from_millis(20),
    };
    // A refusal (no stock) is an answer, not a fault: it is not retried.
    let once = StepPolicy {
        retries: 0,
        ..StepPolicy::default()
    };
    Saga::new("checkout", store)
        .step_with(ReserveStock(domain.clone()), once)
        .step_with(TakePayment(domain.clone()), payment)
        .step(Ship(domain.clone()))
}

pub(crate) type CheckoutSaga = Saga<Checkout, AnyBackend<SagaEvent>>;

struct ReserveStock(Arc<Domain>);
struct TakePayment(Arc<Domain>);
struct Ship(Arc<Domain>);

impl ReserveStock {
    async fn release(&self, checkout: &Checkout) -> Result<(), String> {
        for line in &checkout.lines {
            let release = ProductCommand::Release {
                sku: line.sku.clone(),
                order_id: checkout.order_id.clone(),
            };
            self.0
                .product(&line.sku, release)
                .await
                .map_err(|p| p.detail().to_owned())?;
        }
        Ok(())
    }
}

impl SagaStep<Checkout> for ReserveStock {
    fn name(&self) -> &'static str {
        "reserve-stock"
    }

    fn execute<'a>(&'a self, checkout: &'a Checkout) -> StepFuture<'a> {
        Box::pin(async move {
            for line in &checkout.lines {
                let reserve = ProductCommand::Reserve {
                    sku: line.sku.clone(),
                    order_id: checkout.order_id.clone(),
                    quantity: line.quantity,
                };
                if let Err(refused) = self.0.product(&line.sku, reserve).await {
                    // This step undoes its own half: the saga compensates only whole steps.
                    self.release(checkout).await?;
                    return Err(refused.detail().to_owned());
                }
            }
            Ok(())
        })
    }

    fn compensate<'a>(&'a self, checkout: &'a Checkout) -> StepFuture<'a> {
        Box::pin(self.release(checkout))
    }
}

/// The payment provider, simulated: `tok_declined` is refused, `tok_slow` never answers,
/// any other token pays.
async fn charge(token: &str) -> Result<(), String> {
    match token {
        "tok_declined" => Err("the card was declined".into()),
        "tok_slow" => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        }
        _ => Ok(()),
    }
}

impl SagaStep<Checkout> for TakePayment {
    fn name(&self) -> &'static str {
        "take-payment"
    }

    fn execute<'a>(&'a self, checkout: &'a Checkout) -> StepFuture<'a> {
        Box::pin(async move {
            charge(&checkout.payment_token).await?;
            let pay = OrderCommand::Pay {
                order_id: checkout.order_id.clone(),
            };
            self.0
                .order(&checkout.order_id, pay)
                .await
                .map_err(|p| p.detail().to_owned())
        })
    }

    fn compensate<'a>(&'a self, checkout: &'a Checkout) -> StepFuture<'a> {
        let refund = OrderCommand::Refund {
            order_id: checkout.order_id.clone(),
        };
        Box::pin(async move {
            self.0
                .order(&checkout.order_id, refund)
                .await
                .map_err(|p| p.detail().to_owned())
        })
    }
}

impl SagaStep<Checkout> for Ship {
    fn name(&self) -> &'static str {
        "ship"
    }

    fn execute<'a>(&'a self, checkout: &'a Checkout) -> StepFuture<'a> {
        Box::pin(async move {
            let order_id = &checkout.order_id;
            for line in &checkout.lines {
                let ship = ProductCommand::Ship {
                    sku: line.sku.clone(),
                    order_id: order_id.clone(),
                };
                self.0
                    .product(&line.sku, ship)
                    .await
                    .map_err(|p| p.detail().to_owned())?;
            }
            let ship = OrderCommand::Ship {
                order_id: order_id.clone(),
            };
            self.0
                .order(order_id, ship)
                .await
                .map_err(|p| p.detail().to_owned())
        })
    }

    /// The last step: nothing after it can fail, so it is never undone.
    fn compensate<'a>(&'a self, _: &'a Checkout) -> StepFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}
