import { ChannelError, ErrorCode, matchTopic } from "@sfn/channel-core";
import { NatsErrorCode } from "./errors.js";
import { DEFAULT_MAX_SUBJECT_BYTES, SubjectSpace, decodeServiceId, encodeServiceId } from "./subjects.js";

/** NATS's own subject matching (tokens, `*` one, `>` one or more), as nats-server applies it. */
function natsMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length || (p[i] !== "*" && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ChannelError);
    return (error as ChannelError).code;
  }
  return undefined;
}

const space = new SubjectSpace("prod");

describe("topics and patterns", () => {
  it("maps user topics and patterns under the namespace's user branch, token for token", () => {
    expect(space.topic("greeting")).toBe("sfn.prod.t.greeting");
    expect(space.topic("orders.eu.created")).toBe("sfn.prod.t.orders.eu.created");
    expect(space.pattern("orders.*.created")).toBe("sfn.prod.t.orders.*.created");
    expect(space.pattern(">")).toBe("sfn.prod.t.>");
    expect(new SubjectSpace().topic("a")).toBe("sfn.default.t.a");
  });

  it("gives the same subjects from its topic cache, refuses bad topics after good ones, and stays bounded past 1024 topics", () => {
    const space = new SubjectSpace("prod");
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 3000; i++) expect(space.topic(`t.${i}`)).toBe(`sfn.prod.t.t.${i}`);
    }
    expect(space.topic("$sfn.ws.op")).toBe("sfn.prod.r.ws.op");
    expect(() => space.topic("t.*")).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_TOPIC }));
    expect(() => space.topic("t.>")).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_TOPIC }));
    expect((space as unknown as { topics: Map<string, string> }).topics.size).toBeLessThanOrEqual(1024);
  });

  it("maps adapter topics under a branch of their own", () => {
    expect(space.topic("$sfn.ws.op")).toBe("sfn.prod.r.ws.op");
    expect(space.pattern("$sfn.sse.>")).toBe("sfn.prod.r.sse.>");
    // `$sfn` without the dot is an ordinary user topic, as in core.
    expect(space.topic("$sfn")).toBe("sfn.prod.t.$sfn");
  });

  it("gives back the topic of a subject, and nothing for subjects that are not topics of this namespace", () => {
    for (const topic of ["greeting", "orders.eu.created", "$sfn.ws.op", "$sfn.sse.reply", "a*b.c>d", "ünïcödé.topic"]) {
      expect(space.topicOf(space.topic(topic))).toBe(topic);
    }
    expect(space.topicOf("sfn.prod._inbox.web-1")).toBeUndefined();
    expect(space.topicOf(space.presence)).toBeUndefined();
    expect(space.topicOf("sfn.staging.t.greeting")).toBeUndefined();
    expect(space.topicOf("sfn.prod.t.")).toBeUndefined();
    expect(space.topicOf("other")).toBeUndefined();
    // An adapter topic lives under the reserved branch only: under the user branch it is no topic.
    expect(space.topicOf("sfn.prod.t.$sfn.ws.op")).toBeUndefined();
    expect(space.topicOf("sfn.prod.t.$sfn")).toBe("$sfn");
  });

  it("matches on NATS exactly as core matches topics: same wildcards, and user wildcards never reach adapter topics", () => {
    const patterns = [">", "*", "a.>", "a.*", "*.b", "a.*.c", "$sfn.>", "$sfn.ws.*", "*.ws.op", "a.b*", "$sfn"];
    const topics = ["a", "a.b", "a.b.c", "x.b", "a.x.c", "$sfn.ws.op", "$sfn.sse.reply", "a.b*", "$sfn", "b"];
    for (const p of patterns) {
      for (const t of topics) {
        expect([p, t, natsMatches(space.pattern(p), space.topic(t))]).toEqual([p, t, matchTopic(p, t)]);
      }
    }
    // The branches are closed to user wildcards: no inbox, presence, or adapter subject under `>`.
    for (const subject of [space.inbox("web-1"), space.presence, space.topic("$sfn.ws.op")]) {
      expect(natsMatches(space.pattern(">"), subject)).toBe(false);
      expect(natsMatches(space.pattern("*"), subject)).toBe(false);
    }
  });

  it("refuses what core refuses, with core's typed error", () => {
    for (const bad of ["", "a..b", ".a", "a.", "a b", "a\nb", "a\u0000b", "x".repeat(1025)]) {
      expect(codeOf(() => space.topic(bad))).toBe(ErrorCode.INVALID_TOPIC);
      expect(codeOf(() => space.pattern(bad))).toBe(ErrorCode.INVALID_TOPIC);
    }
    expect(codeOf(() => space.topic("a.*"))).toBe(ErrorCode.INVALID_TOPIC);
    expect(codeOf(() => space.topic(">"))).toBe(ErrorCode.INVALID_TOPIC);
    expect(codeOf(() => space.pattern("a.>.b"))).toBe(ErrorCode.INVALID_TOPIC);
    expect(codeOf(() => space.topic(42 as unknown as string))).toBe(ErrorCode.INVALID_TOPIC);
  });

  it("refuses a subject too long for the server's protocol line with a NATS subject error", () => {
    // 1024 characters of 3 UTF-8 bytes each: valid for core, too long as a subject.
    const topic = "€".repeat(1024);
    expect(Buffer.byteLength(`sfn.prod.t.${topic}`)).toBeGreaterThan(DEFAULT_MAX_SUBJECT_BYTES);
    expect(codeOf(() => space.topic(topic))).toBe(NatsErrorCode.SUBJECT);
    expect(space.topic("x".repeat(1024))).toHaveLength(1024 + "sfn.prod.t.".length);
    expect(codeOf(() => new SubjectSpace("prod", { maxSubjectBytes: 64 }).topic("x".repeat(60)))).toBe(NatsErrorCode.SUBJECT);
  });

  it("takes a namespace only if it is one plain subject token", () => {
    for (const bad of ["", "a.b", "a b", "*", ">", "x".repeat(65), "ns!"]) {
      expect(codeOf(() => new SubjectSpace(bad))).toBe(NatsErrorCode.SUBJECT);
    }
    expect(new SubjectSpace("team_a-1").prefix).toBe("sfn.team_a-1.");
  });
});

