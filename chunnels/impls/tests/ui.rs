//! Compile-time typing of stacks: a sharding Chunnel under a serializer does not compile;
//! above it, it does.

#[test]
fn ill_typed_stacks_do_not_compile() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/shard_over_serializer.rs");
    t.compile_fail("tests/ui/shard_under_serializer.rs");
}
