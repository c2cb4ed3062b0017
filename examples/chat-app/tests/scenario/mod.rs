//! The contract scenario: three users, a channel, history pages and live delivery to a
//! second socket, presence, and every limit and refusal. `cargo xtask demos` runs it
//! against the binary (see `Contract`); the tests run it in their process, on the data
//! directory backend and on PostgreSQL.

use allframe_test::{Client, Contract, GraphQLSocket};
use http::Method;
use serde_json::{Value, json};

/// Runs `query` over HTTP with the headers set on `c`; the whole reply.
async fn call(c: &mut Contract, query: &str, variables: Value) -> Value {
    let body = json!({"query": query, "variables": variables});
    c.send(Method::POST, "/graphql", Some(&body), 200)
        .await
        .json()
}

/// The data of `query`, asserting it had no errors.
async fn data(c: &mut Contract, query: &str, variables: Value) -> Value {
    let reply = call(c, query, variables).await;
    assert!(reply.get("errors").is_none(), "{query}: {reply}");
    reply["data"].clone()
}

/// The `extensions.code` of `query`'s first error, asserting it has one.
async fn refused(c: &mut Contract, query: &str, variables: Value) -> String {
    let reply = call(c, query, variables).await;
    reply["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{query} was not refused: {reply}"))
        .to_owned()
}

fn code(message: &Value) -> &str {
    message["payload"]["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {message}"))
}

const REGISTER: &str =
    "mutation($u: String!, $p: String!) { register(username: $u, password: $p) }";
const POST: &str = "mutation($c: String!, $b: String!) { postMessage(channel: $c, body: $b) { cursor author body } }";
const HISTORY: &str = "query($c: String!, $first: Int, $after: String, $last: Int) {
    messages(channel: $c, first: $first, after: $after, last: $last) {
        edges { cursor node { body author } }
        pageInfo { hasPreviousPage hasNextPage startCursor endCursor }
    } }";
const LIVE: &str = "subscription($c: String!, $after: String) {
    messagePosted(channel: $c, after: $after) { cursor author body } }";

/// Signs `c` in as the user `token` belongs to (`None`: signed out).
fn sign_in(c: &mut Contract, token: Option<&str>) {
    let value = token.map(|t| format!("Bearer {t}"));
    c.set_header("authorization", value.as_deref());
}

async fn register(c: &mut Contract, username: &str) -> String {
    let reply = data(c, REGISTER, json!({"u": username, "p": "password1"})).await;
    reply["register"].as_str().expect("a token").to_owned()
}

fn bodies(page: &Value) -> Vec<&str> {
    page["messages"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["body"].as_str().expect("a body"))
        .collect()
}

