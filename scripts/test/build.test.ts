/**
 * `scripts/build.mjs` (what `npm start`, `npm run server` and the benchmark run): each entry bundles the workspace
 * packages (node cannot load their TypeScript sources) and nothing else, and bundled modules keep their source's
 * `import.meta.url` (the migrations are found next to `db/migrate.ts`). The benchmark's smoke test runs the built server
 * against Postgres; this checks the bundles themselves.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

describe("scripts/build.mjs", () => {
  it("bundles dist/server.js and dist/start.js with @baton/* inlined and packages external", () => {
    execFileSync(process.execPath, [path.join(ROOT, "scripts", "build.mjs"), "--quiet"], { cwd: ROOT, stdio: "pipe" });
    for (const name of ["server", "start"]) {
      const code = readFileSync(path.join(ROOT, "dist", `${name}.js`), "utf8");
      const imports = [...code.matchAll(/^import .*? from "([^"]+)";$/gm)].map((m) => m[1]!);
      expect(imports.filter((i) => i.startsWith("@baton/") || i.startsWith(".")), name).toEqual([]);
      expect(imports, name).toContain("pg");
      // migrate.ts finds migrations/ relative to its own source file
      expect(code, name).toContain(JSON.stringify(pathToFileURL(path.join(ROOT, "services/server/src/db/migrate.ts")).href));
    }
    // the entry point keeps the bundle's own URL: start.ts's "run main when started directly" check holds
    expect(readFileSync(path.join(ROOT, "dist", "start.js"), "utf8")).toContain("import.meta.url === pathToFileURL");
  });
});
