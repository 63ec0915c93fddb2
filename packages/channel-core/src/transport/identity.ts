import type { PeerCertificate } from "node:tls";

/** Prefix of the URI subject-alternative-names that carry a service id: `URI:sfn:service:<id>`. */
export const SERVICE_URI_PREFIX = "sfn:service:";

/**
 * The service ids a certificate names, under the rule mutual TLS uses:
 * every subject alternative name `URI:sfn:service:<id>`; only if there is none, the subject's
 * common name (CN). DNS names and IP addresses are host names, never service ids.
 *
 * @example
 * ```sh
 * openssl req ... -subj "/CN=rpc-server-1" -addext "subjectAltName=URI:sfn:service:rpc-server-1,DNS:rpc1.internal"
 * ```
 */
export function peerIdsOf(cert: Pick<PeerCertificate, "subject" | "subjectaltname"> | undefined): string[] {
  if (!cert) return [];
  const ids: string[] = [];
  for (const [type, value] of altNames(cert.subjectaltname ?? "")) {
    if (type === "URI" && value.startsWith(SERVICE_URI_PREFIX)) {
      const id = value.slice(SERVICE_URI_PREFIX.length);
      if (id.length > 0) ids.push(id);
    }
  }
  if (ids.length > 0) return ids;
  const cn = (cert.subject as Record<string, string | string[] | undefined> | undefined)?.CN;
  // A subject with several CNs is ambiguous: it names no id.
  return typeof cn === "string" && cn.length > 0 ? [cn] : [];
}

/**
 * Parses Node's `subjectaltname` string: `"DNS:a, URI:b"`, where a value with special
 * characters is JSON-quoted (`URI:"sfn:service:a, b"`).
 */
function* altNames(text: string): Generator<[string, string]> {
  const re = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/gy;
  for (let m = re.exec(text); m !== null && m[0].length > 0; m = re.exec(text)) {
    const raw = m[2] ?? "";
    let value = raw;
    if (raw.startsWith('"')) {
      try {
        value = JSON.parse(raw) as string;
      } catch {
        continue;
      }
    }
    yield [m[1] ?? "", value];
  }
}
