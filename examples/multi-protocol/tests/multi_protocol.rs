//! Real clients on a real socket: HTTP/1.1 for REST and GraphQL, a WebSocket speaking
//! graphql-transport-ws for subscriptions, and tonic's client (h2c) for gRPC, all against
//! one server on one port.

use allframe_test::{Client, PATIENCE, RunningBinary, TestServer};
use futures_util::{SinkExt, StreamExt};
use multi_protocol::pb::catalog_client::CatalogClient;
use multi_protocol::pb::{GetBookRequest, ListBooksRequest, NewBook};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tonic::Code;
use tonic::transport::Channel;

async fn channel(addr: std::net::SocketAddr) -> Channel {
    let endpoint = Channel::from_shared(format!("http://{addr}")).expect("url");
    tokio::time::timeout(PATIENCE, endpoint.connect())
        .await
        .expect("connect in time")
        .expect("connect")
}

async fn graphql(c: &mut Client, query: &str) -> Value {
    let res = c.post_json("/graphql", &json!({ "query": query })).await;
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()
}

async fn add_over_rest(c: &mut Client, title: &str, author: &str) -> Value {
    let res = c
        .post_json("/books", &json!({ "title": title, "author": author }))
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    res.json()
}

#[tokio::test]
async fn a_book_added_over_rest_is_seen_over_graphql_and_grpc() {
    let server = TestServer::start(multi_protocol::app()).await;
    let mut c = server.http1().await;
    let dune = json!({ "id": 1, "title": "Dune", "author": "Frank Herbert" });
    assert_eq!(add_over_rest(&mut c, "Dune", "Frank Herbert").await, dune);
    assert_eq!(c.get("/books/1").await.json(), dune);
    assert_eq!(c.get("/books").await.json(), json!([dune]));
    let res = c.get("/books/2").await;
    assert_eq!(res.status, 404);
    assert_eq!(res.header("content-type"), Some("application/problem+json"));
    let res = c
        .post_json("/books", &json!({ "title": " ", "author": "nobody" }))
        .await;
    assert_eq!(res.status, 422, "{}", res.text());

    assert_eq!(
        graphql(
            &mut c,
            "{ books { id title author } book(id: 1) { title } }"
        )
        .await,
        json!({ "data": { "books": [dune], "book": { "title": "Dune" } } })
    );

    let mut catalog = CatalogClient::new(channel(server.addr()).await);
    let book = catalog
        .get_book(GetBookRequest { id: 1 })
        .await
        .expect("GetBook")
        .into_inner();
    assert_eq!(
        (book.id, book.title.as_str(), book.author.as_str()),
        (1, "Dune", "Frank Herbert")
    );
    let status = catalog
        .get_book(GetBookRequest { id: 9 })
        .await
        .expect_err("no book 9");
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn books_added_over_graphql_and_grpc_are_seen_over_rest_and_grpc() {
    let server = TestServer::start(multi_protocol::app()).await;
    let mut c = server.http1().await;
    assert_eq!(
        graphql(
            &mut c,
            r#"mutation { addBook(title: "Emma", author: "Jane Austen") { id } }"#
        )
        .await,
        json!({ "data": { "addBook": { "id": 1 } } })
    );
    let mut catalog = CatalogClient::new(channel(server.addr()).await);
    let added = catalog
        .add_book(NewBook {
            title: "Ubik".into(),
            author: "Philip K. Dick".into(),
        })
        .await
        .expect("AddBook")
        .into_inner();
    assert_eq!(added.id, 2);
    let status = catalog
        .add_book(NewBook::default())
        .await
        .expect_err("no title");
    assert_eq!(status.code(), Code::InvalidArgument);

    let titles: Vec<_> = c.get("/books").await.json().as_array().unwrap()[..]
        .iter()
        .map(|b| b["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(titles, ["Emma", "Ubik"]);
    let mut stream = catalog
        .list_books(ListBooksRequest {})
        .await
        .expect("ListBooks")
        .into_inner();
    let mut streamed = Vec::new();
    while let Some(book) = stream.message().await.expect("stream item") {
        streamed.push(book.title);
    }
    assert_eq!(streamed, titles);
}

#[tokio::test]
async fn the_openapi_document_lists_the_rest_routes_and_docs_is_a_page() {
    let server = TestServer::start(multi_protocol::app()).await;
    let doc = server.get("/openapi.json").await.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "multi-protocol");
    let books = &doc["paths"]["/books"];
    assert_eq!(
        books["get"]["responses"]["200"]["content"]["application/json"]["schema"]["items"]["$ref"],
        "#/components/schemas/Book"
    );
    assert_eq!(
        books["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/NewBook"
    );
    let book = &doc["paths"]["/books/{id}"]["get"];
    assert_eq!(book["parameters"][0]["name"], "id");
    assert_eq!(book["parameters"][0]["in"], "path");
    assert!(doc["components"]["schemas"]["Book"]["properties"]["title"].is_object());

    let res = server.get("/docs").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(res.text().contains("@scalar/api-reference@"));
}

#[tokio::test]
async fn a_graphql_subscription_receives_books_added_over_rest() {
    let server = TestServer::start(multi_protocol::app()).await;
    let mut c = server.http1().await;

    let mut req = format!("ws://{}/graphql", server.addr())
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("WebSocket handshake");
    socket
        .send(Message::text(
            json!({ "type": "connection_init" }).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(next_text(&mut socket).await["type"], "connection_ack");
    let subscribe = json!({
        "id": "s",
        "type": "subscribe",
        "payload": { "query": "subscription { bookAdded { id title } }" },
    });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();

    // Whether the server has subscribed yet or not, each book arrives exactly once: books
    // already there come first, then each new one.
    for (id, title) in [(1, "Dune"), (2, "Emma")] {
        add_over_rest(&mut c, title, "someone").await;
        assert_eq!(
            next_text(&mut socket).await,
            json!({
                "id": "s",
                "type": "next",
                "payload": { "data": { "bookAdded": { "id": id, "title": title } } },
            })
        );
    }
    socket
        .send(Message::text(
            json!({ "id": "s", "type": "complete" }).to_string(),
        ))
        .await
        .unwrap();
    socket.close(None).await.unwrap();
}

async fn next_text(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a message in time")
            .expect("the socket stays open")
            .expect("a good frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test]
async fn grpc_health_answers_serving() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let server = TestServer::start(multi_protocol::app()).await;
    let mut health = HealthClient::new(channel(server.addr()).await);
    for service in ["", "library.v1.Catalog"] {
        let res = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health check");
        assert_eq!(
            res.into_inner().status,
            ServingStatus::Serving as i32,
            "{service:?}"
        );
    }
}

#[tokio::test]
async fn the_binary_serves_rest_and_grpc_on_allframe_addr() {
    let running = RunningBinary::start(env!("CARGO_BIN_EXE_multi-protocol")).await;
    let addr = running.addr();
    let mut c = Client::http1(addr).await;
    add_over_rest(&mut c, "Dune", "Frank Herbert").await;
    let book = CatalogClient::new(channel(addr).await)
        .get_book(GetBookRequest { id: 1 })
        .await
        .expect("GetBook")
        .into_inner();
    assert_eq!(book.title, "Dune");
}
