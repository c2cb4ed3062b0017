//! What two clients at once must not break, run on each backend (`shop.rs` on files,
//! `postgres.rs` on PostgreSQL).

use std::net::SocketAddr;

use allframe_test::Client;
use serde_json::{Value, json};

/// Lists `sku` with `stock` units at 10.00 and puts `quantity` of it in cart `cart`.
pub(crate) async fn cart_with(c: &mut Client, sku: &str, stock: u32, cart: &str, quantity: u32) {
    let product = json!({"sku": sku, "name": sku, "price_cents": 1000, "stock": stock});
    let listed = c.post_json("/products", &product).await.status;
    assert!(listed == 201 || listed == 409, "{listed}");
    let res = c
        .post_json(
            &format!("/carts/{cart}/items"),
            &json!({"sku": sku, "quantity": quantity}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
}

pub(crate) async fn available(c: &mut Client, sku: &str) -> Value {
    c.get(&format!("/products/{sku}")).await.json()["available"].clone()
}

/// Two checkouts of one cart at once: the store lets one append, the other is refused,
/// and the stock leaves once.
pub(crate) async fn concurrent_checkouts(addr: SocketAddr) {
    let mut c = Client::http1(addr).await;
    cart_with(&mut c, "mug", 10, "c1", 3).await;
    let (mut a, mut b) = (Client::http1(addr).await, Client::http1(addr).await);
    let visa = json!({"payment_token": "tok_visa"});
    let (first, second) = tokio::join!(
        a.post_json("/carts/c1/checkout", &visa),
        b.post_json("/carts/c1/checkout", &visa)
    );
    let mut statuses = [first.status.as_u16(), second.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{} / {}", first.text(), second.text());
    assert_eq!(available(&mut c, "mug").await, 7, "the stock left once");
}
