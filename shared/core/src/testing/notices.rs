//! In-memory notice settings and a scripted summary model, for the approval notices' tests.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::ports::{FailSwitch, lock};
use crate::approvals::wording::{
    NoticeSettings, NoticeSettingsRepo, NoticeStoreError, NoticeSummarizer, SummaryError, SummaryPrompt,
};
use crate::domain::ids::TenantId;

/// Each tenant's notice settings as the JSON the SSM parameter would hold, so a test can store a
/// document the CLI would have refused.
#[derive(Default)]
pub struct MemoryNotices {
    docs: Mutex<HashMap<TenantId, String>>,
    reads: AtomicUsize,
    /// `get` fails while `fail.on("get")`.
    pub fail: FailSwitch,
}

impl MemoryNotices {
    /// Stores `raw` as it is (malformed JSON or a template that does not parse included).
    pub fn put_raw(&self, tenant: &TenantId, raw: &str) {
        lock(&self.docs).insert(tenant.clone(), raw.to_owned());
    }

    /// Reads so far (the cache's misses).
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl NoticeSettingsRepo for MemoryNotices {
    async fn get(&self, tenant: &TenantId) -> Result<Option<NoticeSettings>, NoticeStoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let name = format!("notice/{tenant}");
        if self.fail.is_on("get") {
            return Err(NoticeStoreError::Aws { operation: "GetParameter", name, detail: "injected".into() });
        }
        match lock(&self.docs).get(tenant) {
            None => Ok(None),
            Some(raw) => NoticeSettings::from_json(raw)
                .map(Some)
                .map_err(|e| NoticeStoreError::Malformed { name, detail: e.to_string() }),
        }
    }

    async fn put(&self, tenant: &TenantId, settings: &NoticeSettings) -> Result<(), NoticeStoreError> {
        self.put_raw(tenant, &settings.to_json());
        Ok(())
    }

    async fn delete(&self, tenant: &TenantId) -> Result<bool, NoticeStoreError> {
        Ok(lock(&self.docs).remove(tenant).is_some())
    }
}

/// A summary model that answers from a script (an `Err` is a failed call), after `delay`, and
/// keeps every prompt it was given.
#[derive(Default)]
pub struct ScriptedSummarizer {
    answers: Mutex<VecDeque<Result<String, String>>>,
    prompts: Mutex<Vec<SummaryPrompt>>,
    delay: Mutex<Duration>,
}

impl ScriptedSummarizer {
    pub fn new(answers: impl IntoIterator<Item = Result<String, String>>) -> Self {
        Self { answers: Mutex::new(answers.into_iter().collect()), ..Self::default() }
    }

    pub fn delay(&self, delay: Duration) {
        *lock(&self.delay) = delay;
    }

    pub fn prompts(&self) -> Vec<SummaryPrompt> {
        lock(&self.prompts).clone()
    }
}

#[async_trait]
impl NoticeSummarizer for ScriptedSummarizer {
    async fn complete(&self, prompt: &SummaryPrompt) -> Result<String, SummaryError> {
        lock(&self.prompts).push(prompt.clone());
        let delay = *lock(&self.delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match lock(&self.answers).pop_front() {
            Some(Ok(text)) => Ok(text),
            Some(Err(e)) => Err(SummaryError::Model(e)),
            None => Err(SummaryError::Model("script finished".into())),
        }
    }
}
