// Conversation history: a bot's conversations, then one conversation's messages, newest first,
// with older ones a page at a time (`next_cursor`).

import { useEffect, useState } from "preact/hooks";

import { seg } from "../api";
import type { Bot, Conversation, Message } from "../api";
import { href } from "../router";
import { ErrorNote, Loading, Section, Untrusted, fmtTime, message, useApp, useLoad } from "../ui";

function usePaged<T>(load: (cursor: string | null) => Promise<{ items: T[]; next: string | null }>, deps: unknown[]) {
  const [items, setItems] = useState<T[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const fetchPage = async (cursor: string | null, replace: boolean) => {
    setLoading(true);
    setError(null);
    try {
      const page = await load(cursor);
      setItems((have) => (replace ? page.items : [...have, ...page.items]));
      setNext(page.next);
    } catch (e) {
      setError(message(e));
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    setItems([]);
    void fetchPage(null, true);
  }, [...deps, tick]);
  return {
    items,
    next,
    loading,
    error,
    more: () => (next ? fetchPage(next, false) : Promise.resolve()),
    reload: () => setTick((t) => t + 1),
  };
}

function Crumbs({ botId, extra }: { botId: string; extra?: boolean }) {
  const { api } = useApp();
  const bot = useLoad(() => api.get<Bot>(`/bots/${seg(botId)}`), [botId]);
  return (
    <p class="crumbs">
      <a href={href("bots")}>Bots</a> › <a href={href("bots", botId)}>{bot.data ? bot.data.name : botId}</a> ›
      {extra ? (
        <>
          {" "}
          <a href={href("bots", botId, "conversations")}>History</a> ›
        </>
      ) : null}
    </p>
  );
}

export function ConversationsPage({ botId }: { botId: string }) {
  const { api } = useApp();
  const page = usePaged(async (cursor) => {
    const r = await api.get<{ conversations: Conversation[]; next_cursor: string | null }>(
      `/bots/${seg(botId)}/conversations`,
      { cursor },
    );
    return { items: r.conversations, next: r.next_cursor };
  }, [botId]);
  return (
    <>
      <Crumbs botId={botId} />
      <Section
        title="Conversations"
        actions={
          <button type="button" onClick={page.reload} disabled={page.loading}>
            Refresh
          </button>
        }
      >
        <ErrorNote error={page.error} />
        {!page.loading && page.items.length === 0 && !page.error ? <p class="muted">No conversation yet.</p> : null}
        <ul class="list" aria-label="Conversations">
          {page.items.map((c) => (
            <li class="row">
              <a class="row-main" href={href("bots", botId, "conversations", c.conversation_key)}>
                <strong>
                  {c.channel} · <Untrusted text={c.conversation_id} />
                </strong>
                <span class="muted small">since {fmtTime(c.first_seen_ms)}</span>
              </a>
            </li>
          ))}
        </ul>
        {page.loading ? <Loading what="conversations" /> : null}
        {page.next && !page.loading ? (
          <button type="button" class="more" onClick={page.more}>
            More conversations
          </button>
        ) : null}
      </Section>
    </>
  );
}

export function MessagesPage({ botId, conversationKey }: { botId: string; conversationKey: string }) {
  const { api } = useApp();
  const page = usePaged(async (cursor) => {
    const r = await api.get<{ messages: Message[]; next_cursor: string | null }>(
      `/bots/${seg(botId)}/conversations/${seg(conversationKey)}/messages`,
      { cursor },
    );
    return { items: r.messages, next: r.next_cursor };
  }, [botId, conversationKey]);
  return (
    <>
      <Crumbs botId={botId} extra />
      <Section
        title={conversationKey}
        actions={
          <button type="button" onClick={page.reload} disabled={page.loading}>
            Refresh
          </button>
        }
      >
        <ErrorNote error={page.error} />
        {!page.loading && page.items.length === 0 && !page.error ? <p class="muted">No messages.</p> : null}
        <p class="muted small">Newest first.</p>
        <ol class="messages" aria-label="Messages">
          {page.items.map((m) => (
            <li class={`message message-${m.role === "assistant" ? "assistant" : "user"}`}>
              <div class="message-meta small muted">
                {m.role === "assistant" ? "bot" : <Untrusted text={m.sender ?? "user"} />} · {fmtTime(m.at_ms)}
              </div>
              <div class="message-text">
                <Untrusted text={m.text} />
              </div>
            </li>
          ))}
        </ol>
        {page.loading ? <Loading what="messages" /> : null}
        {page.next && !page.loading ? (
          <button type="button" class="more" onClick={page.more}>
            Older messages
          </button>
        ) : null}
      </Section>
    </>
  );
}
