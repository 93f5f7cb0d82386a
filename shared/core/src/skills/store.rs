//! Where skills are stored, and the operator's install, list and remove over it.
//!
//! Install order: the new files, then the old files no longer in the skill are deleted, then the
//! index. Removal: the index entry first, then the files. So an index entry never names a skill
//! whose files are gone; a crash can leave stray files without an entry, which no run lists or
//! reads (`skill_read` goes through the index) and the next install or removal clears.
//! Two operators changing one bot's skills at the same moment can lose one index update (the
//! index is read, changed and written back); installing again repairs it.

use std::sync::Arc;

use async_trait::async_trait;

use super::{
    CheckedSkill, MAX_SKILLS_PER_BOT, SkillEntry, SkillIndex, SkillName, skill_file_key, skill_index_key, skill_prefix,
};
use crate::domain::ids::{BotId, TenantId};
use crate::ports::StoreError;

/// Reads skill objects: what an agent's handed credentials allow (GetObject under its own bot's
/// `skills/`).
#[async_trait]
pub trait SkillReader: Send + Sync {
    /// The object at `key`, at most `max_bytes` of it; `None` if there is none (or it is larger).
    async fn get(&self, key: &str, max_bytes: usize) -> Result<Option<Vec<u8>>, StoreError>;
}

/// Reads and writes skill objects: the operator's CLI only.
#[async_trait]
pub trait SkillObjects: SkillReader {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), StoreError>;
    /// Every key under `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// Deletes the object at `key` (gone already is no error).
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
}

#[derive(Debug, thiserror::Error)]
pub enum SkillStoreError {
    #[error("bot already has {MAX_SKILLS_PER_BOT} skills: remove one first")]
    TooManySkills,
    #[error("no skill named {0}")]
    NoSuchSkill(SkillName),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Largest index object read back (32 entries of at most a few kilobytes each).
const MAX_INDEX_BYTES: usize = 1024 * 1024;

/// A bot's skills as the operator manages them.
pub struct SkillCatalog {
    objects: Arc<dyn SkillObjects>,
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).as_deref() {
        Some("md") => "text/markdown; charset=utf-8",
        Some("json") => "application/json",
        _ => "text/plain; charset=utf-8",
    }
}

impl SkillCatalog {
    pub fn new(objects: Arc<dyn SkillObjects>) -> Self {
        Self { objects }
    }

    /// The bot's index (empty when there is none).
    pub async fn list(&self, tenant: &TenantId, bot: &BotId) -> Result<SkillIndex, SkillStoreError> {
        let key = skill_index_key(tenant, bot);
        match self.objects.get(&key, MAX_INDEX_BYTES).await? {
            None => Ok(SkillIndex::default()),
            Some(bytes) => SkillIndex::from_bytes(&bytes)
                .map_err(|e| StoreError::Corrupt { what: "skill index", detail: e.to_string() }.into()),
        }
    }

    async fn put_index(&self, tenant: &TenantId, bot: &BotId, index: &SkillIndex) -> Result<(), SkillStoreError> {
        let body = serde_json::to_vec(index)
            .map_err(|e| StoreError::Corrupt { what: "skill index", detail: e.to_string() })?;
        self.objects.put(&skill_index_key(tenant, bot), body, "application/json").await?;
        Ok(())
    }

    /// Stores `skill`, replacing a skill of the same name (its old files are removed).
    pub async fn add(
        &self,
        tenant: &TenantId,
        bot: &BotId,
        skill: &CheckedSkill,
    ) -> Result<SkillEntry, SkillStoreError> {
        let name = &skill.manifest.name;
        let mut index = self.list(tenant, bot).await?;
        index.skills.retain(|s| &s.name != name);
        if index.skills.len() >= MAX_SKILLS_PER_BOT {
            return Err(SkillStoreError::TooManySkills);
        }
        let prefix = skill_prefix(tenant, bot, name);
        let old = self.objects.list(&prefix).await?;
        let mut new_keys = Vec::with_capacity(skill.files.len());
        for file in &skill.files {
            let key = skill_file_key(tenant, bot, name, &file.path);
            self.objects.put(&key, file.text.as_bytes().to_vec(), content_type(&file.path)).await?;
            new_keys.push(key);
        }
        for key in old.iter().filter(|k| !new_keys.contains(k)) {
            self.objects.delete(key).await?;
        }
        let entry = skill.entry();
        index.skills.push(entry.clone());
        index.skills.sort_by(|a, b| a.name.cmp(&b.name));
        self.put_index(tenant, bot, &index).await?;
        Ok(entry)
    }

    /// Removes the skill `name`: its index entry, then its files.
    pub async fn remove(&self, tenant: &TenantId, bot: &BotId, name: &SkillName) -> Result<(), SkillStoreError> {
        let mut index = self.list(tenant, bot).await?;
        let before = index.skills.len();
        index.skills.retain(|s| &s.name != name);
        let listed = index.skills.len() != before;
        if listed {
            self.put_index(tenant, bot, &index).await?;
        }
        let keys = self.objects.list(&skill_prefix(tenant, bot, name)).await?;
        if !listed && keys.is_empty() {
            return Err(SkillStoreError::NoSuchSkill(name.clone()));
        }
        for key in &keys {
            self.objects.delete(key).await?;
        }
        Ok(())
    }
}

/// Skill objects in a map (tests).
#[cfg(any(test, feature = "test-support"))]
#[derive(Default)]
pub struct InMemorySkillObjects {
    pub objects: std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>,
}

#[cfg(any(test, feature = "test-support"))]
impl InMemorySkillObjects {
    fn map(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<String, Vec<u8>>> {
        self.objects.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every stored key.
    pub fn keys(&self) -> Vec<String> {
        self.map().keys().cloned().collect()
    }
}

#[cfg(any(test, feature = "test-support"))]
#[async_trait]
impl SkillReader for InMemorySkillObjects {
    async fn get(&self, key: &str, max_bytes: usize) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.map().get(key).filter(|b| b.len() <= max_bytes).cloned())
    }
}

#[cfg(any(test, feature = "test-support"))]
#[async_trait]
impl SkillObjects for InMemorySkillObjects {
    async fn put(&self, key: &str, body: Vec<u8>, _content_type: &str) -> Result<(), StoreError> {
        self.map().insert(key.to_owned(), body);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.map().keys().filter(|k| k.starts_with(prefix)).cloned().collect())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.map().remove(key);
        Ok(())
    }
}
