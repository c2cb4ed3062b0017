//! With the `router-grpc` feature, compiles proto/probe.proto with protox (no `protoc`)
//! and generates the tonic service. Without it there is nothing to do, and the protobuf
//! compiler is not even built.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Cargo reads build script instructions from stdout; without them it would rerun this
    // script whenever any file of the package changes.
    #[allow(clippy::print_stdout)]
    {
        println!("cargo:rerun-if-changed=build.rs");
        println!("cargo:rerun-if-changed=proto");
    }
    #[cfg(feature = "router-grpc")]
    {
        use protox::prost::Message;

        let descriptors = protox::compile(["probe.proto"], ["proto"])?;
        let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
        // The reflection service describes the service from this encoded set.
        std::fs::write(
            out_dir.join("probe_descriptor.bin"),
            descriptors.encode_to_vec(),
        )?;
        tonic_prost_build::configure()
            // AllFrame serves the generated service; tonic's transport stack is not needed.
            .build_transport(false)
            .build_client(false)
            .compile_fds(descriptors)?;
    }
    Ok(())
}
