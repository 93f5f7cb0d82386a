// Small shared pieces: loading state, errors, two-step confirmations, times, and showing
// untrusted text so that nothing in it can hide. Everything untrusted is rendered as text
// (Preact escapes it); nothing here ever sets innerHTML.

import { createContext } from "preact";
import type { ComponentChildren } from "preact";
import { useCallback, useContext, useEffect, useRef, useState } from "preact/hooks";

import type { Api, Me } from "./api";

export interface AppContext {
  api: Api;
  me: Me;
  /** Admins (and platform admins) write; members read. */
  canWrite: boolean;
  flash: (text: string) => void;
}

export const Ctx = createContext<AppContext | null>(null);

export function useApp(): AppContext {
  const ctx = useContext(Ctx);
  if (!ctx) throw new Error("no app context");
  return ctx;
}

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
  setData: (data: T) => void;
}

export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    setError(null);
    load().then(
      (value) => {
        if (!live) return;
        setData(value);
        setLoading(false);
      },
      (e: unknown) => {
        if (!live) return;
        setError(message(e));
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload, setData };
}

/** Runs one action at a time: `busy` while it runs, its error kept for display. */
export function useAction(): {
  run: (action: () => Promise<void>) => Promise<void>;
  busy: boolean;
  error: string | null;
  clear: () => void;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );
  const run = useCallback(async (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (e) {
      if (mounted.current) setError(message(e));
    } finally {
      if (mounted.current) setBusy(false);
    }
  }, []);
  return { run, busy, error, clear: () => setError(null) };
}

/** Calls `tick` every `ms` while the page is visible (and once when it becomes visible again). */
export function usePoll(tick: () => void, ms: number): void {
  useEffect(() => {
    const id = window.setInterval(() => {
      if (document.visibilityState === "visible") tick();
    }, ms);
    const onVisible = () => {
      if (document.visibilityState === "visible") tick();
    };
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      window.clearInterval(id);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [tick, ms]);
}

export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function ErrorNote({ error }: { error: string | null }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return <p class="muted" aria-busy="true">Loading {what}…</p>;
}

export function Section({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="card">
      <div class="card-head">
        <h2>{title}</h2>
        {actions ? <div class="card-actions">{actions}</div> : null}
      </div>
      {children}
    </section>
  );
}

/** A button that asks once more, in place, before it does something that cannot be undone. */
export function ConfirmButton({
  label,
  question,
  confirmLabel,
  onConfirm,
  disabled,
}: {
  label: string;
  question: string;
  confirmLabel: string;
  onConfirm: () => void | Promise<void>;
  disabled?: boolean;
}) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button type="button" class="danger" disabled={disabled} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  }
  return (
    <div class="confirm" role="group" aria-label={question}>
      <span>{question}</span>
      <button
        type="button"
        class="danger solid"
        disabled={disabled}
        onClick={async () => {
          await onConfirm();
          setAsking(false);
        }}
      >
        {confirmLabel}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </div>
  );
}

export function fmtTime(ms: number | string | null | undefined): string {
  if (ms === null || ms === undefined || ms === "") return "—";
  const date = typeof ms === "number" ? new Date(ms) : new Date(ms);
  if (Number.isNaN(date.getTime())) return String(ms);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function fmtNumber(n: number | null | undefined): string {
  if (n === null || n === undefined) return "no limit";
  return n.toLocaleString();
}

// Characters that change how text reads without being seen: bidirectional overrides and
// isolates, zero-width characters, the byte-order mark, other format and control characters.
const INVISIBLE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF\uFFF9-\uFFFB]/gu;

/** `text` with every invisible character written as `\u{…}`, and how many there were. */
export function revealInvisible(text: string): { shown: string; count: number } {
  let count = 0;
  const shown = text.replace(INVISIBLE, (c) => {
    count += 1;
    return `\\u{${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}}`;
  });
  return { shown, count };
}

/** Untrusted text shown as text, with invisible characters made visible. */
export function Untrusted({ text }: { text: string | null | undefined }) {
  if (text === null || text === undefined) return <span class="muted">—</span>;
  const { shown } = revealInvisible(text);
  return <>{shown}</>;
}

export function Badge({ value }: { value: string }) {
  return <span class={`badge badge-${value.replace(/[^a-z_-]/gi, "")}`}>{value}</span>;
}
