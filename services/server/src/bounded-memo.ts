/**
 * Memoizes `compute(key)` for at most `max` distinct keys, then starts over: a flood of distinct keys costs one
 * `compute` each, as without the memo, and memory stays bounded. For values that are cheap to recompute and costly
 * per call on a hot path (an API key's hash per request, an endpoint URL's request options per execution).
 * `compute` must not return undefined (that marks a key not seen).
 */
export class BoundedMemo<V> {
  readonly #values = new Map<string, V>();
  constructor(
    private readonly compute: (key: string) => V,
    private readonly max: number,
  ) {}

  get(key: string): V {
    let value = this.#values.get(key);
    if (value === undefined) {
      if (this.#values.size >= this.max) this.#values.clear();
      value = this.compute(key);
      this.#values.set(key, value);
    }
    return value;
  }
}
