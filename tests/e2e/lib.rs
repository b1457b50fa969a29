//! End-to-end tests live in `tests/e2e/` (one test binary, `main.rs` and a module per
//! area); this crate has no library code.
