//! Scenario tests for the resolver over whole archives and layouts.
