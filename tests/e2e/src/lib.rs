//! tug-e2e
