/**
 * Summarizes a V8 `.cpuprofile` (written by `node --cpu-prof`): self time by function and by package/file, so the
 * benchmark can say where a process spends its CPU. Usable alone: `tsx scripts/bench/profile.ts <file.cpuprofile>`.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  /** wall time covered by the profile (s) */
  readonly seconds: number;
  /** CPU busy (non-idle) share of that time */
  readonly busyShare: number;
  /** self time (ms) by package (node_modules/<pkg>) or workspace file */
  readonly byModule: ReadonlyArray<{ module: string; ms: number; share: number }>;
  /** self time (ms) by function */
  readonly byFunction: ReadonlyArray<{ fn: string; ms: number; share: number }>;
}

function moduleOf(url: string): string {
  if (!url) return "(native/V8)";
  const clean = url.replace(/^file:\/\//, "");
  const nm = clean.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = clean.slice(nm + "node_modules/".length).split("/");
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (clean.startsWith("node:")) return clean;
  const at = clean.search(/\/(services|packages|scripts)\//);
  return at >= 0 ? clean.slice(at + 1) : clean;
}

export function summarizeCpuProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (deltas[i + 1] ?? deltas[i] ?? 0));
  }
  let total = 0;
  let idle = 0;
  const mod = new Map<string, number>();
  const fns = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    total += us;
    const name = node.callFrame.functionName || "(anonymous)";
    if (name === "(idle)" || name === "(program)" || name === "(garbage collector)") {
      if (name === "(idle)") idle += us;
      const k = name;
      mod.set(k, (mod.get(k) ?? 0) + us);
      fns.set(k, (fns.get(k) ?? 0) + us);
      continue;
    }
    const m = moduleOf(node.callFrame.url);
    mod.set(m, (mod.get(m) ?? 0) + us);
    const fnKey = `${name} ${m}:${node.callFrame.lineNumber + 1}`;
    fns.set(fnKey, (fns.get(fnKey) ?? 0) + us);
  }
  const busy = total - idle;
  const rank = <K extends string>(map: Map<string, number>, key: K): Array<Record<K, string> & { ms: number; share: number }> =>
    [...map.entries()]
      .filter(([k]) => k !== "(idle)")
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => ({ [key]: k, ms: Math.round(us / 1000), share: busy > 0 ? Number((us / busy).toFixed(3)) : 0 }) as Record<K, string> & { ms: number; share: number });
  return {
    seconds: Number(((profile.endTime - profile.startTime) / 1e6).toFixed(1)),
    busyShare: total > 0 ? Number((busy / total).toFixed(3)) : 0,
    byModule: rank(mod, "module"),
    byFunction: rank(fns, "fn"),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const file of process.argv.slice(2)) {
    const s = summarizeCpuProfile(file, 40);
    console.log(`${file}: ${s.seconds} s, busy ${(s.busyShare * 100).toFixed(0)}%`);
    console.log("  by module (self ms, share of busy):");
    for (const m of s.byModule) console.log(`    ${String(m.ms).padStart(7)}  ${(m.share * 100).toFixed(1).padStart(5)}%  ${m.module}`);
    console.log("  by function:");
    for (const f of s.byFunction) console.log(`    ${String(f.ms).padStart(7)}  ${(f.share * 100).toFixed(1).padStart(5)}%  ${f.fn}`);
  }
}
