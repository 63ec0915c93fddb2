/*
 * Compile-time topic checking. `*` and `>` become `${string}` in a template literal
 * type, so a pattern selects the declared topics it can match (a slight over-approximation:
 * `*` may also span dots at the type level).
 */

type Wild = "*" | ">";

/** The template literal type a subscription pattern matches. */
export type PatternTemplate<P extends string> = P extends `${infer H}.${infer R}`
  ? `${H extends Wild ? string : H}.${PatternTemplate<R>}`
  : P extends Wild
    ? string
    : P;

/** Declared topics a pattern can match (every string for an untyped channel). */
export type TopicsMatching<T, P extends string> = string extends keyof T
  ? string
  : P extends keyof T & string
    ? P
    : Extract<keyof T & string, PatternTemplate<P>>;

/** Payload type a listener of pattern `P` receives. */
export type PatternData<T, P extends string> = string extends keyof T
  ? T[string & keyof T]
  : P extends keyof T
    ? T[P]
    : [TopicsMatching<T, P>] extends [never]
      ? never
      : T[TopicsMatching<T, P> & keyof T];
