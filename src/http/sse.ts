/**
 * Live state changes over Server-Sent Events. Each stream subscribes to the platform bus with a filter (one device, or
 * one organization) and writes `event: <kind>` / `data: <json>` frames. A client that stops reading is disconnected
 * once its unsent bytes pass a bound, instead of growing the server's memory; a comment line every
 * `heartbeatMs` keeps proxies from closing an idle stream. Closing the app ends every stream.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { StateChangeBus } from '../platform/bus.js';
import type { StateChange } from '../platform/model.js';

export interface SseOptions {
  heartbeatMs: number;
  /** Unsent bytes at which a slow client is disconnected. */
  maxBufferedBytes: number;
}

export const DEFAULT_SSE_OPTIONS: SseOptions = { heartbeatMs: 15_000, maxBufferedBytes: 1024 * 1024 };

/** The JSON sent for a change: the change itself, with an event flattened so every kind has `deviceId` and `ts`. */
function toWire(change: StateChange): unknown {
  if (change.kind !== 'event') return change;
  const { event } = change;
  return {
    kind: 'event',
    orgId: change.orgId,
    deviceId: change.deviceId,
    id: event.id,
    stream: event.stream,
    ts: event.at,
    atText: event.atText,
    data: event.data,
  };
}

/** The open streams of one app, so shutdown can end them (an open stream would hold `server.close()` forever). */
export class SseStreams {
  readonly #bus: StateChangeBus;
  readonly #options: SseOptions;
  readonly #open = new Set<() => void>();
  readonly #onCountChange: (count: number) => void;

  constructor(bus: StateChangeBus, options: SseOptions, onCountChange: (count: number) => void) {
    this.#bus = bus;
    this.#options = options;
    this.#onCountChange = onCountChange;
  }

  get count(): number {
    return this.#open.size;
  }

  /** Takes over the response and streams the changes `accept` lets through until the client goes away. */
  start(request: FastifyRequest, reply: FastifyReply, accept: (change: StateChange) => boolean): void {
    reply.hijack();
    const res: ServerResponse = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // nginx buffers responses by default; a stream must not wait for a buffer to fill.
      'x-accel-buffering': 'no',
    });
    res.write(': connected\n\n');

    let isClosed = false;
    const write = (text: string): void => {
      if (isClosed) return;
      res.write(text);
      // Destroy rather than end: ending would wait for the very bytes the client is not reading.
      if (res.writableLength > this.#options.maxBufferedBytes) res.destroy();
    };
    const unsubscribe = this.#bus.subscribe((change) => {
      if (accept(change)) write(`event: ${change.kind}\ndata: ${JSON.stringify(toWire(change))}\n\n`);
    });
    const heartbeat = setInterval(() => {
      write(': keep-alive\n\n');
    }, this.#options.heartbeatMs);
    heartbeat.unref();

    const close = (): void => {
      if (isClosed) return;
      isClosed = true;
      unsubscribe();
      clearInterval(heartbeat);
      this.#open.delete(close);
      this.#onCountChange(this.#open.size);
      if (!res.writableEnded) res.end();
    };
    this.#open.add(close);
    this.#onCountChange(this.#open.size);
    request.raw.socket.once('close', close);
    res.once('close', close);
  }

  /** Ends every open stream. */
  closeAll(): void {
    for (const close of [...this.#open]) close();
  }
}
