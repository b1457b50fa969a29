//! tug
