//! The access policy on the in-memory ports. The dispatcher's side (nothing stored or run for a
//! refused message, `/pair`) is in `flows/dispatch/tests/access.rs`.

use super::*;
use crate::domain::model::ChannelKind;
use crate::testing::*;

fn user(id: &str) -> UserRef {
    UserRef::new(ChannelKind::Telegram, id).unwrap()
}

fn pending(code: &str, who: &str, message_id: &str, expires_at_ms: i64) -> PendingPairing {
    PendingPairing { code: code.into(), user: user(who).to_string(), expires_at_ms, message_id: message_id.into() }
}

#[test]
fn codes_are_eight_unambiguous_symbols_and_parse_back_exactly() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        let code = PairingCode::generate();
        assert_eq!(code.as_str().len(), CODE_LEN);
        assert!(code.as_str().bytes().all(|b| CODE_ALPHABET.contains(&b)), "{}", code.as_str());
        assert!(!code.as_str().contains(['0', 'O', '1', 'I', 'L']));
        assert_eq!(PairingCode::parse(&code.as_str().to_ascii_lowercase()), Some(code.clone()));
        seen.insert(code.as_str().to_owned());
    }
    assert_eq!(seen.len(), 200, "200 random codes are distinct");
    for bad in ["", "ABCDEFG", "ABCDEFGHJ", "ABCDEFG0", "ABCD EFG", "ABCDEFG#"] {
        assert_eq!(PairingCode::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn policies_parse_their_names_only() {
    for p in ["pairing", "allowlist", "open", "disabled"] {
        assert_eq!(p.parse::<DmPolicy>().unwrap().as_str(), p);
    }
    for p in ["mention", "allowlist", "open", "disabled"] {
        assert_eq!(p.parse::<GroupPolicy>().unwrap().as_str(), p);
    }
    assert!("mention".parse::<DmPolicy>().is_err());
    assert!("pairing".parse::<GroupPolicy>().is_err());
    assert!("Open".parse::<DmPolicy>().is_err());
}

#[test]
fn a_bot_stored_before_policies_keeps_its_behaviour_and_new_bots_pair() {
    let stored = serde_json::json!({
        "bot_id": BOT, "tenant_id": TENANT, "name": "old", "status": "active", "created_at_ms": NOW
    });
    let bot: crate::domain::model::Bot = serde_json::from_value(stored).unwrap();
    assert_eq!(bot.access, BotAccess::open());
    assert_eq!(BotAccess::for_new_bot().dm, DmPolicy::Pairing);
    assert_eq!(BotAccess::for_new_bot().groups, GroupPolicy::Mention);
    let mut bot = bot;
    bot.access = BotAccess {
        dm: DmPolicy::Allowlist,
        groups: GroupPolicy::Allowlist,
        allowed_groups: vec!["telegram:-5".into()],
    };
    let back: crate::domain::model::Bot = serde_json::from_value(serde_json::to_value(&bot).unwrap()).unwrap();
    assert_eq!(back, bot);
}

#[test]
fn the_webhook_prefilter_refuses_disabled_modes_and_unlisted_groups() {
    let dm = message("42", "1", "hi", NOW);
    let mut group = message("-100", "2", "hi", NOW);
    group.message.is_direct = false;
    let mut access = BotAccess::open();
    assert_eq!(prefilter(&access, &dm), None);
    assert_eq!(prefilter(&access, &group), None);
    access.dm = DmPolicy::Pairing;
    assert_eq!(prefilter(&access, &dm), None, "the dispatcher decides pairing");
    access.dm = DmPolicy::Disabled;
    assert!(prefilter(&access, &dm).is_some());
    access.groups = GroupPolicy::Allowlist;
    assert!(prefilter(&access, &group).is_some());
    access.allowed_groups = vec!["telegram:-100".into()];
    assert_eq!(prefilter(&access, &group), None);
    access.groups = GroupPolicy::Disabled;
    assert!(prefilter(&access, &group).is_some());
}

#[tokio::test]
async fn one_code_per_user_per_hour_and_a_redelivery_gets_the_same_code() {
    let store = MemoryStore::new();
    let (t, b) = (tenant(), bot_id());
    let first = pending("AAAAAAAA", "42", "m1", NOW + PAIRING_TTL_MS);
    assert_eq!(store.claim_pairing(&t, &b, &first, NOW).await.unwrap(), Some(first.clone()));
    let again = pending("BBBBBBBB", "42", "m1", NOW + 60_000 + PAIRING_TTL_MS);
    assert_eq!(store.claim_pairing(&t, &b, &again, NOW + 60_000).await.unwrap(), Some(first.clone()), "same DM");
    let flood = pending("CCCCCCCC", "42", "m2", NOW + 120_000 + PAIRING_TTL_MS);
    assert_eq!(store.claim_pairing(&t, &b, &flood, NOW + 120_000).await.unwrap(), None, "within the hour");
    let other = pending("DDDDDDDD", "43", "m3", NOW + PAIRING_TTL_MS);
    assert!(store.claim_pairing(&t, &b, &other, NOW).await.unwrap().is_some(), "another user");
    let later = pending("EEEEEEEE", "42", "m4", NOW + 2 * PAIRING_TTL_MS);
    assert_eq!(store.claim_pairing(&t, &b, &later, NOW + PAIRING_TTL_MS).await.unwrap(), Some(later), "after the hour");
}

#[tokio::test]
async fn approving_a_code_allows_its_user_once_on_its_own_bot_until_it_expires() {
    let store = MemoryStore::new();
    let (t, b) = (tenant(), bot_id());
    let other_bot = BotId::parse("b0123456789abcdef0999").unwrap();
    let p = pending("ABCDEFGH", "42", "m1", NOW + PAIRING_TTL_MS);
    store.claim_pairing(&t, &b, &p, NOW).await.unwrap();
    assert_eq!(approve_code(store.as_ref(), &t, &other_bot, "ABCDEFGH", "operator", NOW).await.unwrap(), None);
    assert_eq!(
        approve_code(store.as_ref(), &t, &b, "ABCDEFGH", "operator", NOW + PAIRING_TTL_MS).await.unwrap(),
        None,
        "expired"
    );
    assert!(!store.dm_allowed(&t, &b, &user("42")).await.unwrap());
    let allowed = approve_code(store.as_ref(), &t, &b, "abcdefgh", "operator", NOW).await.unwrap().unwrap();
    assert_eq!(allowed.user, "telegram:42");
    assert!(store.dm_allowed(&t, &b, &user("42")).await.unwrap());
    assert!(!store.dm_allowed(&t, &other_bot, &user("42")).await.unwrap());
    assert_eq!(approve_code(store.as_ref(), &t, &b, "ABCDEFGH", "operator", NOW).await.unwrap(), None, "used");
    assert!(store.access_items(&t, &b, NOW).await.unwrap().pending.is_empty());
}

#[tokio::test]
async fn revoking_deletes_the_allow_item_and_any_pending_code() {
    let store = MemoryStore::new();
    let (t, b) = (tenant(), bot_id());
    let allowed = AllowedUser { user: "telegram:42".into(), added_at_ms: NOW, added_by: "operator".into() };
    store.allow_dm(&t, &b, &allowed).await.unwrap();
    let p = pending("ABCDEFGH", "42", "m1", NOW + PAIRING_TTL_MS);
    store.claim_pairing(&t, &b, &p, NOW).await.unwrap();
    assert!(store.revoke_dm(&t, &b, &user("42")).await.unwrap());
    assert!(!store.dm_allowed(&t, &b, &user("42")).await.unwrap());
    assert_eq!(
        approve_code(store.as_ref(), &t, &b, "ABCDEFGH", "operator", NOW).await.unwrap(),
        None,
        "an old code never undoes a revocation"
    );
    assert!(!store.revoke_dm(&t, &b, &user("42")).await.unwrap(), "nothing left");
}
