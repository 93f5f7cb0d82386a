//! The bot's skills as a run sees them ([`clawless_core::skills`]): the index, read once for the
//! prompt (each skill's name and description) and cached briefly like memory, and a skill's files,
//! read on demand by `skill_read`.
//!
//! Everything is read with the credentials handed to the run, whose session policy allows
//! `GetObject` under its own bot's `skills/` only: another bot's or tenant's skills are out of
//! reach by IAM, not only by the keys built here. Keys are built from the run's conversation (its
//! tenant and bot) and a [`SkillName`]; a file is read only if the index lists it, so a name or
//! path the model made up never becomes a key.

use std::sync::Arc;

use clawless_core::cache::TtlCache;
use clawless_core::domain::ids::ConversationRef;
use clawless_core::skills::{
    MAX_FILE_BYTES, SKILL_MD, SkillIndex, SkillName, SkillReader, skill_file_key, skill_index_key,
};

/// Largest index object read (the operator's CLI writes at most a few kilobytes per skill).
const MAX_INDEX_BYTES: usize = 1024 * 1024;

/// The index cache shared by the runs of one agent process, by index key.
pub type SkillIndexCache = TtlCache<String, SkillIndex>;

#[derive(Debug, thiserror::Error)]
pub enum SkillsError {
    #[error("no such skill: {0:?} (the skills you have are listed in your instructions)")]
    NoSuchSkill(String),
    #[error("skill {skill} has no file {file:?}; its files: {files}")]
    NoSuchFile { skill: String, file: String, files: String },
    #[error("reading skills failed: {0}")]
    Storage(String),
}

/// One run's view of its bot's skills.
pub struct RunSkills {
    reader: Arc<dyn SkillReader>,
    conversation: ConversationRef,
    cache: Arc<SkillIndexCache>,
}

impl RunSkills {
    pub fn new(reader: Arc<dyn SkillReader>, conversation: ConversationRef, cache: Arc<SkillIndexCache>) -> Self {
        Self { reader, conversation, cache }
    }

    fn index_key(&self) -> String {
        skill_index_key(&self.conversation.tenant_id, &self.conversation.bot_id)
    }

    /// The bot's skills (none when no index is stored).
    pub async fn index(&self) -> Result<SkillIndex, SkillsError> {
        let key = self.index_key();
        if let Some(hit) = self.cache.get(&key) {
            return Ok(hit);
        }
        let index = match self.reader.get(&key, MAX_INDEX_BYTES).await {
            Ok(None) => SkillIndex::default(),
            Ok(Some(bytes)) => SkillIndex::from_bytes(&bytes).map_err(|e| SkillsError::Storage(e.to_string()))?,
            Err(e) => return Err(SkillsError::Storage(e.to_string())),
        };
        // Errors are not cached: the next run asks again.
        self.cache.insert(key, index.clone());
        Ok(index)
    }

