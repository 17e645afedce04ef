import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ConfigError } from '../../src/config/index.js';
import { ReasonCode } from '../../src/mqtt/codec/index.js';
import { ListenErrorCode } from '../../src/transport/index.js';
import { HTTP_ERROR_STATUS } from '../../src/http/index.js';

// Compiled to dist/test/docs/: the repository root is three levels up.
const errorsDoc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');

/** Table rows of docs/errors.md as trimmed cells, keyed by the first cell with its backticks removed. */
const rows = new Map<string, string[]>();
for (const line of errorsDoc.split('\n')) {
  if (!line.startsWith('|')) continue;
  const cells = line
    .split('|')
    .slice(1, -1)
    .map((cell) => cell.trim());
  const key = cells[0]?.replaceAll('`', '');
  if (key !== undefined) rows.set(key, cells);
}

test('docs/errors.md lists every MQTT reason code the broker knows, by hex value and name', () => {
  for (const [name, code] of Object.entries(ReasonCode)) {
    const hex = `0x${code.toString(16).toUpperCase().padStart(2, '0')}`;
    const row = rows.get(hex);
    assert.ok(row !== undefined, `docs/errors.md has no row for ${hex}`);
    assert.equal(row[1], name, `the ${hex} row of docs/errors.md names ${String(row[1])}, not ${name}`);
  }
});

test('docs/errors.md lists every start-up error code (configuration and listeners)', () => {
  const codes = [new ConfigError([]).code, ...Object.values(ListenErrorCode)];
  for (const code of codes) assert.ok(rows.has(code), `docs/errors.md has no row for ${code}`);
});

test('docs/errors.md lists every HTTP error code with its status', () => {
  for (const [code, status] of Object.entries(HTTP_ERROR_STATUS)) {
    const row = rows.get(code);
    assert.ok(row !== undefined, `docs/errors.md has no row for ${code}`);
    assert.equal(
      row[1],
      String(status),
      `docs/errors.md gives ${code} status ${String(row[1])}, not ${String(status)}`,
    );
  }
});
