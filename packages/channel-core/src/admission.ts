import { InvalidOptionError } from "./errors.js";

/**
 * Admission control before a peer has proven anything: which remote address a connection
 * counts against, how many unfinished handshakes each address and the whole listener may
 * hold, and a per-address ban after repeated authentication failures. Pure bookkeeping: no
 * sockets, no timers; callers pass the clock.
 */

/**
 * The key a remote counts against: the IP address without the port, IPv4-mapped IPv6 as
 * IPv4, and other IPv6 addresses by their /64 prefix (one host usually owns a whole /64, so a
 * finer key would let it dodge every per-address limit).
 */
export function addressKey(remote: string): string {
  // Accepted connections report "address:port" (an IPv6 address keeps its colons).
  const port = /:(\d+|\?)$/.exec(remote);
  let a = port ? remote.slice(0, port.index) : remote;
  if (a.startsWith("[") && a.endsWith("]")) a = a.slice(1, -1);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped) return mapped[1] as string;
  if (!a.includes(":")) return a;
  return ipv6Prefix64(a);
}

function ipv6Prefix64(address: string): string {
  const [head = "", tail] = address.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => (Number.parseInt(g, 16) || 0).toString(16))
    .join(":")}::/64`;
}

/** Limits of {@link AuthLimiter}. */
export interface AuthLimiterOptions {
  /** Failures within `window` that start a ban. */
  maxFailures: number;
  /** Window over which failures are counted, in ms. */
  window: number;
  /** First ban, in ms; doubles with each ban in a row, up to `maxBan`. */
  ban: number;
  /** Longest ban, in ms. */
  maxBan: number;
  /** Most addresses tracked at once (oldest forgotten first). @default 10000 */
  maxEntries?: number;
}

interface Entry {
  failures: number[];
  bannedUntil: number;
  /** Bans in a row without a success or a long quiet spell in between. */
  level: number;
  lastFailure: number;
}

/** What {@link AuthLimiter.failed} decided. */
export interface BanInfo {
  /** The address key that is banned. */
  address: string;
  /** Failures that triggered it. */
  failures: number;
  /** For how long new connections from it are refused, in ms. */
  duration: number;
}

/**
 * Counts failed handshakes (failed proofs among them) per address. After `maxFailures` in `window`, new
 * connections from that address are refused for `ban` ms, doubling with each ban in a row up
 * to `maxBan`. A ban only delays: once it ends, the address may try again (so a service with
 * the right secret on the same host as an attacker gets in between bans), and a success from
 * the address, or a quiet spell of `maxBan`, resets the doubling.
 */
export class AuthLimiter {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;

  constructor(private readonly options: AuthLimiterOptions) {
    this.maxEntries = options.maxEntries ?? 10000;
  }

  /** Number of addresses tracked (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  /** Ms until `address` may connect again; 0 if it may now. */
  retryAfter(address: string, now: number): number {
    const e = this.entries.get(address);
    return e && e.bannedUntil > now ? e.bannedUntil - now : 0;
  }

  /** Records a failure; returns the ban it started, if it started one. */
  failed(address: string, now: number): BanInfo | undefined {
    let e = this.entries.get(address);
    // A quiet spell of maxBan after the last failure and the last ban resets the doubling.
    if (e && e.bannedUntil <= now && now - Math.max(e.lastFailure, e.bannedUntil) > this.options.maxBan) e.level = 0;
    if (!e) {
      e = { failures: [], bannedUntil: 0, level: 0, lastFailure: now };
      this.entries.set(address, e);
      this.trim(now);
    } else {
      // Most recently active last, so the trim forgets the quietest addresses first.
      this.entries.delete(address);
      this.entries.set(address, e);
    }
    e.lastFailure = now;
    const from = now - this.options.window;
    e.failures = e.failures.filter((t) => t > from);
    e.failures.push(now);
    if (e.failures.length < this.options.maxFailures || e.bannedUntil > now) return undefined;
    const duration = Math.min(this.options.maxBan, this.options.ban * 2 ** e.level);
    e.level++;
    e.bannedUntil = now + duration;
    const failures = e.failures.length;
    e.failures = [];
    return { address, failures, duration };
  }

  /** Records a success: the address's failure count and ban doubling start over (a running ban stays). */
  succeeded(address: string): void {
    const e = this.entries.get(address);
    if (!e) return;
    e.failures = [];
    e.level = 0;
  }

  private trim(now: number): void {
    if (this.entries.size <= this.maxEntries) return;
    for (const [key, e] of this.entries) {
      if (this.entries.size <= this.maxEntries) return;
      // Never forget a running ban while others could go instead.
      if (e.bannedUntil > now && this.entries.size <= this.maxEntries * 2) continue;
      this.entries.delete(key);
    }
  }
}

/** Something in the middle of a handshake that can be dropped. */
export interface Pending {
  /** Still in the handshake? */
  readonly pending: boolean;
  /** Drops it. */
  evict(): void;
}

/**
 * Unfinished inbound handshakes, oldest first. A newcomer beyond the per-address cap evicts
 * that address's oldest; beyond the global cap, the oldest of the address holding the most
 * (the oldest of all when every address holds one). The newest always gets its chance, and a
 * flood from fewer addresses than the global cap can only push out its own handshakes, however
 * fast it reconnects and however slow a real peer's round trips are.
 */
export class PendingHandshakes<T extends Pending> {
  private readonly items = new Map<T, string>();

  constructor(
    private readonly max: number,
    private readonly maxPerAddress: number,
  ) {}

  /** Handshakes tracked and still pending. */
  get size(): number {
    this.prune();
    return this.items.size;
  }

  /** Admits `item` from `address`; returns what it evicted to make room. */
  add(item: T, address: string): T[] {
    this.prune();
    const evicted: T[] = [];
    let same = 0;
    for (const a of this.items.values()) if (a === address) same++;
    if (same >= this.maxPerAddress) {
      for (const [other, a] of this.items) {
        if (a !== address) continue;
        evicted.push(other);
        this.items.delete(other);
        if (--same < this.maxPerAddress) break;
      }
    }
    while (this.items.size >= this.max) {
      // The oldest handshake of the address that holds the most (of all, when they hold one
      // each): a flood from fewer addresses than the cap only pushes out its own handshakes.
      const counts = new Map<string, number>();
      let top: string | undefined;
      let most = 0;
      for (const a of this.items.values()) {
        const n = (counts.get(a) ?? 0) + 1;
        counts.set(a, n);
        if (n > most) {
          most = n;
          top = a;
        }
      }
      for (const [other, a] of this.items) {
        if (a !== top) continue;
        evicted.push(other);
        this.items.delete(other);
        break;
      }
    }
    this.items.set(item, address);
    for (const e of evicted) e.evict();
    return evicted;
  }

  /** Forgets everything. */
  clear(): void {
    this.items.clear();
  }

  private prune(): void {
    for (const item of this.items.keys()) if (!item.pending) this.items.delete(item);
  }
}

/** Fewest bytes a binary secret may have (128 bits). */
export const MIN_SECRET_BYTES = 16;
/** Fewest characters a string secret may have (22 base64 characters carry 128 bits). */
export const MIN_SECRET_CHARS = 22;
const MIN_DISTINCT = 8;

/**
 * Checks that a shared secret can carry 128 random bits and returns its bytes. The rule:
 * at least 16 bytes (binary) or 22 characters (string), at least 8 distinct symbols, and not
 * one short unit repeated ("abcabcabc..."). This catches passwords and placeholders, not every
 * weak secret: generate secrets, e.g. `randomBytes(32).toString("base64url")`.
 */
export function toSecret(secret: string | Uint8Array | undefined): Uint8Array | undefined {
  if (secret === undefined) return undefined;
  const hint = `generate one with: node -e "console.log(require('crypto').randomBytes(32).toString('base64url'))"`;
  if (typeof secret === "string") {
    const chars = [...secret];
    if (chars.length < MIN_SECRET_CHARS) {
      throw new InvalidOptionError(
        `secret is too short (${chars.length} characters; at least ${MIN_SECRET_CHARS} random characters, 128 bits, are needed); ${hint}`,
      );
    }
    if (lowEntropy(chars)) throw new InvalidOptionError(`secret looks like a password or placeholder, not random bytes; ${hint}`);
    return Buffer.from(secret, "utf8");
  }
  if (!(secret instanceof Uint8Array)) throw new InvalidOptionError("secret must be a string or a Uint8Array");
  if (secret.length < MIN_SECRET_BYTES) {
    throw new InvalidOptionError(
      `secret is too short (${secret.length} bytes; at least ${MIN_SECRET_BYTES} random bytes, 128 bits, are needed); ${hint}`,
    );
  }
  if (lowEntropy([...secret]))
    throw new InvalidOptionError(`secret bytes are not random (too few distinct values or a repeated pattern); ${hint}`);
  return secret;
}

function lowEntropy<T>(symbols: readonly T[]): boolean {
  if (new Set(symbols).size < MIN_DISTINCT) return true;
  // A short unit repeated: "abcdefgh" x 3.
  for (let period = 1; period <= symbols.length / 2; period++) {
    let repeats = true;
    for (let i = period; i < symbols.length && repeats; i++) repeats = symbols[i] === symbols[i - period];
    if (repeats) return true;
  }
  return false;
}
