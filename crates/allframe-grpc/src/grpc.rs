//! The builder of the gRPC side: services, health and reflection.

use std::convert::Infallible;
use std::future::Future;
use std::task::{Context, Poll, Waker};

use http::{Request, Response};
use tonic::body::Body as TonicBody;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower_service::Service;

use crate::multiplex::Multiplexed;

/// The gRPC services of an application, to serve beside its REST routes.
///
/// Add tonic services (the `...Server` types tonic-prost-build generates), optionally the
/// standard health and reflection services, then join it with the REST side with
/// [`Grpc::with_rest`]. See the [crate docs](crate) for a complete example.
#[derive(Debug, Default)]
pub struct Grpc {
    routes: Routes,
    /// Names of the services added, reported `SERVING` once health is on.
    names: Vec<&'static str>,
    health: Option<HealthReporter>,
    /// Encoded `FileDescriptorSet`s the reflection service describes; `None`: no reflection.
    descriptors: Option<Vec<&'static [u8]>>,
}

impl Grpc {
    /// No services yet: every call is answered `UNIMPLEMENTED`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `service` under its gRPC name (`/package.Service/...`).
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: Service<Request<TonicBody>, Response = Response<TonicBody>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.routes = self.routes.add_service(service);
        self.names.push(S::NAME);
        if let Some(health) = &self.health {
            report_serving(health, S::NAME);
        }
        self
    }

    /// Adds the standard health service (`grpc.health.v1.Health`), which reports `SERVING`
    /// for the server as a whole (`""`) and for every service added, before or after this
    /// call. Change a status with the [`HealthReporter`] from [`Grpc::health_reporter`].
    pub fn with_health(mut self) -> Self {
        if self.health.is_some() {
            return self;
        }
        let (reporter, service) = tonic_health::server::health_reporter();
        for name in &self.names {
            report_serving(&reporter, name);
        }
        self.routes = self.routes.add_service(service);
        self.health = Some(reporter);
        self
    }

    /// The health statuses' handle, once [`Grpc::with_health`] was called.
    pub fn health_reporter(&self) -> Option<HealthReporter> {
        self.health.clone()
    }

    /// Adds the reflection service (`grpc.reflection.v1` and `v1alpha`, what grpcurl and
    /// Postman ask) describing the services of `file_descriptor_set`: the encoded
    /// `FileDescriptorSet` a build script wrote (see the crate docs). Call it once per set;
    /// the health service, when on, is described too.
    ///
    /// # Panics
    /// When `file_descriptor_set` is not an encoded `FileDescriptorSet`.
    #[track_caller]
    pub fn with_reflection(mut self, file_descriptor_set: &'static [u8]) -> Self {
        // Checked here so a bad set fails where it is passed, not at the end of the builder.
        if let Err(err) = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(file_descriptor_set)
            .build_v1()
        {
            panic!("with_reflection: not an encoded FileDescriptorSet: {err}");
        }
        self.descriptors
            .get_or_insert_with(Vec::new)
            .push(file_descriptor_set);
        self
    }

    /// The services as tonic [`Routes`]: an unknown service or method is answered
    /// `UNIMPLEMENTED`.
    pub fn into_routes(self) -> Routes {
        let mut routes = self.routes;
        if let Some(sets) = self.descriptors {
            let mut v1 = tonic_reflection::server::Builder::configure();
            let mut v1alpha = tonic_reflection::server::Builder::configure();
            if self.health.is_some() {
                v1 = v1.register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
                v1alpha = v1alpha
                    .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
            }
            for set in sets {
                v1 = v1.register_encoded_file_descriptor_set(set);
                v1alpha = v1alpha.register_encoded_file_descriptor_set(set);
            }
            // Every set was checked by `with_reflection`, and tonic's own ones are valid.
            let v1 = v1.build_v1().expect("descriptor sets checked when added");
            let v1alpha = v1alpha
                .build_v1alpha()
                .expect("descriptor sets checked when added");
            routes = routes.add_service(v1).add_service(v1alpha);
        }
        routes.prepare()
    }

    /// Joins these services with the REST service `rest` (usually a
    /// [`RouterService`](allframe_core::RouterService)) into one service for
    /// [`allframe_core::serve`].
    pub fn with_rest<R>(self, rest: R) -> Multiplexed<R> {
        Multiplexed::new(rest, self.into_routes())
    }
}

impl From<Grpc> for Routes {
    fn from(grpc: Grpc) -> Self {
        grpc.into_routes()
    }
}

/// Marks `name` as serving without an executor: the builder is synchronous.
///
/// The reporter's lock is only contended while a health call reads it, so one poll almost
/// always finishes the update; `unconstrained` keeps tokio's task budget from refusing it.
/// Should it not finish, it is finished on the current runtime, if there is one.
fn report_serving(reporter: &HealthReporter, name: &'static str) {
    let reporter = reporter.clone();
    let update = tokio::task::coop::unconstrained(async move {
        reporter
            .set_service_status(name, ServingStatus::Serving)
            .await;
    });
    let mut update = Box::pin(update);
    let mut cx = Context::from_waker(Waker::noop());
    if update.as_mut().poll(&mut cx) == Poll::Pending {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(update)),
            Err(_) => tracing::warn!(service = name, "health status not set: no tokio runtime"),
        }
    }
}
