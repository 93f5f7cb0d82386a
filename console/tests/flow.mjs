// The console in a real browser (Debian's chromium, headless, driven by playwright-core), against
// a running local stack: cli/tests/e2e/console.rs starts the stack, creates the tenant and its
// admin with the CLI, runs this script and checks the outcome in the store afterwards.
//
// At phone width (390 px) it signs in, creates a bot, adds a Telegram channel, sends messages
// through the webhook exactly as Telegram would, reads them in the history, makes the approver,
// approves a permission request with one click and sees the chat hear it, disables the bot and
// sees the next message ignored, then visits the other pages, adds a member and checks what a
// member sees (no button that writes), sees a forged token bring back the sign-in, removes the
// member and signs out. Screenshots of each page go to CONSOLE_SCREENSHOTS; the phone-width approvals page is also
// copied to CONSOLE_DOCS_SCREENSHOT when that is set.
//
// Environment:
//   CONSOLE_URL            the console (`console_url` of the local run), ending in /
//   CONSOLE_EMAIL          an admin of a tenant
//   CONSOLE_PASSWORD       their password
//   API_URL                the local API (`api_url`): webhooks are posted to it
//   OUTBOX_URL             what the channel stand-in sent (`{stand_in_url}/_outbox`)
//   CONSOLE_SCREENSHOTS    a directory for the screenshots
//   CONSOLE_DOCS_SCREENSHOT  where to copy the approvals screenshot (optional)
//   CHROMIUM               the browser (default /usr/bin/chromium)
//   CONSOLE_EXPECT_TOOL_CONTENT  the `content` argument the scripted model asks file_write for
//   CONSOLE_APPROVED_REPLY  what the scripted model answers once the tool ran
//   CONSOLE_RESULT         a file to write what the script learnt (bot id, request id, …) as JSON
//
// Exit status 0 when every step passed; otherwise the failing step, a screenshot of the page at
// that moment (failure.png) and the browser's console are printed.

import { chromium } from "playwright-core";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === "") {
    console.error(`flow.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
};

const CONSOLE_URL = env("CONSOLE_URL");
const EMAIL = env("CONSOLE_EMAIL");
const PASSWORD = env("CONSOLE_PASSWORD");
const API_URL = env("API_URL").replace(/\/+$/, "");
const OUTBOX_URL = env("OUTBOX_URL");
const SHOTS = env("CONSOLE_SCREENSHOTS");
const DOCS_SHOT = process.env.CONSOLE_DOCS_SCREENSHOT ?? "";
const CHROMIUM = env("CHROMIUM", "/usr/bin/chromium");
const TOOL_CONTENT = env("CONSOLE_EXPECT_TOOL_CONTENT");
const APPROVED_REPLY = env("CONSOLE_APPROVED_REPLY");
const RESULT = process.env.CONSOLE_RESULT ?? "";

const REQUESTER = 4242;
const APPROVER = 9001;
const BOT_TOKEN = "123456:console-test-token";
const WEBHOOK_SECRET = `console-${Math.random().toString(36).slice(2, 12)}`;
// A bot name and a message with markup in them: they must come out as text.
const BOT_NAME = "Console <i>helper</i>";
const PERSONA = "You write the quarterly reports.\nBe brief.";
const FIRST_TEXT = "hello <b>console</b> & friends";
const MEMBER = `member-${Date.now()}@example.com`;
const MEMBER_PASSWORD = "Member-passw0rd!";

mkdirSync(SHOTS, { recursive: true });

const log = (...args) => console.log(`[flow ${new Date().toISOString().slice(11, 19)}]`, ...args);
let current = "start";
const step = (name) => {
  current = name;
  log(name);
};

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

async function eventually(what, check, timeoutMs = 45_000, intervalMs = 250) {
  const started = Date.now();
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ""}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

async function outbox() {
  const response = await fetch(OUTBOX_URL);
  assert(response.ok, `GET ${OUTBOX_URL}: ${response.status}`);
  return response.json();
}

const textsTo = (sent, chat) =>
  sent.filter((m) => m.channel === "telegram" && String(m.chat_id) === String(chat)).map((m) => m.text);

async function waitForText(chat, needle, timeoutMs = 45_000) {
  return eventually(
    `a Telegram message to ${chat} containing ${JSON.stringify(needle)}`,
    async () => {
      const texts = textsTo(await outbox(), chat);
      return texts.some((t) => t.includes(needle)) ? texts : null;
    },
    timeoutMs,
  );
}

let updateId = 1000;
/** A private-chat message posted to the bot's webhook exactly as Telegram posts it. */
async function telegramSays(botId, user, text) {
  updateId += 1;
  const update = {
    update_id: updateId,
    message: {
      message_id: updateId,
      from: { id: user, is_bot: false, first_name: user === APPROVER ? "Boss" : "Ada" },
      chat: { id: user, type: "private" },
      date: Math.floor(Date.now() / 1000),
      text,
    },
  };
  const response = await fetch(`${API_URL}/webhook/telegram/${botId}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET },
    body: JSON.stringify(update),
  });
  assert(response.status === 200, `the webhook took the update (HTTP ${response.status}: ${await response.text()})`);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  // Containers and CI run as root, where chromium's sandbox cannot start.
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const context = await browser.newContext({
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
  colorScheme: "light",
  locale: "en-GB",
  timezoneId: "UTC",
});
const page = await context.newPage();
// Generous: in CI this runs beside every other end-to-end test on two cores.
page.setDefaultTimeout(30_000);
const browserLog = [];
const problems = [];
page.on("console", (msg) => {
  const line = `${msg.type()}: ${msg.text()}`;
  browserLog.push(line);
  if (/Content[- ]Security[- ]Policy/i.test(msg.text())) problems.push(`CSP violation: ${msg.text()}`);
});
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
// A dialog would be an alert() run by something untrusted; the console itself uses none.
page.on("dialog", async (d) => {
  problems.push(`unexpected dialog: ${d.type()} ${d.message()}`);
  await d.dismiss();
});

