//! Who calls the admin API: a Cognito ID token, verified here (signature against the user pool's
//! JWKS, issuer, audience = the console's app client, `token_use` = `id`, expiry). In AWS the HTTP
//! API's JWT authorizer checks the same first; checking again here means the function never
//! trusts a request that reached it some other way, and the local run exercises the same code.
//!
//! The caller's tenant and role come only from the token's `custom:tenant_id` and `custom:role`,
//! which trusted code sets when it creates the user and the app client may not write.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::UserRole;
use crate::domain::ids::TenantId;

/// The Cognito group whose members may act on any tenant (each such call is audited).
pub const PLATFORM_ADMIN_GROUP: &str = "platform-admin";
/// A key id the cached JWKS does not know triggers a refetch at most this often.
const REFETCH_EVERY: Duration = Duration::from_secs(60);

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `None` only for a platform admin who belongs to no tenant.
    pub tenant_id: Option<TenantId>,
    pub email: String,
    pub subject: String,
    pub role: UserRole,
    pub platform_admin: bool,
}

impl Caller {
    /// `console:{email}`: how a decision records who made it (as `telegram:{id}` names a chat approver).
    pub fn actor(&self) -> String {
        format!("console:{}", self.email)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("the token is invalid or expired")]
    Invalid,
    #[error("the token names no tenant or role")]
    NoTenant,
    #[error("the user pool's keys could not be fetched")]
    Keys,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    token_use: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(rename = "custom:tenant_id", default)]
    tenant_id: Option<String>,
    #[serde(rename = "custom:role", default)]
    role: Option<String>,
    #[serde(rename = "cognito:groups", default)]
    groups: Vec<String>,
}

struct Keys {
    set: Option<JwkSet>,
    fetched: Option<Instant>,
}

/// Verifies Cognito ID tokens of one user pool and app client.
pub struct IdTokenVerifier {
    issuer: String,
    client_id: String,
    jwks_url: String,
    http: reqwest::Client,
    keys: RwLock<Keys>,
}

impl IdTokenVerifier {
    /// `jwks_url` defaults to the issuer's `/.well-known/jwks.json` (where Cognito serves it).
    pub fn new(issuer: &str, client_id: &str, jwks_url: Option<String>, http: reqwest::Client) -> Self {
        let issuer = issuer.trim_end_matches('/').to_owned();
        let jwks_url = jwks_url.unwrap_or_else(|| format!("{issuer}/.well-known/jwks.json"));
        Self {
            issuer,
            client_id: client_id.to_owned(),
            jwks_url,
            http,
            keys: RwLock::new(Keys { set: None, fetched: None }),
        }
    }

    fn key(&self, kid: &str) -> Option<DecodingKey> {
        let keys = self.keys.read().ok()?;
        let jwk = keys.set.as_ref()?.find(kid)?;
        DecodingKey::from_jwk(jwk).ok()
    }

    async fn refetch(&self) -> Result<(), AuthError> {
        let recent = self.keys.read().ok().and_then(|k| k.fetched).is_some_and(|t| t.elapsed() < REFETCH_EVERY);
        if recent || self.jwks_url.is_empty() {
            return Ok(());
        }
        let set: JwkSet = async {
            let answer = self.http.get(&self.jwks_url).send().await.ok()?.error_for_status().ok()?;
            answer.json().await.ok()
        }
        .await
        .ok_or(AuthError::Keys)?;
        if let Ok(mut keys) = self.keys.write() {
            keys.set = Some(set);
            keys.fetched = Some(Instant::now());
        }
        Ok(())
    }

    /// The caller an `Authorization` header's bearer token names, once verified.
    pub async fn verify_header(&self, authorization: Option<&str>) -> Result<Caller, AuthError> {
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        self.verify(token).await
    }

    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::Invalid);
        }
        let kid = header.kid.ok_or(AuthError::Invalid)?;
        let key = match self.key(&kid) {
            Some(key) => key,
            None => {
                self.refetch().await?;
                self.key(&kid).ok_or(AuthError::Invalid)?
            }
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|_| AuthError::Invalid)?.claims;
        if claims.token_use != "id" {
            return Err(AuthError::Invalid);
        }
        let platform_admin = claims.groups.iter().any(|g| g == PLATFORM_ADMIN_GROUP);
        let tenant_id =
            claims.tenant_id.as_deref().map(TenantId::parse).transpose().map_err(|_| AuthError::NoTenant)?;
        let role = match claims.role.as_deref() {
            Some(r) => UserRole::parse(r).map_err(|_| AuthError::NoTenant)?,
            None if platform_admin => UserRole::Admin,
            None => return Err(AuthError::NoTenant),
        };
        if tenant_id.is_none() && !platform_admin {
            return Err(AuthError::NoTenant);
        }
        Ok(Caller {
            tenant_id,
            email: claims.email.unwrap_or_else(|| claims.sub.clone()),
            subject: claims.sub,
            role,
            platform_admin,
        })
    }
}
