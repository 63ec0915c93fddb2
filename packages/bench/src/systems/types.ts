/** One side of a pub/sub system under test. */
export interface Publisher {
  /** Publishes one payload; false asks the caller to wait for `drain()`. */
  publish(payload: Buffer): boolean;
  /** Resolves when the publisher can take more. */
  drain(): Promise<void>;
  /** Resolves once everything published is handed to the network. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface Subscriber {
  close(): Promise<void>;
}

/** A system: how to make the two sides. `address` passes from subscriber setup to publisher setup. */
export interface System {
  name: string;
  /** Starts the subscriber side; returns an address for the publisher (if the system needs one). */
  subscriber(topic: string, onPayload: (b: Uint8Array) => void): Promise<{ sub: Subscriber; address?: string }>;
  publisher(topic: string, address: string | undefined): Promise<Publisher>;
}
