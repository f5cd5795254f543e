"""Test helpers written once, shared by the test suites and the benchmarks."""
