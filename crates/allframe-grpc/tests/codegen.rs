//! The test service's Rust code and descriptor set are committed (so the tests need no
//! build script); this test regenerates them with protox and tonic-prost-build, exactly
//! as a user's build script would, and fails when the committed files are stale.

use std::fs;
use std::path::Path;

use prost::Message;

#[test]
fn generated_code_is_up_to_date() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let descriptors =
        protox::compile(["echo.proto"], [tests.join("proto")]).expect("echo.proto compiles");
    let out = tempfile::tempdir().expect("temporary directory");
    tonic_prost_build::configure()
        // The tests' client uses a Channel it builds itself; the server needs no transport.
        .build_transport(false)
        .out_dir(out.path())
        .compile_fds(descriptors.clone())
        .expect("code generation");

    let fresh = [
        (
            "echo.v1.rs",
            fs::read(out.path().join("echo.v1.rs")).expect("generated code"),
        ),
        ("echo.v1.bin", descriptors.encode_to_vec()),
    ];
    let mut stale = Vec::new();
    for (name, bytes) in fresh {
        let committed = tests.join("generated").join(name);
        if fs::read(&committed).ok().as_deref() != Some(&bytes[..]) {
            fs::write(&committed, bytes).expect("write the generated file");
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "tests/generated/{stale:?} did not match tests/proto/echo.proto and were rewritten: \
         run the tests again and commit them"
    );
}
