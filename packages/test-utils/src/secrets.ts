/**
 * Shared secrets for tests: strong enough for the channel's secret check (22+ characters,
 * not a password), fixed so failures are reproducible. Never use them outside tests.
 */
export const testSecret = "test-only-9fQ2xVb7LmN4pR8sK1wZ";

/** A second, different test secret (for wrong-secret tests). */
export const otherTestSecret = "test-only-Hc3Jt6Ye0Ua5Wd2Gx8Mn";
