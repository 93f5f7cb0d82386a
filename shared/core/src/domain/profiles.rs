//! Which permission profile applies: per tenant, overridden per end user of the tenant's bots
//! (stored by [`crate::ports::ProfileRepo`]).

use crate::domain::permissions::ProfileError;

#[derive(Debug, thiserror::Error)]
pub enum ProfileStoreError {
    #[error("SSM {operation} failed for {name}: {detail}")]
    Aws { operation: &'static str, name: String, detail: String },
    #[error("profile {name} is invalid: {source}")]
    Invalid { name: String, source: ProfileError },
}

/// Which profile applied, for display and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileSource {
    User,
    Tenant,
    Default,
}

impl ProfileSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileSource::User => "user",
            ProfileSource::Tenant => "tenant",
            ProfileSource::Default => "default",
        }
    }
}
