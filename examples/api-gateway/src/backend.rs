//! The gateway's client of the inventory: every call has a deadline (`grpc-timeout`, at most
//! what is left of the request's), carries the request id, is retried when it is idempotent
//! and the backend was unreachable, and goes through a circuit breaker that fails calls at
//! once while the backend keeps failing, trying it again after a while.

use std::time::Duration;

use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tower::retry::Policy;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use tower_resilience_circuitbreaker::{CircuitBreakerError, CircuitBreakerLayer};
use tracing::Instrument;

use crate::REQUEST_ID_METADATA;
use crate::failure::Failure;
use crate::inbound::Inbound;
use crate::pb::inventory_client::InventoryClient;
use crate::pb::{GetItemRequest, Item, ListItemsRequest, ReserveRequest};

/// How the gateway calls the backend.
#[derive(Debug, Clone, Copy)]
pub struct Resilience {
    /// The longest one attempt may take.
    pub call_timeout: Duration,
    /// Attempts after the first for an idempotent call the backend could not take.
    pub retries: u32,
    /// How long the breaker, once open, fails calls before it lets one through.
    pub open_for: Duration,
}

impl Default for Resilience {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_millis(500),
            retries: 2,
            open_for: Duration::from_secs(5),
        }
    }
}

/// One call to the backend.
#[derive(Debug, Clone)]
enum Rpc {
    GetItem(GetItemRequest),
    ListItems,
    Reserve(ReserveRequest),
}

impl Rpc {
    /// Whether running it twice is the same as once.
    fn idempotent(&self) -> bool {
        !matches!(self, Self::Reserve(_))
    }
}

#[derive(Debug, Clone)]
struct Call {
    rpc: Rpc,
    inbound: Inbound,
}

#[derive(Debug)]
enum Reply {
    Item(Item),
    Items(Vec<Item>),
}

/// Retries idempotent calls the backend could not take, with a backoff, while the
/// request's deadline allows.
#[derive(Debug, Clone)]
struct RetryUnavailable {
    left: u32,
    backoff: Duration,
}

impl Policy<Call, Reply, Status> for RetryUnavailable {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        call: &mut Call,
        result: &mut Result<Reply, Status>,
    ) -> Option<Self::Future> {
        let unavailable = matches!(result, Err(status) if status.code() == Code::Unavailable);
        if !unavailable || self.left == 0 || Instant::now() + self.backoff >= call.inbound.deadline
        {
            return None;
        }
        self.left -= 1;
        let sleep = tokio::time::sleep(self.backoff);
        self.backoff *= 2;
        Some(sleep)
    }

    fn clone_request(&mut self, call: &Call) -> Option<Call> {
        call.rpc.idempotent().then(|| call.clone())
    }
}

/// The inventory, as the gateway sees it.
#[derive(Clone)]
pub struct Backend {
    service: BoxCloneSyncService<Call, Reply, CircuitBreakerError<Status>>,
    resilience: Resilience,
    url: String,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("url", &self.url)
            .field("resilience", &self.resilience)
            .finish_non_exhaustive()
    }
}

impl Backend {
    /// The inventory at `url` (`http://host:port`), connected on first use and reconnected
    /// as needed.
    pub fn connect_lazy(
        url: &str,
        resilience: Resilience,
    ) -> Result<Self, tonic::transport::Error> {
        let channel = Endpoint::from_shared(url.to_owned())?
            .connect_timeout(resilience.call_timeout)
            .connect_lazy();
        let client = InventoryClient::new(channel);
        let call_timeout = resilience.call_timeout;
        let attempt = service_fn(move |call: Call| {
            let mut client = client.clone();
            async move { attempt(&mut client, call, call_timeout).await }
        });
        // Open when half the last 10 calls (at least 4) failed for the backend's sake.
        let breaker = CircuitBreakerLayer::builder()
            .failure_rate_threshold(0.5)
            .sliding_window_size(10)
            .minimum_number_of_calls(4)
            .wait_duration_in_open(resilience.open_for)
            .permitted_calls_in_half_open(1)
            .failure_classifier(|result: &Result<Reply, Status>| {
                matches!(result, Err(status) if matches!(
                    status.code(),
                    Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled
                ))
            })
            .build()
            .expect("a valid breaker configuration");
        let service = ServiceBuilder::new()
            .layer(breaker)
            .retry(RetryUnavailable {
                left: resilience.retries,
                backoff: Duration::from_millis(20),
            })
            .service(attempt);
        Ok(Self {
            service: BoxCloneSyncService::new(service),
            resilience,
            url: url.to_owned(),
        })
    }

