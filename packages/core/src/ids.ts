/**
 * Time-ordered ids with a type prefix (`run_01j…`, `task_…`): a ULID (48-bit ms time + 80 random bits, Crockford
 * base32, lowercase), monotonic within a process. Shared by the server and the SDK (which picks the ids of tasks it
 * starts itself, Baton protocol 2). Randomness comes from `globalThis.crypto.getRandomValues` (Web Crypto, Node ≥ 19
 * and browsers), drawn 4 KiB at a time.
 */

// Crockford base32, lowercase (ULID's alphabet)
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
const POOL_SIZE = 4096;
const pool = new Uint8Array(POOL_SIZE);
let offset = POOL_SIZE;
let lastTime = -1;
const lastRandom = new Uint8Array(16);

/** 16 random base32 digits (80 bits) from a buffer refilled 4 KiB at a time (one call per ~256 ids). */
function freshRandom(into: Uint8Array): void {
  if (offset + 16 > POOL_SIZE) {
    globalThis.crypto.getRandomValues(pool);
    offset = 0;
  }
  for (let i = 0; i < 16; i++) into[i] = pool[offset + i]! & 31;
  offset += 16;
}

/** Increments the 80-bit random part (base32 digits) for ids made in the same millisecond: ids stay ordered. */
function increment(digits: Uint8Array): void {
  for (let i = digits.length - 1; i >= 0; i--) {
    if (digits[i]! < 31) {
      digits[i]!++;
      return;
    }
    digits[i] = 0;
  }
}

/**
 * A new id `<prefix>_<26 base32 digits>`; ids made in one millisecond by one process increase.
 * @param prefix lowercase type tag, e.g. "run" or "task"
 */
export function newPrefixedId(prefix: string): string {
  let now = Date.now();
  if (now <= lastTime) {
    now = lastTime;
    increment(lastRandom);
  } else {
    lastTime = now;
    freshRandom(lastRandom);
  }
  let time = "";
  for (let i = 9, t = now; i >= 0; i--) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  let random = "";
  for (let i = 0; i < 16; i++) random += ALPHABET[lastRandom[i]!];
  return `${prefix}_${time}${random}`;
}
