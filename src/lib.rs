//! pigsty: one static binary that turns plain Linux machines into a production
//! PostgreSQL platform. The library holds everything; `main.rs` only parses and exits.
pub mod actions;
pub mod assets;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod controller;
pub mod engine;
pub mod env;
pub mod facts;
pub mod inventory;
pub mod modules;
pub mod names;
pub mod options;
pub mod pki;
pub mod remote;
pub mod repo;
pub mod report;
pub mod resources;
pub mod runner;
pub mod sys;
pub mod template;
pub mod version;
