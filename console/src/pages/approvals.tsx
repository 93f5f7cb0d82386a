// Permission requests: pending first, each decided with one click. The arguments are shown in
// full, as text, with every invisible character written out, so what is approved is what runs.

import { useState } from "preact/hooks";

import { ApiError, seg } from "../api";
import type { ApprovalRequest, Approver, Bot } from "../api";
import { Badge, ErrorNote, Loading, Section, Untrusted, fmtTime, revealInvisible, useAction, useApp, useLoad, usePoll } from "../ui";

type Choice = "once" | "hours" | "always" | "reject";

const CHOICES: { decision: Choice; label: string; hours?: number; cls: string }[] = [
  { decision: "once", label: "Approve once", cls: "primary" },
  { decision: "hours", label: "24 hours", hours: 24, cls: "" },
  { decision: "always", label: "Always", cls: "" },
  { decision: "reject", label: "Reject", cls: "danger" },
];

export function ApprovalsPage() {
  const { api } = useApp();
  const requests = useLoad(() => api.get<{ requests: ApprovalRequest[] }>("/approvals"), []);
  // New requests show up by themselves: this page is kept open on a phone to decide on the go.
  usePoll(requests.reload, 15_000);
  const all = requests.data?.requests ?? [];
  const pending = all.filter((r) => r.status === "pending");
  const decided = all.filter((r) => r.status !== "pending").reverse();
  const [showAll, setShowAll] = useState(false);
  const shownDecided = showAll ? decided : decided.slice(0, 20);
  return (
    <>
      <Section
        title={`Pending approvals${requests.data ? ` (${pending.length})` : ""}`}
        actions={
          <button type="button" onClick={requests.reload} disabled={requests.loading}>
            Refresh
          </button>
        }
      >
        <ErrorNote error={requests.error} />
        {requests.loading && !requests.data ? <Loading what="requests" /> : null}
        {requests.data && pending.length === 0 ? <p class="muted">Nothing waits for a decision.</p> : null}
        <ul class="list requests" aria-label="Pending requests">
          {pending.map((r) => (
            <RequestCard key={r.request_id} request={r} onDecided={requests.reload} />
          ))}
        </ul>
      </Section>
      {decided.length > 0 ? (
        <Section title="Decided">
          <ul class="list requests" aria-label="Decided requests">
            {shownDecided.map((r) => (
              <RequestCard key={r.request_id} request={r} onDecided={requests.reload} />
            ))}
          </ul>
          {shownDecided.length < decided.length ? (
            <button type="button" class="more" onClick={() => setShowAll(true)}>
              All {decided.length} decided requests
            </button>
          ) : null}
        </Section>
      ) : null}
      <ApproverCard />
    </>
  );
}

