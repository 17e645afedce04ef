/**
 * Environment variables that override configuration keys. Every scalar key has one: top-level `SWITCHBOARD_<KEY>`,
 * section keys `SWITCHBOARD_<SECTION>_<KEY>` (UPPER_SNAKE), with the names the issue fixes as exceptions below.
 */
import { ConfigSchema } from './schema.js';
import { schemaAt, type SchemaNode } from './schema-node.js';

/** One environment variable and the key path it sets. */
export interface EnvBinding {
  /** Dotted key, e.g. `mqtt.port`. */
  key: string;
  path: readonly string[];
  envVar: string;
}

/** Names that do not follow the generated pattern (kept short or historical, as the issue names them). */
const RENAMED: Readonly<Record<string, string>> = {
  'tls.port': 'SWITCHBOARD_MQTTS_PORT',
  'tls.httpsPort': 'SWITCHBOARD_HTTPS_PORT',
  'storage.kind': 'SWITCHBOARD_STORAGE',
};

const upperSnake = (name: string): string => name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

function buildBindings(): EnvBinding[] {
  const bindings: EnvBinding[] = [];
  const root = ConfigSchema as unknown as SchemaNode;
  for (const [name, node] of Object.entries(root.properties ?? {})) {
    if (node.type === 'object' && node.properties !== undefined) {
      for (const child of Object.keys(node.properties)) {
        const key = `${name}.${child}`;
        bindings.push({
          key,
          path: [name, child],
          envVar: RENAMED[key] ?? `SWITCHBOARD_${upperSnake(name)}_${upperSnake(child)}`,
        });
      }
    } else {
      bindings.push({ key: name, path: [name], envVar: RENAMED[name] ?? `SWITCHBOARD_${upperSnake(name)}` });
    }
  }
  return bindings;
}

/** Every environment variable the configuration reads, in schema order (`SWITCHBOARD_ACL` takes JSON). */
export const ENV_BINDINGS: readonly EnvBinding[] = buildBindings();

/** The environment variable that overrides `key` (dotted, e.g. `mqtt.port`), if any. */
export function envVarFor(key: string): string | undefined {
  return ENV_BINDINGS.find((binding) => binding.key === key)?.envVar;
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

/**
 * Converts an environment string to the type the schema wants. A string that does not convert is returned unchanged,
 * so validation reports it with the value the user typed.
 */
export function fromEnvString(path: readonly string[], raw: string): unknown {
  const node = schemaAt(ConfigSchema, path);
  switch (node?.type) {
    case 'integer':
    case 'number':
      return /^[+-]?\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw.trim()) : raw;
    case 'boolean': {
      const word = raw.trim().toLowerCase();
      if (TRUE_WORDS.has(word)) return true;
      if (FALSE_WORDS.has(word)) return false;
      return raw;
    }
    case 'array':
    case 'object':
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        return raw;
      }
    default:
      return raw;
  }
}
