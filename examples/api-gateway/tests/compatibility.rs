//! The published contracts, `contract/openapi.json` (the gateway's REST API) and
//! `contract/inventory.proto` (the backend's gRPC API), still hold: a removed route, field,
//! method or message, or a changed type, fails and is named. A compatible change (something
//! added) is accepted by rewriting the contracts:
//! `ALLFRAME_ACCEPT_CONTRACT=1 cargo test -p api-gateway --test compatibility`, then commit them.

use std::path::PathBuf;

use allframe_test::TestServer;
use api_gateway::inventory::Stock;
use api_gateway::{Backend, Resilience};
use protox::prost_reflect::{DescriptorPool, FieldDescriptor, Kind};
use serde_json::{Value, json};

const ACCEPT: &str = "ALLFRAME_ACCEPT_CONTRACT";

fn contract(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("contract")
        .join(name)
}

/// What `new` breaks of `old`'s routes and component schemas.
fn openapi_breaks(old: &Value, new: &Value) -> Vec<String> {
    let mut breaks = Vec::new();
    let empty = serde_json::Map::new();
    let object = |v: &Value| v.as_object().cloned().unwrap_or_else(|| empty.clone());
    for (path, operations) in object(&old["paths"]) {
        for method in object(&operations).keys() {
            if new["paths"][&path][method].is_null() {
                breaks.push(format!("removed route {} {path}", method.to_uppercase()));
            }
        }
    }
    for (name, schema) in object(&old["components"]["schemas"]) {
        let now = &new["components"]["schemas"][&name];
        if now.is_null() {
            breaks.push(format!("removed schema {name}"));
            continue;
        }
        for (field, property) in object(&schema["properties"]) {
            let changed = &now["properties"][&field];
            if changed.is_null() {
                breaks.push(format!("removed field {name}.{field}"));
            } else if changed["type"] != property["type"] {
                breaks.push(format!(
                    "changed type of {name}.{field}: {} -> {}",
                    property["type"], changed["type"]
                ));
            }
        }
    }
    breaks
}

fn kind(field: &FieldDescriptor) -> String {
    let kind = match field.kind() {
        Kind::Message(message) => message.full_name().to_owned(),
        Kind::Enum(e) => e.full_name().to_owned(),
        other => format!("{other:?}"),
    };
    format!("{:?} {kind}", field.cardinality())
}

/// What `new` breaks of `old`'s services, methods and messages (fields by number).
fn proto_breaks(old: &DescriptorPool, new: &DescriptorPool) -> Vec<String> {
    let mut breaks = Vec::new();
    for service in old.services() {
        let Some(now) = new.get_service_by_name(service.full_name()) else {
            breaks.push(format!("removed service {}", service.full_name()));
            continue;
        };
        for method in service.methods() {
            let signature = |m: &protox::prost_reflect::MethodDescriptor| {
                let stream = |s: bool| if s { "stream " } else { "" };
                format!(
                    "({}{}) returns ({}{})",
                    stream(m.is_client_streaming()),
                    m.input().full_name(),
                    stream(m.is_server_streaming()),
                    m.output().full_name()
                )
            };
            match now.methods().find(|m| m.name() == method.name()) {
                None => breaks.push(format!(
                    "removed method {}/{}",
                    service.full_name(),
                    method.name()
                )),
                Some(m) if signature(&m) != signature(&method) => breaks.push(format!(
                    "changed method {}/{}: {} -> {}",
                    service.full_name(),
                    method.name(),
                    signature(&method),
                    signature(&m)
                )),
                Some(_) => {}
            }
        }
    }
    for message in old.all_messages() {
        let Some(now) = new.get_message_by_name(message.full_name()) else {
            breaks.push(format!("removed message {}", message.full_name()));
            continue;
        };
        for field in message.fields() {
            let name = format!(
                "{}.{} (= {})",
                message.full_name(),
                field.name(),
                field.number()
            );
            match now.get_field(field.number()) {
                None => breaks.push(format!("removed field {name}")),
                Some(f) if f.name() != field.name() => {
                    breaks.push(format!("renamed field {name} to {}", f.name()));
                }
                Some(f) if kind(&f) != kind(&field) => {
                    breaks.push(format!(
                        "changed type of {name}: {} -> {}",
                        kind(&field),
                        kind(&f)
                    ));
                }
                Some(_) => {}
            }
        }
    }
    breaks
}

