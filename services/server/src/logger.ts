import pino, { type Logger } from "pino";

/**
 * The server's structured logger (pino). Secrets never reach it: API keys, authorization headers, passwords and
 * connection strings are redacted wherever they appear in a logged object.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "baton" },
    redact: {
      paths: [
        "apiKey",
        "*.apiKey",
        "headers.authorization",
        "*.headers.authorization",
        'headers["x-trigger-api-key"]',
        "password",
        "*.password",
        "connectionString",
        "*.connectionString",
        "databaseUrl",
      ],
      censor: "[redacted]",
    },
  });
}
