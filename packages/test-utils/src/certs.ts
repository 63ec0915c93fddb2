import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A certificate and its private key, PEM-encoded. */
export interface TestCert {
  cert: Buffer;
  key: Buffer;
}

/** What a leaf certificate names. */
export interface LeafOptions {
  /** Subject common name. @default none */
  cn?: string;
  /** Service ids, written as `URI:sfn:service:<id>` subject alternative names. */
  services?: string[];
  /** DNS names. @default ["localhost"] */
  dns?: string[];
  /** IP addresses. @default ["127.0.0.1"] */
  ips?: string[];
}

/** A throwaway certificate authority in a temporary directory. */
export interface TestCa {
  /** The CA certificate (PEM), for `ca` options. */
  ca: Buffer;
  /** Issues a leaf certificate usable by servers and clients alike. */
  issue(options: LeafOptions): TestCert;
  /** Removes the temporary directory. */
  cleanup(): void;
}

const OPENSSL = process.env.OPENSSL ?? "openssl";

function openssl(args: string[], cwd: string): void {
  execFileSync(OPENSSL, args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/**
 * Creates a CA (P-256, valid two days) with the `openssl` CLI, at test time: no key material
 * lives in the repository. Call `cleanup()` when done.
 *
 * @example
 * ```ts
 * const pki = createTestCa();
 * const server = pki.issue({ cn: "svc-a", services: ["svc-a"] });
 * ```
 */
export function createTestCa(name = "SFN test CA"): TestCa {
  const dir = mkdtempSync(join(tmpdir(), "sfn-pki-"));
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl(
    [
      "req",
      "-x509",
      ...ec,
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    dir,
  );
  let n = 0;
  return {
    ca: readFileSync(join(dir, "ca.crt")),
    issue(options: LeafOptions): TestCert {
      const base = `leaf${n++}`;
      const sans = [
        ...(options.services ?? []).map((s) => `URI:sfn:service:${s}`),
        ...(options.dns ?? ["localhost"]).map((d) => `DNS:${d}`),
        ...(options.ips ?? ["127.0.0.1"]).map((i) => `IP:${i}`),
      ];
      const ext = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=serverAuth,clientAuth"];
      if (sans.length > 0) ext.push(`subjectAltName=${sans.join(",")}`);
      writeFileSync(join(dir, `${base}.ext`), `${ext.join("\n")}\n`);
      openssl(
        ["req", ...ec, "-keyout", `${base}.key`, "-out", `${base}.csr`, "-subj", options.cn ? `/CN=${options.cn}` : "/O=sfn-test"],
        dir,
      );
      openssl(
        [
          "x509",
          "-req",
          "-in",
          `${base}.csr`,
          "-CA",
          "ca.crt",
          "-CAkey",
          "ca.key",
          "-set_serial",
          `0x${randomBytes(8).toString("hex")}`,
          "-days",
          "2",
          "-out",
          `${base}.crt`,
          "-extfile",
          `${base}.ext`,
        ],
        dir,
      );
      return { cert: readFileSync(join(dir, `${base}.crt`)), key: readFileSync(join(dir, `${base}.key`)) };
    },
    cleanup(): void {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
