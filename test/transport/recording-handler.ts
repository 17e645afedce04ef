/** A stand-in for the broker: records every connection and echoes its bytes back. */
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import type { ConnectionHandler, ConnectionInfo } from '../../src/transport/index.js';

export interface RecordedConnection {
  stream: Duplex;
  info: ConnectionInfo;
  /** Every byte received so far. */
  received(): Buffer;
}

export class RecordingHandler implements ConnectionHandler {
  readonly connections: RecordedConnection[] = [];
  #waiters: (() => void)[] = [];
  /** Echo received bytes back (default true). */
  isEchoing = true;
  /** Throw from `handleConnection` (to check the listener survives a broken handler). */
  isThrowing = false;

  handleConnection(stream: Duplex, info: ConnectionInfo): void {
    if (this.isThrowing) throw new Error('handler failure');
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (this.isEchoing) stream.write(chunk);
    });
    stream.on('error', () => undefined);
    this.connections.push({ stream, info, received: () => Buffer.concat(chunks) });
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves once `count` connections have been handed over. */
  async waitForConnections(count: number): Promise<RecordedConnection[]> {
    while (this.connections.length < count) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    return this.connections;
  }
}

/** Resolves when `stream` has closed. */
export async function closed(stream: Duplex): Promise<void> {
  if (stream.destroyed) return;
  await once(stream, 'close');
}
