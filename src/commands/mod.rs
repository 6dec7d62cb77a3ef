//! The subcommands that are not the hook: thin glue between the command line, the
//! repository and the library modules.

pub mod check;
pub mod config;
pub mod init;
pub mod status;
