//! The bank's failure paths over real TCP: a credit that fails or times out, a process
//! killed in the middle of a transfer, 200 concurrent transfers, bad input.

mod races;

use std::time::Duration;

use allframe::cqrs::Storage;
use allframe_test::{Client, RunningBinary, TestServer};
use banking_system::transfer::Rules;
use http::Method;
use races::{assert_balance_matches_history, balance, open};
use serde_json::{Value, json};

async fn bank(rules: Rules) -> (TestServer, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("a temporary directory");
    let app = banking_system::app(&Storage::Directory(data.path().to_owned()), rules)
        .await
        .expect("the bank opens");
    (
        TestServer::start_with(app, banking_system::server_config()).await,
        data,
    )
}

#[tokio::test]
async fn a_credit_that_fails_pays_the_debit_back() {
    let (server, _data) = bank(Rules::default()).await;
    let mut c = server.http1().await;
    open(&mut c, "ann", 10_000).await;
    open(&mut c, "bob", 0).await;
    assert_eq!(
        c.request(Method::DELETE, "/accounts/bob", &[], "")
            .await
            .status,
        200
    );
    let t = json!({"transfer_id": "t1", "from": "ann", "to": "bob", "amount_cents": 4_000});
    let res = c.post_json("/transfers", &t).await;
    assert_eq!(res.status, 422, "{}", res.text());
    assert!(
        res.json()["detail"].as_str().unwrap().contains("closed"),
        "{}",
        res.text()
    );
    assert_eq!(balance(&mut c, "ann").await, 10_000);
    let entries = assert_balance_matches_history(&mut c, "ann").await;
    let references: Vec<_> = entries.iter().map(|e| e["reference"].clone()).collect();
    assert_eq!(
        references,
        [Value::Null, json!("debit:t1"), json!("reversal:t1")]
    );
    assert_eq!(c.get("/transfers/t1").await.json()["status"], "refused");
}

#[tokio::test]
async fn a_credit_that_times_out_pays_the_debit_back() {
    let rules = Rules {
        credit_delay: Duration::from_millis(300),
        credit_timeout: Duration::from_millis(50),
        ..Rules::default()
    };
    let (server, _data) = bank(rules).await;
    let mut c = server.http1().await;
    open(&mut c, "ann", 10_000).await;
    open(&mut c, "bob", 0).await;
    let res = c
        .post_json(
            "/transfers",
            &json!({"transfer_id": "t1", "from": "ann", "to": "bob", "amount_cents": 4_000}),
        )
        .await;
    assert_eq!(res.status, 422, "{}", res.text());
    assert!(
        res.json()["detail"].as_str().unwrap().contains("timed out"),
        "{}",
        res.text()
    );
    assert_eq!(
        (balance(&mut c, "ann").await, balance(&mut c, "bob").await),
        (10_000, 0)
    );
    assert_balance_matches_history(&mut c, "bob").await;
}

#[tokio::test]
async fn the_fraud_check_refuses_bursts_from_one_account() {
    let (server, _data) = bank(Rules {
        max_transfers_per_minute: 3,
        ..Rules::default()
    })
    .await;
    let mut c = server.http1().await;
    open(&mut c, "ann", 10_000).await;
    open(&mut c, "bob", 0).await;
    let mut statuses = Vec::new();
    for i in 0..5 {
        let t = json!({"transfer_id": format!("t{i}"), "from": "ann", "to": "bob", "amount_cents": 100});
        statuses.push(c.post_json("/transfers", &t).await.status.as_u16());
    }
    assert_eq!(statuses, [201, 201, 201, 422, 422]);
    assert_eq!(balance(&mut c, "bob").await, 300);
}

/// Conservation under contention: every transfer either moved its amount once or nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_transfers_among_ten_accounts_conserve_the_money() {
    let (server, _data) = bank(Rules::default()).await;
    races::two_hundred_transfers(server.addr()).await;
}

