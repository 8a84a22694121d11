//! Load generator (see BENCHMARKS.md).
