/** Debian's `mosquitto_pub` / `mosquitto_sub` as an independent MQTT client in end-to-end tests. */
import { spawn } from 'node:child_process';

/** The result of one mosquitto client run. */
export interface MosquittoResult {
  code: number | null;
  stdout: string;
  /** stdout as the bytes printed (binary payloads with `-N`). */
  stdoutBytes: Buffer;
  stderr: string;
}

/** A running `mosquitto_sub` / `mosquitto_pub`: its result once it exits, and a way to stop it early. */
export interface MosquittoProcess {
  result: Promise<MosquittoResult>;
  /** Kills the process if it is still running; resolves when it has exited. */
  close(): Promise<MosquittoResult>;
}

/**
 * Runs `/usr/bin/<tool>` against `127.0.0.1:<port>` with `args`; killed after `timeoutMs` (the result then shows
 * the signal as code null), so a test never hangs on it.
 */
export function runMosquitto(
  tool: 'mosquitto_pub' | 'mosquitto_sub',
  port: number,
  args: readonly string[],
  timeoutMs = 10_000,
): MosquittoProcess {
  const child = spawn(`/usr/bin/${tool}`, ['-h', '127.0.0.1', '-p', String(port), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdoutChunks: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => stdoutChunks.push(chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const result = new Promise<MosquittoResult>((resolve) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(stdoutChunks);
      resolve({ code, stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr });
    });
  });
  return {
    result,
    close: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      return result;
    },
  };
}
