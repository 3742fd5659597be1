const JOB_VERSION_PATTERN = /^(\d+)\.(\d+)\.(\d+)$/;

/**
 * Whether `version` is a job version the v2 SDK accepts: exactly `major.minor.patch`, digits only
 * (`/^\d+\.\d+\.\d+$/`, as v2's `Job` constructor; no `v` prefix, no pre-release or build suffix).
 */
export function isValidJobVersion(version: string): boolean {
  return JOB_VERSION_PATTERN.test(version);
}

function parseJobVersion(version: string): [number, number, number] {
  const match = JOB_VERSION_PATTERN.exec(version);
  if (!match) {
    throw new TypeError(`Invalid job version "${version}": expected major.minor.patch, e.g. "1.0.0"`);
  }
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

/**
 * Orders two job versions numerically by major, then minor, then patch (`"1.10.0" > "1.9.0"`; v2 compared
 * the strings, which got this wrong). Returns a negative number when `a < b`, 0 when equal, positive when
 * `a > b`, so it can be passed to `Array.prototype.sort`.
 *
 * @throws TypeError when either argument is not a valid job version ({@link isValidJobVersion}).
 */
export function compareSemver(a: string, b: string): number {
  const left = parseJobVersion(a);
  const right = parseJobVersion(b);
  for (let i = 0; i < 3; i++) {
    const difference = (left[i] ?? 0) - (right[i] ?? 0);
    if (difference !== 0) return Math.sign(difference);
  }
  return 0;
}
