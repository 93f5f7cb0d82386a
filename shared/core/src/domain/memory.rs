//! Where memory layers live: objects in the memory bucket, every key under `tenants/{tenant}/`,
//! so credentials scoped to one tenant's prefix reach no other tenant's memory.

use crate::domain::ids::ConversationRef;

/// The object key of a conversation's own memory layer (the agent reads and writes it; the
/// dispatcher erases it on `/reset`).
pub fn conversation_memory_key(c: &ConversationRef) -> String {
    format!("tenants/{}/bots/{}/conversations/{}/{}/memory.md", c.tenant_id, c.bot_id, c.channel, c.conversation_id)
}
