// The console's shell: configuration, sign-in, who am I, the navigation and the pages.

import { useEffect, useMemo, useState } from "preact/hooks";

import { Api } from "./api";
import type { Me } from "./api";
import { clearSession, loadSession, saveSession } from "./auth";
import type { Session } from "./auth";
import { loadConfig } from "./config";
import type { Config } from "./config";
import { Login } from "./pages/login";
import { BotsPage } from "./pages/bots";
import { BotPage } from "./pages/bot";
import { ApprovalsPage } from "./pages/approvals";
import { TasksPage } from "./pages/tasks";
import { ConversationsPage, MessagesPage } from "./pages/history";
import { UsagePage } from "./pages/usage";
import { UsersPage } from "./pages/users";
import { MePage } from "./pages/me";
import { ProfilePage } from "./pages/profile";
import { href, usePath } from "./router";
import { Ctx, ErrorNote, Loading, message } from "./ui";
import type { AppContext } from "./ui";

export function Root() {
  const [config, setConfig] = useState<Config | null>(null);
  const [configError, setConfigError] = useState<string | null>(null);
  const [session, setSession] = useState<Session | null>(loadSession());
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    loadConfig().then(setConfig, (e: unknown) => setConfigError(message(e)));
  }, []);

  if (configError) {
    return (
      <main class="narrow">
        <h1>clawless console</h1>
        <ErrorNote error={`The console's configuration could not be read: ${configError}`} />
      </main>
    );
  }
  if (!config) return <Loading what="the console" />;
  if (!session) {
    return (
      <Login
        config={config}
        notice={notice}
        onSession={(s) => {
          saveSession(s);
          setNotice(null);
          setSession(s);
        }}
      />
    );
  }
  return (
    <Shell
      key={session.idToken}
      config={config}
      session={session}
      onSignOut={(why) => {
        clearSession();
        setNotice(why);
        setSession(null);
      }}
    />
  );
}

const NAV: { path: string; label: string; adminOnly?: boolean }[] = [
  { path: "bots", label: "Bots" },
  { path: "approvals", label: "Approvals" },
  { path: "tools", label: "Tools" },
  { path: "usage", label: "Usage" },
  { path: "users", label: "Users", adminOnly: true },
  { path: "me", label: "Me" },
];

function Shell({ config, session, onSignOut }: { config: Config; session: Session; onSignOut: (why: string | null) => void }) {
  const api = useMemo(
    () => new Api(config, session, () => onSignOut("Your session has ended; sign in again.")),
    [config, session],
  );
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [flash, setFlash] = useState<string | null>(null);
  const [acting, setActing] = useState<string | null>(null);
  const path = usePath();

  useEffect(() => {
    api.get<Me>("/me").then(setMe, (e: unknown) => setError(message(e)));
  }, [api]);

  useEffect(() => {
    if (!flash) return;
    const t = window.setTimeout(() => setFlash(null), 4000);
    return () => window.clearTimeout(t);
  }, [flash]);

  if (error) {
    return (
      <main class="narrow">
        <ErrorNote error={error} />
        <button type="button" onClick={() => onSignOut(null)}>
          Sign out
        </button>
      </main>
    );
  }
  if (!me) return <Loading what="your account" />;

  const isAdmin = me.role === "admin" || me.platform_admin;
  const ctx: AppContext = {
    api,
    me,
    canWrite: isAdmin,
    flash: setFlash,
  };
  api.actingTenant = acting;
  const section = path[0] ?? "bots";

  return (
    <Ctx.Provider value={ctx}>
      <header class="top">
        <a class="brand" href={href("bots")}>
          clawless
        </a>
        <span class="who" title={me.email}>
          {me.email}
          <span class="role">{me.platform_admin ? "platform admin" : me.role}</span>
        </span>
        <button type="button" class="signout" onClick={() => onSignOut(null)}>
          Sign out
        </button>
      </header>
      <nav class="tabs" aria-label="Sections">
        {NAV.filter((n) => !n.adminOnly || isAdmin).map((n) => (
          <a href={href(n.path)} class={section === n.path ? "active" : ""} aria-current={section === n.path ? "page" : undefined}>
            {n.label}
          </a>
        ))}
      </nav>
      {acting ? (
        <p class="acting">
          Acting on tenant <code>{acting}</code>{" "}
          <button type="button" onClick={() => setActing(null)}>
            Back to mine
          </button>
        </p>
      ) : null}
      {flash ? (
        <p class="flash" role="status">
          {flash}
        </p>
      ) : null}
      <main key={`${acting ?? ""}`}>
        <Page path={path} onActAs={setActing} />
      </main>
    </Ctx.Provider>
  );
}

function Page({ path, onActAs }: { path: string[]; onActAs: (tenant: string | null) => void }) {
  const [section, id, sub, key] = path;
  switch (section) {
    case undefined:
    case "bots":
      if (!id) return <BotsPage />;
      if (sub === "tasks") return <TasksPage botId={id} />;
      if (sub === "conversations" && key) return <MessagesPage botId={id} conversationKey={key} />;
      if (sub === "conversations") return <ConversationsPage botId={id} />;
      return <BotPage botId={id} />;
    case "approvals":
      return <ApprovalsPage />;
    case "tools":
      return <ProfilePage />;
    case "usage":
      return <UsagePage />;
    case "users":
      return <UsersPage />;
    case "me":
      return <MePage onActAs={onActAs} />;
    default:
      return (
        <p>
          No such page. <a href={href("bots")}>Bots</a>
        </p>
      );
  }
}
