//! Each channel's signs of life on the wire (typing, the working reaction, the status message
//! and its edits), against a stand-in that checks the request as the real API would take it.
//! Telegram's are also covered by the reply flow's tests (`flows/reply/tests/progress.rs`).

use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::domain::model::DiscordInteraction;
use crate::domain::secrets::{ChannelSecrets, Secret};

fn secrets(pairs: &[(&str, &str)]) -> ChannelSecrets {
    ChannelSecrets(pairs.iter().map(|(k, v)| ((*k).to_owned(), Secret::new(*v))).collect())
}

struct Setup {
    server: MockServer,
    base: String,
    http: reqwest::Client,
    secrets: ChannelSecrets,
    tokens: TtlCache<String, String>,
}

impl Setup {
    async fn new(pairs: &[(&str, &str)]) -> Self {
        let server = MockServer::start().await;
        let tokens = TtlCache::new(Duration::from_secs(60), 10);
        let base = server.uri();
        Self { server, base, http: reqwest::Client::new(), secrets: secrets(pairs), tokens }
    }

    fn ctx(&self) -> SendContext<'_> {
        SendContext {
            http: &self.http,
            api_base: &self.base,
            secrets: &self.secrets,
            tokens: &self.tokens,
            send_key: None,
        }
    }
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

