//! Test support: an in-memory Registry V2 model and a virtual-time driver for the core.

pub mod driver;
pub mod registry_model;