describe("service ids and inboxes", () => {
  const odd = ["web.server.1", "web server", "*", ">", "~x", "a/b", "ünï", "😀", "é".repeat(256), "a\u0000b"];

  it("keeps plain ids readable and encodes the others as one subject token", () => {
    expect(encodeServiceId("web-server-1")).toBe("web-server-1");
    expect(encodeServiceId("rpc_2")).toBe("rpc_2");
    expect(encodeServiceId("-")).toBe("-");
    expect(encodeServiceId("x".repeat(256))).toBe("x".repeat(256));
    for (const id of odd) {
      const token = encodeServiceId(id);
      expect(token).toMatch(/^~[A-Za-z0-9_-]+$/);
      expect(decodeServiceId(token)).toBe(id);
    }
  });

  it("is one-to-one: distinct ids never share a token", () => {
    const ids = ["web-1", "web.1", "~d2ViLTE", "~web-1", "WEB-1", ...odd];
    const tokens = ids.map(encodeServiceId);
    expect(new Set(tokens).size).toBe(ids.length);
  });

  it("maps a service's inbox and reads the id back", () => {
    expect(space.inbox("web-server-1")).toBe("sfn.prod._inbox.web-server-1");
    for (const id of ["web-server-1", ...odd]) {
      const subject = space.inbox(id);
      expect(subject.split(".")).toHaveLength(4);
      expect(space.inboxId(subject)).toBe(id);
    }
  });

  it("refuses tokens that are not the canonical encoding of an id", () => {
    for (const bad of ["", "a.b", "~", "~!!", "~d2ViLTE", "~d2ViLjE=", "a b", "~_w", "x".repeat(257)]) {
      // "~d2ViLTE" decodes to "web-1", which is sent plain: a second spelling is refused.
      expect(codeOf(() => decodeServiceId(bad))).toBe(NatsErrorCode.SUBJECT);
    }
    expect(decodeServiceId("~d2ViLjE")).toBe("web.1");
    for (const bad of ["sfn.prod._inbox.", "sfn.prod._inbox.a.b", "sfn.staging._inbox.web-1", "sfn.prod.t.web-1"]) {
      expect(codeOf(() => space.inboxId(bad))).toBe(NatsErrorCode.SUBJECT);
    }
    for (const bad of ["", "x".repeat(257), 7 as unknown as string]) {
      expect(codeOf(() => encodeServiceId(bad))).toBe(NatsErrorCode.SUBJECT);
    }
  });
});
