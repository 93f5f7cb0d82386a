//! Files in and out, end to end on the local stack: the Telegram stand-in holds the files a
//! person sent (served through `getFile` and the file URL, as Telegram does), the dispatcher
//! downloads and stores them in moto's S3 under the conversation's prefix, the agent reads them
//! with its handed credentials and the scripted Bedrock stand-in receives them as Converse
//! content; `send_file` comes back through the outbox and the reply function's multipart upload.

use std::io::Cursor;
use std::time::Duration;

use base64::Engine;
use clawless_agent::stand_ins::{ModelStandIn, ScriptedTurn};
use clawless_local::channel_api::HostedFile;
use clawless_local::{LocalOptions, LocalStack, default_bin_dir};
use serde_json::{Value, json};

use crate::support::*;
use crate::telegram::post_update;

const WAIT: Duration = Duration::from_secs(45);

async fn stack_with_model(model: &ModelStandIn) -> LocalStack {
    let mut options = LocalOptions::new(repo_root(), default_bin_dir());
    options.agent_env = vec![
        ("CLAWLESS_MODEL_PROVIDER".into(), "bedrock".into()),
        ("CLAWLESS_BEDROCK_ENDPOINT".into(), model.url()),
        ("CLAWLESS_MODEL_ID".into(), "test-model".into()),
    ];
    LocalStack::start(options).await.unwrap_or_else(|e| panic!("local stack did not start: {e}"))
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let img =
        image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x * 7 % 256) as u8, (y * 3 % 256) as u8, 99]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img).write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

/// A message from Ada (private chat 4242) carrying `file` (a Telegram `photo` size list or a
/// `document`/`voice` object) under `field`, with `caption`.
fn file_update(update_id: i64, field: &str, file: Value, caption: Option<&str>) -> String {
    let mut message = json!({
        "message_id": update_id,
        "from": {"id": 4242, "is_bot": false, "first_name": "Ada"},
        "chat": {"id": 4242, "type": "private"},
        "date": jiff::Timestamp::now().as_second(),
    });
    message[field] = file;
    if let Some(caption) = caption {
        message["caption"] = json!(caption);
    }
    json!({"update_id": update_id, "message": message}).to_string()
}

async fn host(stack: &LocalStack, id: &str, bytes: &[u8], name: Option<&str>) {
    let file = HostedFile { bytes: bytes.to_vec(), name: name.map(str::to_owned), content_type: None };
    stack.outbox.host_file("telegram", id, file).await;
}

/// The user content blocks of a Converse request's last message.
fn last_user_blocks(request: &Value) -> Vec<Value> {
    request["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_array())
        .cloned()
        .unwrap_or_default()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn answers(stack: &LocalStack, n: usize) -> Vec<String> {
    eventually(WAIT, "the bot's answers", || async {
        let sent: Vec<String> = stack.outbox.sent().await.into_iter().map(|m| m.text).collect();
        (sent.len() >= n).then_some(sent)
    })
    .await
}

async fn attachment_keys(stack: &LocalStack) -> Vec<String> {
    let bucket = stack.resources.buckets.get("MemoryBucket").expect("MemoryBucket").clone();
    let s3 =
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&stack.sdk).force_path_style(true).build());
    let listed = s3.list_objects_v2().bucket(bucket).prefix("tenants/").send().await.unwrap();
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .filter(|k| k.contains("/attachments/"))
        .map(str::to_owned)
        .collect()
}

