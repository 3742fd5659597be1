/**
 * The example's email integration: Resend's `sendEmail` shape, delivered through nodemailer over real SMTP (the
 * loopback server of `mail-server.ts`, or `SMTP_URL`).
 */
import { defineIntegration } from "@baton/sdk";
import nodemailer, { type Mail, type SMTPSentMessageInfo, type SMTPTransportOptions } from "nodemailer";

/** A nodemailer SMTP transport. */
export type MailTransport = Mail<SMTPSentMessageInfo, SMTPTransportOptions>;

/** Parameters of `io.resend.sendEmail(key, params)` (the subset of Resend's that the example uses). */
export interface SendEmailParams {
  readonly to: string | readonly string[];
  readonly from: string;
  readonly subject: string;
  readonly html: string;
}

/** Result of `sendEmail`: the `Message-ID` the message was sent with (as Resend returns an id). */
export interface SendEmailResult {
  readonly id: string;
}

/** Where to send: an SMTP URL (`smtp://user:pass@host:587`, `smtps://…`), or a plaintext loopback server. */
export type MailTransportTarget = { readonly smtpUrl: string } | { readonly host: string; readonly port: number };

/**
 * Creates a nodemailer SMTP transport (one connection per message; nothing to drain on close).
 * For a loopback `{host, port}` TLS is not attempted (the example's server offers none).
 */
export function createMailTransport(target: MailTransportTarget): MailTransport {
  if ("smtpUrl" in target) return nodemailer.createTransport(target.smtpUrl);
  return nodemailer.createTransport({ host: target.host, port: target.port, secure: false, ignoreTLS: true });
}

/**
 * Sends one message and returns its Message-ID.
 * @throws Error naming the rejected recipients when the SMTP server accepted none of them; nodemailer's errors
 *   (connection refused, 5xx) as they are
 */
export async function deliverEmail(transport: MailTransport, params: SendEmailParams): Promise<SendEmailResult> {
  const to = typeof params.to === "string" ? params.to : [...params.to];
  const info = await transport.sendMail({ from: params.from, to, subject: params.subject, html: params.html });
  if (info.accepted.length === 0) {
    throw new Error(`SMTP server rejected every recipient (${info.rejected.join(", ")}): ${info.response}`);
  }
  return { id: info.messageId };
}

/**
 * The `resend` integration: `integrations: { resend }` in a job exposes `io.resend.sendEmail(key, params)`, a task
 * (retried with the SDK's standard backoff) whose output is `{ id }`.
 */
export function createResendIntegration(transport: MailTransport) {
  return defineIntegration({
    id: "resend",
    name: "Resend (SMTP)",
    client: transport,
    tasks: {
      sendEmail: {
        name: "Send Email",
        icon: "resend",
        run: (params: SendEmailParams, client: MailTransport) => deliverEmail(client, params),
      },
    },
  });
}

/** The integration type (for annotating job options). */
export type ResendIntegration = ReturnType<typeof createResendIntegration>;
