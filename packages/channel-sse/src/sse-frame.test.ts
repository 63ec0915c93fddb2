import fc from "fast-check";
import { SseError } from "./errors.js";
import { assertField, comment, eventBody, idLine, jsonSerializer, retryField } from "./sse-frame.js";

/** The WHATWG "interpret an event stream" algorithm, enough of it to check what a browser sees. */
function parse(stream: string): { event: string; data: string; id: string }[] {
  const out: { event: string; data: string; id: string }[] = [];
  let data = "";
  let event = "";
  let id = "";
  for (const line of stream.split(/\r\n|\r|\n/)) {
    if (line === "") {
      if (data !== "") out.push({ event: event || "message", data: data.endsWith("\n") ? data.slice(0, -1) : data, id });
      data = "";
      event = "";
      continue;
    }
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data += `${value}\n`;
    else if (field === "event") event = value;
    else if (field === "id" && !value.includes("\0")) id = value;
  }
  return out;
}

describe("SSE wire format", () => {
  it("pins the framing of an event", () => {
    expect(idLine("a.1.x") + eventBody("greeting", "Hello, World!")).toBe("id: a.1.x\nevent: greeting\ndata: Hello, World!\n\n");
    expect(eventBody(undefined, "x")).toBe("data: x\n\n");
    expect(retryField(3000)).toBe("retry: 3000\n\n");
    expect(comment("keep\nalive")).toBe(": keep alive\n\n");
  });

  it("splits data on LF, CR and CRLF so the browser gets every line", () => {
    expect(eventBody(undefined, "a\r\nb\rc\nd")).toBe("data: a\ndata: b\ndata: c\ndata: d\n\n");
    expect(parse(eventBody(undefined, "a\r\nb\rc\nd"))[0]?.data).toBe("a\nb\nc\nd");
  });

  it("cannot be broken by data: an injected field or event stays data", () => {
    const evil = "hi\n\nevent: admin\ndata: pwned\nid: 999\nretry: 1";
    const events = parse(idLine("1") + eventBody("m", evil));
    expect(events).toEqual([{ event: "m", data: evil, id: "1" }]);
  });

  it.each(["a\nb", "a\rb", "a\0b", "evil\r\nevent: x"])("refuses event names or ids with CR, LF or NUL: %j", (bad) => {
    expect(() => eventBody(bad, "x")).toThrow(SseError);
    expect(() => idLine(bad)).toThrow(expect.objectContaining({ code: "ERR_SSE_INVALID_FIELD" }));
    expect(() => assertField("client id", bad)).toThrow(SseError);
  });

  it("serializes non-string data as JSON (bigint as a string)", () => {
    expect(jsonSerializer({ a: [1, "x"] })).toBe('{"a":[1,"x"]}');
    expect(jsonSerializer(10n)).toBe('"10"');
    expect(jsonSerializer("plain")).toBe("plain");
  });

  it("refuses data with no JSON form (undefined, a function, a symbol) instead of writing an empty data line", () => {
    for (const data of [undefined, () => 1, Symbol("s"), { toJSON: () => undefined }]) {
      expect(() => jsonSerializer(data)).toThrow(expect.objectContaining({ code: "ERR_SSE_SERIALIZE" }));
    }
    expect(jsonSerializer(null)).toBe("null");
    expect(jsonSerializer({ f: () => 1 })).toBe("{}");
  });

  it("bounds bigints: up to 1,000 digits as a string, a longer one refused without converting it", () => {
    const max = 10n ** 1000n - 1n;
    expect(jsonSerializer(max)).toBe(`"${max}"`);
    expect(jsonSerializer({ v: -max })).toBe(`{"v":"-${max}"}`);
    // ~1.2 million decimal digits: converting it would block the loop for seconds.
    const huge = 1n << 4_000_000n;
    expect(() => jsonSerializer(huge)).toThrow(expect.objectContaining({ code: "ERR_SSE_SERIALIZE" }));
    expect(() => jsonSerializer({ deep: [1, { v: -huge }] })).toThrow(expect.objectContaining({ code: "ERR_SSE_SERIALIZE" }));
    expect(() => jsonSerializer(10n ** 1000n)).toThrow(SseError);
  });

  it("delivers any string as data, line breaks normalised to LF (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), fc.stringMatching(/^[a-z]{1,10}$/), (data, event) => {
        const events = parse(eventBody(event, data));
        expect(events).toHaveLength(1);
        expect(events[0]).toEqual({ event, data: data.replace(/\r\n|\r/g, "\n"), id: "" });
      }),
      { numRuns: 2000 },
    );
  });
});