function attemptId(): string {
  if (typeof crypto !== "undefined" && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

function argumentsText(args: unknown): string {
  if (typeof args === "string") return args;
  return JSON.stringify(args, null, 2) ?? String(args);
}

function RequestCard({ request: r, onDecided }: { request: ApprovalRequest; onDecided: () => void }) {
  const { api, canWrite, flash } = useApp();
  const action = useAction();
  const text = argumentsText(r.arguments);
  const { shown, count } = revealInvisible(text);
  const bytes = new TextEncoder().encode(text).length;
  const decide = (choice: (typeof CHOICES)[number]) =>
    action.run(async () => {
      // The hash of the arguments shown: the API refuses the decision if the request's differ.
      // The attempt names this click, so a retried request is the same decision.
      const body: Record<string, unknown> = {
        decision: choice.decision,
        arguments_hash: r.arguments_hash,
        attempt: attemptId(),
      };
      if (choice.hours) body.hours = choice.hours;
      try {
        await api.post<ApprovalRequest>(`/approvals/${seg(r.request_id)}/decision`, body);
        flash(choice.decision === "reject" ? `Rejected ${r.tool}.` : `Approved ${r.tool} (${choice.label.toLowerCase()}).`);
      } catch (e) {
        if (e instanceof ApiError && e.status === 409) {
          onDecided();
        }
        throw e;
      }
      onDecided();
    });
  return (
    <li class={`request request-${r.status}`} data-request-id={r.request_id}>
      <div class="request-head">
        <strong class="tool">{r.tool}</strong>
        <Badge value={r.risk ? `risk ${r.risk}` : "risk ?"} />
        <Badge value={r.status} />
      </div>
      <dl class="facts compact">
        <dt>Asked by</dt>
        <dd>
          <Untrusted text={r.requester_name ?? r.requester_id} /> <span class="muted small">({r.channel}:{r.requester_id})</span>
        </dd>
        {r.reason ? (
          <>
            <dt>Their message</dt>
            <dd class="pre-line">
              “<Untrusted text={r.reason} />”
            </dd>
          </>
        ) : null}
        <dt>Asked</dt>
        <dd>{fmtTime(r.created_at_ms)}</dd>
        {r.status === "pending" ? (
          <>
            <dt>Expires</dt>
            <dd>{fmtTime(r.expires_at_ms)}</dd>
          </>
        ) : null}
        {r.decision ? (
          <>
            <dt>Decision</dt>
            <dd>
              {String(r.decision.how ?? r.status)}
              {r.decision.by ? ` by ${String(r.decision.by)}` : ""}
              {typeof r.decision.at_ms === "number" ? `, ${fmtTime(r.decision.at_ms)}` : ""}
            </dd>
          </>
        ) : null}
        <dt>Request</dt>
        <dd>
          <code>{r.request_id}</code>
        </dd>
      </dl>
      <div class="args-meta small muted">
        Arguments: {[...text].length} characters, {bytes} bytes, SHA-256 <code>{r.arguments_hash.slice(0, 12)}</code>
      </div>
      {count > 0 ? (
        <p class="warning">
          Warning: {count} invisible character{count === 1 ? "" : "s"} in the arguments, shown as \u{"{…}"}.
        </p>
      ) : null}
      {r.status === "pending" ? (
        <pre class="arguments">{shown}</pre>
      ) : (
        <details>
          <summary>Arguments</summary>
          <pre class="arguments">{shown}</pre>
        </details>
      )}
      {r.status === "pending" && canWrite ? (
        <div class="decide" role="group" aria-label={`Decide ${r.request_id}`}>
          {CHOICES.map((c) => (
            <button type="button" class={c.cls} disabled={action.busy} onClick={() => decide(c)}>
              {c.label}
            </button>
          ))}
        </div>
      ) : null}
      <ErrorNote error={action.error} />
    </li>
  );
}

/** Who gets the notices in their chat, and may decide there with /approve. */
function ApproverCard() {
  const { api, canWrite, flash } = useApp();
  const approver = useLoad(async () => {
    try {
      return await api.get<Approver>("/approver");
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }
  }, []);
  const [editing, setEditing] = useState(false);
  return (
    <Section
      title="Approver in chat"
      actions={
        canWrite && !editing ? (
          <button type="button" onClick={() => setEditing(true)}>
            {approver.data ? "Change" : "Set"}
          </button>
        ) : null
      }
    >
      <ErrorNote error={approver.error} />
      {approver.loading && approver.data === null ? <Loading what="the approver" /> : null}
      {!approver.loading && !approver.data ? (
        <p class="muted">No approver: requests are decided here only, and expire unanswered otherwise.</p>
      ) : null}
      {approver.data ? (
        <p>
          {approver.data.channel} user <code>{approver.data.user_id}</code> via bot <code>{approver.data.bot_id}</code>
        </p>
      ) : null}
      {editing ? (
        <ApproverForm
          current={approver.data}
          onDone={(saved) => {
            setEditing(false);
            if (saved) {
              approver.setData(saved);
              flash("Approver saved.");
            }
          }}
        />
      ) : null}
    </Section>
  );
}

function ApproverForm({ current, onDone }: { current: Approver | null; onDone: (a: Approver | null) => void }) {
  const { api } = useApp();
  const bots = useLoad(() => api.get<{ bots: Bot[] }>("/bots"), []);
  const [botId, setBotId] = useState(current?.bot_id ?? "");
  const [channel, setChannel] = useState(current?.channel ?? "");
  const [userId, setUserId] = useState(current?.user_id ?? "");
  const action = useAction();
  const list = bots.data?.bots ?? [];
  const bot = list.find((b) => b.bot_id === botId);
  return (
    <form
      class="stack"
      aria-label="Approver"
      onSubmit={(e) => {
        e.preventDefault();
        void action.run(async () => {
          onDone(await api.put<Approver>("/approver", { bot_id: botId, channel, user_id: userId.trim() }));
        });
      }}
    >
      <label>
        Bot
        <select name="bot" value={botId} onChange={(e) => setBotId(e.currentTarget.value)}>
          <option value="">choose…</option>
          {list.map((b) => (
            <option value={b.bot_id}>{b.name}</option>
          ))}
        </select>
      </label>
      <label>
        Channel
        <select name="channel" value={channel} onChange={(e) => setChannel(e.currentTarget.value)}>
          <option value="">choose…</option>
          {(bot?.channels ?? []).map((c) => (
            <option value={c.type}>{c.type}</option>
          ))}
        </select>
      </label>
      <label>
        Their user id on that channel
        <input name="user_id" value={userId} onInput={(e) => setUserId(e.currentTarget.value)} />
      </label>
      <ErrorNote error={action.error} />
      <div class="buttons">
        <button type="submit" class="primary" disabled={action.busy || !botId || !channel || userId.trim() === ""}>
          Save approver
        </button>
        <button type="button" onClick={() => onDone(null)}>
          Cancel
        </button>
      </div>
    </form>
  );
}
