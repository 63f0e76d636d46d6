"""Benchmarks (not part of the test run): a synthetic archive-scale corpus and a query mix,
run through our search service and reference engines. See benchmarks/README.md."""
