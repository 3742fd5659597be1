import { createHmac, timingSafeEqual } from "node:crypto";
import type { Environment } from "../keys";

/** The dashboard's session cookie. */
export const SESSION_COOKIE = "baton_session";
/** How long a dashboard login lasts (seconds). */
export const SESSION_MAX_AGE_S = 12 * 60 * 60;

function mac(env: Environment, body: string): string {
  // keyed with the environment's private key: only this server (and the key holder) can sign, and rotating the key
  // ends every session of that environment
  return createHmac("sha256", env.apiKey).update(body).digest("base64url");
}

/** `v1.<environment id>.<expiry ms>.<HMAC-SHA256>`: stateless, so every server process accepts it. */
export function signSession(env: Environment, now: number = Date.now()): string {
  const body = `v1.${env.id}.${now + SESSION_MAX_AGE_S * 1000}`;
  return `${body}.${mac(env, body)}`;
}

/** The environment of a valid, unexpired session cookie, else undefined. */
export function verifySession(
  cookie: string | undefined,
  environments: Iterable<Environment>,
  now: number = Date.now(),
): Environment | undefined {
  const m = /^(v1\.([A-Za-z0-9_]+)\.(\d+))\.([A-Za-z0-9_-]+)$/.exec(cookie ?? "");
  if (!m) return undefined;
  const [, body, envId, expires, signature] = m;
  if (Number(expires) <= now) return undefined;
  for (const env of environments) {
    if (env.id !== envId) continue;
    const expected = Buffer.from(mac(env, body!));
    const given = Buffer.from(signature!);
    return expected.length === given.length && timingSafeEqual(expected, given) ? env : undefined;
  }
  return undefined;
}