/// A photo reaches the model as an image block with the exact bytes, its caption beside it; a
/// "PDF" whose bytes are a PNG is judged by its bytes and goes as an image too; a real PDF goes
/// as a document block; both are stored under the conversation's prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn photos_and_documents_reach_the_model_with_their_exact_bytes() {
    let model = ModelStandIn::bedrock(vec![
        ScriptedTurn::Text("A receipt.".into()),
        ScriptedTurn::Text("Also an image.".into()),
        ScriptedTurn::Text("A report.".into()),
    ])
    .await;
    let stack = stack_with_model(&model).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);

    let photo = png(40, 30);
    host(&stack, "photo-big", &photo, None).await;
    let sizes = json!([
        {"file_id": "photo-small", "file_unique_id": "s", "file_size": 10, "width": 4, "height": 3},
        {"file_id": "photo-big", "file_unique_id": "b", "file_size": photo.len(), "width": 40, "height": 30},
    ]);
    let update = file_update(9101, "photo", sizes, Some("what does this receipt say?"));
    assert_eq!(post_update(&bot.webhook_url, Some(TEST_SECRET), &update).await.status(), 200);
    answers(&stack, 1).await;

    let liar = png(8, 8);
    host(&stack, "liar", &liar, Some("invoice.pdf")).await;
    let document =
        json!({"file_id": "liar", "file_unique_id": "l", "file_name": "invoice.pdf", "mime_type": "application/pdf"});
    let update = file_update(9102, "document", document, None);
    assert_eq!(post_update(&bot.webhook_url, Some(TEST_SECRET), &update).await.status(), 200);
    answers(&stack, 2).await;

    let pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec();
    host(&stack, "report", &pdf, Some("report.pdf")).await;
    let document = json!({"file_id": "report", "file_unique_id": "r", "file_name": "report.pdf"});
    let update = file_update(9103, "document", document, Some("summarise please"));
    assert_eq!(post_update(&bot.webhook_url, Some(TEST_SECRET), &update).await.status(), 200);
    let sent = answers(&stack, 3).await;
    assert_eq!(sent, ["A receipt.", "Also an image.", "A report."]);

    let requests = model.requests();
    assert_eq!(requests.len(), 3, "one model call per message");
    let blocks = last_user_blocks(&requests[0]);
    let text: String = blocks.iter().filter_map(|b| b["text"].as_str()).collect();
    assert!(text.contains("what does this receipt say?"), "the caption travels with the photo: {text}");
    assert!(text.contains("<untrusted kind=\"attachment\""), "the file is described as untrusted: {text}");
    let images: Vec<&Value> = blocks.iter().filter_map(|b| b.get("image")).collect();
    assert_eq!(images.len(), 1, "{blocks:?}");
    assert_eq!(images[0]["format"], "png");
    assert_eq!(images[0]["source"]["bytes"], b64(&photo), "the exact bytes of the largest size");

    let blocks = last_user_blocks(&requests[1]);
    let image = blocks.iter().find_map(|b| b.get("image")).expect("a PNG named .pdf is an image");
    assert_eq!(image["source"]["bytes"], b64(&liar));
    assert!(blocks.iter().all(|b| b.get("document").is_none()), "{blocks:?}");

    let blocks = last_user_blocks(&requests[2]);
    let document = blocks.iter().find_map(|b| b.get("document")).expect("the PDF as a document block");
    assert_eq!(document["format"], "pdf");
    assert_eq!(document["source"]["bytes"], b64(&pdf));

    let keys = attachment_keys(&stack).await;
    assert_eq!(keys.len(), 3, "{keys:?}");
    let prefix = format!("tenants/{}/bots/{}/conversations/telegram/4242/attachments/", bot.tenant_id, bot.bot_id);
    assert!(keys.iter().all(|k| k.starts_with(&prefix)), "{keys:?}");
    assert!(keys.iter().filter(|k| k.ends_with(".png")).count() == 2, "judged by the bytes: {keys:?}");
    // The bytes stored are the tenant's to see in its usage.
    let usage = clawless(&stack, &["usage", "show", "--tenant", &bot.tenant_id]).unwrap();
    assert_eq!(usage["file_bytes_in"], json!(photo.len() + liar.len() + pdf.len()), "{usage}");
    assert_eq!(usage["file_bytes_out"], json!(0));
}

