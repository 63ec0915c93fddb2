import { InvalidTopicError, RESERVED_PREFIX } from "@sfn/channel-core";
import { NatsSubjectError } from "./errors.js";

/**
 * Where SFN names live in the NATS subject space. Every subject of one deployment starts with
 * `sfn.<namespace>.`; the next token says what follows, so the branches never overlap:
 *
 * | SFN name                          | subject                          |
 * | --------------------------------- | -------------------------------- |
 * | user topic or pattern `a.*.c`     | `sfn.<ns>.t.a.*.c`               |
 * | adapter topic `$sfn.ws.op`        | `sfn.<ns>.r.ws.op`               |
 * | `{ to: id }`, the target's inbox  | `sfn.<ns>._inbox.<encoded id>`   |
 * | presence announcements            | `sfn.<ns>._presence`             |
 *
 * SFN topics already use NATS's syntax (`.` between tokens, `*` one token, `>` the rest), so a
 * pattern maps token for token and NATS's own interest routing does the matching. Because every
 * user pattern lands under `.t.`, a user wildcard (even `>`) can never match an adapter topic,
 * an inbox or presence: core's rule that user wildcards never reach reserved topics holds on
 * the broker too, and NATS permissions can be granted per branch.
 */

/** First token of every subject. */
export const SUBJECT_ROOT = "sfn";
/** Namespace used when none is given. */
export const DEFAULT_NAMESPACE = "default";
/** Longest topic or pattern, as in core (UTF-16 code units). */
export const MAX_TOPIC_LENGTH = 1024;
/**
 * Longest subject produced, in UTF-8 bytes. nats-server refuses a protocol line over
 * `max_control_line` (4096 by default); `PUB <subject> <reply> <size>` must fit in it.
 */
export const DEFAULT_MAX_SUBJECT_BYTES = 3072;

const USER = "t";
const RESERVED = "r";
const INBOX = "_inbox";
const PRESENCE = "_presence";
const SEP = ".";
const NAMESPACE = /^[A-Za-z0-9_-]{1,64}$/;
// Service ids made only of these characters are their own subject token; anything else is encoded.
const PLAIN_ID = /^[A-Za-z0-9_-]+$/;
// Marks an encoded id; never the first character of a plain one, so the mapping is one-to-one.
const ENCODED_MARK = "~";
const ENCODED_ID = /^~[A-Za-z0-9_-]+$/;
const MAX_ID_LENGTH = 256;
// As core: whitespace and control characters never make sense in a topic (NATS forbids whitespace).
const FORBIDDEN = /[\s\u0000-\u001f\u007f]/;

function checkName(name: unknown, what: string): asserts name is string {
  if (typeof name !== "string" || name.length === 0) throw new InvalidTopicError(`${what} must be a non-empty string`);
  if (name.length > MAX_TOPIC_LENGTH) throw new InvalidTopicError(`${what} is longer than ${MAX_TOPIC_LENGTH} characters`);
  if (FORBIDDEN.test(name)) throw new InvalidTopicError(`${what} ${JSON.stringify(name)} contains whitespace or control characters`);
  if (name.startsWith(SEP) || name.endsWith(SEP) || name.includes(".."))
    throw new InvalidTopicError(`${what} ${JSON.stringify(name)} has an empty token`);
}

/**
 * Encodes a service id as one subject token: ids of letters, digits, `_` and `-` stay as they
 * are (readable in NATS tooling); any other id becomes `~` + base64url of its UTF-8 bytes.
 * Reversible with {@link decodeServiceId}; distinct ids always give distinct tokens.
 */
export function encodeServiceId(id: string): string {
  if (typeof id !== "string" || id.length === 0 || id.length > MAX_ID_LENGTH) {
    throw new NatsSubjectError(`service id must be a non-empty string of at most ${MAX_ID_LENGTH} characters`);
  }
  if (PLAIN_ID.test(id)) return id;
  return ENCODED_MARK + Buffer.from(id, "utf8").toString("base64url");
}

/** The service id a token from {@link encodeServiceId} stands for; throws `NatsSubjectError` for any other token. */
export function decodeServiceId(token: string): string {
  if (typeof token === "string" && PLAIN_ID.test(token) && token.length <= MAX_ID_LENGTH) return token;
  if (typeof token === "string" && ENCODED_ID.test(token)) {
    const bytes = Buffer.from(token.slice(1), "base64url");
    const id = bytes.toString("utf8");
    // Only the canonical encoding of a well-formed id decodes: no second spelling of one id, no
    // lone surrogates or cut UTF-8 sequences, no id that would have been sent plain.
    if (id.length > 0 && id.length <= MAX_ID_LENGTH && !PLAIN_ID.test(id) && encodeServiceId(id) === token) return id;
  }
  throw new NatsSubjectError(`${JSON.stringify(String(token).slice(0, 80))} is not an encoded service id`);
}

/** How many topic → subject mappings a {@link SubjectSpace} remembers. */
const TOPIC_CACHE_SIZE = 1024;

/** Options of {@link SubjectSpace}. */
export interface SubjectSpaceOptions {
  /** Longest subject produced, in UTF-8 bytes; longer names throw `NatsSubjectError`. @default 3072 */
  maxSubjectBytes?: number;
}

