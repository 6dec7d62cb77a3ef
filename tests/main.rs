//! The integration tests: one binary, real git, real pushes to a bare remote.

mod support;

mod approval_rules;
mod audit;
mod config;
mod config_location;
mod faults;
mod freeze;
mod gate;
mod history;
mod hook;
mod hosted;
mod hostile;
mod hosting;
mod hosts;
mod human;
mod install;
mod landing;
mod load;
mod managers;
mod pipeline;
mod scale;
mod server;
mod server_trust;
mod sha256;
mod signed_push;
mod signing;
mod team;
mod trail;
mod trail_refs;
mod transports;
mod trust;
mod week1;
mod week2;
