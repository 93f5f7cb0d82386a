import { useState } from "preact/hooks";

import { seg } from "../api";
import type { User } from "../api";
import { ConfirmButton, ErrorNote, Loading, Section, useAction, useApp, useLoad } from "../ui";

export function UsersPage() {
  const { api, canWrite, me, flash } = useApp();
  const users = useLoad(() => api.get<{ users: User[] }>("/users"), []);
  const [adding, setAdding] = useState(false);
  const action = useAction();
  if (!canWrite) return <p class="muted">Only admins manage users.</p>;
  return (
    <Section
      title="Users"
      actions={
        !adding ? (
          <button type="button" class="primary" onClick={() => setAdding(true)}>
            Add user
          </button>
        ) : null
      }
    >
      {adding ? (
        <AddUser
          onDone={(user) => {
            setAdding(false);
            if (user) {
              flash(`Added ${user.email}.`);
              users.reload();
            }
          }}
        />
      ) : null}
      <ErrorNote error={users.error} />
      <ErrorNote error={action.error} />
      {users.loading && !users.data ? <Loading what="users" /> : null}
      <ul class="list" aria-label="Users">
        {(users.data?.users ?? []).map((u) => (
          <li class="row" data-email={u.email}>
            <div class="row-main">
              <strong>{u.email}</strong>
              <span class="muted small">{u.role}</span>
            </div>
            {u.email !== me.email ? (
              <ConfirmButton
                label="Remove"
                question={`Remove ${u.email}?`}
                confirmLabel="Yes, remove"
                disabled={action.busy}
                onConfirm={() =>
                  action.run(async () => {
                    await api.del(`/users/${seg(u.email)}`);
                    flash(`Removed ${u.email}.`);
                    users.reload();
                  })
                }
              />
            ) : (
              <span class="muted small">you</span>
            )}
          </li>
        ))}
      </ul>
    </Section>
  );
}

function AddUser({ onDone }: { onDone: (user: User | null) => void }) {
  const { api } = useApp();
  const [email, setEmail] = useState("");
  const [role, setRole] = useState("member");
  const [password, setPassword] = useState("");
  const action = useAction();
  return (
    <form
      class="stack"
      aria-label="Add user"
      autocomplete="off"
      onSubmit={(e) => {
        e.preventDefault();
        void action.run(async () => {
          const body: Record<string, string> = { email: email.trim(), role };
          if (password !== "") body.password = password;
          onDone(await api.post<User>("/users", body));
        });
      }}
    >
      <label>
        Email
        <input type="email" name="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
      </label>
      <label>
        Role
        <select name="role" value={role} onChange={(e) => setRole(e.currentTarget.value)}>
          <option value="member">member: reads everything, changes nothing</option>
          <option value="admin">admin: reads and changes</option>
        </select>
      </label>
      <label>
        Password <span class="muted small">(optional; without one, Cognito sends an invitation)</span>
        <input
          type="password"
          name="password"
          autocomplete="new-password"
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
      </label>
      <ErrorNote error={action.error} />
      <div class="buttons">
        <button type="submit" class="primary" disabled={action.busy || email.trim() === ""}>
          Add user
        </button>
        <button type="button" onClick={() => onDone(null)}>
          Cancel
        </button>
      </div>
    </form>
  );
}
