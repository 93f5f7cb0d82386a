// What the agents may run without asking: the tenant's permission profile (and one person's, if
// they have their own). Anything else they ask for waits for an approval.

import { useState } from "preact/hooks";

import { seg } from "../api";
import { ErrorNote, Loading, Section, useAction, useApp, useLoad } from "../ui";

export interface Profile {
  tenant_id: string;
  user: string | null;
  source: string;
  preset: string | null;
  tools: string[];
  shell_read_only: boolean;
  file_prefixes: string[];
}

/** The presets of shared/core/src/domain/permissions.rs (`PRESETS`). */
const PRESETS = ["readonly-agent", "web-agent", "finance-agent", "erp-agent", "approver"];

function ProfileFacts({ p }: { p: Profile }) {
  return (
    <dl class="facts">
      <dt>From</dt>
      <dd>{p.source === "default" ? "least privilege (nothing set)" : p.source}</dd>
      <dt>Preset</dt>
      <dd>{p.preset ?? "—"}</dd>
      <dt>Tools</dt>
      <dd>{p.tools.length ? p.tools.join(", ") : "—"}</dd>
      <dt>Shell</dt>
      <dd>{p.shell_read_only ? "read-only commands" : "any command"}</dd>
      <dt>Files</dt>
      <dd>{p.file_prefixes.length ? p.file_prefixes.join(", ") : "—"}</dd>
    </dl>
  );
}

export function ProfilePage() {
  const { api, canWrite, flash } = useApp();
  const profile = useLoad(() => api.get<Profile>("/profile"), []);
  const [editing, setEditing] = useState(false);
  const [preset, setPreset] = useState(PRESETS[0]!);
  const [tools, setTools] = useState("");
  const action = useAction();
  return (
    <>
      <Section
        title="Tools the agents may use"
        actions={
          canWrite && profile.data && !editing ? (
            <button
              type="button"
              onClick={() => {
                setTools(profile.data!.tools.join(", "));
                setEditing(true);
              }}
            >
              Change
            </button>
          ) : null
        }
      >
        <p class="muted small">Anything else an agent asks for waits for an approval.</p>
        <ErrorNote error={profile.error} />
        {profile.loading && !profile.data ? <Loading what="the profile" /> : null}
        {profile.data && !editing ? <ProfileFacts p={profile.data} /> : null}
        {editing ? (
          <div class="stack">
            <form
              class="stack"
              aria-label="Preset"
              onSubmit={(e) => {
                e.preventDefault();
                void action.run(async () => {
                  profile.setData(await api.put<Profile>("/profile", { preset }));
                  flash(`Preset ${preset} set.`);
                  setEditing(false);
                });
              }}
            >
              <label>
                A preset
                <select name="preset" value={preset} onChange={(e) => setPreset(e.currentTarget.value)}>
                  {PRESETS.map((p) => (
                    <option value={p}>{p}</option>
                  ))}
                </select>
              </label>
              <div class="buttons">
                <button type="submit" class="primary" disabled={action.busy}>
                  Use this preset
                </button>
              </div>
            </form>
            <form
              class="stack"
              aria-label="Tools"
              onSubmit={(e) => {
                e.preventDefault();
                void action.run(async () => {
                  const list = tools
                    .split(/[\s,]+/)
                    .map((t) => t.trim())
                    .filter((t) => t !== "");
                  profile.setData(await api.put<Profile>("/profile", { tools: list }));
                  flash("Tools saved.");
                  setEditing(false);
                });
              }}
            >
              <label>
                Or these tools <span class="muted small">(comma-separated, e.g. web_search, file_read)</span>
                <input name="tools" value={tools} onInput={(e) => setTools(e.currentTarget.value)} />
              </label>
              <div class="buttons">
                <button type="submit" class="primary" disabled={action.busy}>
                  Save tools
                </button>
                <button type="button" onClick={() => setEditing(false)}>
                  Cancel
                </button>
              </div>
            </form>
            <ErrorNote error={action.error} />
          </div>
        ) : null}
      </Section>
      <UserProfile />
    </>
  );
}

/** One person's profile (`{channel}:{id}`), theirs if they have one, else the tenant's. */
function UserProfile() {
  const { api } = useApp();
  const [who, setWho] = useState("");
  const [shown, setShown] = useState<Profile | null>(null);
  const action = useAction();
  return (
    <Section title="One person's tools">
      <form
        class="stack"
        aria-label="Look up a person"
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(async () => {
            const [channel, ...rest] = who.trim().split(":");
            setShown(await api.get<Profile>(`/profile/users/${seg(channel ?? "")}:${seg(rest.join(":"))}`));
          });
        }}
      >
        <label>
          Who <span class="muted small">(channel:id, e.g. telegram:4242)</span>
          <input name="who" value={who} onInput={(e) => setWho(e.currentTarget.value)} />
        </label>
        <div class="buttons">
          <button type="submit" disabled={action.busy || !/^[a-z]+:.+/.test(who.trim())}>
            Look up
          </button>
        </div>
      </form>
      <ErrorNote error={action.error} />
      {shown ? <ProfileFacts p={shown} /> : null}
    </Section>
  );
}
