//! SSM Parameter Store: channel secrets (SecureString), permission profiles and approval-notice
//! settings (String).

pub mod notices;
pub mod profiles;
pub mod secrets;
