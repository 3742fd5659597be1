/**
 * A real SMTP server on loopback (npm `smtp-server`) that stores every message it accepts as an `.eml` file.
 */
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { SMTPServer } from "smtp-server";

/** Default mail folder: `BATON_MAIL_DIR`, else `<cwd>/.baton/mail`. */
export function defaultMailDir(): string {
  return path.resolve(process.env["BATON_MAIL_DIR"] ?? path.join(process.cwd(), ".baton", "mail"));
}

/** Options of {@link startMailServer}. */
export interface MailServerOptions {
  /** Folder for the `.eml` files (created when missing); default {@link defaultMailDir}. */
  readonly mailDir?: string;
  /** Default 0: a free port. */
  readonly port?: number;
  /** Default "127.0.0.1" (loopback only: the server has no authentication). */
  readonly host?: string;
  /** Largest message accepted, bytes (default 10 MiB); larger ones are refused with SMTP 552. */
  readonly maxMessageBytes?: number;
}

/** A running mail server. */
export interface MailServer {
  readonly host: string;
  readonly port: number;
  /** Absolute path of the folder the `.eml` files land in. */
  readonly mailDir: string;
  /** Stops accepting connections and waits for open sessions to end. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts an SMTP server (no AUTH, no STARTTLS) that writes each accepted message, byte for byte as received, to
 * `<mailDir>/<timestamp>-<random>.eml`. A file appears only once complete (written to a temporary name, then
 * renamed), so readers never see half a message.
 * @throws when the port cannot be bound
 */
export async function startMailServer(options: MailServerOptions = {}): Promise<MailServer> {
  const mailDir = path.resolve(options.mailDir ?? defaultMailDir());
  const host = options.host ?? "127.0.0.1";
  const maxMessageBytes = options.maxMessageBytes ?? 10 * 1024 * 1024;
  await mkdir(mailDir, { recursive: true });

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["AUTH", "STARTTLS"],
    banner: "Baton example mail sink",
    size: maxMessageBytes,
    logger: false,
    closeTimeout: 5_000,
    onData(stream, _session, callback) {
      const name = `${new Date().toISOString().replaceAll(":", "-")}-${randomBytes(4).toString("hex")}.eml`;
      const partial = path.join(mailDir, `.${name}.partial`);
      pipeline(stream, createWriteStream(partial))
        .then(async () => {
          if (stream.sizeExceeded) {
            await rm(partial, { force: true });
            const error = Object.assign(new Error(`Message exceeds the limit of ${maxMessageBytes} bytes`), { responseCode: 552 });
            callback(error);
            return;
          }
          await rename(partial, path.join(mailDir, name));
          callback(null, `Stored as ${name}`);
        })
        .catch(async (error: unknown) => {
          await rm(partial, { force: true }).catch(() => undefined);
          callback(error instanceof Error ? error : new Error(String(error)));
        });
    },
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once("error", onError);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  // A broken client connection must not crash the app; smtp-server reports it here.
  server.on("error", () => undefined);
  const port = (server.server.address() as AddressInfo).port;

  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    mailDir,
    close: () => {
      closing ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return closing;
    },
  };
}
