//! The router's OpenAPI document, and the two routes that serve it.

use std::collections::HashSet;

use bytes::Bytes;
use http::header::CONTENT_TYPE;

use super::{Router, get, path};
use crate::openapi::{self, Info, OpenApi, Operation, Parameter, ParameterIn};
use crate::response::Html;

/// What [`Router::with_openapi`] asked for, mounted when the router is frozen so that every
/// route added before or after it is in the document.
#[derive(Debug, Clone)]
pub(super) struct Docs {
    info: Info,
    spec_path: String,
    page_path: String,
}

impl Docs {
    /// The same docs for a router nested under `prefix`.
    pub(super) fn nested(self, prefix: &str) -> Self {
        Self {
            spec_path: path::join(prefix, &self.spec_path),
            page_path: path::join(prefix, &self.page_path),
            info: self.info,
        }
    }
}

impl<S> Router<S> {
    /// The OpenAPI 3.1 document of the routes added so far.
    ///
    /// Every handler routed to a method of its own is an operation (a `GET` handler's
    /// implicit `HEAD` is not listed separately, and [`any`](super::any) handlers and the
    /// fallback are not listed). Its path parameters come from the route's pattern; its
    /// types describe the rest (see [`crate::openapi`]).
    pub fn openapi(&self, info: Info) -> OpenApi {
        let mut schemas = openapi::generator();
        let mut doc = OpenApi::new(info);
        let mut ids = HashSet::new();
        for route in &self.routes {
            let pattern = path::parse(&route.path).expect("checked in `route`");
            // OpenAPI has no wildcard: `{*rest}` is documented as the parameter `{rest}`.
            let template = pattern.matchit.replace("{*", "{");
            for (method, handler) in route.methods.routed() {
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
                handler.describe(&mut op, &mut schemas);
                if !op.has_success() {
                    op.add_response("default", openapi::Response::new("The handler's response"));
                }
                op.operation_id = openapi::operation_id(handler.type_name())
                    .map(|name| unique_id(&mut ids, name, method.as_str()));
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
    /// it lists every route, including those added after this call. Under
    /// [`nest`](Router::nest) the two paths take the prefix.
    pub fn with_openapi(mut self, info: Info) -> Self {
        self.docs = Some(Docs {
            info,
            spec_path: "/openapi.json".into(),
            page_path: "/docs".into(),
        });
        self
    }

    /// Adds the document's routes if [`Router::with_openapi`] asked for them.
    #[track_caller]
    pub(super) fn mount_docs(mut self) -> Self {
        let Some(docs) = self.docs.take() else {
            return self;
        };
        let doc = self.openapi(docs.info.clone());
        let json = Bytes::from(serde_json::to_vec(&doc).expect("the document serializes"));
        let page = Bytes::from(openapi::scalar_page(&docs.info.title, &docs.spec_path));
        let spec = move || {
            let json = json.clone();
            async move { ([(CONTENT_TYPE, crate::response::APPLICATION_JSON)], json) }
        };
        let reference = move || {
            let page = page.clone();
            async move { Html(page) }
        };
        self.route(&docs.spec_path, get(spec))
            .route(&docs.page_path, get(reference))
    }
}
