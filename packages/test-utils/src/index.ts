/** Shared helpers for SFN Channel tests: real sockets on 127.0.0.1, no fixed sleeps. */
export { TcpProxy } from "./tcp-proxy.js";
export { spawnService, type ServiceProcess } from "./service-process.js";
export { nextEvent, until, withTimeout } from "./wait.js";
export { otherTestSecret, testSecret } from "./secrets.js";
export { createTestCa, type LeafOptions, type TestCa, type TestCert } from "./certs.js";
export { ChainRunner, serveChains, type ChainResult, type ChainStep } from "./chain-runner.js";
export {
  freePort,
  stablePort,
  hasNatsServer,
  startNatsCluster,
  startNatsServer,
  type NatsCluster,
  type NatsClusterOptions,
  type NatsServer,
  type NatsServerOptions,
} from "./nats-server.js";
