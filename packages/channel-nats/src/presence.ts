import { EventEmitter } from "node:events";
import { DuplicateIdError, InvalidOptionError } from "@sfn/channel-core";
import { NatsError, NatsErrorCode } from "./errors.js";

/**
 * Presence over a broker: who is there, in which roles, and who left. Each service announces
 * itself on one subject (`hello` when it starts or its roles change, `beat` every interval,
 * `bye` when it closes); a {@link Presence} turns what it hears into peer up/down events, the
 * way a mesh link's handshake, heartbeats and close do. Pure: the broker, the clock and the
 * timers come from a {@link PresenceHost}, so tests drive it without sockets or waiting.
 */

/** Version of the announcement format. */
export const PRESENCE_VERSION = 1;

/** What a service says on the presence subject. */
export interface PresenceAnnouncement {
  /** Format version ({@link PRESENCE_VERSION}). */
  v: typeof PRESENCE_VERSION;
  /** `hello`: starting or roles changed (everyone answers with a `beat`); `beat`: still here; `bye`: closing. */
  t: "hello" | "beat" | "bye";
  /** Service id. */
  id: string;
  /** Random id of this run of the service: a new one means a restart. */
  instance: string;
  /** Roles, e.g. `"ws"`, `"sse"` for front ends. */
  roles: string[];
  /** The sender's heartbeat interval, in ms: the receiver times it out after `missedBeats` of them. */
  interval: number;
  /** When this instance started (sender's clock, ms): the older of two live instances with one id keeps it. */
  since: number;
}

/** Why a peer went down. */
export type PresenceDownReason =
  /** Nothing heard from it for `missedBeats` of its intervals (it died, or the path to it is broken). */
  | "heartbeat-timeout"
  /** It said `bye`. */
  | "peer-closed"
  /** This side stopped. */
  | "closed";

/** A peer known from presence. */
export interface PresencePeer {
  /** Service id. */
  id: string;
  /** Instance id of its current run. */
  instance: string;
  /** Its roles. */
  roles: readonly string[];
  /** Its declared heartbeat interval, in ms (clamped to this side's bounds). */
  interval: number;
  /** When it was last heard from (this side's clock). */
  lastSeen: number;
}

/** Events of {@link Presence}. */
export interface PresenceEvents {
  /** A peer appeared (first heard, or heard again after it went down). */
  "peer:up": [info: { peer: string; instance: string; roles: readonly string[] }];
  /** A peer is gone. */
  "peer:down": [info: { peer: string; instance: string; reason: PresenceDownReason }];
  /** A live peer changed its roles. */
  "peer:roles": [info: { peer: string; roles: readonly string[]; previous: readonly string[] }];
  /** Another live instance holds this id and is older: this one must stop (it has already said `bye`). */
  duplicate: [error: DuplicateIdError];
  /** An unreadable announcement was dropped. */
  error: [error: NatsError];
}

/** What a {@link Presence} needs from its surroundings. */
export interface PresenceHost {
  /** Sends an announcement on the presence subject. */
  send(announcement: PresenceAnnouncement): void;
  /** The current time, in ms. */
  now(): number;
  /** Calls `fn` once after `ms`; returns a handle for `clearTimer`. */
  setTimer(fn: () => void, ms: number): unknown;
  /** Cancels a timer. */
  clearTimer(handle: unknown): void;
}

/** Options of {@link Presence}. */
export interface PresenceOptions {
  /** This service's id. */
  id: string;
  /** This run's instance id. */
  instance: string;
  /** Initial roles. @default [] */
  roles?: readonly string[];
  /** Heartbeat interval, in ms. @default 1000 */
  interval?: number;
  /** Intervals of silence after which a peer is down. @default 3 */
  missedBeats?: number;
  /** Shortest peer interval believed, in ms (a peer declaring less is timed out as if it said this). @default 100 */
  minInterval?: number;
  /** Longest peer interval believed, in ms (so a peer cannot make itself immortal). @default 60000 */
  maxInterval?: number;
}

/** The host most code wants: Node's timers and clock (unref'd timers), and `send`. */
export function timerHost(send: (announcement: PresenceAnnouncement) => void): PresenceHost {
  return {
    send,
    now: () => Date.now(),
    setTimer: (fn, ms) => setTimeout(fn, ms).unref(),
    clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
  };
}

const MAX_ID = 256;
const MAX_INSTANCE = 64;
const MAX_ROLES = 16;
const MAX_ROLE = 64;
const KINDS: ReadonlySet<string> = new Set(["hello", "beat", "bye"]);

const isText = (v: unknown, max: number): v is string => typeof v === "string" && v.length > 0 && v.length <= max;

/**
 * Validates a decoded announcement from the bus; undefined for anything malformed (it is
 * dropped, never half applied). Unknown fields are ignored, so newer senders stay readable.
 */
