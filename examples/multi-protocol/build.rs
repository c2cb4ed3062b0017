//! Compiles proto/library.proto with protox (pure Rust: no `protoc` to install) and
//! generates the tonic service and client with tonic-prost-build.

use std::path::PathBuf;

use protox::prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let descriptors = protox::compile(["library.proto"], ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    // The reflection service describes the services from this encoded set.
    std::fs::write(
        out_dir.join("library_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        // AllFrame serves the generated service; tonic's transport stack is not needed.
        .build_transport(false)
        .compile_fds(descriptors)?;
    // Cargo reads build script instructions from stdout.
    #[allow(clippy::print_stdout)]
    {
        println!("cargo:rerun-if-changed=proto");
    }
    Ok(())
}
