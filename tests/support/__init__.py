"""Test helpers written once, shared by the test suites of every entry point and the benchmarks."""
