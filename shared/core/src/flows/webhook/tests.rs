//! The webhook flow on the in-memory ports, through the real channel code: Telegram with its
//! secret-token header, WhatsApp with its `X-Hub-Signature-256` over the raw body.
//!
//! Branches of `WebhookService::handle` and `accept`, and where each is tested:
//! - body over `MAX_BODY_BYTES` → 413 before any read (at the limit: goes on)  `bodies_over_the_limit_are_413_before_any_read`
//! - unknown channel name → 404; malformed bot id → 404, no read             `unknown_channels_and_malformed_bot_ids_are_404_without_a_read`
//! - a channel without an implementation → 404: unreachable, [`channels::channel`] builds every kind
//! - unknown bot → 404, and the miss is cached                              `unknown_bots_are_404_and_the_miss_is_cached`
//! - loading the bot fails → 500 (not cached: the retry works)             `a_failed_bot_or_secrets_read_asks_for_a_retry`
//! - loading the secrets fails → 500                                         same
//! - no binding for the channel, or no secrets at its parameter → 401       `channels_without_secrets_are_refused`
//! - verification fails (no header, wrong secret, wrong method) → 401        `unverified_requests_are_refused_and_logged`
//! - parse error → 400                                                       `malformed_bodies_are_400`
//! - parse says unauthorized (WhatsApp without `phone_number_id`) → 401      `an_unauthorized_parse_is_401`
//! - the channel's direct answer (WhatsApp `hub.challenge`) → that answer   `direct_answers_are_returned_and_store_nothing`
//! - bot disabled → ack once verified, kept as history, nothing queued      `disabled_bots_keep_messages_without_queueing`
//! - direct / mention / trigger pattern → queued only; none → stored only    `trigger_rules_decide_what_is_queued`
//! - one call per request: one send, or one conditional put                  same, `a_redelivery_is_queued_again_and_left_to_the_dispatcher`
//! - the tenant comes from the bot record                                     `trigger_rules_decide_what_is_queued`
//! - a redelivered message the bot answers → queued again (SQS drops it within its window, the
//!   dispatcher after it); a redelivered context line → stored once, ack     `a_redelivery_is_queued_again_and_left_to_the_dispatcher`
//! - queue failure → 500, nothing stored; the retry queues it                `a_failed_enqueue_is_retried_by_the_channel`
//! - store failure (a context line) → 500, nothing queued                    `a_store_failure_asks_for_a_retry_and_queues_nothing`
//! - several messages in one delivery → one queue call for all, one of them a redelivery   `every_message_of_a_delivery_is_queued_in_one_call`
//! - access: DMs or groups `disabled`, a group not on the cached allowlist → acked, nothing stored
//!   or queued, no AWS call; `groups open` → every group message queued   `the_access_prefilter_drops_what_the_cached_bot_refuses`

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

use super::*;
use crate::channels::{telegram, whatsapp};
use crate::domain::envelope::InboundEnvelope;
use crate::domain::model::ChannelBinding;
use crate::testing::*;

const APP_SECRET: &str = "wa-app-secret";
const PHONE_NUMBER_ID: &str = "106540352242922";
const WHATSAPP_SECRETS: &str = "whatsapp-secrets";

struct Webhook {
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    secrets: Arc<MemorySecrets>,
    service: WebhookService,
}

impl Webhook {
    /// The webhook of `record`'s bot, with Telegram and WhatsApp secrets stored.
    fn new(record: BotRecord) -> Self {
        let store = MemoryStore::new();
        store.put_bot(record);
        let secrets = MemorySecrets::new();
        put_telegram_secrets(&secrets);
        secrets.put(
            WHATSAPP_SECRETS,
            &[
                ("app_secret", APP_SECRET),
                ("verify_token", "verify-me"),
                ("access_token", "EAAG-token"),
                ("phone_number_id", PHONE_NUMBER_ID),
            ],
        );
        let queue = MemoryQueue::new();
        let directory = BotDirectory::new(store.clone(), Some(secrets.clone()), Duration::from_secs(60));
        let service = WebhookService::new(directory, store.clone(), queue.clone());
        Self { store, queue, secrets, service }
    }