export function readAnnouncement(data: unknown): PresenceAnnouncement | undefined {
  if (typeof data !== "object" || data === null || Array.isArray(data)) return undefined;
  const a = data as Record<string, unknown>;
  if (a.v !== PRESENCE_VERSION || typeof a.t !== "string" || !KINDS.has(a.t)) return undefined;
  if (!isText(a.id, MAX_ID) || !isText(a.instance, MAX_INSTANCE)) return undefined;
  if (!Array.isArray(a.roles) || a.roles.length > MAX_ROLES || !a.roles.every((r) => isText(r, MAX_ROLE))) return undefined;
  if (typeof a.interval !== "number" || !Number.isFinite(a.interval) || a.interval <= 0) return undefined;
  if (typeof a.since !== "number" || !Number.isFinite(a.since)) return undefined;
  return {
    v: PRESENCE_VERSION,
    t: a.t as PresenceAnnouncement["t"],
    id: a.id,
    instance: a.instance,
    roles: [...new Set(a.roles as string[])],
    interval: a.interval,
    since: a.since,
  };
}

interface Entry extends PresencePeer {
  since: number;
  timer: unknown;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0)
    throw new InvalidOptionError(`presence ${name} must be a positive number`);
  return value;
}

/**
 * Tracks the services on the presence subject and announces this one.
 *
 * @example
 * ```ts
 * const presence = new Presence({ id: "web-server-1", instance, roles: ["ws"] }, timerHost((a) => nc.publish(subject, encode(a))));
 * nc.subscribe(subject, { callback: (_, msg) => presence.receive(decode(msg.data)) });
 * presence.on("peer:down", ({ peer, reason }) => console.log(peer, reason));
 * presence.start();
 * presence.frontEnds("ws"); // ["web-server-1", ...]
 * ```
 */
export class Presence extends EventEmitter<PresenceEvents> {
  /** This service's id. */
  readonly id: string;
  /** This run's instance id. */
  readonly instance: string;
  private roles: string[];
  private readonly interval: number;
  private readonly missedBeats: number;
  private readonly minInterval: number;
  private readonly maxInterval: number;
  private readonly peers_ = new Map<string, Entry>();
  private since = 0;
  private lastAnswer = -Infinity;
  private beatTimer: unknown;
  private state: "idle" | "live" | "stopped" = "idle";

  constructor(
    options: PresenceOptions,
    private readonly host: PresenceHost,
  ) {
    super();
    if (!isText(options.id, MAX_ID)) throw new InvalidOptionError(`presence id must be a non-empty string of at most ${MAX_ID} characters`);
    if (!isText(options.instance, MAX_INSTANCE))
      throw new InvalidOptionError(`presence instance must be a non-empty string of at most ${MAX_INSTANCE} characters`);
    this.id = options.id;
    this.instance = options.instance;
    this.roles = checkRoles(options.roles ?? []);
    this.interval = positive("interval", options.interval, 1000);
    this.missedBeats = positive("missedBeats", options.missedBeats, 3);
    this.minInterval = positive("minInterval", options.minInterval, 100);
    this.maxInterval = Math.max(this.minInterval, positive("maxInterval", options.maxInterval, 60000));
  }

  /** True between `start()` and `stop()` (or a duplicate). */
  get live(): boolean {
    return this.state === "live";
  }

  /** Announces this service (`hello`) and starts its heartbeats. */
  start(): void {
    if (this.state !== "idle") return;
    this.state = "live";
    this.since = this.host.now();
    this.announce("hello");
    this.scheduleBeat();
  }

  /** Changes this service's roles and tells everyone at once. */
  setRoles(roles: readonly string[]): void {
    this.roles = checkRoles(roles);
    if (this.state === "live") this.announce("hello");
  }

  /** This service's roles. */
  ownRoles(): readonly string[] {
    return this.roles;
  }

  /** Says `bye`, stops the heartbeats, and reports every known peer down (`closed`). */
  stop(): void {
    if (this.state === "stopped") return;
    const wasLive = this.state === "live";
    this.state = "stopped";
    this.host.clearTimer(this.beatTimer);
    if (wasLive) this.announce("bye");
    for (const entry of [...this.peers_.values()]) this.remove(entry, "closed");
  }

