//! The message path as the Lambda handlers drive it, written against [`crate::ports`].

pub mod directory;
pub mod dispatch;
pub mod lost_work;
pub mod reply;
pub mod reports;
pub mod webhook;