/// A Telegram voice note reaches the model as its transcript: the agent starts a Transcribe job
/// (the local stand-in, which hears the text after the marker in the audio), waits for it, reads
/// the result from the conversation's prefix and puts it in the untrusted attachment block,
/// marked as a transcript of the user's voice note.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_voice_note_reaches_the_model_as_its_transcript() {
    let model = ModelStandIn::bedrock(vec![ScriptedTurn::Text("Booked.".into())]).await;
    let stack = stack_with_model(&model).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);

    let mut audio = b"OggS\0\x02\0\0\0\0\0\0\0\0".to_vec();
    audio.extend_from_slice(b"CLAWLESS-TRANSCRIPT:please book a table for two");
    host(&stack, "voice-1", &audio, None).await;
    let voice = json!({"file_id": "voice-1", "file_unique_id": "v1", "duration": 2, "mime_type": "audio/ogg"});
    let update = file_update(9301, "voice", voice, None);
    assert_eq!(post_update(&bot.webhook_url, Some(TEST_SECRET), &update).await.status(), 200);
    let sent = answers(&stack, 1).await;
    assert_eq!(sent, ["Booked."]);

    let requests = model.requests();
    assert_eq!(requests.len(), 1);
    let text: String = last_user_blocks(&requests[0]).iter().filter_map(|b| b["text"].as_str()).collect();
    assert!(text.contains("<untrusted kind=\"attachment\""), "{text}");
    // The apostrophe stays as it is: attribute values escape only <, >, & and quotes.
    assert!(text.contains("transcript_of=\"the user's voice note\""), "{text}");
    assert!(text.contains("please book a table for two"), "{text}");
    assert!(!text.contains("no transcript"), "{text}");

    // The result was written beside the attachment, under the conversation's prefix.
    let bucket = stack.resources.buckets.get("MemoryBucket").expect("MemoryBucket").clone();
    let s3 =
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&stack.sdk).force_path_style(true).build());
    let prefix = format!("tenants/{}/bots/{}/conversations/telegram/4242/transcripts/", bot.tenant_id, bot.bot_id);
    let listed = s3.list_objects_v2().bucket(bucket).prefix(&prefix).send().await.unwrap();
    assert_eq!(listed.contents().len(), 1, "one transcript under {prefix}");
}

/// A file over 20 MB gets a clear answer, nothing is stored and no model runs; a redelivered
/// photo is downloaded, stored and answered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_21_mb_file_is_refused_and_a_redelivered_photo_is_answered_once() {
    let model = ModelStandIn::bedrock(vec![ScriptedTurn::Text("Nice photo.".into())]).await;
    let stack = stack_with_model(&model).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);

    let big = vec![0x25u8; 21 * 1024 * 1024];
    host(&stack, "huge", &big, Some("scan.pdf")).await;
    // No declared size in the update: the refusal comes from the size the channel reports.
    let document = json!({"file_id": "huge", "file_unique_id": "h", "file_name": "scan.pdf"});
    let update = file_update(9201, "document", document, None);
    assert_eq!(post_update(&bot.webhook_url, Some(TEST_SECRET), &update).await.status(), 200);
    let sent = answers(&stack, 1).await;
    assert!(sent[0].contains("larger than 20.0 MB") && sent[0].contains("scan.pdf"), "{sent:?}");
    assert!(model.requests().is_empty(), "no model run for a refused file alone");
    assert!(attachment_keys(&stack).await.is_empty(), "nothing stored");

    let photo = png(20, 20);
    host(&stack, "again", &photo, None).await;
    let sizes =
        json!([{"file_id": "again", "file_unique_id": "a", "file_size": photo.len(), "width": 20, "height": 20}]);
    let update = file_update(9202, "photo", sizes, None);
    for _ in 0..2 {
        assert_eq!(post_update(&bot.webhook_url, Some(TEST_SECRET), &update).await.status(), 200);
    }
    let sent = answers(&stack, 2).await;
    assert_eq!(sent[1], "Nice photo.");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(stack.outbox.sent().await.len(), 2, "answered once");
    assert_eq!(model.requests().len(), 1, "one run");
    let downloads: Vec<_> = stack.outbox.downloads().await.into_iter().filter(|(_, id)| id == "again").collect();
    assert_eq!(downloads.len(), 1, "downloaded once");
    assert_eq!(attachment_keys(&stack).await.len(), 1, "stored once");
}

