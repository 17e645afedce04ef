import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ENV_BINDINGS, parseConfig } from '../../src/config/index.js';

// Compiled to dist/test/config/: the repository root is three levels up.
const root = new URL('../../../', import.meta.url);
const read = (file: string): string => readFileSync(new URL(file, root), 'utf8');

test('docs/configuration.md and README.md list every key and its environment variable', () => {
  for (const file of ['docs/configuration.md', 'README.md']) {
    const text = read(file);
    for (const binding of ENV_BINDINGS) {
      assert.ok(text.includes(`\`${binding.key}\``), `${file} lacks key ${binding.key}`);
      assert.ok(text.includes(`\`${binding.envVar}\``), `${file} lacks ${binding.envVar}`);
    }
  }
});

test('docs/limits.md explains every broker limit with its default', () => {
  const text = read('docs/limits.md');
  const limits = parseConfig({}).mqtt;
  for (const [key, value] of Object.entries(limits)) {
    if (key === 'port') continue;
    assert.ok(text.includes(`\`mqtt.${key}\``), `docs/limits.md lacks mqtt.${key}`);
    const shown = [String(value), value.toLocaleString('en-US'), value.toLocaleString('en-US').replaceAll(',', '_')];
    assert.ok(
      shown.some((form) => text.includes(form)),
      `docs/limits.md lacks the default of mqtt.${key} (${String(value)})`,
    );
  }
});
