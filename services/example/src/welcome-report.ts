/**
 * The "long running code" of the seed job: computes a welcome report from the user's row and stores it.
 */
import { sql, type Kysely } from "kysely";
import { findUser, type ExampleDatabase, type User } from "./db";

/** What "My Task" returns (and so the `new-user` run's output). Plain JSON: dates as ISO strings. */
export interface WelcomeReport {
  readonly userId: string;
  readonly emailDomain: string;
  /** Whole days from signup to now (never negative). */
  readonly daysSinceSignup: number;
  /** 0–100; see {@link scoreUser}. */
  readonly score: number;
  /** When the report row was first created (ISO 8601). */
  readonly createdAt: string;
  /** When this computation ran (ISO 8601). */
  readonly computedAt: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;
// Mailbox providers: an address there says less about the user's organisation than a company domain does.
const PERSONAL_DOMAINS = new Set(["gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com", "proton.me"]);

/**
 * Scores a user from 0 to 100: 40 base, +30 for an organisation's domain (not a personal mailbox), up to +20 for
 * tenure (1 point per 30 days), +10 when the profile has a full name (two words or more).
 */
export function scoreUser(user: Pick<User, "email" | "name">, daysSinceSignup: number): number {
  const domain = emailDomain(user.email);
  const organisation = PERSONAL_DOMAINS.has(domain) ? 0 : 30;
  const tenure = Math.min(20, Math.floor(daysSinceSignup / 30));
  const fullName = user.name.trim().split(/\s+/).length >= 2 ? 10 : 0;
  return Math.min(100, 40 + organisation + tenure + fullName);
}

/** The lower-cased part after the last `@` (empty when there is none). */
export function emailDomain(email: string): string {
  const at = email.lastIndexOf("@");
  return at === -1 ? "" : email.slice(at + 1).toLowerCase();
}

/**
 * Computes the user's welcome report and upserts it into `example.welcome_reports` (one row per user, so running it
 * again, e.g. after a crash mid-task, rewrites the same row instead of adding one).
 * @throws Error `User not found: <id>` when the user does not exist
 */
export async function createWelcomeReport(db: Kysely<ExampleDatabase>, userId: string, now: Date = new Date()): Promise<WelcomeReport> {
  const user = await findUser(db, userId);
  if (!user) throw new Error(`User not found: ${userId}`);
  const daysSinceSignup = Math.max(0, Math.floor((now.getTime() - user.created_at.getTime()) / DAY_MS));
  const values = {
    user_id: user.id,
    email_domain: emailDomain(user.email),
    days_since_signup: daysSinceSignup,
    score: scoreUser(user, daysSinceSignup),
    computed_at: now,
  };
  const row = await db
    .insertInto("example.welcome_reports")
    .values(values)
    .onConflict((oc) =>
      oc.column("user_id").doUpdateSet({
        email_domain: values.email_domain,
        days_since_signup: values.days_since_signup,
        score: values.score,
        computed_at: sql<Date>`excluded.computed_at`,
      }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
  return {
    userId: row.user_id,
    emailDomain: row.email_domain,
    daysSinceSignup: row.days_since_signup,
    score: row.score,
    createdAt: row.created_at.toISOString(),
    computedAt: row.computed_at.toISOString(),
  };
}
