//! The subcommands that are not the hook: thin glue between the command line, the
//! repository and the library modules.

pub mod approve;
pub mod audit;
pub mod check;
pub mod config;
pub mod confirm;
pub mod doctor;
pub mod history;
pub mod init;
pub mod log;
pub mod pending;
pub mod request;
pub mod review;
pub mod status;
pub mod waive;
