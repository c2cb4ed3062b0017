//! The real binary: SIGTERM tells open sockets (`1001 Going Away`) and exits cleanly, and a
//! restart keeps accounts, channels and history.

use allframe_test::{Client, GraphQLSocket, RunningBinary};
use serde_json::{Value, json};

const CHAT: &str = env!("CARGO_BIN_EXE_chat-app");

async fn graphql(chat: &RunningBinary, token: Option<&str>, query: &str) -> Value {
    let mut c = Client::http1(chat.addr()).await;
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(bearer) = &bearer {
        headers.push(("authorization", bearer));
    }
    let body = json!({ "query": query }).to_string();
    let reply = c
        .request(http::Method::POST, "/graphql", &headers, body)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = reply.json();
    assert!(reply.get("errors").is_none(), "{query}: {reply}");
    reply["data"].clone()
}

#[tokio::test]
async fn sigterm_closes_sockets_and_a_restart_keeps_the_log() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let dir = data.path().to_str().expect("a UTF-8 path");
    // The file backend in a fresh directory: `cargo xtask test` sets DATABASE_URL, whose
    // schema outlives the test (a second run found `ann` taken).
    let env = [
        ("ALLFRAME_DATA", dir),
        ("DATABASE_URL", ""),
        ("CHAT_SECRET", "a secret of at least 32 bytes..."),
    ];
    let chat = RunningBinary::start_with_env(CHAT, &env).await;
    let registered = graphql(
        &chat,
        None,
        r#"mutation { register(username: "ann", password: "password1") }"#,
    )
    .await;
    let token = registered["register"].as_str().expect("a token").to_owned();
    graphql(
        &chat,
        Some(&token),
        r#"mutation { createChannel(name: "general") }"#,
    )
    .await;
    graphql(
        &chat,
        Some(&token),
        r#"mutation { postMessage(channel: "general", body: "kept") { cursor } }"#,
    )
    .await;

    let init = json!({"authorization": format!("Bearer {token}")});
    let mut socket = GraphQLSocket::connect(chat.addr(), "/graphql", Some(init)).await;
    socket
        .subscribe("1", "subscription { presence { username } }", json!({}))
        .await;
    socket.next_of("1").await;
    let stopping = tokio::spawn(chat.terminate());
    let (code, reason) = socket.closed().await;
    assert_eq!(code, 1001, "{reason}");
    drop(socket);
    assert!(
        stopping.await.expect("no panic").success(),
        "a clean exit on SIGTERM"
    );

    let chat = RunningBinary::start_with_env(CHAT, &env).await;
    let history = graphql(
        &chat,
        Some(&token),
        r#"{ messages(channel: "general") { edges { node { body author } } } }"#,
    )
    .await;
    assert_eq!(
        history["messages"]["edges"],
        json!([{"node": {"body": "kept", "author": "ann"}}])
    );
    chat.terminate().await;
}
