// Shared by demo-web and demo-rpc, imported by relative path (this folder is not a package, so
// the file is .mts to be an ES module wherever it is imported from).
import { randomBytes } from "node:crypto";
import { linkSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * The secret both demo apps share: SFN_SECRET, or else 32 random bytes generated once into the
 * git-ignored `.sfn-demo-secret` at the repository root, which the other app then reads (a
 * hard link publishes the file atomically, so two apps starting at once agree on one secret).
 */
export function demoSecret(): string {
  if (process.env.SFN_SECRET) return process.env.SFN_SECRET;
  const file = fileURLToPath(new URL("../../.sfn-demo-secret", import.meta.url));
  const read = (): string | undefined => {
    try {
      return readFileSync(file, "utf8").trim() || undefined;
    } catch {
      return undefined;
    }
  };
  const existing = read();
  if (existing) return existing;
  const tmp = `${file}.${process.pid}`;
  writeFileSync(tmp, randomBytes(32).toString("base64url"), { mode: 0o600 });
  try {
    linkSync(tmp, file);
  } catch {
    // The other app was first: use its secret.
  } finally {
    unlinkSync(tmp);
  }
  return read() ?? "";
}
