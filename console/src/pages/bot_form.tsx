// The fields of a bot a person sets: the same for creating and editing.

import type { Bot } from "../api";

export interface BotForm {
  name: string;
  persona: string;
  model_provider: string;
  model_id: string;
  trigger: string;
  dm: string;
  groups: string;
}

export const emptyBotForm: BotForm = {
  name: "",
  persona: "",
  model_provider: "",
  model_id: "",
  trigger: "",
  dm: "",
  groups: "",
};

export function botToForm(bot: Bot): BotForm {
  return {
    name: bot.name,
    persona: bot.persona ?? "",
    model_provider: bot.model_provider ?? "",
    model_id: bot.model_id ?? "",
    trigger: bot.trigger ?? "",
    dm: bot.dm ?? "",
    groups: bot.groups ?? "",
  };
}

/** The request body: on create, empty fields are left out; on edit, an emptied field is `null`
 * (clears it) and an unchanged one is left out. */
export function formToBody(form: BotForm, edit: boolean, before?: BotForm): Record<string, string | null> {
  const body: Record<string, string | null> = {};
  for (const key of Object.keys(form) as (keyof BotForm)[]) {
    const value = key === "persona" ? form[key] : form[key].trim();
    // The access policies are never cleared, only changed.
    if (value === "" && (key === "dm" || key === "groups")) continue;
    if (edit) {
      if (before && before[key] === form[key]) continue;
      body[key] = value === "" && key !== "name" ? null : value;
    } else if (value !== "") {
      body[key] = value;
    }
  }
  return body;
}

const DM = [
  ["pairing", "pairing: strangers get a code an admin approves"],
  ["allowlist", "allowlist: only allowed users"],
  ["open", "open: anyone may write"],
  ["disabled", "disabled: no direct messages"],
];
const GROUPS = [
  ["mention", "mention: answers when mentioned"],
  ["allowlist", "allowlist: only listed groups"],
  ["open", "open: answers every message"],
  ["disabled", "disabled: no groups"],
];

export function BotFields({ form, onChange }: { form: BotForm; onChange: (f: BotForm) => void }) {
  const set = (key: keyof BotForm) => (e: Event) =>
    onChange({ ...form, [key]: (e.currentTarget as HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement).value });
  return (
    <>
      <label>
        Name
        <input name="name" required maxLength={200} value={form.name} onInput={set("name")} />
      </label>
      <label>
        Persona <span class="muted small">(how the bot should behave; optional)</span>
        <textarea name="persona" rows={4} value={form.persona} onInput={set("persona")} />
      </label>
      <div class="grid2">
        <label>
          Model provider
          <select name="model_provider" value={form.model_provider} onChange={set("model_provider")}>
            <option value="">platform default</option>
            <option value="bedrock">bedrock</option>
            <option value="openai">openai</option>
            <option value="offline">offline</option>
          </select>
        </label>
        <label>
          Model id <span class="muted small">(optional)</span>
          <input name="model_id" value={form.model_id} onInput={set("model_id")} />
        </label>
      </div>
      <label>
        Trigger <span class="muted small">(a word that wakes the bot in groups; optional)</span>
        <input name="trigger" value={form.trigger} onInput={set("trigger")} />
      </label>
      <div class="grid2">
        <label>
          Direct messages
          <select name="dm" value={form.dm} onChange={set("dm")}>
            {form.dm === "" ? <option value="">unchanged</option> : null}
            {DM.map(([v, l]) => (
              <option value={v}>{l}</option>
            ))}
          </select>
        </label>
        <label>
          Groups
          <select name="groups" value={form.groups} onChange={set("groups")}>
            {form.groups === "" ? <option value="">unchanged</option> : null}
            {GROUPS.map(([v, l]) => (
              <option value={v}>{l}</option>
            ))}
          </select>
        </label>
      </div>
    </>
  );
}
