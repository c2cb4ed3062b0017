//! The router's OpenAPI document, and the two routes that serve it.

use std::collections::HashSet;

use bytes::Bytes;
use http::header::CONTENT_TYPE;

use super::routing::Described;
use super::{
    Info, OpenApi, Operation, Parameter, ParameterIn, generator, operation_id, scalar_page,
};
use crate::Router;
use crate::response::{APPLICATION_JSON, Html};
use crate::routing::{get, path};

/// What a route routed with the kernel's functions says in the document.
const UNDESCRIBED: &str = "Not described: its handler was routed with `allframe::routing`; \
                           route it with `allframe::openapi::routing` to describe it";

impl<S> Router<S> {
    /// The OpenAPI 3.1 document of the routes added so far.
    ///
    /// Every handler routed to a method of its own is an operation (a `GET` handler's
    /// implicit `HEAD` is not listed separately, and [`any`](crate::routing::any) handlers
    /// and the fallback are not listed). Its path parameters come from the route's pattern;
    /// a described handler's types describe the rest (see [`crate::openapi`]).
    pub fn openapi(&self, info: Info) -> OpenApi {
        let mut schemas = generator();
        let mut doc = OpenApi::new(info);
        let mut ids = HashSet::new();
        for (route, methods) in self.routes() {
            let pattern = path::parse(route).expect("checked in `route`");
            // OpenAPI has no wildcard: `{*rest}` is documented as the parameter `{rest}`.
            let template = pattern.matchit.replace("{*", "{");
            for (method, metadata) in methods.methods() {
                let mut op = Operation::default();
                for name in &pattern.names {
                    op.parameters.push(Parameter {
                        name: name.to_string(),
                        location: ParameterIn::Path,
                        required: true,
                        description: None,
                        schema: schemas.subschema_for::<String>(),
                    });
                }
                match metadata.get::<Described>() {
                    Some(described) => {
                        (described.describe)(&mut op, &mut schemas);
                        op.operation_id = operation_id(described.type_name)
                            .map(|name| unique_id(&mut ids, name, method.as_str()));
                    }
                    None => op.description = Some(UNDESCRIBED.into()),
                }
                if !op.has_success() {
                    op.add_response("default", super::Response::new("The handler's response"));
                }
                // A route's own body limit is a constraint a client must know before sending.
                if let (Some(limit), Some(body)) =
                    (methods.body_limit_of(method), op.request_body.as_mut())
                {
                    body.description = Some(format!(
                        "At most {limit} bytes; a larger body is answered 413."
                    ));
                }
                let item = doc.paths.entry(template.clone()).or_default();
                if let Some(slot) = item.operation_mut(method) {
                    *slot = Some(op);
                }
            }
        }
        doc.components.schemas = schemas.take_definitions(true);
        doc
    }
}

/// `name`, or (for a handler routed twice) `name_method`, `name_method_2`, ...: OpenAPI
/// wants every `operationId` unique.
fn unique_id(ids: &mut HashSet<String>, name: &str, method: &str) -> String {
    let mut id = name.to_owned();
    if ids.contains(&id) {
        id = format!("{name}_{}", method.to_ascii_lowercase());
    }
    let base = id.clone();
    let mut n = 2;
    while ids.contains(&id) {
        id = format!("{base}_{n}");
        n += 1;
    }
    ids.insert(id.clone());
    id
}

impl<S: Clone + Send + Sync + 'static> Router<S> {
    /// Serves the router's OpenAPI 3.1 document at `GET /openapi.json` and a Scalar API
    /// reference of it at `GET /docs`.
    ///
    /// The document is made once, when the router is frozen
    /// ([`with_state`](Router::with_state) or [`into_service`](Router::into_service)), so
    /// it lists every route, including those added after this call and those merged or
    /// nested in. Under [`nest`](Router::nest) the two paths take the prefix. Two routers
    /// that each call it cannot be merged: freezing the merged one panics, saying so.
    pub fn with_openapi(self, info: Info) -> Self {
        self.on_freeze(move |router, prefix| mount_docs(router, prefix, &info))
    }
}

/// Adds the document of `router` (made now, so its own two routes are not in it) and the
/// page that reads it, under `prefix`.
fn mount_docs<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    prefix: &str,
    info: &Info,
) -> Router<S> {
    let spec_path = path::join(prefix, "/openapi.json");
    let page_path = path::join(prefix, "/docs");
    assert!(
        !router.routes().any(|(path, _)| path == spec_path),
        "`with_openapi` is called twice for `{spec_path}` (on two routers merged into one?): \
         call it once, on the router that holds every route"
    );
    let doc = router.openapi(info.clone());
    let json = Bytes::from(serde_json::to_vec(&doc).expect("the document serializes"));
    let page = Bytes::from(scalar_page(&info.title, &spec_path));
    let spec = move || {
        let json = json.clone();
        async move { ([(CONTENT_TYPE, APPLICATION_JSON)], json) }
    };
    let reference = move || {
        let page = page.clone();
        async move { Html(page) }
    };
    router
        .route(&spec_path, get(spec))
        .route(&page_path, get(reference))
}
