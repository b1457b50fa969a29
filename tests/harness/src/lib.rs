//! tug-testkit
