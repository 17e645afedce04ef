/** The platform table (g, h): Switchboard on SQLite and on PostgreSQL side by side, with the targets. */
import { BACKENDS, type BackendKind } from './platform-database.js';
import type { PlatformMetricSpec, PlatformResults } from './platform-scenario.js';
import { cell, formatNumber, formatPercent, layOut } from './report.js';
import type { ScenarioOutcome } from './scenario.js';

/** Whether a measured value meets its target: at least it when higher is better, below it otherwise. */
export function meetsTarget(metric: PlatformMetricSpec, value: number, target: number): boolean {
  return metric.isHigherBetter ? value >= target : value < target;
}

/** "≥ 100,000 met / ≥ 50,000 MISSED"; "-" for a store without a target. */
function targetCell(metric: PlatformMetricSpec, outcomes: Map<BackendKind, ScenarioOutcome>): string {
  if (metric.targets === undefined) return '';
  return BACKENDS.map(({ kind }) => {
    const target = metric.targets?.[kind];
    if (target === undefined) return '-';
    const value = outcomes.get(kind)?.metrics[metric.key];
    const verdict =
      value === undefined || !Number.isFinite(value) ? '' : meetsTarget(metric, value, target) ? ' met' : ' MISSED';
    return `${metric.isHigherBetter ? '≥' : '<'} ${formatNumber(target, 0)}${verdict}`;
  }).join(' / ');
}

export function renderPlatformTable(results: readonly PlatformResults[]): string {
  const names = BACKENDS.map((b) => b.name);
  const rows: string[][] = [
    [
      'scenario',
      'metric',
      ...names.map((name) => `Switchboard ${name}`),
      `target ${names.join(' / ')}`,
      'broker CPU',
      'load CPU',
    ],
  ];
  for (const { scenario, outcomes } of results) {
    scenario.metrics.forEach((metric, i) => {
      const values = BACKENDS.map(({ kind }) => cell(outcomes.get(kind), metric.key, metric.decimals));
      // A row measured on neither store (PostgreSQL CPU when only SQLite ran) is left out.
      if (i > 0 && BACKENDS.every(({ kind }) => outcomes.get(kind)?.metrics[metric.key] === undefined)) return;
      const cpu = (pick: (o: ScenarioOutcome) => number | undefined): string =>
        i === 0
          ? BACKENDS.map(({ kind }) => {
              const outcome = outcomes.get(kind);
              return outcome === undefined ? '-' : formatPercent(pick(outcome));
            }).join(' / ')
          : '';
      rows.push([
        i === 0 ? `(${scenario.id}) ${scenario.title}` : '',
        `${metric.label} ${metric.isHigherBetter ? '↑' : '↓'}`,
        ...values,
        targetCell(metric, outcomes),
        cpu((o) => o.brokerCpuPercent),
        cpu((o) => o.loadCpuPercent),
      ]);
    });
  }
  return layOut(rows);
}

/** Lines naming each target that was missed, printed under the table (a missed target is not a failure). */
export function missedTargets(results: readonly PlatformResults[]): string[] {
  const lines: string[] = [];
  for (const { scenario, outcomes } of results) {
    for (const metric of scenario.metrics) {
      for (const { kind, name } of BACKENDS) {
        const target = metric.targets?.[kind];
        const value = outcomes.get(kind)?.metrics[metric.key];
        if (target === undefined || value === undefined || !Number.isFinite(value)) continue;
        if (!meetsTarget(metric, value, target)) {
          lines.push(
            `(${scenario.id}) ${name}: ${metric.label} ${formatNumber(value, metric.decimals)}, target ` +
              `${metric.isHigherBetter ? '≥' : '<'} ${formatNumber(target, 0)}`,
          );
        }
      }
    }
  }
  return lines;
}
