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
}

impl MemoryBucket {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
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
