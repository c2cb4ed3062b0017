//! Mistakes the compiler must catch: injecting a dependency the state does not provide.

#[test]
fn missing_providers_are_compile_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