pub(crate) async fn run(c: &mut Contract) {
    c.send(Method::GET, "/health", None, 200).await;

    // Accounts: a taken name, a bad name, a short password, a wrong one.
    let ann = register(c, "ann").await;
    let bob = register(c, "bob").await;
    let again = json!({"u": "ann", "p": "password2"});
    assert_eq!(refused(c, REGISTER, again).await, "CONFLICT");
    let bad = json!({"u": "Ann Smith", "p": "password1"});
    assert_eq!(refused(c, REGISTER, bad).await, "BAD_USER_INPUT");
    let short = json!({"u": "cyd", "p": "pw"});
    assert_eq!(refused(c, REGISTER, short).await, "BAD_USER_INPUT");
    let login = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) }";
    assert_eq!(
        refused(c, login, json!({"u": "ann", "p": "wrong-one"})).await,
        "UNAUTHENTICATED"
    );
    assert_eq!(
        refused(c, login, json!({"u": "nobody", "p": "password1"})).await,
        "UNAUTHENTICATED"
    );
    let logged_in = data(c, login, json!({"u": "ann", "p": "password1"})).await;
    assert!(logged_in["login"].is_string(), "{logged_in}");

    // Channels: only the signed in act; a forged token is a 401.
    let create = "mutation($n: String!) { createChannel(name: $n) }";
    assert_eq!(
        refused(c, create, json!({"n": "general"})).await,
        "UNAUTHENTICATED"
    );
    c.set_header("authorization", Some("Bearer forged.token.here"));
    let body = json!({"query": "{ me }"});
    c.send(Method::POST, "/graphql", Some(&body), 401).await;
    sign_in(c, Some(&ann));
    assert_eq!(data(c, "{ me }", json!({})).await["me"], "ann");
    data(c, create, json!({"n": "general"})).await;
    assert_eq!(
        refused(c, create, json!({"n": "general"})).await,
        "CONFLICT"
    );
    sign_in(c, Some(&bob));
    let hello = json!({"c": "general", "b": "hello"});
    assert_eq!(refused(c, POST, hello.clone()).await, "FORBIDDEN");
    let join = "mutation($c: String!) { joinChannel(channel: $c) }";
    assert_eq!(refused(c, join, json!({"c": "nowhere"})).await, "NOT_FOUND");
    data(c, join, json!({"c": "general"})).await;
    let listed = data(c, "{ channels { name members } }", json!({})).await;
    assert_eq!(
        listed["channels"],
        json!([{"name": "general", "members": ["ann", "bob"]}])
    );

    // Bob's socket, signed in by connection_init: presence and the channel, live.
    let addr = c.addr();
    let init = |token: &str| Some(json!({"authorization": format!("Bearer {token}")}));
    let mut b = GraphQLSocket::connect(addr, "/graphql", init(&bob)).await;
    b.subscribe(
        "presence",
        "subscription { presence { username online } }",
        json!({}),
    )
    .await;
    let first = b.next_of("presence").await;
    assert_eq!(
        first["payload"]["data"]["presence"],
        json!({"username": "bob", "online": true})
    );
    b.subscribe("live", LIVE, json!({"c": "general"})).await;
    let a = GraphQLSocket::connect(addr, "/graphql", init(&ann)).await;
    let arrived = b.next_of("presence").await;
    assert_eq!(
        arrived["payload"]["data"]["presence"],
        json!({"username": "ann", "online": true})
    );

    // Ann posts over HTTP: Bob's socket receives each, in order.
    sign_in(c, Some(&ann));
    let mut cursors = Vec::new();
    for body in ["one", "two", "three"] {
        let posted = data(c, POST, json!({"c": "general", "b": body})).await;
        cursors.push(
            posted["postMessage"]["cursor"]
                .as_str()
                .expect("a cursor")
                .to_owned(),
        );
    }
    for (body, cursor) in ["one", "two", "three"].iter().zip(&cursors) {
        let live = b.next_of("live").await;
        let message = &live["payload"]["data"]["messagePosted"];
        assert_eq!(message["body"], *body, "{live}");
        assert_eq!(message["cursor"], cursor.as_str(), "{live}");
        assert_eq!(message["author"], "ann", "{live}");
    }

    // History pages hold still while messages arrive.
    let page = data(c, HISTORY, json!({"c": "general", "first": 2})).await;
    assert_eq!(bodies(&page), ["one", "two"]);
    assert_eq!(page["messages"]["pageInfo"]["hasNextPage"], true, "{page}");
    let end = page["messages"]["pageInfo"]["endCursor"].clone();
    sign_in(c, Some(&bob));
    data(c, POST, json!({"c": "general", "b": "four"})).await;
    let same = data(c, HISTORY, json!({"c": "general", "first": 2})).await;
    assert_eq!(same["messages"]["edges"], page["messages"]["edges"]);
    let next = data(
        c,
        HISTORY,
        json!({"c": "general", "first": 2, "after": end}),
    )
    .await;
    assert_eq!(bodies(&next), ["three", "four"]);
    let newest = data(c, HISTORY, json!({"c": "general", "last": 1})).await;
    assert_eq!(bodies(&newest), ["four"]);
    assert_eq!(
        newest["messages"]["pageInfo"]["hasPreviousPage"], true,
        "{newest}"
    );
    assert_eq!(
        b.next_of("live").await["payload"]["data"]["messagePosted"]["body"],
        "four"
    );
    let over = json!({"c": "general", "first": 101});
    assert!(call(c, HISTORY, over).await["errors"][0]["message"].is_string());

    // A subscription from a page's last cursor misses nothing and repeats nothing.
    let mut late = GraphQLSocket::connect(addr, "/graphql", init(&bob)).await;
    late.subscribe("from", LIVE, json!({"c": "general", "after": cursors[1]}))
        .await;
    for body in ["three", "four"] {
        let replayed = late.next_of("from").await;
        assert_eq!(
            replayed["payload"]["data"]["messagePosted"]["body"], body,
            "{replayed}"
        );
    }

    // Limits: message size and rate, each an error with the socket and the server kept.
    let long = "x".repeat(2001);
    assert_eq!(
        refused(c, POST, json!({"c": "general", "b": long})).await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        refused(c, POST, json!({"c": "general", "b": ""})).await,
        "BAD_USER_INPUT"
    );
    let cy = register(c, "cyd").await;
    sign_in(c, Some(&cy));
    data(c, join, json!({"c": "general"})).await;
    let mut limited = 0;
    for n in 0..12 {
        let reply = call(c, POST, json!({"c": "general", "b": format!("spam {n}")})).await;
        if reply["errors"][0]["extensions"]["code"] == "RATE_LIMITED" {
            limited += 1;
        } else {
            assert!(reply.get("errors").is_none(), "{reply}");
        }
    }
    assert!(
        (1..12).contains(&limited),
        "{limited} of 12 quick messages refused"
    );
    // A socket runs at most 8 operations at once: `from` and seven more.
    for n in 0..7 {
        late.subscribe(
            &format!("s{n}"),
            "subscription { presence { username } }",
            json!({}),
        )
        .await;
    }
    late.subscribe("ninth", LIVE, json!({"c": "general"})).await;
    let ninth = late.next_of("ninth").await;
    assert_eq!(ninth["type"], "error", "{ninth}");
    assert_eq!(
        ninth["payload"][0]["extensions"]["code"], "TOO_MANY_OPERATIONS",
        "{ninth}"
    );
    late.complete("s0").await;
    late.subscribe("again", "{ me }", json!({})).await;
    assert_eq!(late.next_of("again").await["payload"]["data"]["me"], "bob");

    // Without a token a socket may read nothing that needs one.
    let mut anonymous = GraphQLSocket::connect(addr, "/graphql", None).await;
    anonymous
        .subscribe("1", LIVE, json!({"c": "general"}))
        .await;
    assert_eq!(code(&anonymous.next_of("1").await), "UNAUTHENTICATED");
    let forged = GraphQLSocket::open(addr, "/graphql", init("forged.token.here")).await;
    let (close_code, reason) = {
        let mut f = forged;
        f.closed().await
    };
    assert_eq!(close_code, 4403, "{reason}");

    // Ann's socket closes: Bob sees her go offline. Leaving ends posting.
    a.close().await;
    let left = b.next_of("presence").await;
    assert_eq!(
        left["payload"]["data"]["presence"],
        json!({"username": "ann", "online": false})
    );
    sign_in(c, Some(&bob));
    let leave = "mutation($c: String!) { leaveChannel(channel: $c) }";
    data(c, leave, json!({"c": "general"})).await;
    assert_eq!(
        refused(c, POST, json!({"c": "general", "b": "gone"})).await,
        "FORBIDDEN"
    );
    let history = json!({"c": "general", "first": 1});
    assert_eq!(refused(c, HISTORY, history).await, "FORBIDDEN");

    fan_out(c, &ann).await;
}

