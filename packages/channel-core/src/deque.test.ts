import { Deque } from "./deque.js";

describe("Deque", () => {
  it("behaves as an array FIFO through growth, wrap-around and shrinking", () => {
    const d = new Deque<number>();
    const model: number[] = [];
    let next = 0;
    // Deterministic pseudo-random walk: long pushes, long shifts, and mixes of both.
    let x = 12345;
    const rand = (): number => {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      return x / 0x7fffffff;
    };
    for (let round = 0; round < 200; round++) {
      const pushBias = round % 3 === 0 ? 0.9 : round % 3 === 1 ? 0.1 : 0.5;
      for (let k = 0; k < 500; k++) {
        if (rand() < pushBias) {
          d.push(next);
          model.push(next++);
        } else {
          expect(d.shift()).toBe(model.shift());
        }
        expect(d.length).toBe(model.length);
        expect(d.peek()).toBe(model[0]);
      }
      const i = Math.floor(rand() * (model.length + 2)) - 1;
      expect(d.at(i)).toBe(model[i]);
    }
    expect(d.drain()).toEqual(model);
    expect(d.length).toBe(0);
    expect(d.shift()).toBeUndefined();
    expect(d.at(0)).toBeUndefined();
  });
});
