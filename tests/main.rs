//! The integration tests: one binary, real git, real pushes to a bare remote.

mod support;

mod audit;
mod config;
mod faults;
mod hook;
mod human;
mod install;
mod team;
