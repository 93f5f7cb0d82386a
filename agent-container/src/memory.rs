//! Long-term memory: Markdown layers in S3, under the tenant's prefix.
//!
//! - `tenant`: shared by all the tenant's bots; the agent reads it, only operators write it.
//! - `bot`: the bot's own notes; read-write.
//! - `conversation`: this conversation's notes; read-write.
//!
//! Keys: `tenants/{tenant}/shared.md`, `tenants/{tenant}/bots/{bot}/memory.md`,
//! `tenants/{tenant}/bots/{bot}/conversations/{channel}/{conversation}/memory.md`: all under
//! `tenants/{tenant}/`, so the tenant-scoped credentials cannot reach another tenant's memory.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use clawless_core::cache::TtlCache;
use clawless_core::domain::ids::ConversationRef;

/// Largest layer the agent may write, in bytes.
pub const MAX_LAYER_BYTES: usize = 16 * 1024;
/// How much of each layer goes into the system prompt, in characters (head and tail kept).
pub const PROMPT_LAYER_CHARS: usize = 4_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemoryLayer {
    Tenant,
    Bot,
    Conversation,
}

impl MemoryLayer {
    pub const ALL: [MemoryLayer; 3] = [MemoryLayer::Tenant, MemoryLayer::Bot, MemoryLayer::Conversation];

    pub fn as_str(self) -> &'static str {
        match self {
            MemoryLayer::Tenant => "tenant",
            MemoryLayer::Bot => "bot",
            MemoryLayer::Conversation => "conversation",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == raw.trim())
    }

    /// Whether the agent may write it.
    pub fn is_writable(self) -> bool {
        !matches!(self, MemoryLayer::Tenant)
    }
}

impl fmt::Display for MemoryLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("the {0} memory is read-only to the agent")]
    ReadOnly(MemoryLayer),
    #[error("memory is limited to {MAX_LAYER_BYTES} bytes per layer ({0} given)")]
    TooLarge(usize),
    #[error("memory storage failed: {0}")]
    Storage(String),
}

/// The memory of one conversation's run.
#[async_trait]
pub trait MemoryLayers: Send + Sync + 'static {
    async fn read(&self, layer: MemoryLayer) -> Result<Option<String>, MemoryError>;
    /// Replaces the layer. Checks (writable, size, poisoning) happen before this is called.
    async fn write(&self, layer: MemoryLayer, content: &str) -> Result<(), MemoryError>;
}

/// `text` cut to at most `max_chars` characters, keeping the head and the tail with a marker
/// between them (the start of a note says what it is, the end is the newest).
pub fn head_tail(text: &str, max_chars: usize) -> String {
    let count = text.chars().count();
    if count <= max_chars {
        return text.to_owned();
    }
    let marker = format!("\n[… {} characters omitted …]\n", count.saturating_sub(max_chars));
    let keep = max_chars.saturating_sub(marker.chars().count());
    let head_len = keep / 2;
    let tail_len = keep - head_len;
    let head: String = text.chars().take(head_len).collect();
    let tail: String = text.chars().skip(count - tail_len).collect();
    format!("{head}{marker}{tail}")
}

/// The layers in S3, for one conversation.
pub struct S3Memory {
    client: aws_sdk_s3::Client,
    bucket: String,
    conversation: clawless_core::domain::ids::ConversationRef,
}

impl S3Memory {
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        conversation: clawless_core::domain::ids::ConversationRef,
    ) -> Self {
        Self { client, bucket: bucket.into(), conversation }
    }

    /// The object key of `layer`; every key starts with `tenants/{tenant}/`.
    pub fn key(&self, layer: MemoryLayer) -> String {
        memory_key(&self.conversation, layer)
    }
}

/// The object key of a conversation's memory layer.
pub fn memory_key(c: &clawless_core::domain::ids::ConversationRef, layer: MemoryLayer) -> String {
    match layer {
        MemoryLayer::Tenant => format!("tenants/{}/shared.md", c.tenant_id),
        MemoryLayer::Bot => format!("tenants/{}/bots/{}/memory.md", c.tenant_id, c.bot_id),
        MemoryLayer::Conversation => clawless_core::domain::memory::conversation_memory_key(c),
    }
}

