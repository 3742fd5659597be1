/**
 * Builds what `npm start`, `npm run server` and `npm run bench` run into `dist/` (gitignored): each entry point and
 * the workspace packages it imports (`@baton/*`, TypeScript) bundled into one ES module; every other package stays an
 * ordinary import from node_modules. Plain JavaScript, so it runs before anything can load TypeScript.
 *
 * Why: running TypeScript through `node --import tsx` costs the server process a loader worker thread (its own V8
 * isolate: ~30 MB more RSS when idle, more under load) for its whole life; precompiled JavaScript runs on node alone.
 * esbuild is the compiler tsx itself uses.
 *
 *   node scripts/build.mjs [--quiet]  build every entry (about a second); `npm run build`
 *
 * Each bundled module keeps its own `import.meta.url` (its source file's URL), so code that finds files next to its
 * source (`db/migrate.ts` and `migrations/`) works unchanged; an entry point keeps the bundle's URL, so its
 * "am I the main module" check still holds.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as esbuild from "esbuild";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** `dist/<name>.js` ← source entry point. */
export const ENTRIES = {
  start: "scripts/start.ts",
  server: "services/server/src/main.ts",
};

/** Absolute path of an entry's built file. */
export function distFile(name) {
  return path.join(ROOT, "dist", `${name}.js`);
}

/** Bundles `@baton/*` workspace packages and relative imports; leaves every other package external. */
const externalPackages = {
  name: "external-packages",
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith("@baton/") || args.kind === "entry-point") return undefined;
      return { path: args.path, external: true };
    });
  },
};

/** Gives each bundled first-party module its source file's `import.meta.url` (entry points keep the bundle's). */
function sourceImportMetaUrl(entryFiles) {
  return {
    name: "source-import-meta-url",
    setup(build) {
      build.onLoad({ filter: /\.(ts|tsx|mts|js|mjs)$/ }, async (args) => {
        if (args.path.includes(`${path.sep}node_modules${path.sep}`) || entryFiles.has(args.path)) return undefined;
        const text = await readFile(args.path, "utf8");
        if (!text.includes("import.meta.url")) return undefined;
        const ext = path.extname(args.path).slice(1);
        return {
          contents: text.replaceAll("import.meta.url", JSON.stringify(pathToFileURL(args.path).href)),
          loader: ext === "mts" ? "ts" : ext === "mjs" ? "js" : ext,
        };
      });
    },
  };
}

/**
 * Builds every entry of {@link ENTRIES} into `dist/`. Each file is written next to its place and renamed over it, so a
 * process starting meanwhile (another `npm start`, the benchmark) never reads half a file.
 * @returns the built files by entry name.
 */
export async function build({ logLevel = "warning" } = {}) {
  const entryPoints = Object.fromEntries(Object.entries(ENTRIES).map(([name, file]) => [name, path.join(ROOT, file)]));
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints,
    outdir: path.join(ROOT, "dist"),
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    tsconfig: path.join(ROOT, "tsconfig.json"),
    sourcemap: "linked",
    logLevel,
    plugins: [externalPackages, sourceImportMetaUrl(new Set(Object.values(entryPoints)))],
    write: false,
  });
  for (const file of result.outputFiles) {
    await mkdir(path.dirname(file.path), { recursive: true });
    const temp = `${file.path}.${process.pid}.tmp`;
    await writeFile(temp, file.contents);
    await rename(temp, file.path);
  }
  return Object.fromEntries(Object.keys(ENTRIES).map((name) => [name, distFile(name)]));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await build({ logLevel: process.argv.includes("--quiet") ? "warning" : "info" });
}
