/**
 * Loaded into the benchmark's server child (`node --import ./scripts/bench/memory-probe.mjs …`, plain JavaScript so
 * it needs no loader): on SIGUSR2 it prints one line `{"memoryProbe": {...}}` to stderr with the process's memory by
 * kind (MB): V8 heap (used / committed, per space), code, external and array buffers, malloc'd by V8, and RSS, after
 * a full GC. It allocates nothing until asked, so the server measures the same with or without it. With
 * `BENCH_HEAP_SNAPSHOT_DIR` set it also writes a heap snapshot there each time (`server-<seq>.heapsnapshot`). With
 * `BENCH_MEMORY_TRACE` = a file, it appends one JSON line a second there (RSS and V8 heap, no GC, and the main
 * thread's event-loop utilization `elu`): the shape of a run.
 * With `BENCH_GC_STATS=1` its answer adds the main thread's GC pauses so far (count and ms by kind).
 */
import { appendFileSync } from "node:fs";
import path from "node:path";
import { constants, performance, PerformanceObserver } from "node:perf_hooks";
import { setInterval } from "node:timers";
import { setFlagsFromString, getHeapCodeStatistics, getHeapSpaceStatistics, getHeapStatistics, writeHeapSnapshot } from "node:v8";
import { runInNewContext } from "node:vm";

const mb = (bytes) => Math.round((bytes / 1024 / 1024) * 10) / 10;
let seq = 0;

/** GC pauses on the main thread by kind, when BENCH_GC_STATS is set. */
const gcStats = process.env.BENCH_GC_STATS ? {} : undefined;
if (gcStats) {
  const kinds = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
    [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
  };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = kinds[entry.detail?.kind] ?? "other";
      const s = (gcStats[kind] ??= { count: 0, ms: 0 });
      s.count++;
      s.ms += entry.duration;
    }
  }).observe({ entryTypes: ["gc"] });
}

process.on("SIGUSR2", () => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc");
  const before = process.memoryUsage().rss;
  gc();
  const usage = process.memoryUsage();
  const heap = getHeapStatistics();
  const code = getHeapCodeStatistics();
  const spaces = Object.fromEntries(
    getHeapSpaceStatistics().map((s) => [s.space_name, { used: mb(s.space_used_size), committed: mb(s.physical_space_size) }]),
  );
  const probe = {
    seq: ++seq,
    rssBeforeGc: mb(before),
    rss: mb(usage.rss),
    heapUsed: mb(usage.heapUsed),
    heapTotal: mb(usage.heapTotal),
    heapPhysical: mb(heap.total_physical_size),
    external: mb(usage.external),
    arrayBuffers: mb(usage.arrayBuffers),
    v8Malloced: mb(heap.malloced_memory),
    v8MallocedPeak: mb(heap.peak_malloced_memory),
    codeAndMetadata: mb(code.code_and_metadata_size),
    bytecodeAndMetadata: mb(code.bytecode_and_metadata_size),
    nativeContexts: heap.number_of_native_contexts,
    spaces,
    ...(gcStats ? { gcPauses: Object.fromEntries(Object.entries(gcStats).map(([k, v]) => [k, { count: v.count, ms: Math.round(v.ms) }])) } : {}),
  };
  const dir = process.env.BENCH_HEAP_SNAPSHOT_DIR;
  if (dir) probe.heapSnapshot = writeHeapSnapshot(path.join(dir, `server-${probe.seq}.heapsnapshot`));
  process.stderr.write(`${JSON.stringify({ memoryProbe: probe })}\n`);
});

const trace = process.env.BENCH_MEMORY_TRACE;
if (trace) {
  const started = Date.now();
  let elu = performance.eventLoopUtilization();
  setInterval(() => {
    const usage = process.memoryUsage();
    // the main thread's event-loop utilization over the last second (0..1): how close the server's one JS thread is to
    // being the bottleneck
    const next = performance.eventLoopUtilization();
    const busy = Math.round(performance.eventLoopUtilization(next, elu).utilization * 100) / 100;
    elu = next;
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, mb(s.physical_space_size)]));
    const line = { t: Math.round((Date.now() - started) / 100) / 10, rss: mb(usage.rss), heapUsed: mb(usage.heapUsed), heapTotal: mb(usage.heapTotal), newSpace: spaces.new_space, oldSpace: spaces.old_space, elu: busy };
    appendFileSync(trace, `${JSON.stringify(line)}\n`);
  }, 1000).unref();
}
