// Signing in with Cognito's InitiateAuth (USER_PASSWORD_AUTH), straight against the user pool's
// endpoint. The session (the ID token, its expiry and who it is) lives in sessionStorage only:
// it ends with the tab, and signing out removes it.

import type { Config } from "./config";

const KEY = "clawless.session";

export interface Session {
  idToken: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  email: string;
}

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const session = JSON.parse(raw) as Session;
    if (typeof session.idToken !== "string" || typeof session.expiresAt !== "number") return null;
    if (session.expiresAt <= Date.now()) {
      clearSession();
      return null;
    }
    return session;
  } catch {
    return null;
  }
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function clearSession(): void {
  sessionStorage.removeItem(KEY);
}

/** What InitiateAuth or RespondToAuthChallenge answered: a session, or a challenge to answer. */
export type SignIn =
  | { kind: "session"; session: Session }
  | { kind: "new_password"; email: string; username: string; cognitoSession: string };

interface CognitoAnswer {
  AuthenticationResult?: { IdToken?: string; ExpiresIn?: number };
  ChallengeName?: string;
  Session?: string;
  ChallengeParameters?: Record<string, string>;
  __type?: string;
  message?: string;
  Message?: string;
}

async function cognito(config: Config, target: string, body: unknown): Promise<CognitoAnswer> {
  let response: Response;
  try {
    response = await fetch(config.cognito_endpoint, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": `AWSCognitoIdentityProviderService.${target}`,
      },
      body: JSON.stringify(body),
    });
  } catch {
    throw new Error("Cannot reach the sign-in service.");
  }
  let answer: CognitoAnswer = {};
  try {
    answer = (await response.json()) as CognitoAnswer;
  } catch {
    // An answer that is not JSON: the status says enough.
  }
  if (!response.ok) {
    const type = (answer.__type ?? "").split("#").pop() ?? "";
    if (type === "NotAuthorizedException" || type === "UserNotFoundException") {
      throw new Error("Wrong email or password.");
    }
    if (type === "PasswordResetRequiredException") {
      throw new Error("This account needs a password reset; ask an admin.");
    }
    const message = answer.message ?? answer.Message ?? `HTTP ${response.status}`;
    throw new Error(type ? `${type}: ${message}` : message);
  }
  return answer;
}

function outcome(answer: CognitoAnswer, email: string): SignIn {
  const token = answer.AuthenticationResult?.IdToken;
  if (token) {
    const seconds = answer.AuthenticationResult?.ExpiresIn ?? 3600;
    // A minute early, so a request never goes out with a token about to expire.
    const expiresAt = Date.now() + Math.max(seconds - 60, 30) * 1000;
    return { kind: "session", session: { idToken: token, expiresAt, email } };
  }
  if (answer.ChallengeName === "NEW_PASSWORD_REQUIRED" && answer.Session) {
    // The challenge names the user as the pool knows them, which the answer must repeat.
    const username = answer.ChallengeParameters?.USERNAME ?? email;
    return { kind: "new_password", email, username, cognitoSession: answer.Session };
  }
  throw new Error(`Sign-in needs a step this console does not support (${answer.ChallengeName ?? "unknown"}).`);
}

export async function signIn(config: Config, email: string, password: string): Promise<SignIn> {
  const answer = await cognito(config, "InitiateAuth", {
    AuthFlow: "USER_PASSWORD_AUTH",
    ClientId: config.client_id,
    AuthParameters: { USERNAME: email, PASSWORD: password },
  });
  return outcome(answer, email);
}

export async function setNewPassword(
  config: Config,
  challenge: { email: string; username: string; cognitoSession: string },
  password: string,
): Promise<SignIn> {
  const answer = await cognito(config, "RespondToAuthChallenge", {
    ChallengeName: "NEW_PASSWORD_REQUIRED",
    ClientId: config.client_id,
    Session: challenge.cognitoSession,
    ChallengeResponses: { USERNAME: challenge.username, NEW_PASSWORD: password },
  });
  return outcome(answer, challenge.email);
}
