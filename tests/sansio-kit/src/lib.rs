//! tug-sansio-kit: one sans-IO test kit for tug-core, shared by `core/tests` and the fuzz
//! targets in `fuzz/`.
//!
//! - [`model`]: an in-memory Registry V2 (with token server, blob storage and upload hosts)
//!   that answers the core's requests as distribution does, with knobs for what real
//!   registries differ in;
//! - [`fault`]: scripted failures, `Fault::on(Method::PATCH, "/uploads/").status(500)`;
//! - [`driver`]: one virtual-time driver for any operation, answering requests in order,
//!   out of order or several at once, and checking the driving contract;
//! - [`ops`]: what push, pull, fetch and copy outputs mean to the driver, with run helpers;
//! - [`images`]: test images and push plans.
//!
//! No I/O, no clock, no threads: it builds for `wasm32-unknown-unknown`, where tug-core's
//! tests also run.

pub mod driver;
pub mod fault;
pub mod images;
pub mod model;
pub mod ops;

pub use driver::{Answering, Driver, Flight, HeaderEdit, Order, Pace, Plug};
pub use fault::Fault;
pub use model::{BearerAuth, LocationStyle, RegistryModel, Reply};
