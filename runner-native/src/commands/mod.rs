//! One module per subcommand.

pub mod completion;
pub mod config;
pub mod copy;
pub mod history;
pub mod inspect;
pub mod login;
pub mod pull;
pub mod push;
pub mod store;
pub mod sync;
pub mod verbs;
pub mod web;
