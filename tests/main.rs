//! The integration tests: one binary, real git, real pushes to a bare remote.

mod support;

mod config;
mod gate;
mod hook;
mod install;
