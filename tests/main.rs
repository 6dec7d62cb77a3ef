//! The integration tests: one binary, real git, real pushes to a bare remote.

mod support;

mod audit;
mod config;
mod faults;
mod gate;
mod hook;
mod hostile;
mod human;
mod install;
mod load;
mod scale;
mod server;
mod team;
