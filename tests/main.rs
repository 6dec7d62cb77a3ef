//! The integration tests: one binary, real git, real pushes to a bare remote.

mod support;

mod config;
mod hook;
mod hostile;
mod install;