/// The model writes a file and sends it: it arrives at the Telegram stand-in byte for byte, as a
/// document with its caption, after the answer's text; the outbox copy is gone afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn send_file_arrives_at_the_chat_byte_for_byte() {
    let content = "quarter,revenue\nQ1,100\nQ2,120\n";
    let model = ModelStandIn::bedrock(vec![
        ScriptedTurn::ToolCall {
            name: "file_write".into(),
            input: json!({"path": "out/revenue.csv", "content": content}),
        },
        ScriptedTurn::ToolCall {
            name: "send_file".into(),
            input: json!({"path": "out/revenue.csv", "caption": "the numbers"}),
        },
        ScriptedTurn::Text("Here is the file.".into()),
    ])
    .await;
    let stack = stack_with_model(&model).await;
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    clawless(&stack, &["profile", "set", "--tenant", &bot.tenant_id, "--preset", "web-agent"]).unwrap();

    let update = crate::telegram::sample_update();
    assert_eq!(post_update(&bot.webhook_url, Some(TEST_SECRET), &update).await.status(), 200);
    let files = eventually(WAIT, "the file at the stand-in", || async {
        let files = stack.outbox.files().await;
        (!files.is_empty()).then_some(files)
    })
    .await;
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].bytes, content.as_bytes(), "byte for byte");
    assert_eq!(files[0].name, "revenue.csv");
    assert_eq!(files[0].as_kind, "document");
    assert_eq!(files[0].caption.as_deref(), Some("the numbers"));
    assert_eq!(files[0].chat_id, json!(4242));
    let sent = answers(&stack, 1).await;
    assert_eq!(sent, ["Here is the file."]);
    let usage = clawless(&stack, &["usage", "show", "--tenant", &bot.tenant_id]).unwrap();
    assert_eq!(usage["file_bytes_out"], json!(content.len()), "{usage}");
    // Once sent and recorded, the outbox copy is deleted.
    let bucket = stack.resources.buckets.get("MemoryBucket").unwrap().clone();
    let s3 =
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&stack.sdk).force_path_style(true).build());
    eventually(WAIT, "the outbox emptied", || async {
        let listed = s3.list_objects_v2().bucket(&bucket).prefix("tenants/").send().await.ok()?;
        listed.contents().iter().filter_map(|o| o.key()).all(|k| !k.contains("/outbox/")).then_some(())
    })
    .await;
}

/// WhatsApp, through the local Graph API stand-in: the sample image message's media id is
/// resolved to a URL and fetched with the access token, the photo reaches the model with its
/// exact bytes and the caption, and the model's file goes back as an uploaded media message.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whatsapp_photos_in_and_files_out() {
    let model = ModelStandIn::bedrock(vec![
        ScriptedTurn::ToolCall { name: "file_write".into(), input: json!({"path": "a.txt", "content": "hello file"}) },
        ScriptedTurn::ToolCall { name: "send_file".into(), input: json!({"path": "a.txt"}) },
        ScriptedTurn::Text("A cat.".into()),
    ])
    .await;
    let stack = stack_with_model(&model).await;
    let bot = crate::whatsapp::onboard(&stack);
    clawless(&stack, &["profile", "set", "--tenant", &bot.tenant_id, "--preset", "web-agent"]).unwrap();
    let photo = png(12, 9);
    let hosted = HostedFile { bytes: photo.clone(), name: None, content_type: Some("image/jpeg".into()) };
    stack.outbox.host_file("whatsapp", "1003123456789012", hosted).await;
    let body = crate::support::sample_event("webhook-whatsapp-photo.json")["body"].as_str().unwrap().to_owned();
    assert_eq!(crate::whatsapp::post_signed(&bot.webhook_url, &body).await.status(), 200);
    let sent = answers(&stack, 1).await;
    assert_eq!(sent, ["A cat."]);
    let blocks = last_user_blocks(&model.requests()[0]);
    let text: String = blocks.iter().filter_map(|b| b["text"].as_str()).collect();
    assert!(text.contains("what is in this photo?"), "{text}");
    let image = blocks.iter().find_map(|b| b.get("image")).expect("an image block");
    assert_eq!(image["format"], "png", "judged by the bytes, not the declared image/jpeg");
    assert_eq!(image["source"]["bytes"], b64(&photo));
    // The file follows the answer's text.
    let files = eventually(WAIT, "the file at the stand-in", || async {
        let files = stack.outbox.files().await;
        (!files.is_empty()).then_some(files)
    })
    .await;
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].channel, "whatsapp");
    assert_eq!(files[0].bytes, b"hello file");
    assert_eq!(files[0].chat_id, json!("16505551234"));
}

