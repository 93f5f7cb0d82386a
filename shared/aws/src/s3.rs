//! The memory bucket, for the one thing trusted code does there: erase a conversation's memory
//! layer on `/reset` (`DeleteObject` on its key; the dispatcher's role may delete only
//! conversation layers).

use async_trait::async_trait;

use clawless_core::domain::ids::ConversationRef;
use clawless_core::domain::memory::conversation_memory_key;
use clawless_core::ports::{MemoryEraser, StoreError};

use crate::sdk::describe_sdk_error;

pub use aws_sdk_s3::Client as S3Client;

pub struct MemoryBucket {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// Tag what it stores for the bucket's retention rule (trusted writers only: the tag needs
    /// `s3:PutObjectTagging`, which agents' credentials do not have).
    retention_tag: bool,
}

impl MemoryBucket {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into(), retention_tag: false }
    }

    /// Files it stores carry the tag the bucket's retention rule expires them by.
    pub fn with_retention_tag(mut self) -> Self {
        self.retention_tag = true;
        self
    }

    /// The bucket named by an ARN (`arn:aws:s3:::name`), as the template hands it over.
    pub fn from_arn(client: aws_sdk_s3::Client, arn: &str) -> Self {
        Self::new(client, arn.rsplit(':').next().unwrap_or(arn))
    }
}

#[async_trait]
impl MemoryEraser for MemoryBucket {
    async fn erase_conversation_memory(&self, conversation: &ConversationRef) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(conversation_memory_key(conversation))
            .send()
            .await
            .map_err(|e| StoreError::Bucket { operation: "DeleteObject", detail: describe_sdk_error(&e) })?;
        Ok(())
    }
}

#[async_trait]
impl clawless_core::ports::ConversationFiles for MemoryBucket {
    async fn put_file(&self, key: &str, bytes: Vec<u8>, media_type: &str) -> Result<(), StoreError> {
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(media_type)
            .body(aws_sdk_s3::primitives::ByteStream::from(bytes));
        // The bucket's retention rule for conversation files goes by this tag.
        let put = if self.retention_tag { put.tagging("clawless-file=conversation") } else { put };
        put.send().await.map_err(|e| StoreError::Bucket { operation: "PutObject", detail: describe_sdk_error(&e) })?;
        Ok(())
    }

    async fn get_file(
        &self,
        key: &str,
        max_bytes: u64,
    ) -> Result<Option<Result<Vec<u8>, clawless_core::ports::FileTooLarge>>, StoreError> {
        let object = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(object) => object,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(StoreError::Bucket { operation: "GetObject", detail: describe_sdk_error(&e) }),
        };
        let size = object.content_length().and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
        if size > max_bytes {
            return Ok(Some(Err(clawless_core::ports::FileTooLarge { size })));
        }
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Bucket { operation: "GetObject", detail: e.to_string() })?
            .into_bytes();
        if bytes.len() as u64 > max_bytes {
            return Ok(Some(Err(clawless_core::ports::FileTooLarge { size: bytes.len() as u64 })));
        }
        Ok(Some(Ok(bytes.to_vec())))
    }

    async fn delete_file(&self, key: &str) -> Result<(), StoreError> {
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