/// One message to 100 subscribers, timed from the mutation to its last delivery
/// (`cargo xtask demos` reports the probe `fanout_100`). The posts go on a client of their
/// own: they are timed by the probe, not as the scenario's requests.
async fn fan_out(c: &mut Contract, token: &str) {
    const SUBSCRIBERS: usize = 100;
    sign_in(c, Some(token));
    data(c, "mutation { createChannel(name: \"fanout\") }", json!({})).await;
    let start = data(c, POST, json!({"c": "fanout", "b": "start"})).await;
    // From the cursor of `start`, so no subscription misses a message it subscribed before.
    let after = start["postMessage"]["cursor"].clone();
    let init = Some(json!({"authorization": format!("Bearer {token}")}));
    let mut sockets = Vec::new();
    for _ in 0..SUBSCRIBERS {
        let mut socket = GraphQLSocket::connect(c.addr(), "/graphql", init.clone()).await;
        socket
            .subscribe("fan", LIVE, json!({"c": "fanout", "after": after}))
            .await;
        sockets.push(socket);
    }
    let mut poster = Client::http1(c.addr()).await;
    let bearer = format!("Bearer {token}");
    let headers = [
        ("content-type", "application/json"),
        ("authorization", &bearer),
    ];
    for round in 0..20 {
        let body = format!("fan {round}");
        let post = json!({"query": POST, "variables": {"c": "fanout", "b": body}}).to_string();
        let posted = std::time::Instant::now();
        let reply = poster
            .request(Method::POST, "/graphql", &headers, post)
            .await;
        assert!(reply.json().get("errors").is_none(), "{}", reply.text());
        for socket in &mut sockets {
            let message = socket.next_of("fan").await;
            assert_eq!(
                message["payload"]["data"]["messagePosted"]["body"], body,
                "{message}"
            );
        }
        c.probe("fanout_100", posted.elapsed());
        // Within the 5 messages a second a user may post.
        tokio::time::sleep(std::time::Duration::from_millis(220)).await;
    }
}