async function shot(name, fullPage = true) {
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage });
  return path;
}

/** Navigates by the console's own hash links and waits for the page's heading. */
async function open(hash, heading) {
  await page.evaluate((h) => {
    window.location.hash = h;
  }, hash);
  await page.getByRole("heading", { name: heading, exact: false }).first().waitFor();
}

/** Signs in from the sign-in form; a first sign-in that must choose a password chooses one. */
async function signIn(email, password) {
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  const nav = page.getByRole("navigation", { name: "Sections" });
  const newPassword = page.getByLabel("New password");
  await nav.or(newPassword).first().waitFor();
  if (await newPassword.isVisible()) {
    await newPassword.fill(`${password}-2`);
    await page.getByRole("button", { name: "Set password and sign in" }).click();
    await nav.waitFor();
  }
}

const result = {};

try {
  step("the console loads with its own CSP and shows the sign-in form");
  const response = await page.goto(CONSOLE_URL, { waitUntil: "load" });
  assert(response && response.ok(), `GET ${CONSOLE_URL}: ${response?.status()}`);
  const meta = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute("content");
  assert(meta && meta.includes("script-src 'self'") && !meta.includes("unsafe-inline"), `the CSP meta: ${meta}`);
  assert((await page.locator("script:not([src])").count()) === 0, "no inline script");
  assert((await page.locator("[style]").count()) === 0, "no style attribute");
  await page.getByLabel("Email").waitFor();
  await shot("01-sign-in");

  step("a wrong password is refused");
  await page.getByLabel("Email").fill(EMAIL);
  await page.getByLabel("Password").fill(`${PASSWORD}-wrong`);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").waitFor();

  step("sign in with Cognito");
  await signIn(EMAIL, PASSWORD);
  const stored = await page.evaluate(() => ({ session: Object.keys(sessionStorage), local: Object.keys(localStorage) }));
  assert(stored.session.length === 1 && stored.local.length === 0, `session in sessionStorage only: ${JSON.stringify(stored)}`);

  step("who am I: the admin of the tenant");
  await open("#/me", "Who am I");
  await page.getByText(EMAIL, { exact: true }).first().waitFor();
  await page.getByText("admin: reads and changes").waitFor();
  result.tenant_id = (await page.locator("dl.facts code").first().textContent())?.trim();
  await shot("02-me");

  step("create a bot (open DMs) from the bots page");
  await open("#/bots", "Bots");
  await page.getByRole("button", { name: "New bot" }).click();
  const create = page.getByRole("form", { name: "New bot" });
  await create.getByLabel("Name").fill(BOT_NAME);
  await create.getByLabel("Persona").fill("You help with reports.\nBe brief.");
  await create.locator("select[name=dm]").selectOption("open");
  await create.getByRole("button", { name: "Create bot" }).click();
  await page.waitForURL(/#\/bots\/[^/]+$/);
  const botId = decodeURIComponent(page.url().split("#/bots/")[1]);
  result.bot_id = botId;
  await page.getByRole("heading", { name: BOT_NAME }).waitFor();
  assert((await page.locator("main i").count()) === 0, "the bot's name is text, not markup");

  step("edit the bot: a new persona and a trigger");
  await page.getByRole("button", { name: "Edit", exact: true }).click();
  const edit = page.getByRole("form", { name: "Edit bot" });
  await edit.getByLabel("Persona").fill(PERSONA);
  await edit.getByLabel("Trigger").fill("^report");
  await edit.getByRole("button", { name: "Save" }).click();
  await page.getByText("You write the quarterly reports.").waitFor();

  step("add a Telegram channel: its keys are password fields");
  await page.getByRole("button", { name: "Add channel" }).click();
  const add = page.getByRole("form", { name: "Add channel" });
  await add.locator("select[name=type]").selectOption("telegram");
  assert((await add.locator('input[name="bot_token"]').getAttribute("type")) === "password", "bot_token is a password field");
  assert((await add.locator('input[name="webhook_secret"]').getAttribute("type")) === "password", "webhook_secret too");
  await add.locator('input[name="bot_token"]').fill(BOT_TOKEN);
  await add.locator('input[name="webhook_secret"]').fill(WEBHOOK_SECRET);
  await add.getByRole("button", { name: "Add channel" }).click();
  const channel = page.locator('li.channel[data-channel="telegram"]');
  await channel.waitFor();
  const webhookUrl = await channel.locator(".webhook-url").textContent();
  assert(webhookUrl === `${API_URL}/webhook/telegram/${botId}`, `the webhook URL: ${webhookUrl}`);
  const pageText = await page.locator("main").innerText();
  assert(!pageText.includes(BOT_TOKEN) && !pageText.includes(WEBHOOK_SECRET), "no key is shown back");

  step("register the webhook with Telegram (the stand-in)");
  await channel.getByRole("button", { name: "Register" }).click();
  // The outcome is recorded and checked by the Rust test at the end, so that a refused
  // registration does not hide what the rest of the flow shows.
  const registered = channel.getByText("Registered with the channel", { exact: false });
  const refused = channel.getByRole("alert");
  await registered.or(refused).first().waitFor();
  if (await refused.count()) {
    result.register_error = await refused.textContent();
    log(`  registering failed: ${result.register_error}`);
  }
  await shot("03-bot");

  step("make user 9001 the approver, from the approvals page");
  await open("#/approvals", "Pending approvals");
  await page.getByRole("button", { name: "Set" }).click();
  const approverForm = page.getByRole("form", { name: "Approver" });
  await approverForm.locator("select[name=bot]").selectOption(botId);
  await approverForm.locator("select[name=channel]").selectOption("telegram");
  await approverForm.getByLabel("Their user id on that channel").fill(String(APPROVER));
  await approverForm.getByRole("button", { name: "Save approver" }).click();
  await page.getByText(`telegram user ${APPROVER}`, { exact: false }).waitFor();

  step("a first message through the webhook gets the model's answer in the chat");
  await telegramSays(botId, REQUESTER, FIRST_TEXT);
  const firstAnswer = await eventually("the bot's first answer", async () => textsTo(await outbox(), REQUESTER)[0]);
  log(`  the bot answered: ${firstAnswer}`);

  step("the history shows the conversation and both messages, as text");
  await open(`#/bots/${encodeURIComponent(botId)}`, BOT_NAME);
  await page.getByRole("link", { name: "History" }).click();
  await page.getByRole("heading", { name: "Conversations" }).waitFor();
  const conversation = page.getByRole("link", { name: /telegram · 4242/ });
  await eventually("the conversation in the list", async () => {
    if (await conversation.count()) return true;
    await page.getByRole("button", { name: "Refresh" }).click();
    return false;
  }, 45_000, 1000);
  await conversation.click();
  const messages = page.getByRole("list", { name: "Messages" });
  await eventually("both messages in the history", async () => {
    const text = await messages.innerText();
    if (text.includes(FIRST_TEXT) && text.includes(firstAnswer.slice(0, 20))) return true;
    await page.getByRole("button", { name: "Refresh" }).click();
    return false;
  }, 45_000, 1000);
  assert((await messages.locator("b").count()) === 0, "a message's markup is text");
  await shot("04-history");

  step("a second message makes the model ask for file_write, outside least privilege");
  await telegramSays(botId, REQUESTER, "please write the Q3 report");
  await waitForText(REQUESTER, "needs approval");

  step("the request is pending in the approvals page, its arguments in full");
  await open("#/approvals", "Pending approvals");
  const card = page.locator("li.request-pending").first();
  await eventually("the pending request", async () => {
    if (await card.count()) return true;
    await page.getByRole("button", { name: "Refresh" }).first().click();
    return false;
  }, 45_000, 1000);
  const requestId = await card.getAttribute("data-request-id");
  result.request_id = requestId;
  assert((await card.locator(".tool").textContent()) === "file_write", "the tool");
  const shown = await card.locator("pre.arguments").textContent();
  const args = JSON.parse(shown);
  assert(args.content === TOOL_CONTENT, `the whole content, as text: ${shown.length} characters shown`);
  assert((await card.locator("pre.arguments script, pre.arguments *").count()) === 0, "the arguments are text only");
  await card.getByRole("button", { name: "Approve once" }).waitFor();
  await page.evaluate(() => window.scrollTo(0, 0));
  const approvalsShot = await shot("05-approvals-phone", false);
  await shot("05-approvals-phone-full");
  if (DOCS_SHOT) copyFileSync(approvalsShot, DOCS_SHOT);

  step("approve once, with one click");
  await card.getByRole("button", { name: "Approve once" }).click();
  const decided = page.locator(`li.request[data-request-id="${requestId}"]`);
  await eventually("the request decided", async () => (await decided.getAttribute("class"))?.includes("request-approved"));
  await page.getByRole("list", { name: "Decided requests" }).waitFor();
  await shot("06-approvals-decided");

  step("the requester's chat hears the outcome and the run resumes");
  await waitForText(REQUESTER, "approved `file_write` once");
  await waitForText(REQUESTER, APPROVED_REPLY);

  step("disable the bot");
  await open(`#/bots/${encodeURIComponent(botId)}`, BOT_NAME);
  await page.getByRole("button", { name: "Disable" }).click();
  await page.getByRole("button", { name: "Enable" }).waitFor();
  await page.locator(".badge-disabled").first().waitFor();
  await shot("07-bot-disabled");

  step("a message to the disabled bot is ignored");
  // The functions cache a bot for CLAWLESS_CACHE_SECONDS (the test sets 1).
  await new Promise((r) => setTimeout(r, 2500));
  const before = textsTo(await outbox(), REQUESTER).length;
  await telegramSays(botId, REQUESTER, "are you still there?");
  await new Promise((r) => setTimeout(r, 6000));
  const after = textsTo(await outbox(), REQUESTER);
  assert(after.length === before, `no answer from a disabled bot; it sent: ${JSON.stringify(after.slice(before))}`);

  step("tasks, usage, users");
  await open(`#/bots/${encodeURIComponent(botId)}/tasks`, "Scheduled tasks");
  await shot("08-tasks");
  await open("#/tools", "Tools the agents may use");
  await page.getByText("least privilege", { exact: false }).first().waitFor();
  await shot("09-tools");
  await open("#/usage", "Usage");
  await page.locator(".big").waitFor();
  await page.getByRole("heading", { name: "Limits" }).waitFor();
  await shot("09-usage");
  await open("#/users", "Users");
  await page.locator(`li[data-email="${EMAIL}"]`).waitFor();
  await page.getByRole("button", { name: "Add user" }).click();
  const addUser = page.getByRole("form", { name: "Add user" });
  await addUser.getByLabel("Email").fill(MEMBER);
  await addUser.locator("select[name=role]").selectOption("member");
  await addUser.getByLabel("Password").fill(MEMBER_PASSWORD);
  await addUser.getByRole("button", { name: "Add user" }).click();
  await page.locator(`li[data-email="${MEMBER}"]`).waitFor();
  await shot("10-users");

  step("the member signs in: everything to read, no button that writes");
  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn(MEMBER, MEMBER_PASSWORD);
  await open("#/me", "Who am I");
  await page.getByText("member: reads only").waitFor();
  assert((await page.getByRole("link", { name: "Users" }).count()) === 0, "no Users page for members");
  await open("#/bots", "Bots");
  await page.locator(`li[data-bot-id="${botId}"]`).waitFor();
  assert((await page.getByRole("button", { name: "New bot" }).count()) === 0, "no New bot");
  await open(`#/bots/${encodeURIComponent(botId)}`, BOT_NAME);
  await page.locator('li.channel[data-channel="telegram"]').waitFor();
  for (const name of ["Edit", "Enable", "Disable", "Delete", "Add channel", "Register", "Rotate keys", "Remove"]) {
    assert((await page.getByRole("button", { name, exact: true }).count()) === 0, `no ${name} button for a member`);
  }
  await open("#/approvals", "Pending approvals");
  await page.locator(`li.request[data-request-id="${requestId}"]`).waitFor();
  for (const name of ["Approve once", "24 hours", "Always", "Reject", "Set", "Change"]) {
    assert((await page.getByRole("button", { name, exact: true }).count()) === 0, `no ${name} button for a member`);
  }
  await shot("12-member-bot-approvals");

  step("a forged token brings the sign-in form back");
  await page.evaluate(() => {
    const key = Object.keys(sessionStorage)[0];
    const session = JSON.parse(sessionStorage.getItem(key));
    session.idToken = `${session.idToken.slice(0, -8)}AAAAAAAA`;
    sessionStorage.setItem(key, JSON.stringify(session));
  });
  await page.reload();
  await page.getByText("Your session has ended; sign in again.").waitFor();
  await page.getByLabel("Email").waitFor();
  assert((await page.evaluate(() => sessionStorage.length)) === 0, "the forged session is gone");

  step("the admin signs in again and removes the member");
  await signIn(EMAIL, PASSWORD);
  await open("#/users", "Users");
  const memberRow = page.locator(`li[data-email="${MEMBER}"]`);
  await memberRow.getByRole("button", { name: "Remove" }).click();
  await memberRow.getByRole("button", { name: "Yes, remove" }).click();
  await memberRow.waitFor({ state: "detached" });

  step("delete a bot, after a confirmation");
  await open("#/bots", "Bots");
  await page.getByRole("button", { name: "New bot" }).click();
  const temp = page.getByRole("form", { name: "New bot" });
  await temp.getByLabel("Name").fill("Short-lived");
  await temp.getByRole("button", { name: "Create bot" }).click();
  await page.getByRole("heading", { name: "Short-lived" }).waitFor();
  const tempId = decodeURIComponent(page.url().split("#/bots/")[1]);
  await page.getByRole("button", { name: "Delete", exact: true }).click();
  await page.getByRole("button", { name: "Yes, delete" }).click();
  await page.waitForURL(/#\/bots$/);
  await page.locator(`li[data-bot-id="${botId}"]`).waitFor();
  assert((await page.locator(`li[data-bot-id="${tempId}"]`).count()) === 0, "the deleted bot is gone");
  result.deleted_bot_id = tempId;

  step("the bots page at desktop width");
  await page.setViewportSize({ width: 1200, height: 800 });
  await open("#/bots", "Bots");
  await page.locator(`li[data-bot-id="${botId}"]`).waitFor();
  await shot("11-bots-desktop", false);
  await page.setViewportSize({ width: 390, height: 844 });
  await shot("11-bots-phone", false);

  step("sign out clears the session");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Email").waitFor();
  const left = await page.evaluate(() => sessionStorage.length + localStorage.length);
  assert(left === 0, "nothing stays in the browser's storage");

  step("no CSP violation, no page error, no dialog");
  assert(problems.length === 0, problems.join("\n"));

  if (RESULT) writeFileSync(RESULT, JSON.stringify(result));
  log("every step passed");
  await browser.close();
  process.exit(0);
} catch (e) {
  console.error(`\nFAILED at step "${current}": ${e && e.stack ? e.stack : e}`);
  if (problems.length) console.error(`problems seen:\n  ${problems.join("\n  ")}`);
  try {
    console.error(`screenshot: ${await shot("failure")}`);
    console.error(`url: ${page.url()}\npage text:\n${(await page.locator("body").innerText()).slice(0, 3000)}`);
  } catch {
    // The page itself is gone.
  }
  console.error(`browser console:\n  ${browserLog.slice(-30).join("\n  ")}`);
  await browser.close().catch(() => {});
  process.exit(1);
}
