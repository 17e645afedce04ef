/**
 * Scenario e's client: connects, sends one CONNECT, checks the CONNACK and then only holds the socket. The load
 * processes share the machine's two cores with the broker under test, so whatever a connect costs on the load side is
 * taken from the broker; this client does the least a correct one can (no decoder, no promise or timer per
 * connection) so that (e) measures brokers, not the generator. Both brokers are measured with it.
 */
import { connect, type Socket } from 'node:net';
import { DISCONNECT_PACKET, encodeConnect } from './payload.js';

/** A 3.1.1 CONNACK is exactly these four bytes when accepted with no session present ([MQTT-3.2.2-1], §3.2). */
const CONNACK_LENGTH = 4;
/** Failure messages a round reports; the rest are counted. */
const MAX_ERRORS_KEPT = 10;

/** What the load process holds between scenario steps: a load client or an idle one. */
export interface Closable {
  /** Why the connection ended, if the broker ended it. */
  readonly closeError: Error | undefined;
  close(timeoutMs: number): Promise<void>;
}

/** An idle connection: held open until `close`; `closeError` says whether the broker ended it first. */
export class IdleClient implements Closable {
  readonly #socket: Socket;
  readonly #clientId: string;
  #received = 0;
  readonly #connack = Buffer.alloc(CONNACK_LENGTH);
  #isClosing = false;
  #closeError: Error | undefined;
  #onOutcome: ((error: string | undefined) => void) | undefined;
  #onClosed: (() => void) | undefined;

  /** Starts the handshake; `onOutcome` is called once, with an error text when it failed. */
  constructor(
    host: string,
    port: number,
    clientId: string,
    keepAliveSeconds: number,
    onOutcome: (error: string | undefined) => void,
  ) {
    this.#clientId = clientId;
    this.#onOutcome = onOutcome;
    const socket = connect({ host, port, noDelay: true });
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#onData(chunk);
    });
    socket.on('error', (error: Error) => {
      this.#closeError ??= error;
    });
    socket.on('close', () => {
      if (!this.#isClosing) this.#closeError ??= new Error(`${clientId}: connection closed by broker`);
      this.#settle(this.#closeError?.message ?? `${clientId}: closed before CONNACK`);
      this.#onClosed?.();
    });
    socket.write(encodeConnect(clientId, true, keepAliveSeconds));
  }

  get closeError(): Error | undefined {
    return this.#closeError;
  }

  /** Sends DISCONNECT and ends the socket; resolves when it is closed (destroyed after `timeoutMs`). */
  close(timeoutMs: number): Promise<void> {
    if (this.#socket.destroyed) return Promise.resolve();
    this.#isClosing = true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#socket.destroy(), timeoutMs);
      this.#onClosed = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#socket.end(DISCONNECT_PACKET);
    });
  }

  /** Gives up on a handshake that took too long. */
  abort(): void {
    this.#settle(`${this.#clientId}: no CONNACK in time`);
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    if (this.#received >= CONNACK_LENGTH) {
      // An idle client expects nothing after CONNACK; a broker that sends something anyway has misbehaved.
      this.#closeError ??= new Error(`${this.#clientId}: unexpected bytes after CONNACK`);
      return;
    }
    const take = Math.min(chunk.length, CONNACK_LENGTH - this.#received);
    chunk.copy(this.#connack, this.#received, 0, take);
    this.#received += take;
    if (this.#received < CONNACK_LENGTH) return;
    const c = this.#connack;
    const isAccepted = c[0] === 0x20 && c[1] === 0x02 && c[2] === 0x00 && c[3] === 0x00;
    if (take < chunk.length) this.#closeError ??= new Error(`${this.#clientId}: unexpected bytes after CONNACK`);
    this.#settle(isAccepted ? undefined : `${this.#clientId}: CONNACK ${c.toString('hex')} is not an acceptance`);
  }

  #settle(error: string | undefined): void {
    const onOutcome = this.#onOutcome;
    if (onOutcome === undefined) return;
    this.#onOutcome = undefined;
    onOutcome(error);
  }
}

/**
 * Opens `count` idle connections, `concurrency` handshakes at a time, into `keep`. A handshake that sees no progress
 * of any connection for `stallMs` is abandoned (one watchdog for the round instead of a timer per connection).
 */
export function openIdleClients(
  host: string,
  port: number,
  clientIdPrefix: string,
  count: number,
  concurrency: number,
  keepAliveSeconds: number,
  stallMs: number,
  keep: IdleClient[],
): Promise<{ connected: number; errors: string[]; failed: number }> {
  return new Promise((resolve) => {
    const errors: string[] = [];
    const pending = new Set<IdleClient>();
    let started = 0;
    let settled = 0;
    let connected = 0;
    let failed = 0;
    let lastProgressMs = Date.now();
    const watchdog = setInterval(
      () => {
        if (Date.now() - lastProgressMs < stallMs) return;
        for (const client of [...pending]) client.abort();
      },
      Math.min(1_000, stallMs),
    );
    const startMore = (): void => {
      while (started < count && started - settled < concurrency) {
        const client: IdleClient = new IdleClient(
          host,
          port,
          `${clientIdPrefix}${String(started++)}`,
          keepAliveSeconds,
          (error) => {
            pending.delete(client);
            settled++;
            lastProgressMs = Date.now();
            if (error === undefined) {
              connected++;
              keep.push(client);
            } else {
              failed++;
              if (errors.length < MAX_ERRORS_KEPT) errors.push(error);
            }
            if (settled === count) {
              clearInterval(watchdog);
              if (failed > errors.length) errors.push(`… and ${String(failed - errors.length)} more failures`);
              resolve({ connected, errors, failed });
            } else {
              startMore();
            }
          },
        );
        pending.add(client);
      }
    };
    if (count === 0) {
      clearInterval(watchdog);
      resolve({ connected, errors, failed });
      return;
    }
    startMore();
  });
}
