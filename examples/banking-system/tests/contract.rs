//! The contract scenario on the durable file backend, in this process; under
//! `cargo xtask demos` (`ALLFRAME_CONTRACT_ADDR` set), against the running binary.

mod scenario;

use allframe::cqrs::Storage;
use allframe_test::Contract;
use banking_system::transfer::Rules;

#[tokio::test]
async fn contract_scenario() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let storage = Storage::Directory(data.path().to_owned());
    let app = async {
        banking_system::app(&storage, Rules::default())
            .await
            .expect("the bank opens")
    };
    let mut contract = Contract::start(app).await;
    scenario::run(&mut contract).await;
    contract.finish();
}
