import { useState } from "preact/hooks";

import type { Quota, Usage } from "../api";
import { ErrorNote, Loading, Section, fmtNumber, useAction, useApp, useLoad } from "../ui";

function thisMonth(): string {
  const d = new Date();
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, "0")}`;
}

export function UsagePage() {
  const { api } = useApp();
  const [month, setMonth] = useState(thisMonth());
  const usage = useLoad(() => api.get<Usage>("/usage", { month }), [month]);
  const quota = useLoad(() => api.get<Quota>("/quota"), []);
  const u = usage.data;
  const budget = u?.monthly_tokens ?? quota.data?.monthly_tokens ?? null;
  const share = u && budget ? Math.min(u.tokens / budget, 1) : null;
  return (
    <>
      <Section title="Usage">
        <label class="inline">
          Month
          <input type="month" name="month" value={month} onChange={(e) => e.currentTarget.value && setMonth(e.currentTarget.value)} />
        </label>
        <ErrorNote error={usage.error} />
        {usage.loading && !u ? <Loading what="usage" /> : null}
        {u ? (
          <>
            <div class="budget">
              <div class="big">
                {u.tokens.toLocaleString()} <span class="muted">tokens</span>
              </div>
              {budget ? (
                <>
                  <meter min={0} max={budget} low={budget * 0.8} high={budget * 0.95} optimum={0} value={Math.min(u.tokens, budget)} />
                  <div class="muted small">
                    {Math.round((share ?? 0) * 100)}% of the monthly budget of {budget.toLocaleString()} tokens
                  </div>
                </>
              ) : (
                <div class="muted small">No monthly token budget.</div>
              )}
            </div>
            <dl class="facts">
              <dt>Input tokens</dt>
              <dd>{u.input_tokens.toLocaleString()}</dd>
              <dt>Output tokens</dt>
              <dd>{u.output_tokens.toLocaleString()}</dd>
              <dt>Agent runs</dt>
              <dd>{u.runs.toLocaleString()}</dd>
              <dt>Messages</dt>
              <dd>{u.messages.toLocaleString()}</dd>
            </dl>
          </>
        ) : null}
      </Section>
      <QuotaCard quota={quota.data} error={quota.error} onSaved={(q) => quota.setData(q)} />
    </>
  );
}

const LIMITS: { key: keyof Omit<Quota, "tenant_id">; label: string }[] = [
  { key: "monthly_tokens", label: "Tokens per month" },
  { key: "concurrent_runs", label: "Agent runs at once" },
  { key: "messages_per_minute", label: "Messages per minute (workspace)" },
  { key: "bot_messages_per_minute", label: "Messages per minute (each bot)" },
];

function QuotaCard({ quota, error, onSaved }: { quota: Quota | null; error: string | null; onSaved: (q: Quota) => void }) {
  const { api, canWrite, flash } = useApp();
  const [editing, setEditing] = useState(false);
  const [values, setValues] = useState<Record<string, string>>({});
  const action = useAction();
  return (
    <Section
      title="Limits"
      actions={
        canWrite && quota && !editing ? (
          <button
            type="button"
            onClick={() => {
              setValues(Object.fromEntries(LIMITS.map((l) => [l.key, quota[l.key] === null ? "" : String(quota[l.key])])));
              setEditing(true);
            }}
          >
            Edit
          </button>
        ) : null
      }
    >
      <ErrorNote error={error} />
      {!quota && !error ? <Loading what="limits" /> : null}
      {quota && !editing ? (
        <dl class="facts">
          {LIMITS.map((l) => (
            <>
              <dt>{l.label}</dt>
              <dd>{fmtNumber(quota[l.key])}</dd>
            </>
          ))}
        </dl>
      ) : null}
      {quota && editing ? (
        <form
          class="stack"
          aria-label="Limits"
          onSubmit={(e) => {
            e.preventDefault();
            void action.run(async () => {
              const body: Record<string, number> = {};
              for (const l of LIMITS) {
                const raw = (values[l.key] ?? "").trim();
                const n = raw === "" ? 0 : Number(raw);
                if (!Number.isInteger(n) || n < 0) throw new Error(`${l.label}: a whole number, or empty for no limit`);
                const before = quota[l.key] ?? 0;
                if (n !== before) body[l.key] = n;
              }
              if (Object.keys(body).length > 0) onSaved(await api.put<Quota>("/quota", body));
              flash("Limits saved.");
              setEditing(false);
            });
          }}
        >
          <p class="muted small">Empty or 0: no limit.</p>
          {LIMITS.map((l) => (
            <label>
              {l.label}
              <input
                inputMode="numeric"
                name={l.key}
                value={values[l.key] ?? ""}
                onInput={(e) => setValues({ ...values, [l.key]: e.currentTarget.value })}
              />
            </label>
          ))}
          <ErrorNote error={action.error} />
          <div class="buttons">
            <button type="submit" class="primary" disabled={action.busy}>
              Save limits
            </button>
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </div>
        </form>
      ) : null}
    </Section>
  );
}
