import { useState } from "preact/hooks";

import type { Bot } from "../api";
import { go, href } from "../router";
import { Badge, ErrorNote, Loading, Section, Untrusted, useAction, useApp, useLoad } from "../ui";
import { BotFields, emptyBotForm, formToBody } from "./bot_form";
import type { BotForm } from "./bot_form";

export function BotsPage() {
  const { api, canWrite, flash } = useApp();
  const bots = useLoad(() => api.get<{ bots: Bot[] }>("/bots"), []);
  const [creating, setCreating] = useState(false);

  return (
    <>
      <Section
        title="Bots"
        actions={
          canWrite && !creating ? (
            <button type="button" class="primary" onClick={() => setCreating(true)}>
              New bot
            </button>
          ) : null
        }
      >
        {creating ? (
          <CreateBot
            onCancel={() => setCreating(false)}
            onCreated={(bot) => {
              flash(`Created ${bot.name}.`);
              go("bots", bot.bot_id);
            }}
          />
        ) : null}
        <ErrorNote error={bots.error} />
        {bots.loading && !bots.data ? <Loading what="bots" /> : null}
        {bots.data && bots.data.bots.length === 0 ? <p class="muted">No bots yet.</p> : null}
        <ul class="list" aria-label="Bots">
          {(bots.data?.bots ?? []).map((bot) => (
            <li class="row bot-row" data-bot-id={bot.bot_id}>
              <a class="row-main" href={href("bots", bot.bot_id)}>
                <strong class="name">
                  <Untrusted text={bot.name} />
                </strong>
                <span class="muted small">
                  {bot.channels.length === 0 ? "no channel" : bot.channels.map((c) => c.type).join(", ")}
                  {" · "}
                  <code>{bot.bot_id}</code>
                </span>
              </a>
              <Badge value={bot.status} />
            </li>
          ))}
        </ul>
      </Section>
    </>
  );
}

function CreateBot({ onCancel, onCreated }: { onCancel: () => void; onCreated: (bot: Bot) => void }) {
  const { api } = useApp();
  const [form, setForm] = useState<BotForm>({ ...emptyBotForm, dm: "pairing", groups: "mention" });
  const action = useAction();
  return (
    <form
      class="stack create-bot"
      aria-label="New bot"
      onSubmit={(e) => {
        e.preventDefault();
        void action.run(async () => {
          const bot = await api.post<Bot>("/bots", formToBody(form, false));
          onCreated(bot);
        });
      }}
    >
      <BotFields form={form} onChange={setForm} />
      <ErrorNote error={action.error} />
      <div class="buttons">
        <button type="submit" class="primary" disabled={action.busy || form.name.trim() === ""}>
          Create bot
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
