import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMailTransport, createResendIntegration, deliverEmail, type MailTransport } from "../src/resend";
import { startMailServer, type MailServer } from "../src/mail-server";
import { findMailTo, readMailbox } from "../src/mailbox";
import { welcomeEmail } from "../src/jobs";

describe("loopback SMTP server and the resend integration's transport", () => {
  let mailDir: string;
  let server: MailServer;
  let transport: MailTransport;

  beforeAll(async () => {
    mailDir = await mkdtemp(path.join(tmpdir(), "baton-example-mail-"));
    server = await startMailServer({ mailDir });
    transport = createResendIntegration(createMailTransport({ host: server.host, port: server.port })).client;
  });

  afterAll(async () => {
    transport?.close();
    await server?.close();
    await rm(mailDir, { recursive: true, force: true });
  });

  it("stores a sent message as a parseable .eml with its recipient, subject and Message-ID", async () => {
    const sent = await deliverEmail(transport, {
      to: "Ada@Example.com",
      from: "Baton Example <welcome@example.com>",
      subject: "Welcome!",
      html: welcomeEmail("Ada <Lovelace>"),
    });
    expect(sent.id).toMatch(/^<.+@.+>$/);

    const files = (await readdir(mailDir)).filter((name) => name.endsWith(".eml"));
    expect(files).toHaveLength(1);
    const [mail] = await findMailTo(mailDir, "ada@example.com");
    expect(mail).toBeDefined();
    expect(mail?.subject).toBe("Welcome!");
    expect(mail?.to).toEqual(["ada@example.com"]);
    expect(mail?.messageId).toBe(sent.id);
    expect(mail?.html).toContain("Welcome, Ada &#60;Lovelace&#62;!");
  });

  it("keeps one file per message and finds mail by recipient only", async () => {
    await deliverEmail(transport, { to: ["grace@navy.example.org"], from: "welcome@example.com", subject: "Second", html: "<p>2</p>" });
    const all = await readMailbox(mailDir);
    expect(all.map((mail) => mail.subject).sort()).toEqual(["Second", "Welcome!"]);
    expect(await findMailTo(mailDir, "grace@navy.example.org")).toHaveLength(1);
    expect(await findMailTo(mailDir, "nobody@example.com")).toHaveLength(0);
  });

  it("fails the send with the transport's error when no SMTP server listens", async () => {
    const closed = await startMailServer({ mailDir });
    const port = closed.port;
    await closed.close();
    const dead = createMailTransport({ host: "127.0.0.1", port });
    await expect(deliverEmail(dead, { to: "x@example.com", from: "y@example.com", subject: "s", html: "h" })).rejects.toThrow(/ECONNREFUSED/);
    dead.close();
  });
});
