/**
 * `switchboard users|devices|api-keys create …`: creating users, devices (printing their credentials) and API keys,
 * either against the data dir (opening `<dataDir>/platform.db` directly, as the server does; SQLite's WAL lets both
 * run at once) or against a running server's HTTP API (`--url` with `--api-key`). Results are JSON on stdout.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { AuthService, bootstrapAdmin, loadOrCreateJwtKey } from './auth/index.js';
import { loadConfig, type Config } from './config/index.js';
import { ROLES, type Role } from './platform/model.js';
import { Platform } from './platform/platform.js';
import { SqlitePlatformStore } from './storage/platform/index.js';

export const ENTITY_USAGE = `  users create --username U --password P --role admin|operator|viewer [--org ID]
  devices create --name N [--profile ID_OR_NAME] [--org ID]      prints the device with its credentials
  api-keys create --name N --role admin|operator|viewer [--org ID]  prints the key (shown only once)

  These work on the data dir (--config FILE, --data-dir DIR; default ./data), creating the default organization and
  its admin first if the store is empty; --org defaults to that organization. With --url http://host:port and
  --api-key KEY (or SWITCHBOARD_URL / SWITCHBOARD_API_KEY) they call a running server instead, in the key's
  organization.
`;

/** A command-line mistake: printed with the usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const OPTIONS = {
  config: { type: 'string' },
  'data-dir': { type: 'string' },
  url: { type: 'string' },
  'api-key': { type: 'string' },
  org: { type: 'string' },
  username: { type: 'string' },
  password: { type: 'string' },
  role: { type: 'string' },
  name: { type: 'string' },
  profile: { type: 'string' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; strict: true }>>['values'];

interface Request {
  /** HTTP path of the same operation, for `--url`. */
  path: string;
  body: Record<string, unknown>;
}

function required(values: Values, name: 'username' | 'password' | 'role' | 'name'): string {
  const value = values[name];
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

function role(values: Values): Role {
  const value = required(values, 'role');
  if (!ROLES.includes(value as Role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
  return value as Role;
}

/** What `<entity> create` asks for, validated. */
function requestFor(entity: string, values: Values): Request {
  switch (entity) {
    case 'users':
      return {
        path: '/api/users',
        body: { username: required(values, 'username'), password: required(values, 'password'), role: role(values) },
      };
    case 'devices':
      return {
        path: '/api/devices',
        body: { name: required(values, 'name'), ...(values.profile === undefined ? {} : { profile: values.profile }) },
      };
    case 'api-keys':
      return { path: '/api/api-keys', body: { name: required(values, 'name'), role: role(values) } };
    default:
      throw new UsageError(`unknown command ${JSON.stringify(entity)}`);
  }
}

/** Where a command writes: the JSON result (stdout) and one-off notices such as a generated password (stderr). */
export interface CommandOutput {
  result(text: string): void;
  notice(text: string): void;
}

/** Runs `switchboard <entity> create …`. */
export async function runEntityCommand(
  entity: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  output: CommandOutput,
): Promise<void> {
  const [action, ...rest] = args;
  if (action !== 'create') throw new UsageError(`${entity}: only "create" is supported`);
  let values: Values;
  try {
    values = parseArgs({ args: [...rest], options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const request = requestFor(entity, values);
  const url = values.url ?? env['SWITCHBOARD_URL'];
  if (url !== undefined && url !== '') {
    const apiKey = values['api-key'] ?? env['SWITCHBOARD_API_KEY'];
    if (apiKey === undefined || apiKey === '') throw new UsageError('--url needs --api-key (or SWITCHBOARD_API_KEY)');
    output.result(JSON.stringify(await callServer(url, apiKey, request), null, 2));
    return;
  }
  const config = loadConfig(values.config === undefined ? [] : ['--config', values.config], env);
  output.result(JSON.stringify(await runLocally(config, values, entity, request, output), null, 2));
}

async function callServer(baseUrl: string, apiKey: string, request: Request): Promise<unknown> {
  const response = await fetch(new URL(request.path, baseUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
    body: JSON.stringify(request.body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${request.path} answered ${String(response.status)}: ${text}`);
  return JSON.parse(text) as unknown;
}

async function runLocally(
  config: Config,
  values: Values,
  entity: string,
  request: Request,
  output: CommandOutput,
): Promise<unknown> {
  if (config.database.url !== undefined) {
    throw new UsageError('the platform store is PostgreSQL (database.url): use --url and --api-key against the server');
  }
  const dataDir = values['data-dir'] ?? config.dataDir;
  mkdirSync(dataDir, { recursive: true });
  const store = new SqlitePlatformStore(join(dataDir, 'platform.db'), { synchronous: config.storage.synchronous });
  const platform = new Platform({
    store,
    logger: pino({ level: 'silent' }),
    zoneHierarchy: config.platform.zoneHierarchy,
  });
  try {
    const auth = new AuthService({ store, entities: platform.entities, jwtKey: loadOrCreateJwtKey(dataDir) });
    const boot = await bootstrapAdmin({ entities: platform.entities, auth, adminPassword: config.adminPassword });
    if (boot.isCreated && boot.isPasswordGenerated) {
      output.notice(`created organization "default" and user admin with password ${boot.password} (shown only now)`);
    }
    const orgId = values.org ?? (await auth.serverOrgId());
    if (orgId === undefined || (await store.getOrganization(orgId)) === undefined) {
      throw new UsageError(`no organization ${JSON.stringify(values.org)}`);
    }
    const body = request.body;
    switch (entity) {
      case 'users':
        return await auth.createUser(orgId, {
          username: String(body['username']),
          password: String(body['password']),
          role: body['role'] as Role,
        });
      case 'devices': {
        const profile = values.profile;
        const byId = profile === undefined ? undefined : await platform.entities.getProfile(orgId, profile);
        const created = await platform.entities.createDevice(orgId, {
          name: String(body['name']),
          ...(profile === undefined ? {} : byId !== undefined ? { profileId: byId.id } : { profileName: profile }),
        });
        return { ...created.device, credentials: created.credentials };
      }
      default:
        return await auth.createApiKey(orgId, { name: String(body['name']), role: body['role'] as Role });
    }
  } finally {
    await platform.close();
  }
}