/// SIGKILL while a transfer waits between its debit and its credit: the next process
/// resumes the saga, and every account adds up.
#[tokio::test]
async fn a_transfer_interrupted_by_sigkill_completes_when_the_bank_restarts() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let program = env!("CARGO_BIN_EXE_banking-system");
    let slow = [
        ("ALLFRAME_DATA", dir),
        ("DATABASE_URL", ""),
        ("BANKING_CREDIT_DELAY_MS", "60000"),
    ];
    let binary = RunningBinary::start_with_env(program, &slow).await;
    let addr = binary.addr();
    let mut c = Client::http1(addr).await;
    open(&mut c, "ann", 10_000).await;
    open(&mut c, "bob", 0).await;
    let pending = tokio::spawn(async move {
        let t = json!({"transfer_id": "t1", "from": "ann", "to": "bob", "amount_cents": 3_000});
        Client::http1(addr).await.post_json("/transfers", &t).await
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while balance(&mut c, "ann").await == 10_000 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the debit never happened"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(binary); // SIGKILL, in the credit step's wait
    pending.abort();

    let env = [("ALLFRAME_DATA", dir), ("DATABASE_URL", "")];
    let binary = RunningBinary::start_with_env(program, &env).await;
    let mut c = Client::http1(binary.addr()).await;
    assert_eq!(c.get("/transfers/t1").await.json()["status"], "completed");
    assert_eq!(
        (balance(&mut c, "ann").await, balance(&mut c, "bob").await),
        (7_000, 3_000)
    );
    assert_balance_matches_history(&mut c, "ann").await;
    assert_balance_matches_history(&mut c, "bob").await;
    assert!(
        binary.terminate().await.success(),
        "a clean exit on SIGTERM"
    );
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let (server, _data) = bank(Rules::default()).await;
    let mut c = server.http1().await;
    open(&mut c, "ann", 500).await;
    let json_type = [("content-type", "application/json")];
    assert_eq!(
        c.request(
            Method::POST,
            "/accounts/ann/deposits",
            &json_type,
            "{\"amount_cents\":"
        )
        .await
        .status,
        400
    );
    let negative = c
        .post_json("/accounts/ann/withdrawals", &json!({"amount_cents": -5}))
        .await;
    assert_eq!(negative.status, 422);
    let untyped = c
        .request(
            Method::POST,
            "/accounts/ann/deposits",
            &[],
            r#"{"amount_cents":5}"#,
        )
        .await;
    assert_eq!(untyped.status, 415);
    let huge = format!(r#"{{"amount_cents":5,"memo":"{}"}}"#, "x".repeat(32 * 1024));
    assert_eq!(
        c.request(Method::POST, "/accounts/ann/deposits", &json_type, huge)
            .await
            .status,
        413
    );
    let mut c = server.http1().await;
    let missing = c
        .post_json(
            "/transfers",
            &json!({"from": "ann", "to": "bob", "amount_cents": 5}),
        )
        .await;
    assert_eq!(missing.status, 422);
    assert_eq!(c.get("/audit?limit=0").await.status, 422);
    assert_eq!(balance(&mut c, "ann").await, 500);
    assert_eq!(assert_balance_matches_history(&mut c, "ann").await.len(), 1);
}

#[tokio::test]
async fn the_document_states_what_the_handlers_refuse() {
    let (server, _data) = bank(Rules::default()).await;
    let doc = server.get("/openapi.json").await.json();
    let amount = &doc["components"]["schemas"]["Amount"]["properties"]["amount_cents"];
    assert_eq!(
        (amount["minimum"].clone(), amount["maximum"].clone()),
        (json!(1), json!(100_000_000))
    );
    let transfer = &doc["components"]["schemas"]["NewTransfer"];
    assert_eq!(transfer["properties"]["from"]["maxLength"], 64);
    let mut required: Vec<_> = transfer["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    required.sort();
    assert_eq!(required, ["amount_cents", "from", "to", "transfer_id"]);
    let post = &doc["paths"]["/transfers"]["post"]["responses"];
    for status in ["400", "413", "415", "422"] {
        assert!(post[status].is_object(), "{status} undocumented: {post}");
    }
}

/// A credit that timed out is compensated by taking it back, once, and only if it
/// happened: the late answer may have been a deposit.
#[test]
fn a_credit_is_taken_back_only_if_it_happened() {
    use allframe::cqrs::AggregateTest;
    use banking_system::domain::{Account, AccountCommand, BankEvent};
    let opened = BankEvent::AccountOpened {
        account_id: "bob".into(),
        owner: "Bob".into(),
    };
    let credited = BankEvent::Deposited {
        account_id: "bob".into(),
        amount_cents: 300,
        reference: Some("credit:t1".into()),
    };
    let reverse = || AccountCommand::Reverse {
        account_id: "bob".into(),
        amount_cents: 300,
        of: "credit:t1".into(),
        reference: "uncredit:t1".into(),
    };
    let taken_back = BankEvent::Withdrawn {
        account_id: "bob".into(),
        amount_cents: 300,
        reference: Some("uncredit:t1".into()),
    };
    AggregateTest::<Account>::given(vec![opened.clone(), credited.clone()])
        .when(reverse())
        .then_events(vec![taken_back.clone()]);
    AggregateTest::<Account>::given(vec![opened.clone()])
        .when(reverse())
        .then_events(vec![]);
    AggregateTest::<Account>::given(vec![opened, credited, taken_back])
        .when(reverse())
        .then_events(vec![]);
}
