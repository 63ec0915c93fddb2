import { InvalidTopicError } from "../errors.js";

/**
 * Topic syntax (the NATS convention): tokens separated by `.`, none empty.
 * In a subscription pattern `*` stands for exactly one token and `>` (last token only)
 * for one or more tokens.
 */
export const TOKEN_SEPARATOR = ".";
/** Wildcard matching exactly one token. */
export const SINGLE_WILDCARD = "*";
/** Wildcard matching one or more trailing tokens. */
export const TAIL_WILDCARD = ">";
/** Prefix of the topics the adapters use; user code can neither publish nor subscribe under it. */
export const RESERVED_PREFIX = "$sfn.";
/** Longest topic or pattern accepted, in UTF-16 code units. */
export const MAX_TOPIC_LENGTH = 1024;

// Whitespace and control characters never make sense in a topic and would make logs lie.
const FORBIDDEN = /[\s\u0000-\u001f\u007f]/;

function check(topic: unknown, what: string): asserts topic is string {
  if (typeof topic !== "string" || topic.length === 0) {
    throw new InvalidTopicError(`${what} must be a non-empty string`);
  }
  if (topic.length > MAX_TOPIC_LENGTH) {
    throw new InvalidTopicError(`${what} is longer than ${MAX_TOPIC_LENGTH} characters`);
  }
  if (FORBIDDEN.test(topic)) {
    throw new InvalidTopicError(`${what} ${JSON.stringify(topic)} contains whitespace or control characters`);
  }
  if (topic.startsWith(TOKEN_SEPARATOR) || topic.endsWith(TOKEN_SEPARATOR) || topic.includes("..")) {
    throw new InvalidTopicError(`${what} ${JSON.stringify(topic)} has an empty token`);
  }
}

/** True if the topic lies under the reserved internal prefix. */
export function isReserved(topic: string): boolean {
  return topic.startsWith(RESERVED_PREFIX);
}

// Topics already found valid (and unreserved); bounded so unique topics cannot grow it.
let validTopics = new Set<string>();

/** Throws {@link InvalidTopicError} unless `topic` is a concrete (wildcard-free) topic. */
export function assertTopic(topic: unknown, allowReserved = false): asserts topic is string {
  if (validTopics.has(topic as string)) return;
  check(topic, "topic");
  for (const token of topic.split(TOKEN_SEPARATOR)) {
    if (token === SINGLE_WILDCARD || token === TAIL_WILDCARD) {
      throw new InvalidTopicError(`topic ${JSON.stringify(topic)} contains a wildcard; only subscriptions may`);
    }
  }
  if (isReserved(topic)) {
    if (!allowReserved) throw new InvalidTopicError(`topic ${JSON.stringify(topic)} uses the reserved prefix "${RESERVED_PREFIX}"`);
    return;
  }
  if (validTopics.size >= 4096) validTopics = new Set();
  validTopics.add(topic);
}

/** Throws {@link InvalidTopicError} unless `pattern` is a valid subscription pattern. */
export function assertPattern(pattern: unknown, allowReserved = false): asserts pattern is string {
  check(pattern, "pattern");
  const tokens = pattern.split(TOKEN_SEPARATOR);
  tokens.forEach((token, i) => {
    if (token === TAIL_WILDCARD && i !== tokens.length - 1) {
      throw new InvalidTopicError(`pattern ${JSON.stringify(pattern)}: "${TAIL_WILDCARD}" may only be the last token`);
    }
  });
  if (!allowReserved && isReserved(pattern)) {
    throw new InvalidTopicError(`pattern ${JSON.stringify(pattern)} uses the reserved prefix "${RESERVED_PREFIX}"`);
  }
}

/** True if the pattern contains a wildcard token. */
export function isWildcard(pattern: string): boolean {
  if (!pattern.includes(SINGLE_WILDCARD) && !pattern.includes(TAIL_WILDCARD)) return false;
  return pattern.split(TOKEN_SEPARATOR).some((t) => t === SINGLE_WILDCARD || t === TAIL_WILDCARD);
}

/** A pattern split once into tokens, ready to match many topics. */
export class CompiledPattern {
  readonly pattern: string;
  private readonly tokens: readonly string[];
  private readonly tail: boolean;

  constructor(pattern: string) {
    this.pattern = pattern;
    const tokens = pattern.split(TOKEN_SEPARATOR);
    this.tail = tokens[tokens.length - 1] === TAIL_WILDCARD;
    this.tokens = this.tail ? tokens.slice(0, -1) : tokens;
  }

  /** True if `topic` (a concrete topic) matches this pattern. */
  matches(topic: string): boolean {
    // Wildcards never reach into the reserved namespace: `>` must not hand adapter
    // operations to user code, nor make a peer receive all adapter traffic.
    if (isReserved(topic) && !isReserved(this.pattern)) return false;
    const parts = topic.split(TOKEN_SEPARATOR);
    const n = this.tokens.length;
    if (this.tail ? parts.length <= n : parts.length !== n) return false;
    for (let i = 0; i < n; i++) {
      const t = this.tokens[i];
      if (t !== SINGLE_WILDCARD && t !== parts[i]) return false;
    }
    return true;
  }
}

/** One-off match of a pattern against a topic. */
export function matchTopic(pattern: string, topic: string): boolean {
  return pattern === topic || (isWildcard(pattern) && new CompiledPattern(pattern).matches(topic));
}
