import { until } from "@sfn/test-utils";

describe("test-utils until()", () => {
  it("waits without spinning a core: CPU used while waiting is a small fraction of the time waited", async () => {
    // The condition holds at the 30th look: how long that takes is until()'s own pacing, no timer here.
    let looks = 0;
    const wall = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    await until(() => ++looks >= 30);
    const usedUs = process.cpuUsage(cpu);
    const waitedUs = Number(process.hrtime.bigint() - wall) / 1000;
    // A setImmediate loop burns about as much CPU as the time it waits; a timer poll next to none.
    expect((usedUs.user + usedUs.system) / waitedUs).toBeLessThan(0.3);
  });

  it("still fails with a clear message when the condition never holds", async () => {
    await expect(until(() => false, 50, "the impossible")).rejects.toThrow("the impossible not reached within 50 ms");
  });
});