#[tokio::test]
async fn slack_reacts_on_a_channel_message_updates_its_status_and_takes_the_reaction_off() {
    let s = Setup::new(&[("bot_token", "xoxb-1")]).await;
    let slack = channel(ChannelKind::Slack).unwrap();
    // A channel message is answered in a thread under itself: the route's thread_ts is its ts.
    let route = ReplyRoute::Slack { channel_id: "C1".into(), thread_ts: Some("1700000000.000900".into()) };
    let at_ms = 1_700_000_000_000;
    let reaction = json!({"channel": "C1", "timestamp": "1700000000.000900", "name": "eyes"});
    for method_name in ["/reactions.add", "/reactions.remove"] {
        Mock::given(method("POST"))
            .and(path(method_name))
            .and(header("authorization", "Bearer xoxb-1"))
            .and(body_json(&reaction))
            .respond_with(ok(json!({"ok": true})))
            .expect(1)
            .mount(&s.server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/chat.update"))
        .and(body_json(
            json!({"channel": "C1", "ts": "1700000001.000100", "text": "Done.", "link_names": false, "parse": "none"}),
        ))
        .respond_with(ok(json!({"ok": true, "ts": "1700000001.000100"})))
        .expect(1)
        .mount(&s.server)
        .await;
    let mark = slack.mark_working(&s.ctx(), &route, at_ms).await.unwrap();
    assert_eq!(mark.as_deref(), Some("1700000000.000900"));
    slack.edit_status(&s.ctx(), &route, "1700000001.000100", "Done.").await.unwrap();
    slack.unmark_working(&s.ctx(), &route, "1700000000.000900").await.unwrap();

    // A reply inside a thread (or a DM): the route does not show the message's ts, nothing marked.
    let in_thread = ReplyRoute::Slack { channel_id: "C1".into(), thread_ts: Some("1690000000.000100".into()) };
    assert_eq!(slack.mark_working(&s.ctx(), &in_thread, at_ms).await.unwrap(), None);
    let dm = ReplyRoute::Slack { channel_id: "D1".into(), thread_ts: None };
    assert_eq!(slack.mark_working(&s.ctx(), &dm, at_ms).await.unwrap(), None);
}

#[tokio::test]
async fn feishu_reacts_typing_posts_a_shared_card_and_patches_it() {
    let s = Setup::new(&[("app_id", "cli_1"), ("app_secret", "sec")]).await;
    let feishu = channel(ChannelKind::Feishu).unwrap();
    Mock::given(method("POST"))
        .and(path("/open-apis/auth/v3/tenant_access_token/internal"))
        .respond_with(ok(json!({"code": 0, "msg": "ok", "tenant_access_token": "t-1", "expire": 7200})))
        .mount(&s.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/open-apis/im/v1/messages/om_user/reactions"))
        .and(header("authorization", "Bearer t-1"))
        .and(body_json(json!({"reaction_type": {"emoji_type": "Typing"}})))
        .respond_with(ok(json!({"code": 0, "msg": "success", "data": {"reaction_id": "r_1"}})))
        .expect(1)
        .mount(&s.server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/open-apis/im/v1/messages/om_user/reactions/r_1"))
        .respond_with(ok(json!({"code": 0, "msg": "success", "data": {}})))
        .expect(1)
        .mount(&s.server)
        .await;
    let card = |text: &str| {
        json!({"config": {"update_multi": true}, "elements": [{"tag": "div", "text": {"tag": "plain_text", "content": text}}]})
            .to_string()
    };
    Mock::given(method("POST"))
        .and(path("/open-apis/im/v1/messages/om_user/reply"))
        .and(body_json(json!({"msg_type": "interactive", "content": card("Working on it…")})))
        .respond_with(ok(json!({"code": 0, "msg": "success", "data": {"message_id": "om_status"}})))
        .expect(1)
        .mount(&s.server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/open-apis/im/v1/messages/om_status"))
        .and(body_json(json!({"content": card("Done.")})))
        .respond_with(ok(json!({"code": 0, "msg": "success", "data": {}})))
        .expect(1)
        .mount(&s.server)
        .await;
    let route = ReplyRoute::Feishu {
        chat_id: "oc_1".into(),
        reply_to_message_id: Some("om_user".into()),
        thread_root_id: None,
    };
    let mark = feishu.mark_working(&s.ctx(), &route, 0).await.unwrap();
    assert_eq!(mark.as_deref(), Some("om_user/r_1"));
    let status = feishu.post_status(&s.ctx(), &route, "Working on it…").await.unwrap();
    assert_eq!(status.as_deref(), Some("om_status"));
    feishu.edit_status(&s.ctx(), &route, "om_status", "Done.").await.unwrap();
    feishu.unmark_working(&s.ctx(), &route, "om_user/r_1").await.unwrap();
    // A handle that would leave its path segment is refused before any request.
    assert!(feishu.unmark_working(&s.ctx(), &route, "om_user/../x").await.is_err());
    assert!(feishu.edit_status(&s.ctx(), &route, "om?x", "Done.").await.is_err());
}

#[tokio::test]
async fn discord_edits_the_interactions_original_response_and_nothing_without_one() {
    let s = Setup::new(&[("bot_token", "b")]).await;
    let discord = channel(ChannelKind::Discord).unwrap();
    Mock::given(method("PATCH"))
        .and(path("/webhooks/80351110224678912/tok-en_1/messages/@original"))
        .and(body_json(json!({"content": "Working on it…", "allowed_mentions": {"parse": []}, "flags": 4})))
        .respond_with(ok(json!({"id": "1"})))
        .expect(2)
        .mount(&s.server)
        .await;
    let interaction = Some(DiscordInteraction { application_id: "80351110224678912".into(), token: "tok-en_1".into() });
    let route = ReplyRoute::Discord { channel_id: "1100".into(), interaction, thread_id: None };
    assert_eq!(discord.post_status(&s.ctx(), &route, "Working on it…").await.unwrap().as_deref(), Some("@original"));
    discord.edit_status(&s.ctx(), &route, "@original", "Working on it…").await.unwrap();
    // The deferred response already says "thinking…": no typing call.
    discord.typing(&s.ctx(), &route).await.unwrap();
    let in_channel = ReplyRoute::Discord { channel_id: "1100".into(), interaction: None, thread_id: None };
    assert_eq!(discord.post_status(&s.ctx(), &in_channel, "x").await.unwrap(), None);
}

#[tokio::test]
async fn whatsapp_shows_typing_on_the_users_message_and_cannot_edit() {
    let s = Setup::new(&[("access_token", "EAA"), ("phone_number_id", "106540352242922")]).await;
    let whatsapp = channel(ChannelKind::Whatsapp).unwrap();
    Mock::given(method("POST"))
        .and(path("/106540352242922/messages"))
        .and(header("authorization", "Bearer EAA"))
        .and(body_json(json!({
            "messaging_product": "whatsapp", "status": "read", "message_id": "wamid.1",
            "typing_indicator": {"type": "text"}
        })))
        .respond_with(ok(json!({"success": true})))
        .expect(1)
        .mount(&s.server)
        .await;
    let route = ReplyRoute::Whatsapp { to: "16505551234".into(), reply_to_message_id: Some("wamid.1".into()) };
    whatsapp.typing(&s.ctx(), &route).await.unwrap();
    assert_eq!(whatsapp.post_status(&s.ctx(), &route, "x").await.unwrap(), None, "no edits: no status message");
    let standing = ReplyRoute::Whatsapp { to: "16505551234".into(), reply_to_message_id: None };
    whatsapp.typing(&s.ctx(), &standing).await.unwrap();
}

#[tokio::test]
async fn telegram_types_in_the_topic_and_an_unchanged_edit_is_no_failure() {
    let s = Setup::new(&[("bot_token", "123:abc")]).await;
    let telegram = channel(ChannelKind::Telegram).unwrap();
    Mock::given(method("POST"))
        .and(path("/bot123:abc/sendChatAction"))
        .and(body_json(json!({"chat_id": -100, "action": "typing", "message_thread_id": 7})))
        .respond_with(ok(json!({"ok": true, "result": true})))
        .expect(1)
        .mount(&s.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/bot123:abc/editMessageText"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "ok": false, "error_code": 400,
            "description": "Bad Request: message is not modified: specified new message content and reply markup are exactly the same"
        })))
        .mount(&s.server)
        .await;
    let route = ReplyRoute::Telegram { chat_id: -100, message_thread_id: Some(7), reply_to_message_id: None };
    telegram.typing(&s.ctx(), &route).await.unwrap();
    telegram.edit_status(&s.ctx(), &route, "5", "same").await.unwrap();
    assert!(telegram.edit_status(&s.ctx(), &route, "not-a-number", "x").await.is_err());
}
