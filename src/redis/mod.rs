//! The FFI quarter: every call into the Redis module API that needs `unsafe` lives in
//! this folder, each with a `// SAFETY:` note saying why it is sound. The rest of the
//! module uses the safe wrappers here (and the safe parts of the `redis-module` crate).
//!
//! - `key`: the low-level key API (open, type, hash and sorted-set reads and writes,
//!   expiries), every write's status checked so that nothing unapplied is replicated;
//! - `replicate`: `RM_Replicate` with fixed argument shapes;
//! - `notify`, `client`, `reply`: keyspace notifications, argument redaction, replies
//!   of records (RESP3 maps);
//! - `acl`: ACL categories, the `@admin` rule on 7.0, key permission checks;
//! - `command_info`: registering the command table with its metadata (COMMAND DOCS);
//! - `config_string`: a string config's value as a server string the module owns;
//! - `events`: server events (the fork of an AOF rewrite);
//! - `cluster_bus`: module messages between cluster nodes (the shared keyring);
//! - `blocking`: blocked clients, whose reply is made after a worker thread's job;
//! - `os`: the worker threads' priority.

/// A Redis module API function, `None` where this server lacks it.
macro_rules! api_fn {
    ($name:ident) => {
        // SAFETY: the server fills these function pointers in once, when the module
        // loads (before any command runs), and never changes them afterwards.
        unsafe { redis_module::raw::$name }
    };
}

pub mod acl;
pub mod blocking;
pub mod client;
pub mod cluster_bus;
pub mod command_info;
pub mod config_string;
pub mod events;
pub mod key;
pub mod log;
pub mod notify;
pub mod os;
pub mod replicate;
pub mod reply;
