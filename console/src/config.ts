// config.json beside index.html: where to sign in and where the API is (docs/admin-api.md).

export interface Config {
  region: string;
  user_pool_id: string;
  client_id: string;
  cognito_endpoint: string;
  api_url: string;
}

function field(raw: Record<string, unknown>, name: keyof Config): string {
  const value = raw[name];
  if (typeof value !== "string" || value === "") {
    throw new Error(`config.json has no ${name}`);
  }
  return value;
}

export async function loadConfig(): Promise<Config> {
  // Relative to index.html: the console is served under a path (`/console/`) or at a bucket's root.
  const response = await fetch(new URL("config.json", document.baseURI).toString(), { cache: "no-store" });
  if (!response.ok) {
    throw new Error(`config.json: HTTP ${response.status}`);
  }
  const raw = (await response.json()) as Record<string, unknown>;
  return {
    region: field(raw, "region"),
    user_pool_id: field(raw, "user_pool_id"),
    client_id: field(raw, "client_id"),
    cognito_endpoint: field(raw, "cognito_endpoint"),
    api_url: field(raw, "api_url").replace(/\/+$/, ""),
  };
}