    async fn call(
        &self,
        method: &str,
        channel: &str,
        bot_id: &str,
        headers: &HeaderMap,
        query: &str,
        body: &[u8],
    ) -> HttpAnswer {
        self.service.handle(WebhookRequest { method, channel, bot_id, headers, query, body }).await
    }

    /// A Telegram update POSTed with `secret` in the secret-token header (none if `None`).
    async fn telegram(&self, secret: Option<&str>, body: &[u8]) -> HttpAnswer {
        let mut headers = HeaderMap::new();
        if let Some(secret) = secret {
            headers.insert(telegram::SECRET_HEADER, HeaderValue::from_str(secret).expect("a header value"));
        }
        self.call("POST", "telegram", BOT, &headers, "", body).await
    }

    async fn telegram_update(&self, update: &Value) -> HttpAnswer {
        self.telegram(Some(TELEGRAM_WEBHOOK_SECRET), update.to_string().as_bytes()).await
    }

    /// A WhatsApp notification POSTed with Meta's signature over its raw bytes.
    async fn whatsapp(&self, body: &[u8]) -> HttpAnswer {
        let mut headers = HeaderMap::new();
        let signature = whatsapp::signature_header(APP_SECRET, body);
        headers.insert(whatsapp::SIGNATURE_HEADER, HeaderValue::from_str(&signature).expect("a header value"));
        self.call("POST", "whatsapp", BOT, &headers, "", body).await
    }

    /// Ids of the stored lines of `conversation`, oldest first.
    fn stored(&self, conversation: &ConversationRef) -> Vec<String> {
        self.store.lines(conversation).into_iter().map(|l| l.message_id).collect()
    }

    /// Conditional puts of messages so far (failed ones included).
    fn puts(&self) -> usize {
        self.store.fail.calls().get("store_inbound").copied().unwrap_or(0)
    }

    /// Ids of the queued messages, in queue order.
    fn queued(&self) -> Vec<String> {
        self.queue.inbound().iter().map(|e| e.item().message.message_id.to_string()).collect()
    }

    fn nothing_stored_or_sent(&self) {
        assert!(self.store.lines(&conversation("4242")).is_empty(), "nothing stored");
        assert_eq!(self.queue.attempts(), 0, "nothing sent to the queue");
    }
}

/// The test bot with a WhatsApp binding as well as its Telegram one.
fn with_whatsapp(mut record: BotRecord) -> BotRecord {
    record.channels.push(ChannelBinding {
        bot_id: bot_id(),
        tenant_id: tenant(),
        channel: ChannelKind::Whatsapp,
        secret_parameter: WHATSAPP_SECRETS.into(),
        added_at_ms: NOW,
    });
    record
}

/// A Telegram text message from Ada (user 4242) in chat `chat` of type `kind`.
fn update(update_id: i64, chat: i64, kind: &str, text: &str) -> Value {
    json!({"update_id": update_id, "message": {
        "message_id": 7, "from": {"id": 4242, "is_bot": false, "first_name": "Ada"},
        "chat": {"id": chat, "type": kind}, "date": NOW / 1000, "text": text}})
}

fn private(update_id: i64, text: &str) -> Value {
    update(update_id, 4242, "private", text)
}

fn ack() -> HttpAnswer {
    HttpAnswer::ok()
}

fn error_of(answer: &HttpAnswer) -> (u16, String) {
    let body: Value = serde_json::from_slice(&answer.body).expect("a JSON body");
    (answer.status, body["error"].as_str().unwrap_or_default().to_owned())
}

fn retry_later() -> (u16, String) {
    (500, "temporary failure, retry later".into())
}

