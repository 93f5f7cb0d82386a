//! SSM Parameter Store: channel secrets (SecureString) and permission profiles (String).

pub mod profiles;
pub mod secrets;
