// The admin API (docs/admin-api.md): JSON in and out, `Authorization: Bearer <ID token>`.
// A 401 ends the session and brings the sign-in form back.

import type { Config } from "./config";
import type { Session } from "./auth";

export interface Me {
  tenant_id: string;
  email: string;
  role: "admin" | "member" | string;
  platform_admin: boolean;
}

export interface BotChannel {
  type: string;
  webhook_url: string;
  added_at_ms: number | null;
}

export interface Bot {
  bot_id: string;
  tenant_id: string;
  name: string;
  status: "active" | "disabled" | string;
  persona: string | null;
  model_provider: string | null;
  model_id: string | null;
  trigger: string | null;
  dm: string | null;
  groups: string | null;
  created_at_ms: number | null;
  channels: BotChannel[];
}

export interface Channel {
  bot_id: string;
  channel: string;
  webhook_url: string;
  steps: unknown;
}

export interface Registration {
  bot_id: string;
  channel: string;
  webhook_url: string;
  registered: boolean;
  steps: unknown;
}

export interface Decision {
  how?: string;
  by?: string;
  at_ms?: number;
  hours?: number;
  reason?: string | null;
  [key: string]: unknown;
}

export interface ApprovalRequest {
  request_id: string;
  tool: string;
  arguments: unknown;
  arguments_hash: string;
  reason: string | null;
  risk: string;
  status: string;
  requester_id: string;
  requester_name: string | null;
  channel: string;
  conversation_id: string;
  created_at_ms: number;
  expires_at_ms: number;
  decision: Decision | null;
  bot_id?: string;
}

export interface Approver {
  tenant_id: string;
  bot_id: string;
  channel: string;
  user_id: string;
}

export interface Task {
  task_id: string;
  bot_id: string;
  channel: string;
  conversation_id: string;
  prompt: string;
  schedule_type: string;
  schedule_value: string;
  timezone: string | null;
  context_mode: string | null;
  status: string;
  next_run: string | number | null;
  last_run: string | number | null;
  run_count: number | null;
}

export interface Conversation {
  conversation_key: string;
  channel: string;
  conversation_id: string;
  first_seen_ms: number | null;
}

export interface Message {
  role: "user" | "assistant" | string;
  sender: string | null;
  text: string;
  at_ms: number | null;
}

export interface Usage {
  tenant_id: string;
  month: string;
  input_tokens: number;
  output_tokens: number;
  tokens: number;
  runs: number;
  messages: number;
  monthly_tokens: number | null;
}

export interface Quota {
  tenant_id: string;
  monthly_tokens: number | null;
  concurrent_runs: number | null;
  messages_per_minute: number | null;
  bot_messages_per_minute: number | null;
}

export interface User {
  tenant_id: string;
  email: string;
  role: string;
  username: string;
}

export interface Page<K extends string, T> {
  next_cursor: string | null;
  items: T[];
  key: K;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export type Query = Record<string, string | number | null | undefined>;

export class Api {
  /** A platform admin acting on another tenant (`?tenant=`); null for one's own. */
  actingTenant: string | null = null;

  constructor(
    private readonly config: Config,
    private readonly session: Session,
    private readonly onUnauthorized: () => void,
  ) {}

  async call<T>(method: string, path: string, body?: unknown, query: Query = {}): Promise<T> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== null && v !== undefined && v !== "") params.set(k, String(v));
    }
    if (this.actingTenant) params.set("tenant", this.actingTenant);
    const qs = params.toString();
    const url = `${this.config.api_url}/admin/v1${path}${qs ? `?${qs}` : ""}`;
    const headers: Record<string, string> = { Authorization: `Bearer ${this.session.idToken}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch {
      throw new ApiError(0, "Cannot reach the API.");
    }
    const text = await response.text();
    let json: unknown = null;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
    }
    if (response.status === 401) {
      this.onUnauthorized();
      throw new ApiError(401, "Your session has ended; sign in again.");
    }
    if (!response.ok) {
      const error =
        json && typeof json === "object" && typeof (json as { error?: unknown }).error === "string"
          ? (json as { error: string }).error
          : `HTTP ${response.status}`;
      throw new ApiError(response.status, error);
    }
    return json as T;
  }

  get<T>(path: string, query: Query = {}): Promise<T> {
    return this.call<T>("GET", path, undefined, query);
  }
  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.call<T>("POST", path, body);
  }
  patch<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>("PATCH", path, body);
  }
  put<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>("PUT", path, body);
  }
  del<T>(path: string): Promise<T> {
    return this.call<T>("DELETE", path);
  }
}

/** One path segment, percent-encoded (conversation keys hold `:`, emails `@`). */
export function seg(value: string): string {
  return encodeURIComponent(value);
}
