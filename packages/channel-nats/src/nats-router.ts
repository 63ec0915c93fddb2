import {
  connect,
  headers as natsHeaders,
  type ConnectionOptions,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from "@nats-io/transport-node";
import {
  type ChannelError,
  ClosedError,
  ConnectError,
  type DuplicateIdError,
  InvalidOptionError,
  PayloadError,
  ProtocolError,
  ErrorCode,
  type DropReason,
  type MessagePosition,
  type PeerInfo,
  RESERVED_PREFIX,
} from "@sfn/channel-core";
import {
  assertTopic,
  decodeMessageBody,
  decodeMessageData,
  encodeMessageBody,
  encodeMessageData,
  type RoutePublishOptions,
  type Router,
  type RouterHost,
} from "@sfn/channel-core/internal";
import createDebug from "debug";
import { BrokerWindow, type BrokerWindowOptions, type OutboundMessage } from "./broker-window.js";
import { answerClaim, claimId } from "./claim.js";
import { Durable, type NatsDurableOptions } from "./durable.js";
import { Presence, timerHost, type PresenceDownReason } from "./presence.js";
import { checkRouterOptions } from "./options.js";
import { FRAME_MARK, FrameReader, TOPIC_FRAME_MARK, senderPrefix } from "./sender-frame.js";
import { SubjectSpace } from "./subjects.js";

const debug = createDebug("sfn:channel:nats");

/** Header carrying the publishing service's id in durable mode (core NATS messages carry it in front of the body, see `sender-frame.ts`); NATS authorization is what vouches for it. */
export const FROM_HEADER = "Sfn-From";
/** Topic under which presence announcements are encoded (never published as a topic). */
const PRESENCE_TOPIC = "$sfn.presence";
/** Label of drops of a message published to a topic (NATS, not this service, knows who subscribed). */
export const ANY_SUBSCRIBER = "*";
// Presence carries at most this many roles; extra reserved subscriptions are not announced.
const MAX_ROLES = 16;

/** Heartbeat settings of presence over NATS. */
export interface NatsHeartbeatOptions {
  /** How often this service announces itself, in ms. @default 1000 */
  interval?: number;
  /** Intervals of silence after which a peer is down (`heartbeat-timeout`). @default 3 */
  missedBeats?: number;
}

/**
 * Options of {@link nats}: NATS connection options (servers, `user`/`pass`, `token`,
 * `authenticator` for nkeys and credentials, `tls`, reconnect settings, ...) passed through to
 * `@nats-io/transport-node`'s `connect`, plus where SFN's subjects live. `noEcho` is always on:
 * the channel delivers to its own subscribers itself. The mesh router's own options that nats.js
 * does not have (`secret`, `maxFrameSize`, `handshakeTimeout`, `limits`, `transport`, `identity`)
 * throw `InvalidOptionError`, as does an unknown key inside `heartbeat`, `window` or `durable`;
 * other keys go to nats.js unchecked.
 */
export interface NatsRouterOptions extends Omit<ConnectionOptions, "noEcho"> {
  /** Deployment namespace: every subject starts with `sfn.<namespace>.`; services of one deployment share it. @default "default" */
  namespace?: string;
  /** Presence heartbeats. */
  heartbeat?: NatsHeartbeatOptions;
  /**
   * Bounds of what is kept while the broker is away (flushed in order on reconnect); in durable
   * mode also the stream's limits (`maxAge` in ms, 0 or absent: no age limit).
   */
  window?: BrokerWindowOptions & { maxAge?: number };
  /**
   * Durable delivery over JetStream for topic publishes (not `{ to }`, not adapter traffic):
   * stored, acknowledged, redelivered, once and in order per publisher. Every service of the
   * namespace must use the same setting. @default false
   */
  durable?: boolean | NatsDurableOptions;
  /** How long the id claim waits for an answer from a live holder, in ms. @default 2000 */
  claimTimeout?: number;
  /** After this service's hello, how long `ready()` gives the other services to answer, in ms. @default 100 */
  presenceSettle?: number;
}

interface Outbound extends OutboundMessage {
  /** Durable mode's volatile publishes only; core NATS messages carry no header block. */
  headers: MsgHdrs | undefined;
}

interface PeerStats {
  sent: number;
  received: number;
  dropped: Partial<Record<DropReason, number>>;
}

/**
 * A `MessageChannel` router over a NATS cluster: topics are subjects, NATS routes by interest,
 * `{ to }` goes to the target's inbox subject, and presence (announcements and heartbeats on one
 * subject) says which services are there and which are front ends.
 *
 * @example
 * ```ts
 * import { MessageChannel } from "@sfn/channel-core";
 * import { nats } from "@sfn/channel-nats";
 *
 * const message = new MessageChannel({ id: "rpc-server-1", router: nats({ servers: "nats://10.0.0.9:4222" }) });
 * await message.ready(); // connected, id claimed, subscriptions flushed, presence heard
 * ```
 */
export function nats(options: NatsRouterOptions = {}): Router {
  return new NatsRouter(options);
}

/** The router {@link nats} builds. */
export class NatsRouter implements Router {
  private host!: RouterHost;
  private readonly space: SubjectSpace;
  private readonly connectOptions: ConnectionOptions;
  private readonly heartbeat: Required<NatsHeartbeatOptions>;
  private readonly claimTimeout: number;
  private readonly presenceSettle: number;
  private readonly window: BrokerWindow<Outbound>;
  private readonly durableOptions: NatsDurableOptions | undefined;
  private readonly windowOptions: (BrokerWindowOptions & { maxAge?: number }) | undefined;
  private durable: Durable | undefined;
  private presence!: Presence;
  private nc: NatsConnection | undefined;
  private readonly subs = new Map<string, Subscription>();
  private readonly stats = new Map<string, PeerStats>();
  private fromHeaders: MsgHdrs | undefined;
  private readonly frames = new FrameReader();
  private prefix: Buffer = Buffer.alloc(0);
  private topicPrefix: Buffer = Buffer.alloc(0);
  // The sender of the last message received and its counters: consecutive messages mostly come from one sender.
  private lastFrom: string | undefined;
  private lastStats: PeerStats | undefined;
  private headerBytes = 0;
  private maxPayload = Infinity;
  private starting: Promise<void> | undefined;
  private closed = false;
  // Set when the first start failed (no server, refused id, durable setup): nothing can be routed.
  private startFailed = false;

  constructor(options: NatsRouterOptions = {}) {
    checkRouterOptions(options);
    const { namespace, heartbeat, window, claimTimeout, presenceSettle, durable, ...connectOptions } = options;
    this.durableOptions = durable === true ? {} : durable || undefined;
    this.windowOptions = window;
    this.space = new SubjectSpace(namespace);
    this.connectOptions = { maxReconnectAttempts: -1, ...connectOptions, noEcho: true };
    this.heartbeat = {
      interval: positive("heartbeat.interval", heartbeat?.interval, 1000),
      missedBeats: positive("heartbeat.missedBeats", heartbeat?.missedBeats, 3),
    };
    this.claimTimeout = positive("claimTimeout", claimTimeout, 2000);
    this.presenceSettle = presenceSettle ?? 100;
    if (!(this.presenceSettle >= 0)) throw new InvalidOptionError("presenceSettle must be a number of ms, 0 or more");
    this.window = new BrokerWindow<Outbound>(
      {
        write: (m) => this.write(m),
        drop: (label, count, reason) => this.drop(label, count, reason),
        drain: () => this.host.drained(),
      },
      window,
    );
    // Nothing reaches the broker before the connection is there: kept, in order, until then.
    this.window.disconnected();
  }

  attach(host: RouterHost): void {
    if (this.starting) throw new InvalidOptionError("a router serves one channel; create one per MessageChannel");
    this.host = host;
    const h = natsHeaders();
    h.set(FROM_HEADER, host.id);
    this.fromHeaders = h;
    this.prefix = senderPrefix(host.id, FRAME_MARK);
    this.topicPrefix = senderPrefix(host.id, TOPIC_FRAME_MARK);
    // NATS counts headers against max_payload; this is their wire form ("NATS/1.0", one line each, a blank line).
    this.headerBytes = Buffer.byteLength(`NATS/1.0\r\n${FROM_HEADER}: ${host.id}\r\n\r\n`);
    this.presence = new Presence(
      { id: host.id, instance: host.instance, interval: this.heartbeat.interval, missedBeats: this.heartbeat.missedBeats },
      timerHost((a) => {
        if (this.nc && !this.nc.isClosed()) this.nc.publish(this.space.presence, encodeMessageBody(PRESENCE_TOPIC, a));
      }),
    );
    this.presence.on("peer:up", ({ peer }) => {
      this.durable?.peerUp(peer);
      host.linkUp({ peer, resumed: false, direction: "outbound", url: undefined });
    });
    this.presence.on("peer:down", ({ peer, reason }) => {
      if (reason !== "closed") this.durable?.peerDown(peer);
      host.linkDown({ peer, reason: linkReason(reason), error: undefined });
    });
    this.presence.on("error", (e) => host.report(e));
    this.presence.on("duplicate", (e) => this.duplicate(e));
    if (this.durableOptions) {
      const maxAge = this.windowOptions?.maxAge ?? 0;
      if (!(maxAge >= 0)) throw new InvalidOptionError("window.maxAge must be a number of ms, 0 or more");
      this.durable = new Durable(
        {
          id: host.id,
          instance: host.instance,
          deliver: (topic, data, from, position) => host.deliver(topic, data, from, undefined, position),
          drop: (label, count, reason) => this.drop(label, count, reason),
          drained: () => host.drained(),
          report: (e) => host.report(e as ChannelError),
        },
        this.space,
        this.durableOptions,
        { maxMessages: this.windowOptions?.maxMessages ?? 65536, maxBytes: this.windowOptions?.maxBytes ?? 16 * 1024 * 1024, maxAge },
      );
    }
    this.starting = this.start();
    // Failures surface through ready() and the error event; never as an unhandled rejection.
    this.starting.catch((e: unknown) => {
      if (isChannelErrorLike(e) && !(e instanceof ClosedError)) host.report(e);
      else debug("%s: start failed: %s", host.id, String(e));
    });
  }

  ready(): Promise<void> {
    return this.starting ?? Promise.reject(new InvalidOptionError("the NATS router is not attached to a channel"));
  }

  /**
   * The start failed for good (no server, a refused id claim, a refused stream or consumer): the
   * channel cannot route. What was published meanwhile, on core NATS or durable, is reported as
   * dropped, and later publishes throw `ERR_CLOSED`.
   */
  private async abandonStart(nc: NatsConnection | undefined): Promise<void> {
    this.closed = true;
    this.startFailed = true;
    this.window.close();
    await this.durable?.close();
    await nc?.close();
  }

  private async start(): Promise<void> {
    let nc: NatsConnection;
    try {
      nc = await connect({ name: this.host.id, ...this.connectOptions });
    } catch (error) {
      // No server answered the first connection (nats.js retries only once connected, or with `waitOnFirstConnect`).
      await this.abandonStart(undefined);
      const servers = [this.connectOptions.servers ?? "nats://127.0.0.1:4222"].flat().join(", ");
      throw new ConnectError(`could not connect to NATS (${servers}): ${(error as Error)?.message ?? String(error)}`, { cause: error });
    }
    if (this.closed) {
      await nc.close();
      throw new ClosedError();
    }
    this.nc = nc;
    this.setMaxPayload(nc.info?.max_payload);
    try {
      // Before subscribing to the own inbox: an answer there means a live holder of this id.
      await claimId(nc, this.space, this.host.id, this.host.instance, this.claimTimeout);
    } catch (error) {
      await this.abandonStart(nc);
      throw error;
    }
    nc.subscribe(this.space.inbox(this.host.id), { callback: (err, msg) => void (err || this.onInbox(msg)) });
    nc.subscribe(this.space.presence, { callback: (err, msg) => void (err || this.onPresence(msg)) });
    for (const pattern of this.host.patterns()) this.subscribe(pattern);
    this.updateRoles();
    await nc.flush();
    if (this.durable) {
      try {
        await this.durable.start(nc);
        if (this.host.patterns().some((p) => !p.startsWith(RESERVED_PREFIX))) await this.durable.consume();
      } catch (error) {
        await this.abandonStart(nc);
        throw error;
      }
    }
    void this.watch(nc);
    this.window.reconnected();
    this.presence.start();
    await nc.flush();
    // Answers to the hello come within a round trip or two; give them a moment to arrive.
    if (this.presenceSettle > 0) await new Promise((r) => setTimeout(r, this.presenceSettle));
    debug("%s: on NATS at %s, %d peer(s) known", this.host.id, nc.getServer(), this.presence.peers().length);
  }

  /** Follows the connection's state: the window keeps what is published while it is down. */
  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") {
        this.window.disconnected();
        this.host.broker("down", { server: s.server });
      } else if (s.type === "reconnect") {
        this.setMaxPayload(nc.info?.max_payload);
        this.window.reconnected();
        this.host.broker("up", { server: s.server });
        // Peers may have timed this service out meanwhile: say hello again rather than wait a beat.
        this.presence.setRoles(this.presence.ownRoles());
      } else if (s.type === "error") {
        debug("%s: NATS error: %s", this.host.id, s.error.message);
      }
    }
  }

  private setMaxPayload(bytes: number | undefined): void {
    if (typeof bytes === "number" && bytes > 0) {
      this.maxPayload = bytes;
      this.window.setMaxPayload(bytes);
    }
  }

  interest(change: "sub" | "unsub", pattern: string): void {
    if (change === "sub") this.subscribe(pattern);
    else {
      this.subs.get(pattern)?.unsubscribe();
      this.subs.delete(pattern);
    }
    this.updateRoles();
  }

  private subscribe(pattern: string): void {
    if (!this.nc || this.closed || this.subs.has(pattern)) return;
    if (this.durable && !pattern.startsWith(RESERVED_PREFIX)) {
      // Durable topics come from this service's consumer, which matches every pattern itself.
      // A close while the consumer is being set up interrupts it: that is no error.
      this.durable.consume().catch((e: unknown) => void (this.closed || this.host.report(e as ChannelError)));
      return;
    }
    const subject = this.space.pattern(pattern);
    // NATS delivers a message once per matching subscription of a connection: each subscription
    // delivers to its own pattern's listeners only, which is exactly what the channel does.
    // A subscription without wildcards receives its own subject only: no need to decode it.
    const exact = !pattern.includes("*") && !pattern.includes(">");
    this.subs.set(pattern, this.nc.subscribe(subject, { callback: (err, msg) => void (err || this.onMessage(msg, pattern, exact)) }));
  }

  /** Roles are the exact `$sfn.` topics this service listens on (`$sfn.ws.op` for a WebSocket front end, ...). */
  private updateRoles(): void {
    if (!this.presence) return;
    const roles = this.host
      .patterns()
      .filter((p) => p.startsWith(RESERVED_PREFIX) && !p.split(".").some((t) => t === "*" || t === ">") && p.length <= 64)
      .sort()
      .slice(0, MAX_ROLES);
    const current = this.presence.ownRoles();
    if (roles.length !== current.length || roles.some((r) => !current.includes(r))) this.presence.setRoles(roles);
  }

  /**
   * Core NATS messages are encoded once, framed: the sender id goes in front, and no header
   * block. On a topic subject the subject names the topic, so the payload travels alone; an inbox
   * message (`{ to }`) carries the topic too. Durable topic publishes keep core's body (headers
   * carry the rest).
   */
  encode(topic: string, data: unknown, options: RoutePublishOptions): Buffer {
    if (this.durableFor(topic, options)) return encodeMessageBody(topic, data);
    return options.to ? encodeMessageBody(topic, data, this.prefix) : encodeMessageData(data, this.topicPrefix);
  }

  /** Durable mode's stream, if it carries this message (a topic publish; not `{ to }`, not adapter traffic). */
  private durableFor(topic: string, options: RoutePublishOptions): Durable | undefined {
    return options.to || topic.startsWith(RESERVED_PREFIX) ? undefined : this.durable;
  }

  checkPayload(topic: string, body: Buffer): void {
    // Also refuses a topic that cannot be a subject (too long) before any side effect.
    this.space.topic(topic);
    // Core NATS: `body` is the message as sent. Durable mode: headers may come on top (counted
    // for every message, as this check does not know which path the message takes).
    const size = body.length + (this.durable ? this.headerBytes + this.durable.headerBytes : 0);
    if (size > this.maxPayload) {
      throw new PayloadError(`message on "${topic}" is ${size} bytes, over the NATS server's max_payload (${this.maxPayload})`);
    }
  }

  position(): MessagePosition | undefined {
    return this.durable?.takePosition();
  }

  publish(topic: string, body: Buffer, options: RoutePublishOptions): boolean {
    const durable = this.durableFor(topic, options);
    if (durable) {
      if (!options.volatile) return durable.publish(topic, body, ANY_SUBSCRIBER);
      // Volatile: onto the stream as it is, no acknowledgement awaited, no order or dedup headers.
      const subject = durable.subject(topic);
      return this.window.publish(
        { subject, payload: body, headerBytes: this.headerBytes, headers: this.fromHeaders, label: ANY_SUBSCRIBER },
        options,
      );
    }
    // Core NATS: `body` is framed already (see encode).
    if (!options.to) {
      return this.window.publish(
        { subject: this.space.topic(topic), payload: body, headerBytes: 0, headers: undefined, label: ANY_SUBSCRIBER },
        options,
      );
    }
    let ok = true;
    for (const id of options.to) {
      if (!this.presence.has(id)) {
        this.drop(id, 1, "no-link");
        continue;
      }
      this.count(id).sent++;
      if (!this.window.publish({ subject: this.space.inbox(id), payload: body, headerBytes: 0, headers: undefined, label: id }, options)) {
        ok = false;
      }
    }
    return ok;
  }

  private write(m: Outbound): void {
    try {
      if (m.headers) this.nc?.publish(m.subject, m.payload, { headers: m.headers });
      else this.nc?.publish(m.subject, m.payload);
    } catch (error) {
      // Only possible for what waited while away: the server it came back to allows less.
      debug("%s: could not publish on %s: %s", this.host.id, m.subject, (error as Error).message);
      this.drop(m.label, 1, "too-large");
    }
  }

  private onMessage(msg: Msg, pattern: string, exact: boolean): void {
    const bytes = msg.data;
    const error = this.frames.read(bytes, TOPIC_FRAME_MARK);
    if (error !== undefined) return this.malformed(msg, error);
    const from = this.frames.from;
    // A subscription without wildcards receives its own subject only: its pattern is the topic.
    let topic: string | undefined = pattern;
    if (!exact) {
      // NATS allows subjects (control characters, ...) that are no SFN topic: checked as core checks a peer's.
      topic = this.space.topicOf(msg.subject);
      if (topic === undefined || !isTopic(topic)) return this.malformed(msg, "is on a subject that names no valid topic");
    }
    let data: unknown;
    try {
      data = decodeMessageData(bytes, this.frames.start);
    } catch (error) {
      this.host.report(error as ChannelError);
      return;
    }
    this.received(from);
    this.host.deliver(topic, data, from, pattern);
  }

  private onInbox(msg: Msg): void {
    if (answerClaim(msg, this.host.instance)) return;
    const bytes = msg.data;
    const error = this.frames.read(bytes, FRAME_MARK);
    if (error !== undefined) return this.malformed(msg, error);
    const from = this.frames.from;
    let message: { topic: string; data: unknown };
    try {
      message = decodeMessageBody(bytes.subarray(this.frames.start));
    } catch (error) {
      this.host.report(error as ChannelError);
      return;
    }
    this.received(from);
    this.host.deliver(message.topic, message.data, from);
  }

  private onPresence(msg: Msg): void {
    try {
      const { topic, data } = decodeMessageBody(msg.data);
      if (topic === PRESENCE_TOPIC) this.presence.receive(data);
    } catch {
      this.presence.receive(undefined);
    }
  }

  private malformed(msg: Msg, reason: string): void {
    this.host.report(new ProtocolError(ErrorCode.MALFORMED_FRAME, `a message on ${msg.subject.slice(0, 200)} ${reason}; dropped`));
  }

  private received(from: string): void {
    // The reader hands back the same string for the same sender: a pointer comparison, mostly.
    if (from !== this.lastFrom || this.lastStats === undefined) {
      this.lastStats = this.count(from);
      this.lastFrom = from;
    }
    this.lastStats.received++;
  }

  servers(topic: string): string[] {
    // A router that never started cannot reach anyone: requests (fetchSockets, emitWithAck) fail
    // as publishes do, instead of finding no front end and answering [].
    if (this.startFailed) throw new ClosedError("the channel's NATS router did not start (see ready()); close the channel");
    // Front ends are known by name from presence; interest in user topics is NATS's business.
    if (!topic.startsWith(RESERVED_PREFIX) || !this.presence) return [];
    return this.presence.frontEnds(topic).filter((id) => id !== this.host.id);
  }

  peers(): PeerInfo[] {
    if (!this.presence) return [];
    return this.presence.peers().map((p) => {
      const s = this.stats.get(p.id);
      return {
        id: p.id,
        state: "up",
        direction: "outbound",
        url: undefined,
        subscriptions: p.roles.length,
        pendingMessages: this.window.pendingMessages + (this.durable?.pendingMessages ?? 0),
        pendingBytes: this.window.pendingBytes,
        sent: s?.sent ?? 0,
        received: s?.received ?? 0,
        resent: 0,
        dropped: { ...s?.dropped },
        resumes: 0,
      };
    });
  }

  async drain(timeout: number): Promise<void> {
    const nc = this.nc;
    await this.durable?.drain(timeout);
    if (!nc || nc.isClosed() || !this.window.connected) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([nc.flush().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, timeout)))]);
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    if (this.closed && !this.nc) return;
    this.closed = true;
    // bye first, so peers see peer-closed at once instead of a heartbeat timeout.
    this.presence?.stop();
    this.window.close();
    await this.durable?.close();
    const nc = this.nc;
    this.nc = undefined;
    this.subs.clear();
    if (nc && !nc.isClosed()) {
      try {
        await nc.drain();
      } catch {
        await nc.close();
      }
    }
    // A start still in flight ends with the connection.
    await this.starting?.catch(() => undefined);
  }

  private duplicate(error: DuplicateIdError): void {
    // Presence already said bye: this instance gives the id up and stops routing.
    this.host.report(error);
    void this.close();
  }

  private count(id: string): PeerStats {
    let s = this.stats.get(id);
    if (!s) this.stats.set(id, (s = { sent: 0, received: 0, dropped: {} }));
    return s;
  }

  private drop(label: string, count: number, reason: DropReason): void {
    const d = this.count(label).dropped;
    d[reason] = (d[reason] ?? 0) + count;
    this.host.drop(label, count, reason);
  }
}

function linkReason(reason: PresenceDownReason): "heartbeat-timeout" | "peer-closed" | "closed" {
  return reason;
}

function isTopic(topic: string): boolean {
  try {
    assertTopic(topic, true);
    return true;
  } catch {
    return false;
  }
}

function isChannelErrorLike(e: unknown): e is ChannelError {
  return typeof e === "object" && e !== null && typeof (e as { code?: unknown }).code === "string" && e instanceof Error;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) throw new InvalidOptionError(`${name} must be a positive number`);
  return value;
}
