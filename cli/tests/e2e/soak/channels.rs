//! The soak's five channels: one bot each, a message as each channel delivers it (signed the
//! channel's way at every delivery, the body unchanged, so a redelivery is the same update), and
//! which conversation an answer at the stand-ins belongs to.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use clawless_core::channels::whatsapp::{SIGNATURE_HEADER, signature_header};
use clawless_core::channels::{discord as discord_api, slack as slack_api};
use clawless_local::LocalStack;
use clawless_local::channel_api::SentMessage;
use serde_json::json;

use crate::support::{Onboarded, TEST_SECRET, onboard_telegram_bot};
use crate::{discord, feishu, slack, whatsapp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    Telegram,
    Slack,
    Discord,
    Feishu,
    Whatsapp,
}

pub const CHANNELS: [Channel; 5] =
    [Channel::Telegram, Channel::Slack, Channel::Discord, Channel::Feishu, Channel::Whatsapp];

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Channel::Telegram => "telegram",
            Channel::Slack => "slack",
            Channel::Discord => "discord",
            Channel::Feishu => "feishu",
            Channel::Whatsapp => "whatsapp",
        }
    }

    /// Conversation `c`'s channel: the conversations go round the five.
    pub fn of(c: usize) -> Channel {
        CHANNELS[c % CHANNELS.len()]
    }
}

fn now_ms() -> i64 {
    clawless_core::domain::model::now_ms()
}

/// One bot per channel, and the Discord interaction ids sent (their follow-ups name them).
pub struct Bots {
    urls: HashMap<Channel, String>,
    discord_ids: Mutex<HashMap<u64, usize>>,
    http: reqwest::Client,
}

impl Bots {
    pub fn onboard(stack: &LocalStack) -> Bots {
        let mut urls = HashMap::new();
        urls.insert(Channel::Telegram, onboard_telegram_bot(stack, TEST_SECRET).webhook_url);
        let with = |bot: Onboarded| bot.webhook_url;
        urls.insert(Channel::Slack, with(slack::onboard_slack_bot(stack)));
        urls.insert(Channel::Discord, with(discord::onboard_discord_bot(stack)));
        urls.insert(Channel::Feishu, with(feishu::onboard(stack)));
        urls.insert(Channel::Whatsapp, with(whatsapp::onboard(stack)));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("http client");
        Bots { urls, discord_ids: Mutex::new(HashMap::new()), http }
    }

    /// Message `k` of conversation `c` saying `text`, as its channel's webhook body.
    pub fn message(&self, c: usize, k: usize, text: &str) -> String {
        match Channel::of(c) {
            Channel::Telegram => {
                let chat = 7_100_000 + c as i64;
                json!({
                    "update_id": 1_000_000 + c * 1000 + k,
                    "message": {
                        "message_id": 100_000 + k,
                        "from": {"id": chat, "is_bot": false, "first_name": "Ada"},
                        "chat": {"id": chat, "type": "private", "first_name": "Ada"},
                        "date": now_ms() / 1000,
                        "text": text,
                    }
                })
                .to_string()
            }
            Channel::Slack => {
                let ts = format!("{}.{k:06}", now_ms() / 1000);
                slack::message_event(&format!("Ev{c:04}x{k:05}"), &format!("D0SOAK{c:04}"), "im", &ts, text)
            }
            Channel::Discord => {
                let sequence = (c * 1000 + k) as u64 & 0x3f_ffff;
                let id = (((now_ms() - 1_420_070_400_000) as u64) << 22) | sequence;
                self.discord_ids.lock().unwrap().insert(id, c);
                discord::command(id, &format!("12000000000000{c:04}"), text)
            }
            Channel::Feishu => {
                let mut event = feishu::message_event(&format!("evsk{c:04}x{k:05}"), text);
                let now = now_ms().to_string();
                event["header"]["create_time"] = json!(now);
                event["event"]["message"]["message_id"] = json!(format!("om_sk_{c}_{k}"));
                event["event"]["message"]["chat_id"] = json!(format!("oc_sk{c:04}"));
                event["event"]["message"]["create_time"] = json!(now);
                feishu::encrypted(&event)
            }
            Channel::Whatsapp => {
                let from = format!("1650555{c:04}");
                let id = format!("wamid.sk{c:04}x{k:05}");
                whatsapp::notification(vec![(&from, &id, "Ada", text)])
            }
        }
    }

    /// Delivers `body` to conversation `c`'s webhook once, signed now. The HTTP status, or 0 if
    /// the request failed.
    pub async fn deliver_once(&self, c: usize, body: &str) -> u16 {
        let channel = Channel::of(c);
        let mut request =
            self.http.post(&self.urls[&channel]).header("content-type", "application/json").body(body.to_owned());
        let now = now_ms() / 1000;
        match channel {
            Channel::Telegram => request = request.header("x-telegram-bot-api-secret-token", TEST_SECRET),
            Channel::Slack => {
                request = request
                    .header("x-slack-request-timestamp", now.to_string())
                    .header("x-slack-signature", slack_api::sign_request(slack::SIGNING_SECRET, now, body.as_bytes()))
            }
            Channel::Discord => {
                let ts = now.to_string();
                request = request
                    .header("x-signature-ed25519", discord_api::sign_request(&discord::TEST_SEED, &ts, body.as_bytes()))
                    .header("x-signature-timestamp", ts)
            }
            Channel::Feishu => {
                let nonce = format!("{:016x}", rand::random::<u64>());
                for (name, value) in feishu::signature_headers(body, feishu::ENCRYPT_KEY, &nonce, now) {
                    request = request.header(name, value);
                }
            }
            Channel::Whatsapp => {
                request = request.header(SIGNATURE_HEADER, signature_header(whatsapp::APP_SECRET, body.as_bytes()))
            }
        }
        match request.send().await {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        }
    }

    /// Delivers `body` until the webhook takes it, as every channel retries a failed delivery
    /// (a webhook process killed mid-request answers 5xx). The attempts it took.
    pub async fn deliver(&self, c: usize, body: &str) -> u32 {
        for attempt in 1..=20 {
            let status = self.deliver_once(c, body).await;
            if (200..300).contains(&status) {
                return attempt;
            }
            assert!(
                status == 0 || status >= 500,
                "conversation {c}: the webhook refused a delivery with {status} (a soak message must be valid)"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("conversation {c}: the webhook never took a delivery in 20 attempts");
    }

    /// The conversation an answer at the stand-ins belongs to.
    pub fn conversation_of(&self, sent: &SentMessage) -> Option<usize> {
        let digits = |s: &str, prefix: &str| s.strip_prefix(prefix)?.parse::<usize>().ok();
        match sent.channel {
            "telegram" => {
                let id = sent.chat_id.as_i64().or_else(|| sent.chat_id.as_str()?.parse().ok())?;
                usize::try_from(id - 7_100_000).ok()
            }
            "slack" => digits(sent.chat_id.as_str()?, "D0SOAK"),
            "whatsapp" => digits(sent.chat_id.as_str()?, "1650555"),
            "feishu" => {
                let to = sent.chat_id.get("reply_to")?.as_str()?;
                to.strip_prefix("om_sk_")?.split('_').next()?.parse().ok()
            }
            "discord" => {
                let id: u64 = sent.interaction.as_deref()?.strip_prefix("test-interaction-token-")?.parse().ok()?;
                self.discord_ids.lock().unwrap().get(&id).copied()
            }
            _ => None,
        }
    }
}
