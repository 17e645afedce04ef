/**
 * Loading: optional JSON file, then environment variables, then one validation pass. Every problem becomes one line
 * `config error: <key> (<ENV_VAR>) must be <what>, got <value>`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Compile } from 'typebox/compile';
import { Value } from 'typebox/value';
import { ENV_BINDINGS, envVarFor, fromEnvString } from './env.js';
import { ConfigSchema, type Config } from './schema.js';
import { describeSchema, schemaAt, type SchemaNode } from './schema-node.js';

/** The file read when neither `--config` nor `SWITCHBOARD_CONFIG` names one (only if it exists). */
export const DEFAULT_CONFIG_FILE = 'switchboard.config.json';

const check = Compile(ConfigSchema);
const ROOT = ConfigSchema as unknown as SchemaNode;

/** One problem with the configuration. */
export interface ConfigIssue {
  /** Dotted key (`mqtt.port`, `acl[0].topic`); empty for problems with the file or the arguments as a whole. */
  key: string;
  /** The environment variable the bad value came from. */
  envVar?: string;
  /** The config file the bad value came from. */
  file?: string;
  /** What is wrong, e.g. `must be an integer 0..65535, got "abc"`. */
  problem: string;
}

/** The configuration is unusable; `message` holds one `config error: …` line per issue. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'CONFIG_INVALID';
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[], options?: ErrorOptions) {
    super(issues.map(formatIssue).join('\n'), options);
    this.issues = issues;
  }
}

function formatIssue(issue: ConfigIssue): string {
  const key = issue.key === '' ? '' : `${issue.key}${issue.envVar === undefined ? '' : ` (${issue.envVar})`} `;
  const file = issue.file !== undefined && issue.envVar === undefined ? ` (in ${issue.file})` : '';
  return `config error: ${key}${issue.problem}${file}`;
}

/** Where each overridden value came from, so an error names the variable the user has to fix. */
interface Origins {
  file: string | undefined;
  /** Dotted key → environment variable and the raw string it held. */
  env: Map<string, { envVar: string; raw: string }>;
}

/** Validates an already-assembled configuration object (e.g. a parsed file) and fills in every default. */
export function parseConfig(input: unknown): Config {
  return validate(input, { file: undefined, env: new Map() });
}

/**
 * Reads the configuration: the JSON file named by `--config FILE` (or `--config=FILE`) in `argv` (arguments after the
 * script), else by `SWITCHBOARD_CONFIG`, else `./switchboard.config.json` if it exists; then applies `SWITCHBOARD_*`
 * variables from `env` (empty ones are ignored); then validates. Throws {@link ConfigError}.
 */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Config {
  const file = configFileFrom(argv, env);
  const input = file === undefined ? {} : readConfigFile(file);
  const origins: Origins = { file, env: new Map() };
  for (const binding of ENV_BINDINGS) {
    const raw = env[binding.envVar];
    if (raw === undefined || raw === '') continue;
    const [section, key] = binding.path;
    if (section === undefined) continue;
    if (key === undefined) {
      input[section] = fromEnvString(binding.path, raw);
    } else {
      const existing = input[section];
      // A section that is not an object is reported by validation; do not hide that by replacing it.
      if (existing !== undefined && !isPlainObject(existing)) continue;
      const target = existing ?? {};
      target[key] = fromEnvString(binding.path, raw);
      input[section] = target;
    }
    origins.env.set(binding.key, { envVar: binding.envVar, raw });
  }
  return validate(input, origins);
}

function configFileFrom(argv: readonly string[], env: NodeJS.ProcessEnv): string | undefined {
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--config') {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) {
        throw new ConfigError([{ key: '', problem: '--config needs a file name' }]);
      }
      file = next;
      i++;
    } else if (arg.startsWith('--config=')) {
      file = arg.slice('--config='.length);
    } else {
      throw new ConfigError([{ key: '', problem: `unknown argument ${JSON.stringify(arg)} (only --config FILE)` }]);
    }
  }
  if (file !== undefined) return resolve(file);
  const fromEnv = env['SWITCHBOARD_CONFIG'];
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv);
  const fallback = resolve(DEFAULT_CONFIG_FILE);
  return existsSync(fallback) ? fallback : undefined;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ConfigError([{ key: '', problem: `cannot read config file ${file}: ${reason}` }], { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError([{ key: '', problem: `config file ${file} is not valid JSON: ${reason}` }], { cause: error });
  }
  if (!isPlainObject(parsed)) {
    throw new ConfigError([{ key: '', problem: `config file ${file} must hold a JSON object` }]);
  }
  return parsed;
}

