import { useState } from "preact/hooks";

import { setNewPassword, signIn } from "../auth";
import type { Session, SignIn } from "../auth";
import type { Config } from "../config";
import { ErrorNote, message } from "../ui";

export function Login({ config, notice, onSession }: { config: Config; notice: string | null; onSession: (s: Session) => void }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [challenge, setChallenge] = useState<{ email: string; username: string; cognitoSession: string } | null>(null);
  const [newPassword, setNewPasswordValue] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const handle = (result: SignIn) => {
    if (result.kind === "session") {
      onSession(result.session);
    } else {
      setChallenge({ email: result.email, username: result.username, cognitoSession: result.cognitoSession });
    }
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (challenge) {
        handle(await setNewPassword(config, challenge, newPassword));
      } else {
        handle(await signIn(config, email.trim(), password));
      }
    } catch (err) {
      setError(message(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="narrow login">
      <h1>clawless console</h1>
      {notice ? <p class="notice">{notice}</p> : null}
      <form class="card stack" onSubmit={submit} aria-label="Sign in">
        {challenge ? (
          <>
            <p>Choose a new password for {challenge.email}.</p>
            <label>
              New password
              <input
                type="password"
                name="new-password"
                autocomplete="new-password"
                required
                value={newPassword}
                onInput={(e) => setNewPasswordValue(e.currentTarget.value)}
              />
            </label>
          </>
        ) : (
          <>
            <label>
              Email
              <input
                type="email"
                name="email"
                autocomplete="username"
                required
                value={email}
                onInput={(e) => setEmail(e.currentTarget.value)}
              />
            </label>
            <label>
              Password
              <input
                type="password"
                name="password"
                autocomplete="current-password"
                required
                value={password}
                onInput={(e) => setPassword(e.currentTarget.value)}
              />
            </label>
          </>
        )}
        <ErrorNote error={error} />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Signing in…" : challenge ? "Set password and sign in" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
