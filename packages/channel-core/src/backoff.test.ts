import { backoffDelay, DEFAULT_BACKOFF } from "./backoff.js";

describe("reconnect backoff", () => {
  it("grows exponentially and stays within [base*(1-jitter), base]", () => {
    const b = { initialDelay: 100, maxDelay: 5000, factor: 2, jitter: 0.5 };
    expect(backoffDelay(b, 0, () => 0)).toBe(50);
    expect(backoffDelay(b, 0, () => 1)).toBe(100);
    expect(backoffDelay(b, 3, () => 1)).toBe(800);
    expect(backoffDelay(b, 30, () => 1)).toBe(5000);
    expect(backoffDelay(b, 30, () => 0)).toBe(2500);
  });

  it("is deterministic without jitter", () => {
    expect(backoffDelay({ ...DEFAULT_BACKOFF, jitter: 0 }, 2)).toBe(400);
  });
});