/// Slack, through the local Web API stand-in: a file shared in a DM is fetched from its
/// `url_private_download` with the bot token, reaches the model with its exact bytes, and the
/// model's file goes back through `files.getUploadURLExternal` and `completeUploadExternal`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slack_files_in_and_out() {
    let model = ModelStandIn::bedrock(vec![
        ScriptedTurn::ToolCall { name: "file_write".into(), input: json!({"path": "b.txt", "content": "slack file"}) },
        ScriptedTurn::ToolCall { name: "send_file".into(), input: json!({"path": "b.txt", "caption": "yours"}) },
        ScriptedTurn::Text("Got it.".into()),
    ])
    .await;
    let stack = stack_with_model(&model).await;
    let bot = crate::slack::onboard_slack_bot(&stack);
    clawless(&stack, &["profile", "set", "--tenant", &bot.tenant_id, "--preset", "web-agent"]).unwrap();
    let photo = png(16, 16);
    let hosted = HostedFile { bytes: photo.clone(), name: Some("shot.png".into()), content_type: None };
    stack.outbox.host_file("slack", "F0PHOTO1", hosted).await;
    let url = format!("{}/slack/files-pri/F0PHOTO1/shot.png", stack.stand_in_url);
    let event = json!({
        "token": "test-verification-token", "team_id": "T0123ABCD", "api_app_id": "A0123ABCD",
        "type": "event_callback", "event_id": "Ev0MEDIA01", "event_time": 1_763_740_800,
        "authorizations": [{"team_id": "T0123ABCD", "user_id": "U0BOT0001", "is_bot": true}],
        "event": {"type": "message", "subtype": "file_share", "channel": "D0123ABCD", "user": "U0123ABCD",
                  "text": "look at this", "ts": "1763740800.000300", "event_ts": "1763740800.000300",
                  "channel_type": "im",
                  "files": [{"id": "F0PHOTO1", "name": "shot.png", "mimetype": "image/png", "size": photo.len(),
                             "url_private": url, "url_private_download": url}]}
    })
    .to_string();
    assert_eq!(crate::slack::post_event(&bot.webhook_url, &event, &[]).await.status(), 200);
    let sent = answers(&stack, 1).await;
    assert_eq!(sent, ["Got it."]);
    let blocks = last_user_blocks(&model.requests()[0]);
    let image = blocks.iter().find_map(|b| b.get("image")).expect("an image block");
    assert_eq!(image["source"]["bytes"], b64(&photo));
    let files = eventually(WAIT, "the file at the stand-in", || async {
        let files = stack.outbox.files().await;
        (!files.is_empty()).then_some(files)
    })
    .await;
    assert_eq!(files[0].channel, "slack");
    assert_eq!(files[0].bytes, b"slack file");
    assert_eq!(files[0].caption.as_deref(), Some("yours"));
}
