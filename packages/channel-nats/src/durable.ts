import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type ConsumerConfig,
  type ConsumerInfo,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type StoredMsg,
  type StreamConfig,
} from "@nats-io/jetstream";
import {
  createInbox,
  headers as natsHeaders,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from "@nats-io/transport-node";
import { ClosedError, InvalidOptionError, type DropReason, type MessagePosition } from "@sfn/channel-core";
import { decodeMessageBody } from "@sfn/channel-core/internal";
import createDebug from "debug";
import { NatsDurableError } from "./errors.js";
import { encodeServiceId, type SubjectSpace } from "./subjects.js";

const debug = createDebug("sfn:channel:nats:durable");

/**
 * Durable delivery over NATS JetStream (opt-in: `nats({ servers, durable: true })`).
 *
 * Design, for nats-server 2.9 (one filter subject per consumer):
 * - one stream per namespace, `SFN_<namespace>`, on the subjects `sfn.<ns>.d.>`: every topic
 *   publish of a durable service goes there instead of `sfn.<ns>.t.<topic>`;
 * - each service has one durable consumer named by its id, filtered on the whole `sfn.<ns>.d.>`
 *   (a single filter subject), and matches topics against its patterns itself;
 * - every message carries its publisher's instance and sequence (`Sfn-Pub`, `Sfn-Seq`);
 *   `Nats-Msg-Id` is `<instance>-<seq>`, so a retried publish is stored once;
 * - the consumer delivers each publisher's messages in sequence order, once: redeliveries and
 *   retried duplicates are recognised by (instance, seq), out-of-order arrivals wait briefly;
 * - a stream sequence the consumer never sees, that the stream no longer has, was discarded by
 *   a limit: reported through `drop` (`window-full`).
 */

/** Header with the publishing instance of a durable message. */
export const PUBLISHER_HEADER = "Sfn-Pub";
/** Header with the publisher's sequence number of a durable message. */
export const SEQUENCE_HEADER = "Sfn-Seq";
/** Oldest nats-server with what durable mode uses (durable consumers with an inactive threshold). */
export const MIN_JETSTREAM_VERSION = "2.9.0";

/** Options of durable mode (`nats({ durable: { ... } })`). */
export interface NatsDurableOptions {
  /** Stream name. @default "SFN_<namespace>" */
  stream?: string;
  /** Stream replicas (3 on a 3-node JetStream cluster survives a node loss). @default 1 */
  replicas?: number;
  /** "create": the library creates the stream and the consumer (idempotent); "existing": operators did, the library only binds. @default "create" */
  setup?: "create" | "existing";
  /** How long a service's consumer outlives the service (its inactive threshold), in ms: past that, what it missed is gone. @default 60000 */
  resumeTimeout?: number;
  /** How long the server waits for an acknowledgement before redelivering, in ms. @default 5000 */
  ackWait?: number;
  /** Most messages delivered to this service and not yet acknowledged. @default 1000 */
  maxAckPending?: number;
  /** How long a publish waits for the server's acknowledgement before it is sent again, in ms. @default 5000 */
  publishTimeout?: number;
  /** Most publishes waiting for an acknowledgement at once. @default 256 */
  maxInFlight?: number;
  /** How long a later message of a publisher waits for an earlier one still missing, in ms. @default 30000 */
  gapTimeout?: number;
  /**
   * For exactly-once effects across crashes of this service: returns, per publisher instance,
   * the last sequence number whose effect the application stored (`meta.position`, stored in the
   * same transaction as the effect). Called once, before the first message is handed over;
   * messages at or below these positions are acknowledged without reaching listeners.
   */
  handled?: () => HandledPositions | Promise<HandledPositions>;
}

/** What `durable.handled` returns: publisher instance -> last sequence number handled. */
export type HandledPositions = ReadonlyMap<string, number> | Readonly<Record<string, number>>;

/** Stream limits, from the router's `window` options. */
export interface DurableLimits {
  maxMessages: number;
  maxBytes: number;
  /** Oldest message kept, in ms; 0: no age limit. */
  maxAge: number;
}

/** What durable mode needs from the router. */
export interface DurableHost {
  readonly id: string;
  readonly instance: string;
  deliver(topic: string, data: unknown, from: string, position?: MessagePosition): void;
  drop(label: string, count: number, reason: DropReason): void;
  drained(): void;
  report(error: Error): void;
}

interface Pending {
  seq: number;
  subject: string;
  payload: Uint8Array;
  label: string;
  state: "queued" | "sent" | "acked";
  /** When it was last sent (ms, performance.now()). */
  sentAt: number;
}

interface PublisherState {
  /** Last time a message of this publisher arrived (ms). */
  seen: number;
  next: number;
  held: Map<number, JsMsg>;
  /** Sequences given up on after gapTimeout (bounded): handed over late if they still come. */
  skipped: Set<number>;
  timer: NodeJS.Timeout | undefined;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) throw new InvalidOptionError(`${name} must be a positive number`);
  return value;
}