/**
 * The subjects of one deployment namespace: maps topics, patterns and service ids to subjects
 * and back. Pure: no connection, no timers.
 *
 * @example
 * ```ts
 * const space = new SubjectSpace("prod");
 * space.topic("orders.created");     // "sfn.prod.t.orders.created"
 * space.pattern("orders.>");         // "sfn.prod.t.orders.>"
 * space.topic("$sfn.ws.op");         // "sfn.prod.r.ws.op"
 * space.inbox("web-server-1");       // "sfn.prod._inbox.web-server-1"
 * space.topicOf("sfn.prod.r.ws.op"); // "$sfn.ws.op"
 * ```
 */
export class SubjectSpace {
  /** The namespace: one token of letters, digits, `_` and `-`. */
  readonly namespace: string;
  /** `sfn.<namespace>.`, the start of every subject of this space. */
  readonly prefix: string;
  /** Subject of presence announcements. */
  readonly presence: string;
  /** Pattern of every inbox subject, for monitoring or permissions. */
  readonly inboxes: string;
  private readonly user: string;
  private readonly reserved: string;
  private readonly maxSubjectBytes: number;
  // Subjects of recently published topics: topic() runs twice per publish (the payload check, then
  // the publish), and validating and measuring the name each time was a tenth of a publisher's CPU.
  private readonly topics = new Map<string, string>();

  constructor(namespace: string = DEFAULT_NAMESPACE, options: SubjectSpaceOptions = {}) {
    if (typeof namespace !== "string" || !NAMESPACE.test(namespace)) {
      throw new NatsSubjectError(`namespace ${JSON.stringify(namespace)} must be 1 to 64 letters, digits, "_" or "-" (one subject token)`);
    }
    const max = options.maxSubjectBytes ?? DEFAULT_MAX_SUBJECT_BYTES;
    if (!Number.isInteger(max) || max < 64) throw new NatsSubjectError("maxSubjectBytes must be an integer of at least 64");
    this.namespace = namespace;
    this.prefix = `${SUBJECT_ROOT}${SEP}${namespace}${SEP}`;
    this.user = `${this.prefix}${USER}${SEP}`;
    this.reserved = `${this.prefix}${RESERVED}${SEP}`;
    this.presence = `${this.prefix}${PRESENCE}`;
    this.inboxes = `${this.prefix}${INBOX}${SEP}*`;
    this.maxSubjectBytes = max;
  }

  /** Subject of a concrete topic (user or `$sfn.` adapter topic). Throws `InvalidTopicError` for wildcards or bad syntax. */
  topic(topic: string): string {
    const known = this.topics.get(topic);
    if (known !== undefined) return known;
    checkName(topic, "topic");
    for (const token of topic.split(SEP)) {
      if (token === "*" || token === ">")
        throw new InvalidTopicError(`topic ${JSON.stringify(topic)} contains a wildcard; only subscriptions may`);
    }
    const subject = this.map(topic);
    // Bounded: a service publishing to endless distinct topics starts over instead of growing.
    if (this.topics.size >= TOPIC_CACHE_SIZE) this.topics.clear();
    this.topics.set(topic, subject);
    return subject;
  }

  /** Subject (with NATS wildcards) of a subscription pattern. Throws `InvalidTopicError` for bad syntax. */
  pattern(pattern: string): string {
    checkName(pattern, "pattern");
    const tokens = pattern.split(SEP);
    tokens.forEach((token, i) => {
      if (token === ">" && i !== tokens.length - 1)
        throw new InvalidTopicError(`pattern ${JSON.stringify(pattern)}: ">" may only be the last token`);
    });
    // `$sfn.*` or `$sfn.>` are adapter patterns; `*.ws.op` or `>` are user patterns and, as in
    // core, never reach an adapter topic: they map under the user branch only.
    return this.map(pattern);
  }

  /**
   * The topic a subject of this space carries, or undefined for any other subject (an inbox,
   * presence, another namespace). The inverse of {@link topic} and {@link pattern}.
   */
  topicOf(subject: string): string | undefined {
    if (subject.startsWith(this.user) && subject.length > this.user.length) {
      const topic = subject.slice(this.user.length);
      // topic() maps `$sfn.` topics under the reserved branch only: this one came from elsewhere.
      return topic.startsWith(RESERVED_PREFIX) ? undefined : topic;
    }
    if (subject.startsWith(this.reserved) && subject.length > this.reserved.length)
      return RESERVED_PREFIX + subject.slice(this.reserved.length);
    return undefined;
  }

  /** Inbox subject of a service: where messages published `{ to: id }` go. */
  inbox(id: string): string {
    return this.capped(`${this.prefix}${INBOX}${SEP}${encodeServiceId(id)}`, `inbox of ${JSON.stringify(id)}`);
  }

  /** The service id of an inbox subject of this space; throws `NatsSubjectError` for any other subject. */
  inboxId(subject: string): string {
    const start = `${this.prefix}${INBOX}${SEP}`;
    const token = subject.startsWith(start) ? subject.slice(start.length) : "";
    if (token.length === 0 || token.includes(SEP))
      throw new NatsSubjectError(`${JSON.stringify(subject.slice(0, 120))} is not an inbox subject of namespace "${this.namespace}"`);
    return decodeServiceId(token);
  }

  private map(name: string): string {
    const subject = name.startsWith(RESERVED_PREFIX) ? this.reserved + name.slice(RESERVED_PREFIX.length) : this.user + name;
    return this.capped(subject, JSON.stringify(name.slice(0, 120)));
  }

  private capped(subject: string, what: string): string {
    const bytes = Buffer.byteLength(subject, "utf8");
    if (bytes > this.maxSubjectBytes) {
      throw new NatsSubjectError(`${what} needs a ${bytes}-byte NATS subject, over the limit of ${this.maxSubjectBytes} bytes`);
    }
    return subject;
  }
}
