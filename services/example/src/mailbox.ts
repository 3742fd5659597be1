/**
 * Reads the `.eml` files the loopback SMTP server stored (for the demo's "email delivered" column and the tests).
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { simpleParser, type AddressObject } from "mailparser";

/** One stored message, parsed. */
export interface StoredMail {
  /** Absolute path of the `.eml` file. */
  readonly file: string;
  readonly messageId: string | undefined;
  /** Lower-cased addresses of the `To` header. */
  readonly to: readonly string[];
  readonly from: string | undefined;
  readonly subject: string | undefined;
  readonly html: string | undefined;
  readonly date: Date | undefined;
}

/** Every `.eml` file in `mailDir`, parsed, oldest file name first; an absent folder is an empty mailbox. */
export async function readMailbox(mailDir: string): Promise<StoredMail[]> {
  let names: string[];
  try {
    names = await readdir(mailDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const files = names.filter((name) => name.endsWith(".eml") && !name.startsWith(".")).sort();
  return await Promise.all(files.map((name) => parseMailFile(path.join(mailDir, name))));
}

/** Parses one `.eml` file. */
export async function parseMailFile(file: string): Promise<StoredMail> {
  const parsed = await simpleParser(await readFile(file));
  return {
    file,
    messageId: parsed.messageId,
    to: addresses(parsed.to),
    from: parsed.from?.text,
    subject: parsed.subject,
    html: typeof parsed.html === "string" ? parsed.html : undefined,
    date: parsed.date,
  };
}

/** Stored messages whose `To` includes `email` (case-insensitive). */
export async function findMailTo(mailDir: string, email: string): Promise<StoredMail[]> {
  const wanted = email.toLowerCase();
  return (await readMailbox(mailDir)).filter((mail) => mail.to.includes(wanted));
}

function addresses(header: AddressObject | AddressObject[] | undefined): string[] {
  if (!header) return [];
  const groups = Array.isArray(header) ? header : [header];
  const result: string[] = [];
  for (const group of groups) {
    for (const entry of group.value) {
      if (entry.address) result.push(entry.address.toLowerCase());
      for (const member of entry.group ?? []) if (member.address) result.push(member.address.toLowerCase());
    }
  }
  return result;
}
