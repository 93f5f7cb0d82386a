//! What tests and benchmarks need from a running stack and the production `clawless` binary does
//! not: the AWS call counts, the moto process, the queue depths and the platform's scope key.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use super::aws_counter::{self, AwsCallCounter};
use super::{LocalError, LocalOptions, LocalStack, serve};

/// The AWS endpoint the functions get: `endpoint` itself, or a counting proxy in front of it when
/// `options.count_aws_calls` asks for one.
pub(crate) async fn counting_proxy(
    options: &LocalOptions,
    endpoint: &str,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Result<(String, Option<Arc<AwsCallCounter>>), LocalError> {
    if !options.count_aws_calls {
        return Ok((endpoint.to_owned(), None));
    }
    let counter = Arc::new(AwsCallCounter::new(endpoint));
    let addr = serve(aws_counter::router(counter.clone()), 0, tasks).await?;
    Ok((format!("http://{addr}"), Some(counter)))
}

/// The last lines the functions and agents of every stack in this process wrote (tag, line).
static OUTPUT: Mutex<VecDeque<(String, String)>> = Mutex::new(VecDeque::new());
const OUTPUT_LINES: usize = 50_000;

pub(crate) fn capture(tag: &str, line: &str) {
    let mut out = OUTPUT.lock().unwrap_or_else(PoisonError::into_inner);
    if out.len() == OUTPUT_LINES {
        out.pop_front();
    }
    out.push_back((tag.to_owned(), line.to_owned()));
}

/// The captured output lines (tag, line) that contain `needle`: tests pass a tenant id, which
/// no other test's stack shares.
pub fn output_lines(needle: &str) -> Vec<(String, String)> {
    let out = OUTPUT.lock().unwrap_or_else(PoisonError::into_inner);
    out.iter().filter(|(_, line)| line.contains(needle)).cloned().collect()
}

impl LocalStack {
    /// The platform's scope key as the trusted functions read it (tests mint and check tokens
    /// with it, as trusted code would).
    pub async fn scope_key(&self) -> Result<clawless_core::domain::scope::ScopeKey, LocalError> {
        let arn = self
            .resources
            .secrets
            .get("ScopeKeySecret")
            .ok_or_else(|| LocalError::Io("template.yaml has no ScopeKeySecret".into()))?;
        let source =
            clawless_aws::secrets_manager::ScopeKeySource::new(aws_sdk_secretsmanager::Client::new(&self.sdk), arn);
        clawless_core::ports::ScopeKeys::get(&source).await.cloned().map_err(|e| LocalError::Io(e.to_string()))
    }

    /// AWS calls the functions made so far, by `service:Operation` (empty unless
    /// `LocalOptions::count_aws_calls`).
    pub fn aws_calls(&self) -> BTreeMap<String, u64> {
        self.aws_counter.as_ref().map(|c| c.snapshot()).unwrap_or_default()
    }

    /// Time the functions' and agents' AWS calls spent in the emulator so far (zero unless
    /// `LocalOptions::count_aws_calls`).
    pub fn aws_time(&self) -> std::time::Duration {
        self.aws_counter.as_ref().map(|c| c.upstream_time()).unwrap_or_default()
    }

    /// Process id of the moto server this stack started (None with `AwsTarget::Endpoint`).
    pub fn moto_pid(&self) -> Option<u32> {
        self._moto.as_ref().and_then(|m| m.pid())
    }

    /// Messages waiting or in flight on every queue of the stack (0 when all is quiet).
    pub async fn queued_messages(&self) -> BTreeMap<String, u64> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let mut out = BTreeMap::new();
        for (id, url) in &self.resources.queue_urls {
            let attrs = sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .send()
                .await
                .ok()
                .and_then(|o| o.attributes)
                .unwrap_or_default();
            let n: u64 = attrs.values().filter_map(|v| v.parse::<u64>().ok()).sum();
            out.insert(id.clone(), n);
        }
        out
    }
}