    /// The text of `file` (default `SKILL.md`) of the skill `name`.
    pub async fn read(&self, name: &str, file: Option<&str>) -> Result<(SkillName, String, String), SkillsError> {
        let unknown = || SkillsError::NoSuchSkill(name.chars().take(60).collect());
        let name = SkillName::parse(name.trim()).map_err(|_| unknown())?;
        let index = self.index().await?;
        let entry = index.get(&name).ok_or_else(unknown)?;
        let file = file.map(str::trim).filter(|f| !f.is_empty()).unwrap_or(SKILL_MD);
        let Some(path) = entry.files.iter().find(|f| f.as_str() == file) else {
            return Err(SkillsError::NoSuchFile {
                skill: name.to_string(),
                file: file.chars().take(100).collect(),
                files: entry.files.join(", "),
            });
        };
        let key = skill_file_key(&self.conversation.tenant_id, &self.conversation.bot_id, &name, path);
        match self.reader.get(&key, MAX_FILE_BYTES).await {
            Ok(Some(bytes)) => Ok((name, path.clone(), String::from_utf8_lossy(&bytes).into_owned())),
            // Listed but gone: an install or removal under way.
            Ok(None) => Err(unknown()),
            Err(e) => Err(SkillsError::Storage(e.to_string())),
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use clawless_core::ports::StoreError;
    use clawless_core::skills::SkillReader;

    /// Skill objects in a map, counting reads.
    #[derive(Default)]
    pub struct MapSkills {
        pub objects: Mutex<HashMap<String, Vec<u8>>>,
        pub reads: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl SkillReader for MapSkills {
        async fn get(&self, key: &str, max_bytes: usize) -> Result<Option<Vec<u8>>, StoreError> {
            self.reads.lock().unwrap().push(key.to_owned());
            Ok(self.objects.lock().unwrap().get(key).filter(|b| b.len() <= max_bytes).cloned())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clawless_core::skills::{SkillEntry, SkillIndex};

    use super::testing::MapSkills;
    use super::*;

    fn store(conversation: &ConversationRef) -> Arc<MapSkills> {
        let store = Arc::new(MapSkills::default());
        let (t, b) = (&conversation.tenant_id, &conversation.bot_id);
        let name = SkillName::parse("report").unwrap();
        let index = SkillIndex {
            skills: vec![SkillEntry {
                name: name.clone(),
                description: "Writes reports".into(),
                files: vec!["SKILL.md".into(), "ref/style.md".into()],
                bytes: 10,
            }],
        };
        let mut objects = store.objects.lock().unwrap();
        objects.insert(skill_index_key(t, b), serde_json::to_vec(&index).unwrap());
        objects.insert(skill_file_key(t, b, &name, "SKILL.md"), b"the body".to_vec());
        objects.insert(skill_file_key(t, b, &name, "ref/style.md"), b"the style".to_vec());
        // Not in the index: never read.
        objects.insert(skill_file_key(t, b, &name, "secret.md"), b"unlisted".to_vec());
        drop(objects);
        store
    }

    #[tokio::test]
    async fn reads_listed_files_only_and_caches_the_index() {
        let conversation = crate::testing::conversation("4242");
        let store = store(&conversation);
        let cache = Arc::new(SkillIndexCache::new(Duration::from_secs(60), 8));
        let skills = RunSkills::new(store.clone(), conversation.clone(), cache.clone());
        assert_eq!(skills.index().await.unwrap().skills.len(), 1);
        assert_eq!(skills.read("report", None).await.unwrap().2, "the body");
        assert_eq!(skills.read("report", Some("ref/style.md")).await.unwrap().2, "the style");
        let e = skills.read("report", Some("secret.md")).await.unwrap_err().to_string();
        assert_eq!(e, "skill report has no file \"secret.md\"; its files: SKILL.md, ref/style.md");
        for bad in ["../report", "other", "REPORT", ""] {
            assert!(matches!(skills.read(bad, None).await, Err(SkillsError::NoSuchSkill(_))), "{bad}");
        }
        let e = skills.read("report", Some("../../memory.md")).await.unwrap_err();
        assert!(matches!(e, SkillsError::NoSuchFile { .. }));
        // One index read for all of it, and a second run within the TTL reads none.
        let index_reads = || store.reads.lock().unwrap().iter().filter(|k| k.ends_with("index.json")).count();
        assert_eq!(index_reads(), 1);
        RunSkills::new(store.clone(), conversation.clone(), cache).index().await.unwrap();
        assert_eq!(index_reads(), 1);
        assert!(store.reads.lock().unwrap().iter().all(|k| !k.ends_with("secret.md")));
    }

    #[tokio::test]
    async fn another_bot_sees_none_of_them() {
        let conversation = crate::testing::conversation("4242");
        let store = store(&conversation);
        let mut other = conversation.clone();
        other.bot_id = clawless_core::domain::ids::BotId::parse("bfedcba9876543210fedc").unwrap();
        let cache = Arc::new(SkillIndexCache::new(Duration::from_secs(60), 8));
        let skills = RunSkills::new(store, other, cache);
        assert!(skills.index().await.unwrap().skills.is_empty());
        assert_eq!(
            skills.read("report", None).await.unwrap_err().to_string(),
            "no such skill: \"report\" (the skills you have are listed in your instructions)"
        );
    }
}
