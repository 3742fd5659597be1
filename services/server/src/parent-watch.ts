/**
 * Stops a process whose launcher is gone. `npm start` runs node under `sh -c`; a SIGTERM sent to npm reaches only
 * that shell (npm forwards it to its child, and dash neither execs its last command nor passes the signal on), so
 * the shell exits and node kept running, re-parented, with its embedded Postgres. Watching `process.ppid` turns
 * that into a normal graceful stop.
 */

/**
 * Calls `onExit` once when this process's parent exits (it is re-parented: `process.ppid` changes). Polls every
 * `everyMs` ms (default 1000) on an unref'd timer. Does nothing for a process started by PID 1 (a container's init,
 * systemd): there is no launcher to outlive. Only for processes started by a launcher that should own them (an npm
 * script): a process meant to outlive its shell (`nohup node …`) must not use it.
 * @returns a function that stops watching.
 */
export function watchParentExit(onExit: () => void, everyMs = 1000): () => void {
  const parent = process.ppid;
  if (parent <= 1) return () => undefined;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onExit();
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** True when this process was started by an npm script (`npm start`, `npm run server`): npm sets `npm_lifecycle_event`. */
export function startedByNpmScript(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env["npm_lifecycle_event"]);
}