function validate(input: unknown, origins: Origins): Config {
  const value = Value.Default(ConfigSchema, structuredClone(input));
  if (!check.Check(value)) throw new ConfigError(schemaIssues(value, origins));
  const issues = crossFieldIssues(value, origins);
  if (issues.length > 0) throw new ConfigError(issues);
  return value;
}

/** One issue per bad key (TypeBox reports several errors for one `anyOf`, and two for an unknown key). */
function schemaIssues(value: unknown, origins: Origins): ConfigIssue[] {
  const byPath = new Map<string, ConfigIssue>();
  for (const error of check.Errors(value)) {
    if (error.keyword === 'additionalProperties') continue; // reported per key by the `boolean` error below
    const path = pointerToPath(error.instancePath);
    if (error.keyword === 'boolean' && error.schemaPath.endsWith('/additionalProperties')) {
      addIssue(byPath, origins, path, 'is not a known key');
    } else if (error.keyword === 'required') {
      for (const name of error.params.requiredProperties) addIssue(byPath, origins, [...path, name], 'is required');
    } else {
      const node = schemaAt(ROOT, path);
      const got = gotText(path, valueAt(value, path), origins);
      addIssue(byPath, origins, path, `must be ${node === undefined ? 'valid' : describeSchema(node)}, got ${got}`);
    }
  }
  return [...byPath.values()];
}

function addIssue(byPath: Map<string, ConfigIssue>, origins: Origins, path: readonly string[], problem: string): void {
  const key = pathToKey(path);
  if (byPath.has(key)) return;
  byPath.set(key, makeIssue(origins, path, problem));
}

function makeIssue(origins: Origins, path: readonly string[], problem: string): ConfigIssue {
  const key = pathToKey(path);
  // An error inside an env-provided value (e.g. an element of SWITCHBOARD_ACL) is attributed to that variable.
  const fromEnv = origins.env.get(key) ?? origins.env.get(path[0] ?? '');
  const issue: ConfigIssue = { key, problem };
  if (fromEnv !== undefined) issue.envVar = fromEnv.envVar;
  else if (origins.file !== undefined) issue.file = origins.file;
  return issue;
}

function gotText(path: readonly string[], actual: unknown, origins: Origins): string {
  const fromEnv = origins.env.get(pathToKey(path));
  if (fromEnv !== undefined) return JSON.stringify(fromEnv.raw);
  const text = JSON.stringify(actual) ?? String(actual);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Rules a per-key schema cannot say. */
function crossFieldIssues(config: Config, origins: Origins): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if ((config.tls.cert === undefined) !== (config.tls.key === undefined)) {
    const missing = config.tls.cert === undefined ? 'cert' : 'key';
    const present = missing === 'cert' ? 'key' : 'cert';
    const hint = `set it in the config file or ${envVarFor(`tls.${missing}`) ?? 'the environment'}`;
    issues.push(
      makeIssue(origins, ['tls', missing], `must be set when tls.${present} is set, TLS needs both (${hint})`),
    );
  }
  config.acl.forEach((rule, index) => {
    const problem = topicFilterProblem(rule.topic, config.mqtt.maxTopicLevels);
    if (problem !== undefined) {
      const path = ['acl', String(index), 'topic'];
      issues.push(
        makeIssue(origins, path, `must be a valid topic filter (${problem}), got ${JSON.stringify(rule.topic)}`),
      );
    }
  });
  return issues;
}

/** Why `filter` is not a valid MQTT topic filter, or undefined. */
function topicFilterProblem(filter: string, maxLevels: number): string | undefined {
  if (filter.includes('\u0000')) return 'it contains U+0000'; // [MQTT-4.7.3-2]
  const levels = filter.split('/');
  if (levels.length > maxLevels) return `more than mqtt.maxTopicLevels (${String(maxLevels)}) levels`;
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    // [MQTT-4.7.1-2] `#` is a whole level and the last one; [MQTT-4.7.1-3] `+` is a whole level.
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return '`#` must be the whole last level';
    if (level.includes('+') && level !== '+') return '`+` must be a whole level';
  }
  return undefined;
}

function pointerToPath(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function pathToKey(path: readonly string[]): string {
  let key = '';
  for (const segment of path) {
    if (/^\d+$/.test(segment)) key += `[${segment}]`;
    else key += key === '' ? segment : `.${segment}`;
  }
  return key;
}

function valueAt(value: unknown, path: readonly string[]): unknown {
  let node = value;
  for (const segment of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
