import { useState } from "preact/hooks";

import { seg } from "../api";
import type { Bot, BotChannel, Channel, Registration } from "../api";
import { CHANNELS, channelKind, stepLines } from "../channels";
import { go, href } from "../router";
import { Badge, ConfirmButton, ErrorNote, Loading, Section, Untrusted, fmtTime, useAction, useApp, useLoad } from "../ui";
import { BotFields, botToForm, formToBody } from "./bot_form";

export function BotPage({ botId }: { botId: string }) {
  const { api, canWrite, flash } = useApp();
  const bot = useLoad(() => api.get<Bot>(`/bots/${seg(botId)}`), [botId]);
  const [editing, setEditing] = useState(false);
  const action = useAction();

  if (bot.error) return <ErrorNote error={bot.error} />;
  if (!bot.data) return <Loading what="the bot" />;
  const b = bot.data;
  const disabled = b.status === "disabled";

  return (
    <>
      <p class="crumbs">
        <a href={href("bots")}>Bots</a> ›
      </p>
      <Section
        title={b.name}
        actions={<Badge value={b.status} />}
      >
        {editing ? (
          <EditBot
            bot={b}
            onDone={(updated) => {
              setEditing(false);
              if (updated) {
                bot.setData(updated);
                flash("Saved.");
              }
            }}
          />
        ) : (
          <>
            <dl class="facts">
              <dt>Bot id</dt>
              <dd>
                <code>{b.bot_id}</code>
              </dd>
              <dt>Persona</dt>
              <dd class="pre-line">
                <Untrusted text={b.persona} />
              </dd>
              <dt>Model</dt>
              <dd>
                {b.model_provider ?? "platform default"}
                {b.model_id ? ` · ${b.model_id}` : ""}
              </dd>
              <dt>Trigger</dt>
              <dd>
                <Untrusted text={b.trigger} />
              </dd>
              <dt>Direct messages</dt>
              <dd>{b.dm ?? "—"}</dd>
              <dt>Groups</dt>
              <dd>{b.groups ?? "—"}</dd>
              <dt>Created</dt>
              <dd>{fmtTime(b.created_at_ms)}</dd>
            </dl>
            <div class="buttons">
              <a class="button" href={href("bots", b.bot_id, "conversations")}>
                History
              </a>
              <a class="button" href={href("bots", b.bot_id, "tasks")}>
                Tasks
              </a>
              {canWrite ? (
                <>
                  <button type="button" onClick={() => setEditing(true)}>
                    Edit
                  </button>
                  <button
                    type="button"
                    class={disabled ? "primary" : "warn"}
                    disabled={action.busy}
                    onClick={() =>
                      action.run(async () => {
                        const updated = await api.patch<Bot>(`/bots/${seg(b.bot_id)}`, {
                          status: disabled ? "active" : "disabled",
                        });
                        bot.setData(updated);
                        flash(updated.status === "disabled" ? "Disabled: the bot ignores messages." : "Enabled.");
                      })
                    }
                  >
                    {disabled ? "Enable" : "Disable"}
                  </button>
                  <ConfirmButton
                    label="Delete"
                    question={`Delete ${b.name} and its channels?`}
                    confirmLabel="Yes, delete"
                    disabled={action.busy}
                    onConfirm={() =>
                      action.run(async () => {
                        await api.del(`/bots/${seg(b.bot_id)}`);
                        flash(`Deleted ${b.name}.`);
                        go("bots");
                      })
                    }
                  />
                </>
              ) : null}
            </div>
            <ErrorNote error={action.error} />
          </>
        )}
      </Section>
      <Channels bot={b} onChanged={bot.reload} />
    </>
  );
}