const ms = (n: number): number => Math.round(n * 1_000_000);

/** A message read from the stream by sequence, handled like a delivery (nothing to acknowledge). */
function storedAsJsMsg(sm: StoredMsg): JsMsg {
  return {
    subject: sm.subject,
    data: sm.data,
    headers: sm.header,
    info: { streamSequence: sm.seq } as JsMsg["info"],
    ack: () => {},
  } as unknown as JsMsg;
}

/** Compares dotted versions ("2.9.10" vs "2.9.0"). */
export function versionAtLeast(version: string | undefined, min: string): boolean {
  if (!version) return false;
  const a = version.split(/[.-]/).map((x) => Number.parseInt(x, 10));
  const b = min.split(".").map((x) => Number.parseInt(x, 10));
  for (let i = 0; i < b.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (Number.isNaN(x)) return false;
    if (x !== y) return x > y;
  }
  return true;
}

/** The stream a namespace's durable messages live in: subjects, limits, replicas. */
export function durableStreamConfig(
  space: SubjectSpace,
  options: NatsDurableOptions,
  limits: DurableLimits,
): Partial<StreamConfig> & { name: string } {
  return {
    name: options.stream ?? `SFN_${space.namespace}`,
    subjects: [`${space.prefix}d.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_msgs: limits.maxMessages,
    max_bytes: limits.maxBytes,
    max_age: ms(limits.maxAge),
    num_replicas: options.replicas ?? 1,
    // Retried publishes (same Nats-Msg-Id) within this window are stored once.
    duplicate_window: ms(limits.maxAge > 0 ? Math.min(120_000, limits.maxAge) : 120_000),
  };
}

/** Description of a consumer the library created: where it started (what came before was not for it). */
const START_NOTE = "sfn: delivers from stream sequence ";

/** The stream sequence a library-created consumer started at (0: unknown, created by an operator or an older version). */
export function consumerStart(description: string | undefined): number {
  if (!description?.startsWith(START_NOTE)) return 0;
  const n = Number(description.slice(START_NOTE.length));
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/** JetStream API error: replicas over 1 on a server that does not run in a cluster (status 500, yet never transient). */
const REPLICAS_NOT_CLUSTERED = 10074;

/**
 * The stream sequence up to which a consumer has taken everything: its ack floor once it
 * acknowledged something, else the sequence before where the library started it (undefined for a
 * consumer that acknowledged nothing and was created elsewhere: where it started is unknown).
 */
function ackedUpTo(info: ConsumerInfo): number | undefined {
  if (info.ack_floor.consumer_seq > 0) return info.ack_floor.stream_seq;
  const start = consumerStart(info.config.description);
  return start > 0 ? start - 1 : undefined;
}

/** Stream messages read by sequence at once (recovering skipped or unacknowledged ones). */
const READ_BATCH = 32;

/** How long a pull request of a durable service waits on the server (ms). */
const PULL_EXPIRES = 5000;

/** Default of `window.maxMessages`, the stream's message cap. */
const DEFAULT_STREAM_MESSAGES = 65_536;

/**
 * The durable consumer of service `id`. The server may have `maxAckPending` messages in the
 * listeners' hands plus up to the stream's message cap (`limits.maxMessages`) held back for order:
 * a message that overtook an earlier one of its publisher (the earlier publish was retried after a
 * broker failure and stored later) waits unacknowledged, and if those counted against
 * `maxAckPending` the consumer would stop before it reached the earlier one.
 */
export function durableConsumerConfig(
  space: SubjectSpace,
  id: string,
  options: NatsDurableOptions,
  limits: Pick<DurableLimits, "maxMessages"> = { maxMessages: DEFAULT_STREAM_MESSAGES },
): Partial<ConsumerConfig> & { durable_name: string } {
  const held = limits.maxMessages;
  if (!Number.isSafeInteger(held) || held <= 0) throw new InvalidOptionError("limits.maxMessages must be a positive integer");
  return {
    durable_name: encodeServiceId(id),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    filter_subject: `${space.prefix}d.>`,
    ack_wait: ms(positive("durable.ackWait", options.ackWait, 5000)),
    max_ack_pending: positive("durable.maxAckPending", options.maxAckPending, 1000) + held,
    // The server counts inactivity from the service's last pull request (one every PULL_EXPIRES
    // while idle), not from when it left: without the margin a consumer could go up to that much
    // before resumeTimeout.
    inactive_threshold: ms(positive("durable.resumeTimeout", options.resumeTimeout, 60_000) + PULL_EXPIRES),
  };
}

/** Durable publishing and consuming for one service; owned by the router. */
export class Durable {
  private readonly publishTimeout: number;
  private readonly maxInFlight: number;
  private readonly gapTimeout: number;
  private readonly maxAckPending: number;
  private readonly streamName: string;
  private js: JetStreamClient | undefined;
  private jsm: JetStreamManager | undefined;
  private messages: ConsumerMessages | undefined;
  private nc: NatsConnection | undefined;
  /** Publishes waiting for the server's acknowledgement, answered on `<ackPrefix>.<seq>`. */
  private ackPrefix = "";
  private acks: Subscription | undefined;
  private readonly sent = new Map<number, Pending>();
  private ackTimer: NodeJS.Timeout | undefined;
  /** Publishes not acknowledged yet, in order, from `head` (earlier entries are settled). */
  private queue: Pending[] = [];
  private head = 0;
  /** No entry before this index (and at or after `head`) waits to be sent. */
  private cursor = 0;
  private queueBytes = 0;
  private seq = 0;
  /** Where the last publish() went, until `takePosition()`. */
  private lastPosition: MessagePosition | undefined;
  private inFlight = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryPause = 50;
  private congested = false;
  private closed = false;
  private consuming = false;
  private readonly publishers = new Map<string, PublisherState>();
  private lastStreamSeq = 0;
  private readonly missing = new Set<number>();
  private missingTimer: NodeJS.Timeout | undefined;
  private drainWaiters: (() => void)[] = [];
  private readonly gone = new Map<string, { backlog: number; timer: NodeJS.Timeout | undefined }>();
  private readonly resumeTimeout: number;

  constructor(
    private readonly host: DurableHost,
    private readonly space: SubjectSpace,
    private readonly options: NatsDurableOptions,
    private readonly limits: DurableLimits,
  ) {
    this.publishTimeout = positive("durable.publishTimeout", options.publishTimeout, 5000);
    this.maxInFlight = positive("durable.maxInFlight", options.maxInFlight, 256);
    this.gapTimeout = positive("durable.gapTimeout", options.gapTimeout, 30_000);
    this.maxAckPending = positive("durable.maxAckPending", options.maxAckPending, 1000);
    this.resumeTimeout = positive("durable.resumeTimeout", options.resumeTimeout, 60_000);
    positive("durable.replicas", options.replicas, 1);
    if (options.handled !== undefined && typeof options.handled !== "function")
      throw new InvalidOptionError("durable.handled must be a function");
    if (options.setup !== undefined && options.setup !== "create" && options.setup !== "existing") {
      throw new InvalidOptionError('durable.setup must be "create" or "existing"');
    }
    // Validate the consumer options now, not at start.
    durableConsumerConfig(space, "x", options);
    this.streamName = options.stream ?? `SFN_${space.namespace}`;
    if (!/^[A-Za-z0-9_-]{1,200}$/.test(this.streamName)) throw new InvalidOptionError("durable.stream must be letters, digits, _ or -");
  }

  /** Subject a durable topic publish goes to. */
  subject(topic: string): string {
    return `${this.space.prefix}d.${topic}`;
  }

  /** Bytes the durable headers add to a message (`Sfn-Pub`, `Sfn-Seq`, `Nats-Msg-Id`), for `max_payload`. */
  get headerBytes(): number {
    const instance = Buffer.byteLength(this.host.instance);
    return `${PUBLISHER_HEADER}: \r\n${SEQUENCE_HEADER}: \r\nNats-Msg-Id: -\r\n`.length + 2 * instance + 2 * 16;
  }

  /** Messages waiting for the server's acknowledgement. */
  get pendingMessages(): number {
    return this.queue.length - this.head;
  }

  /** Checks the server, creates or binds the stream. Publishing works from here on. */
  async start(nc: NatsConnection): Promise<void> {
    const version = nc.info?.version;
    if (!versionAtLeast(version, MIN_JETSTREAM_VERSION)) {
      throw new NatsDurableError(
        `durable mode needs nats-server ${MIN_JETSTREAM_VERSION} or later with JetStream; the server is ${version ?? "unknown"}`,
      );
    }
    await this.retrying("reach JetStream", async () => {
      try {
        this.jsm = await jetstreamManager(nc, { timeout: this.publishTimeout });
      } catch (error) {
        // No responders on the JetStream API: not enabled. Anything else (a cluster still
        // electing its meta leader) is worth another try.
        if ((error as Error).name !== "JetStreamNotEnabled") throw error;
        throw new NatsDurableError(`durable mode needs JetStream, which the NATS server (${version}) does not offer (start it with -js)`, {
          cause: error,
        });
      }
    });
    this.js = jetstream(nc, { timeout: this.publishTimeout });
    // Publishes are acknowledged on one wildcard inbox, with one timer for all of them (a
    // request per publish costs a timer, a promise and an Error for its stack each).
    this.nc = nc;
    // The connection's inbox prefix (a custom one for subject permissions), as nats.js's requests use.
    this.ackPrefix = createInbox((nc as unknown as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
    this.acks = nc.subscribe(`${this.ackPrefix}.*`, { callback: (error, m) => (error ? undefined : this.acknowledged(m)) });
    const config = durableStreamConfig(this.space, this.options, this.limits);
    if ((this.options.setup ?? "create") === "create") {
      await this.retrying("create the stream", async () => {
        try {
          await this.jsm!.streams.add(config);
        } catch (error) {
          // Created meanwhile by another service (or by an operator, maybe with other limits): use it.
          if (error instanceof JetStreamApiError && error.code === 10058) return;
          throw error;
        }
      });
    } else {
      await this.retrying("find the stream", () => this.jsm!.streams.info(this.streamName).then(() => undefined));
    }
    this.pump();
  }

  /** Creates or binds this service's consumer and starts delivering. Idempotent. */
  async consume(): Promise<void> {
    if (this.consuming || this.closed || !this.jsm || !this.js) return;
    this.consuming = true;
    const config = durableConsumerConfig(this.space, this.host.id, this.options, this.limits);
    const name = config.durable_name;
    const handled = this.options.handled;
    let floor = 0;
    let restartAt = 0;
    let start = 0;
    let unacknowledged: [number, number] | undefined;
    // Whether stream messages missing from that range were lost (never acknowledged by anyone).
    let lostIfGone = false;
    let discarded = 0;
    const create = (this.options.setup ?? "create") === "create";
    await this.retrying("create the consumer", async () => {
      if (restartAt === 0) {
        try {
          const info = await this.jsm!.consumers.info(this.streamName, name);
          if (!create || (info.num_ack_pending === 0 && !handled)) {
            // Resumes after what it delivered; a jump past that is a loss.
            floor = info.delivered.stream_seq;
            this.lastStreamSeq = floor;
            // A consumer this library may not restart (setup: "existing"), left with messages
            // unacknowledged by a crash: they come back only after ackWait, behind newer ones.
            // Read them from the stream first, so each publisher's order holds (the redeliveries
            // are then recognised and acknowledged).
            if (info.num_ack_pending > 0) unacknowledged = [info.ack_floor.stream_seq + 1, floor];
            else {
              // Every delivery acknowledged, yet the stream position is past the ack floor: the
              // server moved it over messages a stream limit removed while a pull request of the
              // previous instance was still open. Nobody took them: a loss, reported.
              const acked = ackedUpTo(info);
              if (info.delivered.consumer_seq === info.ack_floor.consumer_seq && acked !== undefined && acked < floor) {
                unacknowledged = [acked + 1, floor];
                lostIfGone = true;
              }
            }
            return;
          }
          // What the previous instance was handed and did not acknowledge would come back only
          // after ackWait, behind newer messages: start the consumer again before its ack floor,
          // so everything comes in stream order. maxAckPending before it: on 2.9 a consumer
          // leader failover can lose the record of messages in flight, which then count as
          // acknowledged, and an asynchronous listener may not have stored its effect yet. Never
          // before where the consumer first started: what came before was not for this service.
          // What comes again and was handled is recognised by `handled`'s positions; without
          // them it is handed over again: at least once across a crash (README).
          start = consumerStart(info.config.description);
          const first = (await this.jsm!.streams.info(this.streamName)).state.first_seq;
          restartAt = Math.max(first, start, 1, info.ack_floor.stream_seq + 1 - this.maxAckPending);
          // Nothing unacknowledged: what a stream limit removed after the ack floor (and after
          // where the consumer started) nobody took.
          const acked = ackedUpTo(info);
          if (info.num_ack_pending === 0 && acked !== undefined) discarded = Math.max(0, first - 1 - acked);
          debug(
            "%s: restarting its consumer: ack floor %d, delivered %d, %d unacknowledged; from %d",
            this.host.id,
            info.ack_floor.stream_seq,
            info.delivered.stream_seq,
            info.num_ack_pending,
            restartAt,
          );
          await this.jsm!.consumers.delete(this.streamName, name);
        } catch (error) {
          if (!(error instanceof JetStreamApiError) || error.code !== 10014) throw error;
        }
      }
      if (!create) {
        throw new NatsDurableError(`consumer ${name} of stream ${this.streamName} does not exist (durable.setup is "existing")`);
      }
      if (restartAt === 0) {
        // A new consumer: from the next message on (DeliverPolicy.New, with the place noted).
        restartAt = (await this.jsm!.streams.info(this.streamName)).state.last_seq + 1;
        start = restartAt;
      }
      await this.jsm!.consumers.add(this.streamName, {
        ...config,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: restartAt,
        description: `${START_NOTE}${start || restartAt}`,
      });
      floor = restartAt - 1;
      this.lastStreamSeq = floor;
    });
    if (handled) await this.seed(handled);
    if (unacknowledged) await this.readAgain(...unacknowledged, lostIfGone);
    if (discarded > 0) this.host.drop("*", discarded, "window-full");
    const consumer = await this.js.consumers.get(this.streamName, name);
    // Pull requests live on the consumer's leader: when its node dies, the client hears of it
    // only from missed heartbeats (two in a row). nats.js's defaults (30 s requests, 15 s
    // heartbeats) stalled a subscriber for up to a minute after a node failure; these, for a few
    // tiny messages a second per idle service, keep it to about two seconds.
    const messages = await consumer.consume({
      max_messages: Math.min(256, this.maxAckPending),
      expires: PULL_EXPIRES,
      idle_heartbeat: 1000,
    });
    this.messages = messages;
    void (async () => {
      try {
        for await (const m of messages) this.receive(m);
      } catch (error) {
        if (!this.closed) this.host.report(new NatsDurableError("durable consumer stopped", { cause: error }));
      }
    })();
    debug("%s: consuming %s/%s from stream seq %d", this.host.id, this.streamName, name, floor);
  }

  /** Stream messages by sequence, all at once: null where the stream no longer has one, undefined where the server did not answer. */
  private readBySequence(seqs: readonly number[]): Promise<(StoredMsg | null | undefined)[]> {
    return Promise.all(seqs.map((seq) => this.jsm!.streams.getMessage(this.streamName, { seq }).catch(() => undefined)));
  }

  /** A message read from the stream goes through `receive` like a delivery; volatile ones (no sequence) are at most once: not read again. */
  private receiveStored(sm: StoredMsg): void {
    if (sm.header?.get(PUBLISHER_HEADER)) this.receive(storedAsJsMsg(sm));
  }

  /**
   * Hands over stream messages `from`..`to` (read by sequence) before the consumer's deliveries.
   * `lostIfGone`: nobody acknowledged any of them, so those the stream no longer has are reported
   * as discarded by a limit (`window-full`).
   */
  private async readAgain(from: number, to: number, lostIfGone: boolean): Promise<void> {
    debug("%s: reading stream seq %d..%d, unacknowledged by a previous instance", this.host.id, from, to);
    this.lastStreamSeq = from - 1;
    let gone = 0;
    if (lostIfGone) {
      // What is before the stream's first message is gone: counted, not read one by one.
      const first = (await this.retrying("read the stream's state", () => this.jsm!.streams.info(this.streamName))).state.first_seq;
      gone = Math.max(0, Math.min(to + 1, first) - from);
      from += gone;
    }
    for (let s = from; s <= to && !this.closed; s += READ_BATCH) {
      const seqs = Array.from({ length: Math.min(READ_BATCH, to - s + 1) }, (_, k) => s + k);
      const read = await this.retrying("read unacknowledged messages", async () => {
        const got = await this.readBySequence(seqs);
        if (got.includes(undefined)) throw new Error("the stream did not answer");
        return got;
      });
      for (const sm of read) {
        if (sm) this.receiveStored(sm);
        else gone++;
      }
    }
    this.lastStreamSeq = Math.max(this.lastStreamSeq, to);
    if (lostIfGone && gone > 0) this.host.drop("*", gone, "window-full");
  }

  /** Takes the application's positions (`durable.handled`): what is at or below them was handled. */
  private async seed(handled: NonNullable<NatsDurableOptions["handled"]>): Promise<void> {
    let positions: HandledPositions;
    try {
      positions = await handled();
    } catch (error) {
      throw new NatsDurableError(`durable.handled failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    }
    if (positions === null || typeof positions !== "object" || Array.isArray(positions)) {
      throw new NatsDurableError(
        `durable.handled must return a Map or a record of publisher instance -> last sequence number handled; it returned ${Array.isArray(positions) ? "an array" : String(positions)}`,
      );
    }
    const entries = positions instanceof Map ? [...positions] : Object.entries(positions);
    for (const [pub, seq] of entries) {
      if (typeof pub !== "string" || !Number.isSafeInteger(seq) || seq < 0) {
        throw new NatsDurableError(
          `durable.handled returned ${JSON.stringify(pub)} -> ${JSON.stringify(seq)}; expected publisher instance -> last sequence number handled (an integer >= 0)`,
        );
      }
      const state = this.publishers.get(pub);
      if (state) state.next = Math.max(state.next, seq + 1);
      else this.publishers.set(pub, { next: seq + 1, held: new Map(), timer: undefined, seen: Date.now(), skipped: new Set() });
    }
  }

  /** Queues a message for the stream; false: backpressure (or dropped, `window-full`). */
  publish(topic: string, payload: Uint8Array, label: string): boolean {
    if (this.closed) throw new ClosedError();
    this.lastPosition = undefined;
    if (this.pendingMessages >= this.limits.maxMessages || this.queueBytes + payload.byteLength > this.limits.maxBytes) {
      this.host.drop(label, 1, "window-full");
      this.congested = true;
      return false;
    }
    this.queue.push({ seq: ++this.seq, subject: this.subject(topic), payload, label, state: "queued", sentAt: 0 });
    this.lastPosition = { publisher: this.host.instance, seq: this.seq };
    this.queueBytes += payload.byteLength;
    this.pump();
    if (this.pendingMessages * 2 >= this.limits.maxMessages || this.queueBytes * 2 >= this.limits.maxBytes) this.congested = true;
    return !this.congested;
  }

  /** The position of the message the last `publish()` queued (once), for its local delivery. */
  takePosition(): MessagePosition | undefined {
    const p = this.lastPosition;
    this.lastPosition = undefined;
    return p;
  }

  private pump(): void {
    if (!this.nc || this.retryTimer || this.closed) return;
    let i = Math.max(this.cursor, this.head);
    for (; i < this.queue.length && this.inFlight < this.maxInFlight; i++) {
      const p = this.queue[i]!;
      if (p.state !== "queued") continue;
      this.send(p);
    }
    this.cursor = i;
  }

  private send(p: Pending): void {
    const h: MsgHdrs = natsHeaders();
    h.set("Sfn-From", this.host.id);
    h.set(PUBLISHER_HEADER, this.host.instance);
    h.set(SEQUENCE_HEADER, String(p.seq));
    h.set("Nats-Msg-Id", `${this.host.instance}-${p.seq}`);
    p.state = "sent";
    p.sentAt = performance.now();
    this.inFlight++;
    this.sent.set(p.seq, p);
    try {
      this.nc!.publish(p.subject, p.payload, { reply: `${this.ackPrefix}.${p.seq}`, headers: h });
    } catch (error) {
      // The connection is closed or draining: what is not acknowledged is reported at close().
      this.failed(`publish ${p.seq}: ${(error as Error).message}`);
      return;
    }
    if (!this.ackTimer) this.ackTimer = setInterval(() => this.checkTimeouts(), Math.max(50, this.publishTimeout / 4));
  }

  /** The server's answer to a publish: a PubAck (stored, perhaps before: `duplicate`), an API error, or no responders. */
  private acknowledged(m: Msg): void {
    const seq = Number(m.subject.slice(this.ackPrefix.length + 1));
    const p = this.sent.get(seq);
    if (!p || this.closed) return; // answered after it timed out: it is sent again anyway
    let problem: string | undefined;
    if (m.headers?.hasError) problem = `${m.headers.code} ${m.headers.description}`;
    else {
      try {
        const ack = JSON.parse(new TextDecoder().decode(m.data)) as { error?: { description?: string }; seq?: number };
        if (ack.error || typeof ack.seq !== "number") problem = ack.error?.description ?? "no sequence in the acknowledgement";
      } catch {
        problem = "unreadable acknowledgement";
      }
    }
    if (problem !== undefined) {
      this.failed(`publish ${seq} not stored: ${problem}`);
      return;
    }
    this.sent.delete(seq);
    this.inFlight--;
    p.state = "acked";
    this.retryPause = 50;
    this.settle();
    this.pump();
  }

  private checkTimeouts(): void {
    if (this.sent.size === 0) {
      clearInterval(this.ackTimer);
      this.ackTimer = undefined;
      return;
    }
    // In order of sending: the first one is the oldest.
    const [, oldest] = this.sent.entries().next().value as [number, Pending];
    if (performance.now() - oldest.sentAt >= this.publishTimeout)
      this.failed(`publish ${oldest.seq} not acknowledged within ${this.publishTimeout} ms`);
  }

  /** Sends again, in order, everything not acknowledged yet; Nats-Msg-Id keeps it to one copy. */
  private failed(why: string): void {
    debug("%s: %s; sending again from the first unacknowledged", this.host.id, why);
    if (this.closed) return;
    for (const p of this.sent.values()) if (p.state === "sent") p.state = "queued";
    this.sent.clear();
    this.inFlight = 0;
    this.cursor = this.head;
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.pump();
    }, this.retryPause);
    this.retryPause = Math.min(this.retryPause * 2, 1000);
  }

  private settle(): void {
    while (this.head < this.queue.length && this.queue[this.head]!.state === "acked") {
      this.queueBytes -= this.queue[this.head]!.payload.byteLength;
      this.head++;
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
      this.cursor = 0;
    } else if (this.head >= 4096 && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.cursor = Math.max(0, this.cursor - this.head);
      this.head = 0;
    }
    if (this.congested && this.pendingMessages * 4 < this.limits.maxMessages && this.queueBytes * 4 < this.limits.maxBytes) {
      this.congested = false;
      this.host.drained();
    }
    if (this.pendingMessages === 0) for (const w of this.drainWaiters.splice(0)) w();
  }

  private receive(m: JsMsg): void {
    if (this.closed) return;
    const sseq = m.info.streamSequence;
    if (sseq > this.lastStreamSeq) {
      for (let s = this.lastStreamSeq + 1; s < sseq && this.missing.size < 100_000; s++) this.missing.add(s);
      this.lastStreamSeq = sseq;
      if (this.missing.size > 0) this.scheduleMissingCheck();
    } else this.missing.delete(sseq);
    const pub = m.headers?.get(PUBLISHER_HEADER);
    const seq = Number(m.headers?.get(SEQUENCE_HEADER));
    if (!pub || !Number.isSafeInteger(seq) || seq < 1) {
      // A volatile publish, or a plain one on the subject: delivered as it comes (not its own).
      if (m.headers?.get("Sfn-From") !== this.host.id) this.deliver(m);
      m.ack();
      return;
    }
    if (pub === this.host.instance) {
      // Its own message: the channel already delivered it locally (JetStream has no noEcho).
      m.ack();
      return;
    }
    let state = this.publishers.get(pub);
    if (!state) {
      this.forgetIdlePublishers();
      this.publishers.set(pub, (state = { next: seq, held: new Map(), timer: undefined, seen: 0, skipped: new Set() }));
    }
    state.seen = Date.now();
    if (seq < state.next) {
      // Skipped after gapTimeout and come after all: late, but not lost.
      if (state.skipped.delete(seq)) {
        debug("%s: %s seq %d came after %d was handed over (gapTimeout): late", this.host.id, pub, seq, state.next - 1);
        this.deliver(m, { publisher: pub, seq });
      }
      // Otherwise delivered before (a redelivery, or a retried publish stored twice past the duplicate window).
      m.ack();
      return;
    }
    if (seq > state.next) {
      // An earlier message of this publisher is still on its way (redelivery, publish retry).
      if (state.held.size === 0) debug("%s: %s seq %d waits for %d (stream seq %d)", this.host.id, pub, seq, state.next, sseq);
      state.held.set(seq, m);
      if (!state.timer) state.timer = setTimeout(() => this.skipGap(pub), this.gapTimeout);
      return;
    }
    this.deliver(m, { publisher: pub, seq });
    m.ack();
    state.next++;
    this.release(pub, state);
  }

  private release(pub: string, state: PublisherState): void {
    for (let m = state.held.get(state.next); m; m = state.held.get(state.next)) {
      state.held.delete(state.next);
      this.deliver(m, { publisher: pub, seq: state.next });
      m.ack();
      state.next++;
    }
    if (state.timer && state.held.size === 0) {
      clearTimeout(state.timer);
      state.timer = undefined;
    }
    if (state.held.size === 0 && state.timer === undefined) return;
    if (!state.timer) state.timer = setTimeout(() => this.skipGap(pub), this.gapTimeout);
    void pub;
  }

  /** Publisher instances come and go (every restart is a new one): keep the state of the last 16384 (`handled` may name many). */
  private forgetIdlePublishers(): void {
    if (this.publishers.size < 16_384) return;
    const idle = [...this.publishers].filter(([, st]) => st.held.size === 0).sort((a, b) => a[1].seen - b[1].seen);
    for (const [pub] of idle.slice(0, idle.length - 8192)) this.publishers.delete(pub);
  }

  /** The missing messages never came (the publisher died before its retry got through): go on. */
  private skipGap(pub: string): void {
    const state = this.publishers.get(pub);
    if (!state) return;
    state.timer = undefined;
    if (state.held.size === 0) return;
    if (this.missing.size > 0 && !this.closed) {
      // Stream messages this consumer skipped are still being read: the missing ones may be among
      // them (a consumer failover on 2.9 loses what was in flight). Going on now would hand the
      // later ones over first.
      state.timer = setTimeout(() => this.skipGap(pub), Math.min(1000, this.gapTimeout / 4));
      return;
    }
    const next = Math.min(...state.held.keys());
    debug("%s: messages %d..%d of %s never arrived; going on", this.host.id, state.next, next - 1, pub);
    for (let s = state.next; s < next && state.skipped.size < 10_000; s++) state.skipped.add(s);
    state.next = next;
    this.release(pub, state);
  }

  /** Stream sequences this consumer skipped: those the stream no longer has were discarded by a limit. */
  private scheduleMissingCheck(): void {
    if (this.missingTimer || this.closed) return;
    this.missingTimer = setTimeout(
      () => {
        this.missingTimer = undefined;
        void this.checkMissing();
      },
      Math.min(1000, this.gapTimeout / 4),
    );
  }

  private async checkMissing(): Promise<void> {
    if (this.closed || this.missing.size === 0 || !this.jsm) return;
    try {
      const info = await this.jsm.streams.info(this.streamName);
      let gone = 0;
      for (const s of this.missing) {
        if (s < info.state.first_seq) {
          this.missing.delete(s);
          gone++;
        }
      }
      // Still in the stream: the server should hand them over again after ackWait, but on 2.9 a
      // consumer leader failover can lose the record of messages in flight: read them from the
      // stream (a redelivery after all is recognised per publisher and not handed over twice).
      // Read in stream order, a batch at a time, until none is left or the server does not answer.
      const wanted = [...this.missing].sort((a, b) => a - b);
      for (let i = 0; i < wanted.length; i += READ_BATCH) {
        const batch = wanted.slice(i, i + READ_BATCH);
        const read = await this.readBySequence(batch);
        if (this.closed) return;
        let answered = 0;
        for (let k = 0; k < batch.length; k++) {
          const seq = batch[k]!;
          const sm = read[k];
          if (sm === undefined) continue;
          answered++;
          if (!this.missing.has(seq)) continue;
          this.missing.delete(seq);
          if (sm === null) gone++;
          else this.receiveStored(sm);
        }
        if (answered === 0) break;
      }
      debug("%s: read skipped stream messages; %d still missing", this.host.id, this.missing.size);
      if (gone > 0) this.host.drop("*", gone, "window-full");
    } catch (error) {
      debug("%s: stream info failed: %s", this.host.id, (error as Error).message);
    }
    // Still in the stream: a redelivery is due; look again later.
    if (this.missing.size > 0) this.scheduleMissingCheck();
  }

  private deliver(m: JsMsg, position?: MessagePosition): void {
    const from = m.headers?.get("Sfn-From") || "unknown";
    try {
      const { topic, data } = decodeMessageBody(m.data);
      if (this.subject(topic) !== m.subject) {
        debug("%s: message on %s names topic %s; dropped", this.host.id, m.subject, topic);
        return;
      }
      this.host.deliver(topic, data, from, position);
    } catch (error) {
      this.host.report(error as Error);
    }
  }

  /**
   * Presence lost service `id`: if it does not come back within `resumeTimeout`, the server
   * deletes its consumer and what it had not taken is gone: reported as `peer-gone`, with the
   * consumer's backlog read shortly before it expired.
   */
  peerDown(id: string): void {
    if (this.closed || !this.jsm || this.gone.has(id)) return;
    const name = encodeServiceId(id);
    const entry = { backlog: 0, timer: undefined as NodeJS.Timeout | undefined };
    this.gone.set(id, entry);
    const expire = async (tries: number): Promise<void> => {
      if (this.gone.get(id) !== entry || this.closed) return;
      try {
        await this.jsm!.consumers.info(this.streamName, name);
        if (tries > 0) entry.timer = setTimeout(() => void expire(tries - 1), 1000);
        else this.gone.delete(id);
      } catch (error) {
        this.gone.delete(id);
        if (error instanceof JetStreamApiError && error.code === 10014 && entry.backlog > 0) this.host.drop(id, entry.backlog, "peer-gone");
      }
    };
    entry.timer = setTimeout(async () => {
      if (this.gone.get(id) !== entry || this.closed) return;
      try {
        const info = await this.jsm!.consumers.info(this.streamName, name);
        entry.backlog = info.num_pending + info.num_ack_pending;
      } catch {
        // No consumer (a service without durable subscriptions): nothing to lose.
        this.gone.delete(id);
        return;
      }
      entry.timer = setTimeout(() => void expire(30), this.resumeTimeout * 0.1 + 1000);
    }, this.resumeTimeout * 0.9);
  }

  /** Presence sees service `id` again: its consumer is in use. */
  peerUp(id: string): void {
    const entry = this.gone.get(id);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.gone.delete(id);
  }

  /** Waits up to `timeout` ms for the server to acknowledge what was published. */
  async drain(timeout: number): Promise<void> {
    if (this.pendingMessages === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((r) => this.drainWaiters.push(r)), new Promise((r) => (timer = setTimeout(r, timeout)))]);
    clearTimeout(timer);
  }

  /** Stops consuming (the consumer stays for the next start) and reports what the server did not acknowledge. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.ackTimer);
    clearTimeout(this.missingTimer);
    for (const s of this.publishers.values()) clearTimeout(s.timer);
    for (const g of this.gone.values()) clearTimeout(g.timer);
    const counts = new Map<string, number>();
    for (let i = this.head; i < this.queue.length; i++) {
      const p = this.queue[i]!;
      if (p.state !== "acked") counts.set(p.label, (counts.get(p.label) ?? 0) + 1);
    }
    this.queue = [];
    this.head = 0;
    this.sent.clear();
    this.acks?.unsubscribe();
    for (const [label, count] of counts) this.host.drop(label, count, "disconnected");
    for (const w of this.drainWaiters.splice(0)) w();
    try {
      await this.messages?.close();
    } catch {
      // the connection may be gone already
    }
  }

  private async retrying<T>(what: string, step: () => Promise<T>): Promise<T> {
    // Right after a node restart or a leader election the JetStream API answers late or not at all.
    const deadline = Date.now() + Math.max(30_000, this.publishTimeout * 2);
    let pause = 100;
    for (;;) {
      try {
        return await step();
      } catch (error) {
        // A request the server refuses as such (a bad configuration: replicas over the cluster's
        // size, say, or any replicas on a server without clustering) fails the same way every time.
        if (error instanceof JetStreamApiError && (error.status === 400 || error.code === REPLICAS_NOT_CLUSTERED)) {
          throw new NatsDurableError(`could not ${what} (stream ${this.streamName}): ${error.message}`, { cause: error });
        }
        if (error instanceof NatsDurableError || this.closed || Date.now() > deadline) {
          if (error instanceof NatsDurableError) throw error;
          throw new NatsDurableError(`could not ${what} (stream ${this.streamName}): ${(error as Error).message}`, { cause: error });
        }
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(pause * 2, 1000);
      }
    }
  }
}
