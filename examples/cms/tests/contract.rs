//! The contract scenario on the durable file backend, in this process; under
//! `cargo xtask demos` (`ALLFRAME_CONTRACT_ADDR` set), against the running binary.

mod scenario;

use allframe::auth::JwtKeys;
use allframe::cqrs::Storage;
use allframe_test::Contract;

#[tokio::test]
async fn contract_scenario() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let storage = Storage::Directory(data.path().to_owned());
    let keys = JwtKeys::hs256(&[7; 32])
        .expect("a 32-byte secret")
        .scheme("Token");
    let app = async {
        cms::app(&storage, keys, data.path().join("media"))
            .await
            .expect("the CMS opens")
    };
    let mut contract = Contract::start(app).await;
    scenario::run(&mut contract).await;
    contract.finish();
}