function EditBot({ bot, onDone }: { bot: Bot; onDone: (updated: Bot | null) => void }) {
  const { api } = useApp();
  const before = botToForm(bot);
  const [form, setForm] = useState(before);
  const action = useAction();
  return (
    <form
      class="stack"
      aria-label="Edit bot"
      onSubmit={(e) => {
        e.preventDefault();
        void action.run(async () => {
          const body = formToBody(form, true, before);
          if (Object.keys(body).length === 0) return onDone(null);
          onDone(await api.patch<Bot>(`/bots/${seg(bot.bot_id)}`, body));
        });
      }}
    >
      <BotFields form={form} onChange={setForm} />
      <ErrorNote error={action.error} />
      <div class="buttons">
        <button type="submit" class="primary" disabled={action.busy || form.name.trim() === ""}>
          Save
        </button>
        <button type="button" onClick={() => onDone(null)}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function Channels({ bot, onChanged }: { bot: Bot; onChanged: () => void }) {
  const { canWrite } = useApp();
  const [adding, setAdding] = useState(false);
  const [lastSteps, setLastSteps] = useState<{ channel: string; lines: string[] } | null>(null);
  const free = CHANNELS.filter((c) => !bot.channels.some((have) => have.type === c.type));
  return (
    <Section
      title="Channels"
      actions={
        canWrite && !adding && free.length > 0 ? (
          <button type="button" class="primary" onClick={() => setAdding(true)}>
            Add channel
          </button>
        ) : null
      }
    >
      {adding ? (
        <KeysForm
          bot={bot}
          choices={free.map((c) => c.type)}
          onCancel={() => setAdding(false)}
          onDone={(channel) => {
            setAdding(false);
            setLastSteps({ channel: channel.channel, lines: stepLines(channel.steps) });
            onChanged();
          }}
        />
      ) : null}
      {lastSteps && lastSteps.lines.length > 0 ? (
        <div class="notice" role="status">
          <strong>Set up {lastSteps.channel}:</strong>
          <Steps lines={lastSteps.lines} />
        </div>
      ) : null}
      {bot.channels.length === 0 && !adding ? <p class="muted">No channel yet: the bot hears nothing.</p> : null}
      <ul class="list">
        {bot.channels.map((c) => (
          <ChannelRow bot={bot} channel={c} onChanged={onChanged} />
        ))}
      </ul>
    </Section>
  );
}

function ChannelRow({ bot, channel, onChanged }: { bot: Bot; channel: BotChannel; onChanged: () => void }) {
  const { api, canWrite, flash } = useApp();
  const kind = channelKind(channel.type);
  const [rotating, setRotating] = useState(false);
  const [registered, setRegistered] = useState<Registration | null>(null);
  const action = useAction();
  const base = `/bots/${seg(bot.bot_id)}/channels/${seg(channel.type)}`;
  return (
    <li class="channel" data-channel={channel.type}>
      <div class="channel-head">
        <strong>{kind?.label ?? channel.type}</strong>
        <span class="muted small">added {fmtTime(channel.added_at_ms)}</span>
      </div>
      <div class="small muted">Webhook URL</div>
      <div class="webhook">
        <code class="webhook-url">{channel.webhook_url}</code>
        <CopyButton text={channel.webhook_url} />
      </div>
      {kind ? (
        <details>
          <summary>Set-up steps</summary>
          <ol>
            {kind.steps.map((s) => (
              <li>{s}</li>
            ))}
          </ol>
        </details>
      ) : null}
      {registered ? (
        <div class="notice" role="status">
          {registered.registered ? (
            "Registered with the channel: it sends its updates to the webhook URL."
          ) : (
            <>
              Nothing to register automatically; paste the URL yourself:
              <Steps lines={stepLines(registered.steps)} />
            </>
          )}
        </div>
      ) : null}
      {canWrite ? (
        <div class="buttons">
          <button
            type="button"
            disabled={action.busy}
            onClick={() =>
              action.run(async () => {
                setRegistered(await api.post<Registration>(`${base}/register`));
              })
            }
          >
            Register
          </button>
          <button type="button" disabled={action.busy} onClick={() => setRotating(!rotating)}>
            Rotate keys
          </button>
          <ConfirmButton
            label="Remove"
            question={`Remove ${channel.type}? Its keys are deleted.`}
            confirmLabel="Yes, remove"
            disabled={action.busy}
            onConfirm={() =>
              action.run(async () => {
                await api.del(base);
                flash(`Removed ${channel.type}.`);
                onChanged();
              })
            }
          />
        </div>
      ) : null}
      <ErrorNote error={action.error} />
      {rotating ? (
        <KeysForm
          bot={bot}
          choices={[channel.type]}
          rotate
          onCancel={() => setRotating(false)}
          onDone={() => {
            setRotating(false);
            flash(`New keys saved for ${channel.type}.`);
            onChanged();
          }}
        />
      ) : null}
    </li>
  );
}

function Steps({ lines }: { lines: string[] }) {
  if (lines.length === 1) return <p class="steps">{lines[0]}</p>;
  return (
    <ol>
      {lines.map((l) => (
        <li>{l}</li>
      ))}
    </ol>
  );
}

function CopyButton({ text }: { text: string }) {
  const [copied, setCopied] = useState(false);
  if (!navigator.clipboard) return null;
  return (
    <button
      type="button"
      class="copy"
      onClick={() =>
        navigator.clipboard.writeText(text).then(
          () => {
            setCopied(true);
            window.setTimeout(() => setCopied(false), 2000);
          },
          () => setCopied(false),
        )
      }
    >
      {copied ? "Copied" : "Copy"}
    </button>
  );
}

/** Adding a channel or rotating its keys: every key is a password field and leaves with the request. */
function KeysForm({
  bot,
  choices,
  rotate,
  onCancel,
  onDone,
}: {
  bot: Bot;
  choices: string[];
  rotate?: boolean;
  onCancel: () => void;
  onDone: (channel: Channel) => void;
}) {
  const { api } = useApp();
  const [type, setType] = useState(choices[0] ?? "telegram");
  const [keys, setKeys] = useState<Record<string, string>>({});
  const action = useAction();
  const kind = channelKind(type);
  const names = kind ? [...kind.required, ...kind.optional] : [];
  const missing = (kind?.required ?? []).some((k) => (keys[k] ?? "").trim() === "");
  return (
    <form
      class="stack keys-form"
      aria-label={rotate ? `Rotate ${type} keys` : "Add channel"}
      autocomplete="off"
      onSubmit={(e) => {
        e.preventDefault();
        void action.run(async () => {
          const sent: Record<string, string> = {};
          for (const name of names) {
            const v = (keys[name] ?? "").trim();
            if (v !== "") sent[name] = v;
          }
          const path = `/bots/${seg(bot.bot_id)}/channels`;
          const channel = rotate
            ? await api.post<Channel>(`${path}/${seg(type)}/rotate`, { keys: sent })
            : await api.post<Channel>(path, { type, keys: sent });
          setKeys({});
          onDone(channel);
        });
      }}
    >
      {rotate ? (
        <p class="muted small">The new keys replace the old ones; the required ones are all needed.</p>
      ) : (
        <label>
          Channel
          <select
            name="type"
            value={type}
            onChange={(e) => {
              setType(e.currentTarget.value);
              setKeys({});
            }}
          >
            {choices.map((c) => (
              <option value={c}>{channelKind(c)?.label ?? c}</option>
            ))}
          </select>
        </label>
      )}
      {names.map((name) => (
        <label>
          {name} {kind?.required.includes(name) ? null : <span class="muted small">(optional)</span>}
          <input
            type="password"
            name={name}
            autocomplete="new-password"
            spellcheck={false}
            required={kind?.required.includes(name)}
            value={keys[name] ?? ""}
            onInput={(e) => setKeys({ ...keys, [name]: e.currentTarget.value })}
          />
        </label>
      ))}
      <ErrorNote error={action.error} />
      <div class="buttons">
        <button type="submit" class="primary" disabled={action.busy || missing}>
          {rotate ? "Save new keys" : "Add channel"}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
