//! What many clients at once must not break, run on each backend (`bank.rs` on files,
//! `postgres.rs` on PostgreSQL).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use allframe_test::Client;
use serde_json::{Value, json};

pub(crate) async fn open(c: &mut Client, id: &str, cents: u64) {
    let res = c
        .post_json("/accounts", &json!({"account_id": id, "owner": id}))
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    if cents > 0 {
        let res = c
            .post_json(
                &format!("/accounts/{id}/deposits"),
                &json!({"amount_cents": cents}),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
}

pub(crate) async fn balance(c: &mut Client, id: &str) -> u64 {
    c.get(&format!("/accounts/{id}")).await.json()["balance_cents"]
        .as_u64()
        .unwrap()
}

/// The account's balance is what its history adds up to.
pub(crate) async fn assert_balance_matches_history(c: &mut Client, id: &str) -> Vec<Value> {
    let history = c
        .get(&format!("/accounts/{id}/history?limit=1000"))
        .await
        .json();
    let entries = history["items"].as_array().unwrap().clone();
    let sum: i64 = entries
        .iter()
        .map(|e| e["amount_cents"].as_i64().unwrap())
        .sum();
    assert_eq!(
        sum,
        balance(c, id).await as i64,
        "{id}: balance against history {history}"
    );
    entries
}

/// 200 transfers among 10 accounts from 20 clients at once, pseudo-random pairs and amounts
/// (some overdraw): the total is conserved, and each transfer moved its amount once or
/// nothing at all.
pub(crate) async fn two_hundred_transfers(addr: SocketAddr) {
    let mut c = Client::http1(addr).await;
    for a in 0..10 {
        open(&mut c, &format!("a{a}"), 10_000).await;
    }
    // 20 clients of 10 transfers each, pseudo-random pairs and amounts (some overdraw).
    let clients = (0..20u64).map(|client| {
        tokio::spawn(async move {
            let mut c = Client::http1(addr).await;
            let mut outcomes = Vec::new();
            for i in 0..10u64 {
                let n = client * 10 + i;
                let seed = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let (from, to) = (seed % 10, (seed / 10 % 9 + 1 + seed % 10) % 10);
                let amount = seed / 100 % 6_000 + 1;
                let t = json!({"transfer_id": format!("t{n}"), "from": format!("a{from}"), "to": format!("a{to}"), "amount_cents": amount});
                let res = c.post_json("/transfers", &t).await;
                outcomes.push((format!("t{n}"), res.status.as_u16(), res.text().to_owned()));
            }
            outcomes
        })
    });
    let mut outcomes = Vec::new();
    for client in clients {
        outcomes.extend(client.await.unwrap());
    }
    let mut total = 0;
    let mut moves: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in 0..10 {
        let id = format!("a{a}");
        total += balance(&mut c, &id).await;
        for entry in assert_balance_matches_history(&mut c, &id).await {
            if let Some(reference) = entry["reference"].as_str() {
                let (kind, transfer) = reference.split_once(':').unwrap();
                moves
                    .entry(transfer.to_owned())
                    .or_default()
                    .push(kind.to_owned());
            }
        }
    }
    assert_eq!(total, 100_000, "money is neither made nor lost");
    let completed = outcomes.iter().filter(|(_, s, _)| *s == 201).count();
    assert!(
        completed > 100,
        "most transfers complete: {completed} of 200"
    );
    for (id, status, body) in &outcomes {
        let mut kinds = moves.remove(id).unwrap_or_default();
        kinds.sort();
        match status {
            201 => assert_eq!(kinds, ["credit", "debit"], "{id} moved its money once"),
            422 => assert!(
                kinds.is_empty() || kinds == ["debit", "reversal"],
                "{id} left a trace: {kinds:?} ({body})"
            ),
            other => panic!("{id}: unexpected {other}: {body}"),
        }
    }
}
