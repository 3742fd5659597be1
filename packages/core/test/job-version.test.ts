import { describe, expect, it } from "vitest";
import { API_KEY_PATTERN, compareSemver, isValidApiKeyShape, isValidJobVersion } from "../src/index";

describe("isValidJobVersion", () => {
  it("accepts major.minor.patch with digits only", () => {
    expect(isValidJobVersion("0.0.1")).toBe(true);
    expect(isValidJobVersion("12.345.6789")).toBe(true);
  });

  it("rejects prefixes, suffixes and missing parts", () => {
    for (const version of ["v1.0.0", "1.0", "1.0.0-beta", "1.0.0+build", " 1.0.0", "1.0.0.0", "", "a.b.c"]) {
      expect(isValidJobVersion(version), version).toBe(false);
    }
  });
});

describe("compareSemver", () => {
  it("orders numerically, not as strings: 1.10.0 is newer than 1.9.0", () => {
    expect(compareSemver("1.10.0", "1.9.0")).toBeGreaterThan(0);
    expect(compareSemver("1.9.0", "1.10.0")).toBeLessThan(0);
  });

  it("compares major, then minor, then patch", () => {
    expect(compareSemver("2.0.0", "1.99.99")).toBeGreaterThan(0);
    expect(compareSemver("1.2.0", "1.1.9")).toBeGreaterThan(0);
    expect(compareSemver("1.1.10", "1.1.2")).toBeGreaterThan(0);
    expect(compareSemver("1.1.1", "1.1.1")).toBe(0);
  });

  it("sorts a list of versions ascending", () => {
    expect(["1.10.0", "0.0.1", "1.9.0", "1.0.10", "1.0.2"].sort(compareSemver)).toEqual([
      "0.0.1",
      "1.0.2",
      "1.0.10",
      "1.9.0",
      "1.10.0",
    ]);
  });

  it("throws a TypeError naming an invalid version", () => {
    expect(() => compareSemver("1.0", "1.0.0")).toThrow(TypeError);
    expect(() => compareSemver("1.0.0", "latest")).toThrow(/"latest"/);
  });
});

describe("API_KEY_PATTERN", () => {
  it("accepts tr_<env>_<random> keys and rejects other shapes", () => {
    expect(API_KEY_PATTERN.test("tr_dev_abc123XYZ")).toBe(true);
    expect(isValidApiKeyShape("tr_prod_0")).toBe(true);
    for (const key of ["pk_dev_abc", "tr_DEV_abc", "tr_dev_", "tr_dev_ab-c", "tr__abc", "Bearer tr_dev_abc"]) {
      expect(isValidApiKeyShape(key), key).toBe(false);
    }
  });
});
