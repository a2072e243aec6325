//! Compile-time typing of stacks: a sharding Chunnel under a serializer does not compile;
//! above it, it does. An optimization pass rewrites the stack's type at compile time.

#[test]
fn ill_typed_stacks_do_not_compile() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/shard_over_serializer.rs");
    t.compile_fail("tests/ui/shard_under_serializer.rs");
    // Optimization passes act on types, at compile time.
    t.pass("tests/ui/pass_rewrites_type.rs");
    t.compile_fail("tests/ui/pass_keeps_no_old_type.rs");
}
