//! Test support: an in-memory Registry V2 model and a virtual-time driver for the core.

#![allow(dead_code)] // each test binary uses a different part

pub mod driver;
pub mod images;
pub mod registry_model;