#[async_trait]
impl MemoryLayers for S3Memory {
    async fn read(&self, layer: MemoryLayer) -> Result<Option<String>, MemoryError> {
        let key = self.key(layer);
        let out = match self.client.get_object().bucket(&self.bucket).key(&key).send().await {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            // The handed credentials deliberately cannot list the bucket, and S3 then answers a
            // missing key with 403 instead of 404: a layer nobody wrote yet. (A layer of another
            // scope is denied the same way, and there is nothing of this run's to read there
            // either.)
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 403) => return Ok(None),
            Err(e) => return Err(MemoryError::Storage(format!("GetObject {key}: {}", describe(&e)))),
        };
        let bytes =
            out.body.collect().await.map_err(|e| MemoryError::Storage(format!("reading {key}: {e}")))?.into_bytes();
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }

    async fn write(&self, layer: MemoryLayer, content: &str) -> Result<(), MemoryError> {
        if !layer.is_writable() {
            return Err(MemoryError::ReadOnly(layer));
        }
        if content.len() > MAX_LAYER_BYTES {
            return Err(MemoryError::TooLarge(content.len()));
        }
        let key = self.key(layer);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("text/markdown; charset=utf-8")
            .body(content.as_bytes().to_vec().into())
            .send()
            .await
            .map_err(|e| MemoryError::Storage(format!("PutObject {key}: {}", describe(&e))))?;
        Ok(())
    }
}

/// A session's cache of its memory layers in front of another store (S3): a run reads the three
/// layers for its prompt, and the next run of the same conversation, seconds later, would read
/// the same three objects again. Entries live for a short TTL, so what another conversation of
/// the bot or an operator writes shows within it; the agent's own writes go through and replace
/// the cached layer at once, so a run always sees what it saved. Entries are keyed by object key,
/// which starts with the tenant's prefix.
pub struct CachedMemory {
    inner: Arc<dyn MemoryLayers>,
    conversation: ConversationRef,
    cache: Arc<TtlCache<String, Option<String>>>,
}

/// The cache [`CachedMemory`] keeps, shared by the runs of one agent process.
pub type LayerCache = TtlCache<String, Option<String>>;

impl CachedMemory {
    pub fn new(inner: Arc<dyn MemoryLayers>, conversation: ConversationRef, cache: Arc<LayerCache>) -> Self {
        Self { inner, conversation, cache }
    }
}

#[async_trait]
impl MemoryLayers for CachedMemory {
    async fn read(&self, layer: MemoryLayer) -> Result<Option<String>, MemoryError> {
        let key = memory_key(&self.conversation, layer);
        if let Some(hit) = self.cache.get(&key) {
            return Ok(hit);
        }
        // Errors are not cached: the next read asks again.
        let read = self.inner.read(layer).await?;
        self.cache.insert(key, read.clone());
        Ok(read)
    }

    async fn write(&self, layer: MemoryLayer, content: &str) -> Result<(), MemoryError> {
        let key = memory_key(&self.conversation, layer);
        match self.inner.write(layer, content).await {
            Ok(()) => {
                self.cache.insert(key, Some(content.to_owned()));
                Ok(())
            }
            Err(e) => {
                // A failed write may or may not have landed: read it again next time.
                self.cache.invalidate(&key);
                Err(e)
            }
        }
    }
}