  /** Applies one decoded announcement from the presence subject (this service's own included; they are ignored). */
  receive(data: unknown): void {
    if (this.state !== "live") return;
    const a = readAnnouncement(data);
    if (!a) {
      this.emit("error", new NatsError(NatsErrorCode.BAD_PRESENCE, "dropped an unreadable presence announcement"));
      return;
    }
    if (a.id === this.id) {
      if (a.instance !== this.instance && a.t !== "bye") this.conflict(a);
      return;
    }
    const known = this.peers_.get(a.id);
    if (a.t === "bye") {
      if (known && known.instance === a.instance) this.remove(known, "peer-closed");
      return;
    }
    // A newcomer learns who is there from the answers to its hello, not a whole interval later
    // (at most one answer per minInterval, so a flood of hellos is not multiplied by the fleet).
    if (a.t === "hello") this.answerHello();
    const interval = Math.min(this.maxInterval, Math.max(this.minInterval, a.interval));
    if (!known) {
      this.add(a, interval);
      return;
    }
    if (known.instance !== a.instance) {
      // Two instances under one id. A newer one is a restart (the known one died and will time
      // out) or a duplicate (it hears the known one and leaves): either way the known one stays
      // until it goes. An older one holds the id (the one known here is the duplicate, and it
      // leaves): take it over without a down/up, the id never stopped being there. Every
      // receiver orders the two alike, so all pick the same one.
      if (!olderThan(a, known)) return;
      known.instance = a.instance;
      known.since = a.since;
    }
    known.lastSeen = this.host.now();
    known.interval = interval;
    this.arm(known);
    if (!sameRoles(known.roles, a.roles)) {
      const previous = known.roles;
      known.roles = a.roles;
      this.emit("peer:roles", { peer: a.id, roles: a.roles, previous });
    }
  }

  /** Every peer known now, in the order they appeared. */
  peers(): PresencePeer[] {
    return [...this.peers_.values()].map(({ id, instance, roles, interval, lastSeen }) => ({ id, instance, roles, interval, lastSeen }));
  }

  /** True if `id` is a live peer. */
  has(id: string): boolean {
    return this.peers_.has(id);
  }

  /**
   * Service ids with `role` known now: this one first if it has the role, then peers in the
   * order they appeared. The set a request to "every front end" waits for.
   */
  frontEnds(role: string): string[] {
    const out = this.state === "live" && this.roles.includes(role) ? [this.id] : [];
    for (const p of this.peers_.values()) if (p.roles.includes(role)) out.push(p.id);
    return out;
  }

  private conflict(a: PresenceAnnouncement): void {
    const mine = { since: this.since, instance: this.instance };
    if (olderThan(mine, a)) {
      // This instance keeps the id; tell the newcomer at once that it is taken.
      this.announce("beat");
      return;
    }
    this.stop();
    this.emit(
      "duplicate",
      new DuplicateIdError(`service id "${this.id}" is already used by another running instance (${a.instance}) on the bus`, {
        peer: this.id,
      }),
    );
  }

  private answerHello(): void {
    const now = this.host.now();
    if (now - this.lastAnswer < this.minInterval) return;
    this.lastAnswer = now;
    this.announce("beat");
  }

  private add(a: PresenceAnnouncement, interval: number): void {
    const entry: Entry = {
      id: a.id,
      instance: a.instance,
      roles: a.roles,
      interval,
      lastSeen: this.host.now(),
      since: a.since,
      timer: undefined,
    };
    this.peers_.set(a.id, entry);
    this.arm(entry);
    this.emit("peer:up", { peer: a.id, instance: a.instance, roles: a.roles });
  }

  private remove(entry: Entry, reason: PresenceDownReason): void {
    if (this.peers_.get(entry.id) !== entry) return;
    this.host.clearTimer(entry.timer);
    this.peers_.delete(entry.id);
    this.emit("peer:down", { peer: entry.id, instance: entry.instance, reason });
  }

  private arm(entry: Entry): void {
    this.host.clearTimer(entry.timer);
    entry.timer = this.host.setTimer(() => this.remove(entry, "heartbeat-timeout"), entry.interval * this.missedBeats);
  }

  private scheduleBeat(): void {
    this.beatTimer = this.host.setTimer(() => {
      if (this.state !== "live") return;
      this.announce("beat");
      this.scheduleBeat();
    }, this.interval);
  }

  private announce(t: PresenceAnnouncement["t"]): void {
    this.host.send({
      v: PRESENCE_VERSION,
      t,
      id: this.id,
      instance: this.instance,
      roles: [...this.roles],
      interval: this.interval,
      since: this.since,
    });
  }
}

/** Strict order of two instances of one id: earlier start first, the instance id breaks ties. */
function olderThan(a: { since: number; instance: string }, b: { since: number; instance: string }): boolean {
  return a.since < b.since || (a.since === b.since && a.instance < b.instance);
}

function sameRoles(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((r) => b.includes(r));
}

function checkRoles(roles: readonly string[]): string[] {
  if (!Array.isArray(roles) || roles.length > MAX_ROLES || !roles.every((r) => isText(r, MAX_ROLE))) {
    throw new InvalidOptionError(`presence roles must be at most ${MAX_ROLES} non-empty strings of at most ${MAX_ROLE} characters`);
  }
  return [...new Set(roles)];
}
