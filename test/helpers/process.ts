/** Runs the built server (`dist/src/main.js` or `dist/src/cli.js`) as a child process, as a user would. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built entry points (this file runs from `dist/test/helpers/`). */
export const MAIN_JS = fileURLToPath(new URL('../../src/main.js', import.meta.url));
export const CLI_JS = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

/** A running (or finished) Switchboard process. */
export interface SwitchboardProcess {
  child: ChildProcess;
  /** Plain stdout lines so far (JSON log lines left out). */
  outputLines(): string[];
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves with the first plain stdout line matching `pattern` (rejects on exit or after `timeoutMs`). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL if still running (for `after` hooks). */
  kill(): void;
}

/**
 * Spawns `node <script> ...args` with only `PATH`/`HOME` from this process and `env` on top (so a developer's own
 * `SWITCHBOARD_*` variables do not leak in).
 */
export function spawnSwitchboard(
  options: { args?: string[]; env?: Record<string, string>; script?: string; cwd?: string } = {},
): SwitchboardProcess {
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: process.env['HOME'] ?? '/tmp',
    // The broker's own tests are plain MQTT clients without credentials; tests of authentication turn this off.
    SWITCHBOARD_ALLOW_ANONYMOUS: 'true',
  };
  const child = spawn(process.execPath, [options.script ?? MAIN_JS, ...(options.args ?? [])], {
    env: { ...env, ...options.env },
    cwd: options.cwd ?? process.cwd(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) if (line !== '' && !line.startsWith('{')) lines.push(line);
    for (const wake of waiters) wake();
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      for (const wake of waiters) wake();
      resolve({ code, signal });
    });
  });

  const waitForLine = (pattern: RegExp, timeoutMs = 15_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = lines.find((line) => pattern.test(line));
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          done();
          reject(new Error(`process exited before printing ${String(pattern)}; stderr: ${stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no line matching ${String(pattern)} within ${timeoutMs} ms; stderr: ${stderr}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  return {
    child,
    outputLines: () => [...lines],
    stderr: () => stderr,
    waitForLine,
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