fn unauthorized() -> (u16, String) {
    (401, "unauthorized".into())
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_before_any_read() {
    let hook = Webhook::new(bot_record());
    let too_large = vec![b' '; MAX_BODY_BYTES + 1];
    let answer = hook.telegram(Some(TELEGRAM_WEBHOOK_SECRET), &too_large).await;
    assert_eq!(error_of(&answer).0, 413);
    assert_eq!((hook.store.bot_loads(), hook.secrets.reads()), (0, 0));

    // At the limit the request goes on: verified, then refused as the blank JSON it is.
    let at_limit = vec![b' '; MAX_BODY_BYTES];
    assert_eq!(hook.telegram(Some(TELEGRAM_WEBHOOK_SECRET), &at_limit).await.status, 400);
    assert_eq!(hook.store.bot_loads(), 1);
    hook.nothing_stored_or_sent();
}

#[tokio::test]
async fn unknown_channels_and_malformed_bot_ids_are_404_without_a_read() {
    let hook = Webhook::new(bot_record());
    let body = private(1, "hi").to_string();
    let headers = HeaderMap::new();
    let answer = hook.call("POST", "signal", BOT, &headers, "", body.as_bytes()).await;
    assert_eq!(error_of(&answer), (404, "unknown channel".into()));
    let answer = hook.call("POST", "Telegram", BOT, &headers, "", body.as_bytes()).await;
    assert_eq!(error_of(&answer), (404, "unknown channel".into()), "channel names are exact");
    for bad in ["not-a-bot", "b0123", "B0123456789ABCDEF0123", "t0123456789abcdef0123", ""] {
        let answer = hook.call("POST", "telegram", bad, &headers, "", body.as_bytes()).await;
        assert_eq!(error_of(&answer), (404, "unknown bot".into()), "{bad:?}");
    }
    assert_eq!(hook.store.bot_loads(), 0);
    hook.nothing_stored_or_sent();
}

#[tokio::test]
async fn unknown_bots_are_404_and_the_miss_is_cached() {
    let hook = Webhook::new(bot_record());
    let headers = HeaderMap::new();
    let unknown = "b00000000000000000000";
    for _ in 0..3 {
        let answer = hook.call("POST", "telegram", unknown, &headers, "", b"{}").await;
        assert_eq!(error_of(&answer), (404, "unknown bot".into()));
    }
    assert_eq!(hook.store.bot_loads(), 1, "junk traffic for one unknown bot costs one read");
    assert_eq!(hook.secrets.reads(), 0);
}

#[tokio::test]
async fn a_failed_bot_or_secrets_read_asks_for_a_retry() {
    let hook = Webhook::new(bot_record());
    hook.store.fail.on("load_bot");
    assert_eq!(error_of(&hook.telegram_update(&private(1, "hi")).await), retry_later());
    hook.store.fail.off("load_bot");

    hook.secrets.fail.on("get");
    assert_eq!(error_of(&hook.telegram_update(&private(1, "hi")).await), retry_later());
    hook.nothing_stored_or_sent();
    hook.secrets.fail.off("get");

    // Neither failure was cached: the channel's retry goes through.
    assert_eq!(hook.telegram_update(&private(1, "hi")).await, ack());
    assert_eq!(hook.queued(), ["1"]);
    assert!(hook.stored(&conversation("4242")).is_empty(), "the dispatcher stores it");
}

#[tokio::test]
async fn channels_without_secrets_are_refused() {
    // A WhatsApp request for a bot that has Telegram only.
    let hook = Webhook::new(bot_record());
    let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
    assert_eq!(error_of(&hook.whatsapp(body).await), unauthorized());
    assert_eq!(hook.secrets.reads(), 0, "no binding, no read");

    // A binding whose parameter holds nothing.
    let mut record = bot_record();
    record.channels[0].secret_parameter = "nowhere".into();
    let hook = Webhook::new(record);
    assert_eq!(error_of(&hook.telegram_update(&private(1, "hi")).await), unauthorized());
    assert_eq!(hook.secrets.reads(), 1);
    hook.nothing_stored_or_sent();
}

#[tokio::test]
async fn unverified_requests_are_refused_and_logged() {
    let hook = Webhook::new(bot_record());
    let (events, _guard) = Events::capture();
    let body = private(1, "hi").to_string();
    assert_eq!(error_of(&hook.telegram(None, body.as_bytes()).await), unauthorized());
    assert_eq!(error_of(&hook.telegram(Some("wh-secret_0124"), body.as_bytes()).await), unauthorized());
    assert_eq!(error_of(&hook.telegram(Some(""), body.as_bytes()).await), unauthorized());
    let mut headers = HeaderMap::new();
    headers.insert(telegram::SECRET_HEADER, HeaderValue::from_static(TELEGRAM_WEBHOOK_SECRET));
    let get = hook.call("GET", "telegram", BOT, &headers, "", body.as_bytes()).await;
    assert_eq!(error_of(&get), unauthorized(), "Telegram only POSTs");
    // A WhatsApp body signed with another app's secret.
    let hook_wa = Webhook::new(with_whatsapp(bot_record()));
    let wa_body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
    let mut forged = HeaderMap::new();
    let signature = whatsapp::signature_header("another-secret", wa_body);
    forged.insert(whatsapp::SIGNATURE_HEADER, HeaderValue::from_str(&signature).expect("a header value"));
    let answer = hook_wa.call("POST", "whatsapp", BOT, &forged, "", wa_body).await;
    assert_eq!(error_of(&answer), unauthorized());

    let rejected = events.named("webhook_rejected");
    assert_eq!(rejected.len(), 5, "{:?}", events.names());
    assert_eq!(rejected[1]["reason"], "signature does not match");
    assert!(rejected.iter().all(|e| e["bot_id"] == BOT && !e.values().any(|v| v.contains(TELEGRAM_WEBHOOK_SECRET))));
    hook.nothing_stored_or_sent();
    hook_wa.nothing_stored_or_sent();
}

#[tokio::test]
async fn malformed_bodies_are_400() {
    let hook = Webhook::new(bot_record());
    let answer = hook.telegram(Some(TELEGRAM_WEBHOOK_SECRET), b"{nope").await;
    let (status, error) = error_of(&answer);
    assert_eq!(status, 400);
    assert!(error.starts_with("body is not valid JSON"), "{error}");
    // Well-formed JSON that is not a sendable message: a message without a sender.
    let no_sender = json!({"update_id": 5, "message": {"message_id": 7, "chat": {"id": 4242, "type": "private"},
        "date": NOW / 1000, "text": "hi"}});
    assert_eq!(
        error_of(&hook.telegram_update(&no_sender).await),
        (400, "body is malformed: message without sender".into())
    );
    hook.nothing_stored_or_sent();
}

#[tokio::test]
async fn an_unauthorized_parse_is_401() {
    // The signature checks out, but the bot's WhatsApp settings name no phone number, so no
    // message can be told to be this bot's.
    let hook = Webhook::new(with_whatsapp(bot_record()));
    hook.secrets.put(WHATSAPP_SECRETS, &[("app_secret", APP_SECRET), ("verify_token", "verify-me")]);
    let body = notification(&[("15551234567", "wamid.A", "hello")]);
    assert_eq!(error_of(&hook.whatsapp(&body).await), unauthorized());
    assert!(hook.store.lines(&whatsapp_conversation("15551234567")).is_empty());
    assert_eq!(hook.queue.attempts(), 0);
}

#[tokio::test]
async fn direct_answers_are_returned_and_store_nothing() {
    let hook = Webhook::new(with_whatsapp(bot_record()));
    let headers = HeaderMap::new();
    let query = "hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444";
    let answer = hook.call("GET", "whatsapp", BOT, &headers, query, b"").await;
    assert_eq!(answer, HttpAnswer::text(200, "1158201444"));
    let wrong = "hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444";
    assert_eq!(error_of(&hook.call("GET", "whatsapp", BOT, &headers, wrong, b"").await), unauthorized());
    assert_eq!(hook.queue.attempts(), 0);
}

#[tokio::test]
async fn disabled_bots_keep_messages_without_queueing() {
    let mut record = bot_record();
    record.bot.status = BotStatus::Disabled;
    let hook = Webhook::new(record);
    // Verified first: a forged request is refused (and nothing kept) even for a disabled bot.
    assert_eq!(error_of(&hook.telegram(Some("forged"), private(1, "hi").to_string().as_bytes()).await), unauthorized());
    hook.nothing_stored_or_sent();
    assert_eq!(hook.telegram_update(&private(1, "hi")).await, ack(), "acknowledged, so the channel does not retry");
    let lines = hook.store.lines(&conversation("4242"));
    assert_eq!(lines.len(), 1, "kept as history: a disabled bot loses nothing");
    assert_eq!(lines[0].text, "hi");
    assert!(lines[0].dispatched_at_ms.is_none(), "kept, never handed to an agent");
    assert_eq!(hook.queue.attempts(), 0, "nothing queued: no run");
}

#[tokio::test]
async fn trigger_rules_decide_what_is_queued() {
    let mut record = bot_record();
    record.bot.trigger = Some(r"^clawd\b".into());
    let hook = Webhook::new(record);
    let mut mention = update(11, -100, "group", "@clawd_bot what time is it?");
    mention["message"]["entities"] = json!([{"type": "mention", "offset": 0, "length": 10}]);
    let mut other_mention = update(15, -100, "group", "@someone_else what time is it?");
    other_mention["message"]["entities"] = json!([{"type": "mention", "offset": 0, "length": 13}]);
    for (body, queued) in [
        (mention, true),
        (update(12, -100, "group", "Clawd, what time is it?"), true),
        (update(13, -100, "group", "lunch anyone?"), false),
        (other_mention, false),
        (update(16, -100, "group", "ask clawd later"), false),
        (private(14, "what time is it?"), true),
    ] {
        let (sends, puts) = (hook.queue.calls(), hook.puts());
        assert_eq!(hook.telegram_update(&body).await, ack());
        // Exactly one call per request: the message is either queued or stored.
        let (sends, puts) = (hook.queue.calls() - sends, hook.puts() - puts);
        assert_eq!((sends, puts), if queued { (1, 0) } else { (0, 1) }, "{body}");
    }
    // Context is stored (it is the history the agent reads); what the bot answers is only queued,
    // and the dispatcher stores it as it hands it to an agent.
    assert_eq!(hook.stored(&conversation("-100")), ["13", "15", "16"]);
    assert!(hook.stored(&conversation("4242")).is_empty());
    assert_eq!(hook.queued(), ["11", "12", "14"]);
    assert_eq!(hook.queue.attempts(), 3);

    // The queued message names the tenant of the bot record, and carries the whole message.
    let InboundEnvelope::ChannelMessage { item, .. } = &hook.queue.inbound()[2] else { panic!("a channel message") };
    assert_eq!(item.conversation, conversation("4242"));
    assert_eq!(item.conversation.tenant_id, tenant());
    assert_eq!((item.message.text.as_str(), item.message.sender.id.as_str()), ("what time is it?", "4242"));
    assert_eq!(item.message.sent_at_ms, NOW);
    assert!(item.message.is_direct);
}

#[tokio::test]
async fn the_access_prefilter_drops_what_the_cached_bot_refuses() {
    use crate::access::{BotAccess, DmPolicy, GroupPolicy};
    let with = |dm, groups, allowed_groups: &[&str]| {
        let mut record = bot_record();
        record.bot.access =
            BotAccess { dm, groups, allowed_groups: allowed_groups.iter().map(|g| g.to_string()).collect() };
        Webhook::new(record)
    };
    let hook = with(DmPolicy::Disabled, GroupPolicy::Disabled, &[]);
    assert_eq!(hook.telegram_update(&private(1, "hello")).await, ack());
    assert_eq!(hook.telegram_update(&update(2, -100, "group", "lunch anyone?")).await, ack());
    assert_eq!((hook.queue.calls(), hook.puts()), (0, 0), "refused with no AWS call");
    assert!(hook.stored(&conversation("-100")).is_empty());

    // A listed group keeps its context; another group's chatter is not stored.
    let hook = with(DmPolicy::Pairing, GroupPolicy::Allowlist, &["telegram:-100"]);
    assert_eq!(hook.telegram_update(&update(3, -100, "group", "lunch anyone?")).await, ack());
    assert_eq!(hook.telegram_update(&update(4, -200, "group", "lunch anyone?")).await, ack());
    assert_eq!(hook.stored(&conversation("-100")), ["3"]);
    assert!(hook.stored(&conversation("-200")).is_empty());
    // Pairing is the dispatcher's to decide: a stranger's DM is queued.
    assert_eq!(hook.telegram_update(&private(5, "hello")).await, ack());
    assert_eq!(hook.queued(), ["5"]);

    let hook = with(DmPolicy::Open, GroupPolicy::Open, &[]);
    assert_eq!(hook.telegram_update(&update(6, -100, "group", "lunch anyone?")).await, ack());
    assert_eq!(hook.queued(), ["6"], "under `groups open` every group message is answered");
}

#[tokio::test]
async fn an_invalid_trigger_pattern_triggers_nothing() {
    let mut record = bot_record();
    record.bot.trigger = Some("(unclosed".into());
    let hook = Webhook::new(record);
    assert_eq!(hook.telegram_update(&update(12, -100, "group", "(unclosed")).await, ack());
    assert_eq!(hook.stored(&conversation("-100")), ["12"]);
    assert_eq!(hook.queue.attempts(), 0);
}

#[tokio::test]
async fn a_redelivery_is_queued_again_and_left_to_the_dispatcher() {
    let hook = Webhook::new(bot_record());
    assert_eq!(hook.telegram_update(&private(21, "hi")).await, ack());
    // Telegram redelivers (it did not see our answer in time): acknowledged and queued again under
    // the same deduplication id. SQS drops the copy within its 5-minute window; after it, the
    // dispatcher finds the message stored with its mark and skips it. Still one call.
    assert_eq!(hook.telegram_update(&private(21, "hi")).await, ack());
    assert_eq!((hook.queue.calls(), hook.puts()), (2, 0));
    assert_eq!(hook.queued(), ["21"]);
    let ids: Vec<String> = hook.queue.inbound().iter().map(InboundEnvelope::dedup_id).collect();
    assert_eq!(ids, [hook.queue.inbound()[0].dedup_id()]);

    // A group message kept as context, redelivered: stored once, each attempt one conditional put.
    let (events, _guard) = Events::capture();
    let chatter = update(24, -100, "group", "lunch anyone?");
    assert_eq!(hook.telegram_update(&chatter).await, ack());
    assert_eq!(hook.telegram_update(&chatter).await, ack());
    assert_eq!(hook.stored(&conversation("-100")), ["24"]);
    assert_eq!((hook.queue.calls(), hook.puts()), (2, 2));
    let accepted = events.named("webhook_accepted");
    let duplicates: Vec<&str> = accepted.iter().map(|e| e["duplicate"].as_str()).collect();
    assert_eq!(duplicates, ["false", "true"]);
    assert!(accepted.iter().all(|e| e["queued"] == "false"));
}

#[tokio::test]
async fn a_failed_enqueue_is_retried_by_the_channel() {
    let hook = Webhook::new(bot_record());
    hook.queue.fail.on("send");
    assert_eq!(error_of(&hook.telegram_update(&private(22, "hi")).await), retry_later());
    assert!(hook.stored(&conversation("4242")).is_empty(), "nothing stored: its one call failed");
    assert_eq!(hook.queue.attempts(), 0);
    hook.queue.fail.off("send");

    // The channel's retry queues it.
    assert_eq!(hook.telegram_update(&private(22, "hi")).await, ack());
    assert_eq!(hook.queued(), ["22"]);
    assert!(hook.stored(&conversation("4242")).is_empty());
}

#[tokio::test]
async fn a_store_failure_asks_for_a_retry_and_queues_nothing() {
    let hook = Webhook::new(bot_record());
    hook.store.fail.on("store_inbound");
    let chatter = update(23, -100, "group", "lunch anyone?");
    assert_eq!(error_of(&hook.telegram_update(&chatter).await), retry_later());
    assert!(hook.stored(&conversation("-100")).is_empty());
    assert_eq!(hook.queue.calls(), 0);
    hook.store.fail.off("store_inbound");
    assert_eq!(hook.telegram_update(&chatter).await, ack());
    assert_eq!(hook.stored(&conversation("-100")), ["23"]);
}

fn whatsapp_conversation(from: &str) -> ConversationRef {
    ConversationRef {
        channel: ChannelKind::Whatsapp,
        conversation_id: crate::domain::ids::ConversationId::parse(from).expect("an id"),
        ..conversation("4242")
    }
}

/// A WhatsApp `messages` notification for the test number: `(from, wamid, text)` each.
fn notification(messages: &[(&str, &str, &str)]) -> Vec<u8> {
    let messages: Vec<Value> = messages
        .iter()
        .map(|(from, id, text)| {
            json!({"from": from, "id": id, "timestamp": (NOW / 1000).to_string(), "type": "text", "text": {"body": text}})
        })
        .collect();
    json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Ada"}, "wa_id": "15551234567"}],
        "messages": messages}}]}]})
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn every_message_of_a_delivery_is_queued_in_one_call() {
    let hook = Webhook::new(with_whatsapp(bot_record()));
    let (ada, bob) = ("15551234567", "15557654321");
    let first = notification(&[(ada, "wamid.A", "first"), (bob, "wamid.B", "second")]);
    assert_eq!(hook.whatsapp(&first).await, ack());
    assert_eq!(hook.queue.calls(), 1, "both in one send");
    assert_eq!(hook.queued(), ["wamid.A", "wamid.B"]);
    assert!(hook.stored(&whatsapp_conversation(ada)).is_empty() && hook.stored(&whatsapp_conversation(bob)).is_empty());
    let queued_a = hook.queue.inbound()[0].item().clone();
    assert_eq!(queued_a.conversation, whatsapp_conversation(ada));
    assert_eq!((queued_a.message.sender.name.as_str(), queued_a.message.text.as_str()), ("Ada", "first"));

    // Meta retries the batch with a new message in it: one send again; the queue (or after its
    // window, the dispatcher) drops the copy of the first.
    let again = notification(&[(ada, "wamid.A", "first"), (bob, "wamid.C", "third")]);
    assert_eq!(hook.whatsapp(&again).await, ack());
    assert_eq!(hook.queue.calls(), 2);
    assert_eq!(hook.queued(), ["wamid.A", "wamid.B", "wamid.C"]);

    // A failed send fails the delivery, so Meta sends it again.
    hook.queue.fail.on("send");
    let third = notification(&[(ada, "wamid.D", "fourth"), (bob, "wamid.E", "fifth")]);
    assert_eq!(error_of(&hook.whatsapp(&third).await), retry_later());
    assert_eq!(hook.queued(), ["wamid.A", "wamid.B", "wamid.C"]);
    assert_eq!(hook.puts(), 0);
}
