import { useState } from "preact/hooks";

import { Section, useApp } from "../ui";

export function MePage({ onActAs }: { onActAs: (tenant: string | null) => void }) {
  const { me } = useApp();
  const [tenant, setTenant] = useState("");
  return (
    <>
      <Section title="Who am I">
        <dl class="facts">
          <dt>Email</dt>
          <dd>{me.email}</dd>
          <dt>Workspace (tenant)</dt>
          <dd>
            <code>{me.tenant_id}</code>
          </dd>
          <dt>Role</dt>
          <dd>{me.role === "admin" ? "admin: reads and changes" : "member: reads only"}</dd>
          <dt>Platform admin</dt>
          <dd>{me.platform_admin ? "yes" : "no"}</dd>
        </dl>
      </Section>
      {me.platform_admin ? (
        <Section title="Act on another tenant">
          <form
            class="stack"
            aria-label="Act on another tenant"
            onSubmit={(e) => {
              e.preventDefault();
              const t = tenant.trim();
              if (t) onActAs(t);
            }}
          >
            <p class="muted small">Every request made for another tenant is audited as a platform admin action.</p>
            <label>
              Tenant id
              <input name="tenant" value={tenant} onInput={(e) => setTenant(e.currentTarget.value)} />
            </label>
            <div class="buttons">
              <button type="submit" class="primary" disabled={tenant.trim() === ""}>
                Act on it
              </button>
            </div>
          </form>
        </Section>
      ) : null}
    </>
  );
}