    /// Where the inventory is.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn call(&self, rpc: Rpc) -> Result<Reply, Failure> {
        let call = Call {
            rpc,
            inbound: Inbound::current(crate::REQUEST_BUDGET),
        };
        let mut service = self.service.clone();
        let result = match service.ready().await {
            Ok(ready) => ready.call(call).await,
            Err(err) => Err(err),
        };
        result.map_err(|err| match err {
            CircuitBreakerError::OpenCircuit => Failure::Unavailable(format!(
                "the inventory service keeps failing: the gateway is not calling it for {} s \
                 (circuit open)",
                self.resilience.open_for.as_secs()
            )),
            CircuitBreakerError::Inner(status) => status.into(),
        })
    }

    pub async fn item(&self, sku: &str) -> Result<Item, Failure> {
        match self
            .call(Rpc::GetItem(GetItemRequest {
                sku: sku.to_owned(),
            }))
            .await?
        {
            Reply::Item(item) => Ok(item),
            Reply::Items(_) => unreachable!("GetItem answers an item"),
        }
    }

    pub async fn items(&self) -> Result<Vec<Item>, Failure> {
        match self.call(Rpc::ListItems).await? {
            Reply::Items(items) => Ok(items),
            Reply::Item(_) => unreachable!("ListItems answers items"),
        }
    }

    pub async fn reserve(&self, sku: &str, quantity: u32) -> Result<Item, Failure> {
        let rpc = Rpc::Reserve(ReserveRequest {
            sku: sku.to_owned(),
            quantity,
        });
        match self.call(rpc).await? {
            Reply::Item(item) => Ok(item),
            Reply::Items(_) => unreachable!("Reserve answers an item"),
        }
    }
}

/// One attempt: the request id as metadata, `grpc-timeout` what is left of the deadline
/// (at most `call_timeout`).
async fn attempt(
    client: &mut InventoryClient<Channel>,
    call: Call,
    call_timeout: Duration,
) -> Result<Reply, Status> {
    let left = call
        .inbound
        .deadline
        .saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Status::deadline_exceeded("the request's deadline passed"));
    }
    let method = match call.rpc {
        Rpc::GetItem(_) => "GetItem",
        Rpc::ListItems => "ListItems",
        Rpc::Reserve(_) => "Reserve",
    };
    let span = tracing::info_span!(
        "inventory.call",
        otel.kind = "client",
        otel.name = %format_args!("inventory.v1.Inventory/{method}"),
        rpc.system = "grpc",
    );
    let to = Outbound {
        timeout: left.min(call_timeout),
        request_id: &call.inbound.request_id,
        span: &span,
    };
    let reply = async {
        match call.rpc.clone() {
            Rpc::GetItem(message) => client
                .get_item(to.request(message))
                .await
                .map(|r| Reply::Item(r.into_inner())),
            Rpc::ListItems => client
                .list_items(to.request(ListItemsRequest {}))
                .await
                .map(|r| Reply::Items(r.into_inner().items)),
            Rpc::Reserve(message) => client
                .reserve(to.request(message))
                .await
                .map(|r| Reply::Item(r.into_inner())),
        }
    };
    reply.instrument(span.clone()).await
}

/// What every request to the backend carries: its deadline, the request id, the trace.
struct Outbound<'a> {
    timeout: Duration,
    request_id: &'a str,
    span: &'a tracing::Span,
}

impl Outbound<'_> {
    fn request<M>(&self, message: M) -> tonic::Request<M> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.timeout);
        if let Ok(id) = self.request_id.parse() {
            request.metadata_mut().insert(REQUEST_ID_METADATA, id);
        }
        crate::telemetry::propagate(self.span, request.metadata_mut().as_mut());
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(rpc: Rpc) -> Call {
        Call {
            rpc,
            inbound: Inbound {
                request_id: "r".into(),
                deadline: Instant::now() + Duration::from_secs(60),
            },
        }
    }

    #[tokio::test]
    async fn only_idempotent_calls_the_backend_could_not_take_are_retried_a_bounded_number_of_times()
     {
        let mut policy = RetryUnavailable {
            left: 2,
            backoff: Duration::from_millis(1),
        };
        let reserve = call(Rpc::Reserve(ReserveRequest::default()));
        assert!(
            policy.clone_request(&reserve).is_none(),
            "a reservation is never retried"
        );
        let mut get = call(Rpc::GetItem(GetItemRequest::default()));
        assert!(policy.clone_request(&get).is_some());
        let mut not_found = Err(Status::not_found("no"));
        assert!(
            policy.retry(&mut get, &mut not_found).is_none(),
            "an answer is not retried"
        );
        let mut unavailable = Err(Status::unavailable("down"));
        assert!(policy.retry(&mut get, &mut unavailable).is_some());
        assert!(policy.retry(&mut get, &mut unavailable).is_some());
        assert!(
            policy.retry(&mut get, &mut unavailable).is_none(),
            "two retries, no more"
        );
        let mut late = call(Rpc::ListItems);
        late.inbound.deadline = Instant::now();
        let mut fresh = RetryUnavailable {
            left: 2,
            backoff: Duration::from_millis(1),
        };
        assert!(
            fresh.retry(&mut late, &mut unavailable).is_none(),
            "no retry past the request's deadline"
        );
    }
}
