import { createCipheriv, createDecipheriv, createHash, randomBytes, randomInt } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type pg from "pg";

const ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/** A new private API key `tr_<env>_<24 random letters/digits>` (the shape the v2 client checks). */
export function generateApiKey(envSlug: string): string {
  let s = "";
  for (let i = 0; i < 24; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return `tr_${envSlug}_${s}`;
}

/** sha256 hex of a key: what `baton.environments.api_key_hash` stores and auth looks up. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** `tr_dev_abcd…wxyz`: enough to recognise a key in logs and audit rows, never enough to use it. */
export function keyHint(key: string): string {
  const prefix = key.slice(0, key.lastIndexOf("_") + 1);
  return `${prefix}${key.slice(prefix.length, prefix.length + 4)}…`;
}

/**
 * The secret that encrypts stored API keys (the server must send the plaintext key to endpoints, as v2, while the
 * database keeps only a hash for auth and an AES-256-GCM ciphertext). `BATON_SECRET` when set; otherwise a random
 * secret generated once into `.baton/secret` (mode 0600).
 */
export function loadSecret(explicit: string | undefined, dir = path.join(process.cwd(), ".baton")): Buffer {
  if (explicit) return createHash("sha256").update(explicit).digest();
  const file = path.join(dir, "secret");
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, randomBytes(32).toString("hex"), { mode: 0o600, flag: "wx" });
  }
  return createHash("sha256").update(readFileSync(file, "utf8").trim()).digest();
}

export function encryptKey(secret: Buffer, key: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", secret, iv);
  const body = Buffer.concat([cipher.update(key, "utf8"), cipher.final()]);
  return [iv, cipher.getAuthTag(), body].map((b) => b.toString("base64")).join(".");
}

export function decryptKey(secret: Buffer, stored: string): string {
  const [iv, tag, body] = stored.split(".").map((s) => Buffer.from(s, "base64"));
  if (!iv || !tag || !body) throw new Error("stored API key ciphertext is malformed");
  const decipher = createDecipheriv("aes-256-gcm", secret, iv);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(body), decipher.final()]).toString("utf8");
}

/** One environment as the server holds it in memory. */
export interface Environment {
  readonly id: string;
  readonly slug: "dev" | "prod";
  readonly type: "DEVELOPMENT" | "PRODUCTION";
  /** The plaintext private key (sent to endpoints in `x-trigger-api-key`). */
  readonly apiKey: string;
  readonly keyHash: string;
  readonly keyHint: string;
}

const ENVIRONMENTS = [
  { id: "env_dev", slug: "dev", type: "DEVELOPMENT" },
  { id: "env_prod", slug: "prod", type: "PRODUCTION" },
] as const;

/**
 * Makes sure the `dev` and `prod` environments exist with a key each: the configured key (`BATON_API_KEY`,
 * `BATON_PROD_API_KEY`) replaces the stored one; otherwise the stored key is kept; otherwise a new key is generated.
 * Safe when several processes start at once (insert … on conflict do nothing, then read back).
 * @returns the environments and which slugs got a newly generated key (to print once).
 * @throws when a stored key cannot be decrypted with this secret (a different BATON_SECRET / .baton/secret).
 */
export async function ensureEnvironments(
  pool: pg.Pool,
  secret: Buffer,
  configured: { dev?: string | undefined; prod?: string | undefined },
): Promise<{ environments: Environment[]; created: Array<"dev" | "prod"> }> {
  const created: Array<"dev" | "prod"> = [];
  const environments: Environment[] = [];
  for (const env of ENVIRONMENTS) {
    const wanted = configured[env.slug];
    if (wanted) {
      await pool.query(
        `insert into baton.environments (id, slug, type, api_key_hash, api_key_hint, api_key_ciphertext)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (id) do update set api_key_hash = excluded.api_key_hash, api_key_hint = excluded.api_key_hint,
           api_key_ciphertext = excluded.api_key_ciphertext
         where baton.environments.api_key_hash is distinct from excluded.api_key_hash`,
        [env.id, env.slug, env.type, hashApiKey(wanted), keyHint(wanted), encryptKey(secret, wanted)],
      );
    } else {
      const fresh = generateApiKey(env.slug);
      const { rowCount } = await pool.query(
        `insert into baton.environments (id, slug, type, api_key_hash, api_key_hint, api_key_ciphertext)
         values ($1, $2, $3, $4, $5, $6) on conflict (id) do nothing`,
        [env.id, env.slug, env.type, hashApiKey(fresh), keyHint(fresh), encryptKey(secret, fresh)],
      );
      if (rowCount) created.push(env.slug);
    }
    const { rows } = await pool.query<{ api_key_ciphertext: string; api_key_hash: string; api_key_hint: string }>(
      "select api_key_ciphertext, api_key_hash, api_key_hint from baton.environments where id = $1",
      [env.id],
    );
    const row = rows[0];
    if (!row) throw new Error(`environment ${env.slug} missing after creation`);
    let apiKey: string;
    try {
      apiKey = decryptKey(secret, row.api_key_ciphertext);
    } catch (error) {
      throw new Error(
        `cannot decrypt the stored ${env.slug} API key: this server's BATON_SECRET (or .baton/secret) differs from the one that stored it; set the same BATON_SECRET, or set BATON_API_KEY/BATON_PROD_API_KEY to replace the keys`,
        { cause: error },
      );
    }
    environments.push({ ...env, apiKey, keyHash: row.api_key_hash, keyHint: row.api_key_hint });
  }
  return { environments, created };
}
