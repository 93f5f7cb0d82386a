//! The bot directory's cache, on the in-memory ports.
//!
//! Branches of `BotDirectory::bot` and `channel_secrets`, and where each is tested:
//! - cache hit → no read; miss → one read, cached (a missing bot too)     `bots_are_read_once_per_ttl_missing_ones_too`
//! - a failed read → error, not cached                                    same
//! - a zero TTL caches nothing; an entry expires after its TTL             `a_change_shows_once_the_entry_expires`
//! - no secret source (the dispatcher) → no secrets, no read               `secrets_are_read_once_per_parameter`
//! - secrets: hit, miss (cached, missing too), failed read (not cached)    same

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::domain::model::BotStatus;
use crate::testing::*;

const MINUTE: Duration = Duration::from_secs(60);

fn directory(store: &Arc<MemoryStore>, secrets: Option<&Arc<MemorySecrets>>, ttl: Duration) -> BotDirectory {
    let secrets = secrets.map(|s| Arc::clone(s) as Arc<dyn SecretSource>);
    BotDirectory::new(store.clone(), secrets, ttl)
}

#[tokio::test]
async fn bots_are_read_once_per_ttl_missing_ones_too() {
    let store = MemoryStore::new();
    store.put_bot(bot_record());
    let dir = directory(&store, None, MINUTE);
    let first = dir.bot(&bot_id()).await.expect("read").expect("the bot");
    let second = dir.bot(&bot_id()).await.expect("read").expect("the bot");
    assert_eq!(store.bot_loads(), 1);
    assert!(Arc::ptr_eq(&first, &second), "the cached record itself");
    assert_eq!(first.bot.name, "Clawd");

    let unknown = BotId::parse("b00000000000000000000").expect("an id");
    assert!(dir.bot(&unknown).await.expect("read").is_none());
    assert!(dir.bot(&unknown).await.expect("read").is_none());
    assert_eq!(store.bot_loads(), 2, "a miss is cached too");

    let other = BotId::parse("b11111111111111111111").expect("an id");
    store.fail.on("load_bot");
    assert!(matches!(dir.bot(&other).await, Err(StoreError::Aws { operation: "load_bot", .. })));
    store.fail.off("load_bot");
    assert!(dir.bot(&other).await.expect("read").is_none(), "the failure was not cached");
    assert_eq!(store.bot_loads(), 3);
}

#[tokio::test]
async fn a_change_shows_once_the_entry_expires() {
    let store = MemoryStore::new();
    store.put_bot(bot_record());
    let cached = directory(&store, None, Duration::from_millis(50));
    let uncached = directory(&store, None, Duration::ZERO);
    for dir in [&cached, &uncached] {
        assert_eq!(dir.bot(&bot_id()).await.expect("read").expect("the bot").bot.status, BotStatus::Active);
    }
    let mut disabled = bot_record();
    disabled.bot.status = BotStatus::Disabled;
    store.put_bot(disabled);

    assert_eq!(uncached.bot(&bot_id()).await.expect("read").expect("the bot").bot.status, BotStatus::Disabled);
    assert_eq!(cached.bot(&bot_id()).await.expect("read").expect("the bot").bot.status, BotStatus::Active);
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(cached.bot(&bot_id()).await.expect("read").expect("the bot").bot.status, BotStatus::Disabled);
    assert_eq!(store.bot_loads(), 4, "two reads each");
}

#[tokio::test]
async fn secrets_are_read_once_per_parameter() {
    let store = MemoryStore::new();
    let secrets = MemorySecrets::new();
    put_telegram_secrets(&secrets);
    let record = bot_record();
    let binding = &record.channels[0];

    let dispatcher = directory(&store, None, MINUTE);
    assert!(dispatcher.channel_secrets(binding).await.expect("no source").is_none());
    assert_eq!(secrets.reads(), 0);

    let dir = directory(&store, Some(&secrets), MINUTE);
    for _ in 0..2 {
        let found = dir.channel_secrets(binding).await.expect("read").expect("the secrets");
        assert_eq!(found.get("webhook_secret").map(|s| s.expose()), Some(TELEGRAM_WEBHOOK_SECRET));
    }
    assert_eq!(secrets.reads(), 1);

    let mut missing = binding.clone();
    missing.secret_parameter = "nowhere".into();
    assert!(dir.channel_secrets(&missing).await.expect("read").is_none());
    assert!(dir.channel_secrets(&missing).await.expect("read").is_none());
    assert_eq!(secrets.reads(), 2, "a missing parameter is cached too");

    let mut failing = binding.clone();
    failing.secret_parameter = "flaky".into();
    secrets.put("flaky", &[("webhook_secret", "x")]);
    secrets.fail.on("get");
    assert!(dir.channel_secrets(&failing).await.is_err());
    secrets.fail.off("get");
    assert!(dir.channel_secrets(&failing).await.expect("read").is_some(), "the failure was not cached");
    assert_eq!(secrets.reads(), 3);
}
