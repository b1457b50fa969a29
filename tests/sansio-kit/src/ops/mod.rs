//! The [`Plug`](crate::driver::Plug)s of the four operations — what each one's outputs mean
//! to the driver, and the contract checks particular to them — with helpers that run them
//! against a model and collect what the tests look at.

pub mod copy;
pub mod fetch;
pub mod pull;
pub mod push;
