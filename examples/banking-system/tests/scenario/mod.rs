//! The contract scenario: two customers, their accounts and transfers, refusals included.
//! `cargo xtask demos` runs it against the binary (see `Contract`); the tests run it in
//! their process, on the data directory backend and on PostgreSQL.

use allframe_test::Contract;
use http::Method;
use serde_json::json;

pub(crate) async fn run(c: &mut Contract) {
    let (get, post) = (Method::GET, Method::POST);
    c.send(get.clone(), "/health", None, 200).await;

    let ann = json!({"account_id": "ann", "owner": "Ann"});
    let opened = c
        .send(post.clone(), "/accounts", Some(&ann), 201)
        .await
        .json();
    assert_eq!(opened["balance_cents"], 0);
    c.send(
        post.clone(),
        "/accounts",
        Some(&json!({"account_id": "bob", "owner": "Bob"})),
        201,
    )
    .await;
    c.send(post.clone(), "/accounts", Some(&ann), 409).await;
    let nameless = c
        .send(
            post.clone(),
            "/accounts",
            Some(&json!({"account_id": "x", "owner": ""})),
            422,
        )
        .await
        .json();
    assert!(nameless["errors"]["owner"][0].is_string(), "{nameless}");

    let deposited = c
        .send(
            post.clone(),
            "/accounts/ann/deposits",
            Some(&json!({"amount_cents": 10_000})),
            200,
        )
        .await
        .json();
    assert_eq!(deposited["balance_cents"], 10_000);
    c.send(
        post.clone(),
        "/accounts/ann/withdrawals",
        Some(&json!({"amount_cents": 2_500})),
        200,
    )
    .await;
    let overdraft = c
        .send(
            post.clone(),
            "/accounts/ann/withdrawals",
            Some(&json!({"amount_cents": 99_999})),
            409,
        )
        .await
        .json();
    assert!(
        overdraft["detail"]
            .as_str()
            .unwrap()
            .contains("insufficient funds"),
        "{overdraft}"
    );
    c.send(
        post.clone(),
        "/accounts/ann/deposits",
        Some(&json!({"amount_cents": 0})),
        422,
    )
    .await;
    c.send(
        post.clone(),
        "/accounts/nobody/deposits",
        Some(&json!({"amount_cents": 5})),
        404,
    )
    .await;

    // A transfer runs its saga to the end; repeated with its id it moves nothing twice.
    let t1 = json!({"transfer_id": "t1", "from": "ann", "to": "bob", "amount_cents": 3_000});
    let done = c
        .send(post.clone(), "/transfers", Some(&t1), 201)
        .await
        .json();
    assert_eq!(done["status"], "completed");
    c.send(post.clone(), "/transfers", Some(&t1), 201).await;
    let bob = c.send(get.clone(), "/accounts/bob", None, 200).await.json();
    assert_eq!(bob["balance_cents"], 3_000);

    // Refusals: too much money, over the fraud limit, to oneself, to nobody. Nothing moves.
    let broke = json!({"transfer_id": "t2", "from": "bob", "to": "ann", "amount_cents": 5_000});
    let refused = c
        .send(post.clone(), "/transfers", Some(&broke), 422)
        .await
        .json();
    assert!(
        refused["detail"].as_str().unwrap().contains("debit"),
        "{refused}"
    );
    let huge = json!({"transfer_id": "t3", "from": "ann", "to": "bob", "amount_cents": 5_000_000});
    let refused = c
        .send(post.clone(), "/transfers", Some(&huge), 422)
        .await
        .json();
    assert!(
        refused["detail"].as_str().unwrap().contains("fraud-check"),
        "{refused}"
    );
    let to_self = json!({"transfer_id": "t4", "from": "ann", "to": "ann", "amount_cents": 1});
    c.send(post.clone(), "/transfers", Some(&to_self), 422)
        .await;
    let to_nobody = json!({"transfer_id": "t5", "from": "ann", "to": "nobody", "amount_cents": 1});
    c.send(post.clone(), "/transfers", Some(&to_nobody), 404)
        .await;
    let t2 = c.send(get.clone(), "/transfers/t2", None, 200).await.json();
    assert_eq!(t2["status"], "refused");

    let ann = c.send(get.clone(), "/accounts/ann", None, 200).await.json();
    assert_eq!(ann["balance_cents"], 4_500);
    let history = c
        .send(get.clone(), "/accounts/ann/history", None, 200)
        .await
        .json();
    let balances: Vec<_> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["balance_cents"].clone())
        .collect();
    assert_eq!(balances, [json!(10_000), json!(7_500), json!(4_500)]);
    assert_eq!(history["items"][2]["reference"], "debit:t1");
    let audit = c
        .send(get.clone(), "/audit?limit=3", None, 200)
        .await
        .json();
    assert_eq!(audit["items"][0]["event"], "AccountOpened");
    assert!(audit["total"].as_u64().unwrap() > 3);

    // An account closes only when empty.
    c.send(Method::DELETE, "/accounts/bob", None, 409).await;
    c.send(
        post.clone(),
        "/accounts/bob/withdrawals",
        Some(&json!({"amount_cents": 3_000})),
        200,
    )
    .await;
    let closed = c
        .send(Method::DELETE, "/accounts/bob", None, 200)
        .await
        .json();
    assert_eq!(closed["closed"], true);
    c.send(
        post.clone(),
        "/accounts/bob/deposits",
        Some(&json!({"amount_cents": 1})),
        409,
    )
    .await;
    c.send(get, "/openapi.json", None, 200).await;
}
