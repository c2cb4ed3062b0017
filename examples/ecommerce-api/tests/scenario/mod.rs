//! The contract scenario: a customer's visit, error answers included. `cargo xtask demos`
//! runs it against the binary (see `Contract`); the tests run it in their process, on the
//! data directory backend and on PostgreSQL.

use allframe_test::Contract;
use http::Method;
use serde_json::json;

pub(crate) async fn run(c: &mut Contract) {
    let get = Method::GET;
    let post = Method::POST;
    c.send(get.clone(), "/health", None, 200).await;

    // The catalog: list two products; a taken sku and an empty one are refused.
    let mug = json!({"sku": "mug", "name": "Mug", "price_cents": 1250, "stock": 5});
    let listed = c
        .send(post.clone(), "/products", Some(&mug), 201)
        .await
        .json();
    assert_eq!(listed["available"], 5);
    let tee = json!({"sku": "tee", "name": "T-shirt", "price_cents": 2000, "stock": 2});
    c.send(post.clone(), "/products", Some(&tee), 201).await;
    c.send(post.clone(), "/products", Some(&mug), 409).await;
    let nameless = json!({"sku": "cap", "name": "", "price_cents": 100, "stock": 1});
    let refused = c
        .send(post.clone(), "/products", Some(&nameless), 422)
        .await
        .json();
    assert!(refused["errors"]["name"][0].is_string(), "{refused}");
    let page = c
        .send(get.clone(), "/products?limit=1&offset=1", None, 200)
        .await
        .json();
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"][0]["sku"], "tee");

    // A cart: unknown products and zero quantities are refused, per field.
    let two_mugs = json!({"sku": "mug", "quantity": 2});
    let cart = c
        .send(post.clone(), "/carts/c1/items", Some(&two_mugs), 200)
        .await
        .json();
    assert_eq!(cart["total_cents"], 2500);
    let unknown = json!({"sku": "nope", "quantity": 1});
    c.send(post.clone(), "/carts/c1/items", Some(&unknown), 404)
        .await;
    let zero = json!({"sku": "mug", "quantity": 0});
    let refused = c
        .send(post.clone(), "/carts/c1/items", Some(&zero), 422)
        .await
        .json();
    assert!(refused["errors"]["quantity"][0].is_string(), "{refused}");

    // Checkout runs the saga to the end: paid, shipped, stock gone; a cart checks out once.
    let visa = json!({"payment_token": "tok_visa"});
    let order = c
        .send(post.clone(), "/carts/c1/checkout", Some(&visa), 201)
        .await
        .json();
    assert_eq!(order["status"], "shipped");
    assert_eq!(order["total_cents"], 2500);
    let mug = c.send(get.clone(), "/products/mug", None, 200).await.json();
    assert_eq!(mug["available"], 3);
    c.send(post.clone(), "/carts/c1/checkout", Some(&visa), 409)
        .await;
    c.send(post.clone(), "/carts/c1/items", Some(&two_mugs), 409)
        .await;

    // A declined card: 402, the order cancelled, its stock released.
    let two_tees = json!({"sku": "tee", "quantity": 2});
    c.send(post.clone(), "/carts/c2/items", Some(&two_tees), 200)
        .await;
    let declined = json!({"payment_token": "tok_declined"});
    c.send(post.clone(), "/carts/c2/checkout", Some(&declined), 402)
        .await;
    let order = c.send(get.clone(), "/orders/c2", None, 200).await.json();
    assert_eq!(order["status"], "cancelled");
    let tee = c.send(get.clone(), "/products/tee", None, 200).await.json();
    assert_eq!(tee["available"], 2);

    // More than is in stock: 409, nothing reserved.
    let three_tees = json!({"sku": "tee", "quantity": 3});
    c.send(post.clone(), "/carts/c3/items", Some(&three_tees), 200)
        .await;
    c.send(post.clone(), "/carts/c3/checkout", Some(&visa), 409)
        .await;
    let tee = c.send(get.clone(), "/products/tee", None, 200).await.json();
    assert_eq!(tee["available"], 2);

    let order = c.send(get.clone(), "/orders/c1", None, 200).await.json();
    assert_eq!(order["status"], "shipped");
    c.send(get.clone(), "/orders/c9", None, 404).await;
    c.send(get, "/openapi.json", None, 200).await;
}
