//! pigsty: one static binary that turns plain Linux machines into a production
//! PostgreSQL platform. The library holds everything; `main.rs` only parses and exits.
pub mod assets;
pub mod cli;
pub mod commands;
pub mod env;
pub mod version;
pub mod engine;
pub mod facts;
pub mod resources;
pub mod sys;
pub mod template;
pub mod inventory;
pub mod modules;
pub mod report;
pub mod runner;
pub mod remote;
pub mod controller;
