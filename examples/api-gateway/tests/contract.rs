//! The contract scenario in this process (the inventory on a port of its own, over gRPC);
//! under `cargo xtask demos` (`ALLFRAME_CONTRACT_ADDR` set), against the running binary.

mod scenario;

use allframe_test::Contract;
use api_gateway::inventory::Stock;
use api_gateway::{Backend, Resilience};

#[tokio::test]
async fn contract_scenario() {
    let app = async {
        let url = api_gateway::start_inventory(Stock::seeded())
            .await
            .expect("the inventory starts");
        api_gateway::app(Backend::connect_lazy(&url, Resilience::default()).expect("a URL"))
    };
    let mut contract = Contract::start(app).await;
    scenario::run(&mut contract).await;
    contract.finish();
}
