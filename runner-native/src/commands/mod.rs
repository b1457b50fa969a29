//! One module per subcommand.

pub mod copy;
pub mod inspect;
pub mod login;
pub mod pull;
pub mod push;
pub mod store;
pub mod web;
