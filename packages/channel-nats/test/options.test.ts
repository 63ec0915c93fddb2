import { ErrorCode, MessageChannel } from "@sfn/channel-core";
import { startNatsServer, until, type NatsServer } from "@sfn/test-utils";
import { nats, type NatsRouterOptions } from "../src/index.js";

// nats(options): the options that would be ignored in silence throw at nats(...), while nats.js's
// own options still go through to a real private nats-server (JetStream on, for durable mode).

const invalid = (message: string | RegExp) =>
  expect.objectContaining({
    code: ErrorCode.INVALID_OPTION,
    name: "InvalidOptionError",
    message: typeof message === "string" ? message : expect.stringMatching(message),
  });

const make = (options: unknown) => () => nats(options as NatsRouterOptions);

describe("nats(options)", () => {
  it("refuses the mesh router's own options that nats.js does not have, secret first among them, with InvalidOptionError", () => {
    expect(make({ servers: "nats://127.0.0.1:4222", secret: "s".repeat(32) })).toThrow(
      invalid(
        '"secret" is a mesh option that does not apply to the NATS router: NATS authenticates (nats.js\'s user/pass, token, authenticator, tls)',
      ),
    );
    for (const [key, value] of [
      ["maxFrameSize", 1024],
      ["handshakeTimeout", 5000],
      ["limits", { maxPeers: 10 }],
      ["transport", {}],
      ["identity", true],
    ] as const) {
      expect(make({ [key]: value })).toThrow(invalid(`"${key}" is a mesh option that does not apply to the NATS router`));
    }
    expect(make({ secret: new Uint8Array(32), limits: {} })).toThrow(
      invalid(/^"secret", "limits" are mesh options that do not apply to the NATS router/),
    );
    // Absent is absent, as on the channel's options (e.g. `secret: process.env.SFN_SECRET` unset).
    expect(make({ secret: undefined, limits: undefined })).not.toThrow();
  });

  it("refuses an unknown key inside heartbeat, window and durable, and a nested option that is not an object", () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ heartbeat: { intervall: 50 } }, 'unknown option "intervall" in heartbeat (known: interval, missedBeats)'],
      [{ heartbeat: { interval: 50, timeout: 500 } }, 'unknown option "timeout" in heartbeat (known: interval, missedBeats)'],
      [{ window: { maxMessage: 10 } }, 'unknown option "maxMessage" in window (known: maxMessages, maxBytes, maxAge)'],
      [{ window: { resumeTimeout: 10 } }, 'unknown option "resumeTimeout" in window (known: maxMessages, maxBytes, maxAge)'],
      [
        { durable: { replica: 1 } },
        'unknown option "replica" in durable (known: stream, replicas, setup, resumeTimeout, ackWait, maxAckPending, publishTimeout, maxInFlight, gapTimeout, handled)',
      ],
      [{ durable: { replicas: 3, handeld: () => new Map() } }, 'unknown option "handeld" in durable'],
      [{ heartbeat: 100 }, "heartbeat must be an object"],
      [{ heartbeat: null }, "heartbeat must be an object"],
      [{ window: [10] }, "window must be an object"],
      [{ durable: "yes" }, "durable must be true, false or an object"],
      [{ durable: null }, "durable must be true, false or an object"],
      // The mesh's backoff object: nats.js's reconnect is a boolean and would take it as true.
      [{ reconnect: { initialDelay: 100, maxDelay: 5000 } }, "reconnect is nats.js's on/off switch here \\(a boolean\\)"],
    ];
    for (const [options, message] of bad) {
      expect(make({ servers: "nats://127.0.0.1:4222", ...options })).toThrow(
        invalid(message.includes("(known") ? message : new RegExp(`^${message}`)),
      );
    }
    expect(make("nats://127.0.0.1:4222")).toThrow(invalid("the NATS router's options must be an object"));
    expect(make(null)).toThrow(invalid("the NATS router's options must be an object"));
  });

  it("does not refuse nats.js's own options, even those named like mesh options (reconnect, timeout, tls, name)", () => {
    expect(
      make({
        servers: ["nats://127.0.0.1:4222"],
        reconnect: false,
        timeout: 1000,
        tls: { handshakeFirst: false },
        name: "svc",
        user: "u",
        pass: "p",
        pingInterval: 1000,
        someFutureNatsJsOption: 1, // nats.js's options are open-ended: unknown top-level keys go through
        heartbeat: {},
        window: {},
        durable: false,
      }),
    ).not.toThrow();
  });

  describe("on a real nats-server", () => {
    let server: NatsServer;
    beforeAll(async () => {
      server = await startNatsServer({ jetstream: true });
    });
    afterAll(async () => {
      await server?.stop();
    });

    it("takes nats.js options next to every documented nested key, in durable mode: the channel gets ready and delivers", async () => {
      const namespace = "options-all-keys";
      const service = (id: string) =>
        new MessageChannel({
          id,
          router: nats({
            servers: server.url,
            name: id,
            timeout: 5000,
            reconnect: true,
            reconnectTimeWait: 50,
            namespace,
            claimTimeout: 1000,
            presenceSettle: 50,
            heartbeat: { interval: 100, missedBeats: 3 },
            window: { maxMessages: 1000, maxBytes: 1024 * 1024, maxAge: 60_000 },
            durable: {
              stream: "SFN_OPTIONS_TEST",
              replicas: 1,
              setup: "create",
              resumeTimeout: 10_000,
              ackWait: 5000,
              maxAckPending: 100,
              publishTimeout: 5000,
              maxInFlight: 16,
              gapTimeout: 5000,
              handled: () => new Map(),
            },
          }),
        });
      const sub = service("sub");
      const pub = service("pub");
      try {
        const got: unknown[] = [];
        sub.subscribe("t", (data) => void got.push(data));
        await Promise.all([sub.ready(), pub.ready()]);
        pub.publish("t", "hello");
        await until(() => got.length > 0, 10_000, "the durable message");
        expect(got).toEqual(["hello"]);
      } finally {
        await Promise.all([pub.close({ drainTimeout: 500 }), sub.close({ drainTimeout: 500 })]);
      }
    });
  });
});
