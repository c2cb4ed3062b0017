//! The contract scenario on the durable file backend, in this process; under
//! `cargo xtask demos` (`ALLFRAME_CONTRACT_ADDR` set), against the running binary.

mod scenario;

use allframe::auth::JwtKeys;
use allframe::cqrs::Storage;
use allframe_test::Contract;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_scenario() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let storage = Storage::Directory(data.path().to_owned());
    let keys = JwtKeys::hs256(&[7; 32]).expect("a 32-byte secret");
    let app = async {
        chat_app::app(&storage, keys, chat_app::Limits::default())
            .await
            .expect("the chat opens")
    };
    let mut contract = Contract::start(app).await;
    scenario::run(&mut contract).await;
    contract.finish();
}