fn describe<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    clawless_aws::sdk::describe_sdk_error(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_tail_keeps_short_text_and_both_ends_of_long_text() {
        assert_eq!(head_tail("short", 10), "short");
        assert_eq!(head_tail("", 0), "");
        let long = format!("START{}END", "é".repeat(1000));
        let cut = head_tail(&long, 100);
        assert_eq!(cut.chars().count(), 100);
        assert!(cut.starts_with("START") && cut.ends_with("END"), "{cut}");
        assert!(cut.contains("characters omitted"));
        // A budget smaller than the marker gives the marker alone, without panicking.
        assert!(head_tail(&long, 3).contains("omitted"));
    }

    #[test]
    fn memory_keys_stay_under_the_tenant_prefix() {
        let c = crate::testing::conversation("4242");
        let prefix = format!("tenants/{}/", c.tenant_id);
        assert_eq!(memory_key(&c, MemoryLayer::Tenant), format!("{prefix}shared.md"));
        assert_eq!(memory_key(&c, MemoryLayer::Bot), format!("{prefix}bots/{}/memory.md", c.bot_id));
        assert_eq!(
            memory_key(&c, MemoryLayer::Conversation),
            format!("{prefix}bots/{}/conversations/telegram/4242/memory.md", c.bot_id)
        );
        let other = crate::testing::conversation("4243");
        assert_ne!(memory_key(&c, MemoryLayer::Conversation), memory_key(&other, MemoryLayer::Conversation));
        assert_eq!(memory_key(&c, MemoryLayer::Bot), memory_key(&other, MemoryLayer::Bot));
    }

    #[test]
    fn memory_layers_parse_and_only_the_tenant_layer_is_read_only() {
        assert_eq!(MemoryLayer::parse(" bot "), Some(MemoryLayer::Bot));
        assert_eq!(MemoryLayer::parse("Bot"), None);
        assert!(!MemoryLayer::Tenant.is_writable());
        assert!(MemoryLayer::Bot.is_writable() && MemoryLayer::Conversation.is_writable());
    }

    /// Counts the reads that reach the store behind the cache.
    struct Counting {
        inner: crate::services::InMemoryLayers,
        reads: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl MemoryLayers for Counting {
        async fn read(&self, layer: MemoryLayer) -> Result<Option<String>, MemoryError> {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.read(layer).await
        }
        async fn write(&self, layer: MemoryLayer, content: &str) -> Result<(), MemoryError> {
            self.inner.write(layer, content).await
        }
    }

    fn counting() -> Arc<Counting> {
        Arc::new(Counting { inner: Default::default(), reads: Default::default() })
    }

    fn reads(c: &Counting) -> usize {
        c.reads.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn cached_layers_are_read_once_within_the_ttl_and_own_writes_show_at_once() {
        let store = counting();
        store.inner.set(MemoryLayer::Bot, "likes tea");
        let cache = Arc::new(LayerCache::new(std::time::Duration::from_secs(60), 16));
        let conversation = crate::testing::conversation("4242");
        let run1 = CachedMemory::new(store.clone(), conversation.clone(), cache.clone());
        assert_eq!(run1.read(MemoryLayer::Bot).await.unwrap().as_deref(), Some("likes tea"));
        assert_eq!(run1.read(MemoryLayer::Conversation).await.unwrap(), None);
        assert_eq!(reads(&store), 2);
        // The next run of the session reads nothing from the store, missing layers included.
        let run2 = CachedMemory::new(store.clone(), conversation.clone(), cache.clone());
        assert_eq!(run2.read(MemoryLayer::Bot).await.unwrap().as_deref(), Some("likes tea"));
        assert_eq!(run2.read(MemoryLayer::Conversation).await.unwrap(), None);
        assert_eq!(reads(&store), 2);
        // Its own write goes through to the store and replaces the cached layer.
        run2.write(MemoryLayer::Bot, "likes coffee").await.unwrap();
        assert_eq!(store.inner.get(MemoryLayer::Bot).as_deref(), Some("likes coffee"));
        assert_eq!(run2.read(MemoryLayer::Bot).await.unwrap().as_deref(), Some("likes coffee"));
        assert_eq!(reads(&store), 2);
        // A refused write changes nothing and is not cached.
        assert!(matches!(run2.write(MemoryLayer::Tenant, "x").await, Err(MemoryError::ReadOnly(_))));
        // Another conversation of the bot shares the bot layer's key but not the conversation's.
        let other = CachedMemory::new(store.clone(), crate::testing::conversation("4243"), cache.clone());
        assert_eq!(other.read(MemoryLayer::Bot).await.unwrap().as_deref(), Some("likes coffee"));
        assert_eq!(other.read(MemoryLayer::Conversation).await.unwrap(), None);
        assert_eq!(reads(&store), 3);
    }

    #[tokio::test]
    async fn a_zero_ttl_reads_through_every_time() {
        let store = counting();
        let cache = Arc::new(LayerCache::new(std::time::Duration::ZERO, 16));
        let memory = CachedMemory::new(store.clone(), crate::testing::conversation("4242"), cache);
        memory.read(MemoryLayer::Bot).await.unwrap();
        memory.write(MemoryLayer::Bot, "note").await.unwrap();
        assert_eq!(memory.read(MemoryLayer::Bot).await.unwrap().as_deref(), Some("note"));
        assert_eq!(reads(&store), 2);
    }
}
