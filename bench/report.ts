/** The side-by-side table and the JSON result file. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Scenario, ScenarioOutcome } from './scenario.js';

/** Outcomes of one scenario, by broker name. */
export interface ScenarioResults {
  scenario: Scenario;
  outcomes: Map<string, ScenarioOutcome>;
}

export function formatNumber(value: number | undefined, decimals: number): string {
  if (value === undefined || !Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

export function formatPercent(value: number | undefined): string {
  return value === undefined ? 'n/a' : `${Math.round(value)}%`;
}

export function cell(outcome: ScenarioOutcome | undefined, key: string, decimals: number): string {
  if (outcome === undefined) return '-';
  const value = formatNumber(outcome.metrics[key], decimals);
  if (outcome.status === 'ok') return value;
  const mark = outcome.status === 'failed' ? 'FAIL' : outcome.status;
  return outcome.metrics[key] === undefined ? mark : `${value} ${mark}`;
}

/** Renders the table; `brokerNames[0]` is Switchboard's column when both are present, ratio = first ÷ second. */
export function renderTable(results: ScenarioResults[], brokerNames: string[]): string {
  const header = ['scenario', 'metric', ...brokerNames];
  const hasRatio = brokerNames.length === 2;
  if (hasRatio) header.push('ratio');
  header.push('broker CPU', 'load CPU');
  const rows: string[][] = [header];
  for (const { scenario, outcomes } of results) {
    scenario.metrics.forEach((metric, i) => {
      const row = [
        i === 0 ? `(${scenario.id}) ${scenario.title}` : '',
        `${metric.label} ${metric.isHigherBetter ? '↑' : '↓'}`,
      ];
      for (const name of brokerNames) row.push(cell(outcomes.get(name), metric.key, metric.decimals));
      if (hasRatio) {
        const first = outcomes.get(brokerNames[0]!)?.metrics[metric.key];
        const second = outcomes.get(brokerNames[1]!)?.metrics[metric.key];
        row.push(
          first !== undefined && second !== undefined && second !== 0 ? `${(first / second).toFixed(2)}x` : 'n/a',
        );
      }
      const cpu = (pick: (o: ScenarioOutcome) => number | undefined): string =>
        i === 0
          ? brokerNames
              .map((name) => {
                const o = outcomes.get(name);
                return o === undefined ? '-' : formatPercent(pick(o));
              })
              .join(' / ')
          : '';
      row.push(
        cpu((o) => o.brokerCpuPercent),
        cpu((o) => o.loadCpuPercent),
      );
      rows.push(row);
    });
  }
  return layOut(rows);
}

/** Aligned columns: the first two (scenario, metric) left, the rest right; a rule under the header row. */
export function layOut(rows: string[][]): string {
  const header = rows[0]!;
  const widths = header.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  const isNumeric = (column: number): boolean => column >= 2;
  const line = (row: string[]): string =>
    row
      .map((text, column) => (isNumeric(column) ? text.padStart(widths[column]!) : text.padEnd(widths[column]!)))
      .join(' | ');
  const separator = widths.map((width) => '-'.repeat(width)).join('-|-');
  return [line(header), separator, ...rows.slice(1).map(line)].join('\n');
}

/** Writes `bench-results/<timestamp>.json` under `rootDir` and returns its path. */
export function writeJson(rootDir: string, startedAt: Date, body: unknown): string {
  const dir = join(rootDir, 'bench-results');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(path, `${JSON.stringify(body, null, 2)}\n`);
  return path;
}
