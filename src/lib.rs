//! `provision`: gives a team a private, versioned, encrypted S3 data bucket from one typed config file, and keeps
//! it that way. See README.md for the user's view; each module below is one concern.

pub mod adopt;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod config;
pub mod deadline;
pub mod deploy;
pub mod drift;
pub mod ids;
pub mod init;
pub mod live;
pub mod names;
pub mod output;
pub mod privilege;
pub mod render;
pub mod s3key;
pub mod settings;
pub mod smoke;
pub mod stack;
pub mod teardown;
