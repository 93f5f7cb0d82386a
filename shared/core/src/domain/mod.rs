//! The platform's vocabulary: plain data and the rules that belong to it, no I/O.

pub mod credentials;
pub mod envelope;
pub mod extensions;
pub mod ids;
pub mod media;
pub mod memory;
pub mod model;
pub mod permissions;
pub mod profiles;
pub mod progress;
pub mod records;
pub mod scope;
pub mod secrets;
pub mod text;
pub mod trigger;
pub mod usage;
pub mod visible;
