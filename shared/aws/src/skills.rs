//! Skills in the memory bucket ([`clawless_core::skills`]): the operator's CLI writes them with
//! its own credentials; an agent reads its own bot's with the credentials it was handed, which
//! allow `GetObject` there and nothing else (no listing, no writing).

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use clawless_core::ports::StoreError;
use clawless_core::skills::{SkillObjects, SkillReader};

use crate::sdk::describe_sdk_error;

pub struct SkillBucket {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// Read 403 as "no such object": the handed credentials cannot list the bucket, and S3 then
    /// answers a missing key with 403 rather than 404.
    denied_is_absent: bool,
}

impl SkillBucket {
    /// The operator's: every failure is an error.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into(), denied_is_absent: false }
    }

    /// The operator's, from an SDK configuration (path-style addressing when an endpoint
    /// override points at an emulator).
    pub fn from_sdk(sdk: &aws_config::SdkConfig, bucket: impl Into<String>) -> Self {
        let config = aws_sdk_s3::config::Builder::from(sdk).force_path_style(sdk.endpoint_url().is_some()).build();
        Self::new(aws_sdk_s3::Client::from_conf(config), bucket)
    }

    /// An agent's, with its handed credentials.
    pub fn for_agent(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into(), denied_is_absent: true }
    }
}

/// The memory bucket's name as the template names it: `{stack}-memory-{account}-{region}`, the
/// account being the caller's (STS `GetCallerIdentity`).
pub async fn memory_bucket_name(sdk: &aws_config::SdkConfig, stack: &str) -> Result<String, StoreError> {
    let who = aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| StoreError::Bucket { operation: "GetCallerIdentity", detail: describe_sdk_error(&e) })?;
    let account = who.account().unwrap_or_default();
    let region = sdk.region().map(|r| r.as_ref().to_owned()).unwrap_or_default();
    if account.is_empty() || region.is_empty() {
        return Err(StoreError::Bucket {
            operation: "GetCallerIdentity",
            detail: "no account or region to name the memory bucket by".into(),
        });
    }
    Ok(format!("{stack}-memory-{account}-{region}"))
}

#[async_trait]
impl SkillReader for SkillBucket {
    async fn get(&self, key: &str, max_bytes: usize) -> Result<Option<Vec<u8>>, StoreError> {
        let object = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(object) => object,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) if self.denied_is_absent && e.raw_response().is_some_and(|r| r.status().as_u16() == 403) => {
                return Ok(None);
            }
            Err(e) => return Err(StoreError::Bucket { operation: "GetObject", detail: describe_sdk_error(&e) }),
        };
        if object.content_length().is_some_and(|n| usize::try_from(n).map_or(true, |n| n > max_bytes)) {
            return Ok(None);
        }
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Bucket { operation: "GetObject", detail: e.to_string() })?
            .into_bytes();
        Ok((bytes.len() <= max_bytes).then(|| bytes.to_vec()))
    }
}

#[async_trait]
impl SkillObjects for SkillBucket {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| StoreError::Bucket { operation: "PutObject", detail: describe_sdk_error(&e) })?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| StoreError::Bucket { operation: "ListObjectsV2", detail: describe_sdk_error(&e) })?;
            keys.extend(page.contents().iter().filter_map(|o| o.key()).map(str::to_owned));
        }
        Ok(keys)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| StoreError::Bucket { operation: "DeleteObject", detail: describe_sdk_error(&e) })?;
        Ok(())
    }
}