/// Fails on breaking changes; on compatible ones, rewrites the contract when asked to and
/// fails otherwise (a contract that lags behind would let the next removal through).
fn judge(name: &str, breaks: Vec<String>, changed: bool, accept: impl FnOnce()) {
    assert!(
        breaks.is_empty(),
        "breaking changes against contract/{name}:\n  {}\n(a breaking change needs a new API version, not an edit of the published one)",
        breaks.join("\n  ")
    );
    if changed {
        if std::env::var_os(ACCEPT).is_some() {
            accept();
        } else {
            panic!(
                "contract/{name} differs from the API, compatibly: accept it with \
                 `{ACCEPT}=1 cargo test -p api-gateway --test compatibility` and commit it"
            );
        }
    }
}

#[tokio::test]
async fn the_rest_api_keeps_its_published_contract() {
    let url = api_gateway::start_inventory(Stock::seeded())
        .await
        .expect("the inventory starts");
    let backend = Backend::connect_lazy(&url, Resilience::default()).expect("a URL");
    let gateway = TestServer::start(api_gateway::app(backend)).await;
    let live = gateway.get("/openapi.json").await.json();
    let path = contract("openapi.json");
    let published: Value = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("{} is not JSON: {err}", path.display())),
        Err(err) if std::env::var_os(ACCEPT).is_some() => {
            eprintln!("{}: {err}; writing it", path.display());
            json!({})
        }
        Err(err) => panic!(
            "{}: {err} (write it with `{ACCEPT}=1 cargo test -p api-gateway --test compatibility`)",
            path.display()
        ),
    };
    let breaks = openapi_breaks(&published, &live);
    judge("openapi.json", breaks, live != published, || {
        let text = serde_json::to_string_pretty(&live).expect("JSON") + "\n";
        std::fs::write(&path, text).expect("writing the contract");
    });
}

#[test]
fn the_grpc_api_keeps_its_published_contract() {
    let mut compiler = protox::Compiler::new([contract("")]).expect("a proto compiler");
    compiler
        .open_file("inventory.proto")
        .expect("contract/inventory.proto compiles");
    let published = compiler.descriptor_pool();
    let served =
        DescriptorPool::decode(api_gateway::pb::FILE_DESCRIPTOR_SET).expect("a descriptor set");
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("proto/inventory.proto");
    let read = |p: &PathBuf| std::fs::read_to_string(p).expect("a proto file");
    let changed = read(&source) != read(&contract("inventory.proto"));
    judge(
        "inventory.proto",
        proto_breaks(&published, &served),
        changed,
        || {
            std::fs::copy(&source, contract("inventory.proto")).expect("copying the contract");
        },
    );
}

#[test]
fn a_removed_route_or_field_and_a_changed_type_are_named() {
    let old = json!({
        "paths": {"/items": {"get": {}, "post": {}}},
        "components": {"schemas": {"Item": {"properties": {
            "sku": {"type": "string"}, "stock": {"type": "integer"}
        }}}}
    });
    let new = json!({
        "paths": {"/items": {"get": {}}, "/more": {"get": {}}},
        "components": {"schemas": {"Item": {"properties": {
            "stock": {"type": "string"}, "added": {"type": "string"}
        }}}}
    });
    assert_eq!(
        openapi_breaks(&old, &new),
        [
            "removed route POST /items",
            "removed field Item.sku",
            r#"changed type of Item.stock: "integer" -> "string""#
        ]
    );
    assert!(openapi_breaks(&old, &old).is_empty());
}

#[test]
fn a_removed_method_or_field_and_a_changed_type_are_named_in_protos() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let pool = |text: &str| {
        std::fs::write(dir.path().join("p.proto"), text).expect("writing a proto");
        let mut compiler = protox::Compiler::new([dir.path()]).expect("a compiler");
        compiler.open_file("p.proto").expect("it compiles");
        compiler.descriptor_pool()
    };
    let old = pool(
        "syntax = \"proto3\"; package p;
         service S { rpc Get(Item) returns (Item); rpc Put(Item) returns (Item); }
         message Item { string sku = 1; uint32 stock = 2; string name = 3; }",
    );
    let new = pool(
        "syntax = \"proto3\"; package p;
         service S { rpc Get(Item) returns (stream Item); rpc Added(Item) returns (Item); }
         message Item { string sku = 1; string stock = 2; string title = 3; bool added = 4; }",
    );
    assert_eq!(
        proto_breaks(&old, &new),
        [
            "changed method p.S/Get: (p.Item) returns (p.Item) -> (p.Item) returns (stream p.Item)",
            "removed method p.S/Put",
            "changed type of p.Item.stock (= 2): Optional uint32 -> Optional string",
            "renamed field p.Item.name (= 3) to title",
        ]
    );
}
