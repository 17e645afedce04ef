/** Linux `/proc` readings: CPU time and resident memory of a process tree, and the open-file limit. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`, 100 on every Linux we know). */
const CLOCK_TICKS_PER_SECOND = ((): number => {
  try {
    const value = Number.parseInt(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim(), 10);
    return Number.isFinite(value) && value > 0 ? value : 100;
  } catch {
    return 100;
  }
})();

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** `pid` and its descendants (a multi-process broker counts as one). */
function processTree(pid: number): number[] {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    const taskDir = `/proc/${pids[i]!}/task/${pids[i]!}/children`;
    const children = readOrUndefined(taskDir);
    if (children === undefined) continue;
    for (const child of children.trim().split(/\s+/)) if (child !== '') pids.push(Number(child));
  }
  return pids;
}

/** User + system CPU seconds used so far by `pid` and its descendants, or undefined if it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  let ticks = 0;
  let isFound = false;
  for (const member of processTree(pid)) {
    const stat = readOrUndefined(`/proc/${member}/stat`);
    if (stat === undefined) continue;
    // Fields after "(comm)": state is field 3, utime field 14, stime field 15 (proc(5)).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
    isFound = true;
  }
  return isFound ? ticks / CLOCK_TICKS_PER_SECOND : undefined;
}

/** Resident memory (VmRSS) of `pid` and its descendants in bytes, or undefined if it is gone. */
export function residentBytes(pid: number): number | undefined {
  let bytes = 0;
  let isFound = false;
  for (const member of processTree(pid)) {
    const status = readOrUndefined(`/proc/${member}/status`);
    const match = status === undefined ? null : /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    if (match === null) continue;
    bytes += Number(match[1]) * 1024;
    isFound = true;
  }
  return isFound ? bytes : undefined;
}

/** The soft limit on open files of this process (inherited by brokers and load processes it starts). */
export function openFileSoftLimit(): number {
  const limits = readOrUndefined('/proc/self/limits') ?? '';
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  if (match === null || match[1] === 'unlimited') return Number.MAX_SAFE_INTEGER;
  return Number(match[1]);
}

/** CPU use of a set of processes between `start()` and `stop()`, in percent of one core. */
export class CpuMeter {
  readonly #pids: readonly number[];
  #startSeconds: (number | undefined)[] = [];
  #startMs = 0;

  constructor(pids: readonly number[]) {
    this.#pids = pids;
  }

  start(): void {
    this.#startMs = performance.now();
    this.#startSeconds = this.#pids.map(cpuSeconds);
  }

  /** Sum over the processes; undefined when none could be read (a remote `--target`). */
  stopPercent(): number | undefined {
    const wallSeconds = (performance.now() - this.#startMs) / 1000;
    let used = 0;
    let isKnown = false;
    this.#pids.forEach((pid, i) => {
      const before = this.#startSeconds[i];
      const after = cpuSeconds(pid);
      if (before === undefined || after === undefined) return;
      used += after - before;
      isKnown = true;
    });
    return isKnown && wallSeconds > 0 ? (used / wallSeconds) * 100 : undefined;
  }
}
