// The channels a bot can have and the keys each needs: the same names as `keys()` of each
// channel in shared/core/src/channels/*/mod.rs. Keys are write-only: the console sends them and
// never sees them again.

export interface ChannelKind {
  type: string;
  label: string;
  required: string[];
  optional: string[];
  /** Where the keys come from and where the webhook URL goes, in words. */
  steps: string[];
}

export const CHANNELS: ChannelKind[] = [
  {
    type: "telegram",
    label: "Telegram",
    required: ["bot_token", "webhook_secret"],
    optional: ["bot_username"],
    steps: [
      "Create a bot with @BotFather and copy its token into bot_token.",
      "Choose a webhook_secret: 1 to 256 characters of A-Z, a-z, 0-9, _ and -.",
      "Press Register: it calls Telegram's setWebhook with the webhook URL and the secret.",
    ],
  },
  {
    type: "slack",
    label: "Slack",
    required: ["signing_secret", "bot_token"],
    optional: ["bot_user_id"],
    steps: [
      "Create a Slack app; copy the signing secret (Basic Information → App Credentials) and the bot token (xoxb-…).",
      "Under Event Subscriptions, paste the webhook URL as the Request URL and subscribe to message events.",
    ],
  },
  {
    type: "discord",
    label: "Discord",
    required: ["public_key", "application_id", "bot_token"],
    optional: [],
    steps: [
      "From the Discord application's General Information copy the public key and the application id; from Bot, the token.",
      "Paste the webhook URL as the Interactions Endpoint URL; Register puts the bot's chat commands.",
    ],
  },
  {
    type: "whatsapp",
    label: "WhatsApp",
    required: ["app_secret", "verify_token", "access_token", "phone_number_id"],
    optional: [],
    steps: [
      "In Meta's app dashboard copy the app secret, an access token and the phone number id (not the number).",
      "Choose a verify_token; under WhatsApp → Configuration paste the webhook URL and the same verify token.",
    ],
  },
  {
    type: "feishu",
    label: "Feishu / Lark",
    required: ["app_id", "app_secret"],
    optional: ["encrypt_key", "verification_token", "bot_open_id"],
    steps: [
      "From the Feishu app's Credentials copy app_id (cli_…) and app_secret; set an encrypt key or a verification token (both, preferably).",
      "Under Event Subscriptions paste the webhook URL as the request URL and add the message events.",
    ],
  },
];

export function channelKind(type: string): ChannelKind | undefined {
  return CHANNELS.find((c) => c.type === type);
}

/** `steps` of an answer (a string or a list of strings) as lines. */
export function stepLines(steps: unknown): string[] {
  if (typeof steps === "string") return steps.split("\n").filter((s) => s.trim() !== "");
  if (Array.isArray(steps)) return steps.map((s) => (typeof s === "string" ? s : JSON.stringify(s)));
  return [];
}
