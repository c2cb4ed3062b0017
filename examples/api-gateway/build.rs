//! Compiles proto/inventory.proto with protox (no `protoc` to install) into the tonic
//! service the backend serves and the client the gateway calls it with.

use std::path::PathBuf;

use protox::prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let descriptors = protox::compile(["inventory.proto"], ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    // The reflection service describes the service from this encoded set.
    std::fs::write(
        out_dir.join("inventory_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        // AllFrame serves the service; the client runs on any tonic channel.
        .build_transport(false)
        .compile_fds(descriptors)?;
    // Cargo reads build script instructions from stdout.
    #[allow(clippy::print_stdout)]
    {
        println!("cargo:rerun-if-changed=proto");
    }
    Ok(())
}
