/**
 * Devices for scenario g, each with its own access token: through the management API of the running server (the
 * default: it exercises the real API, as users script it), or directly in the store before the server starts.
 */
import { EntityService } from '../src/platform/entities.js';
import type { PlatformStore } from '../src/storage/platform-store.js';

/** A device the bench created and how it authenticates. */
export interface ProvisionedDevice {
  id: string;
  name: string;
  accessToken: string;
}

/** Device creations in flight at once over HTTP (each is one small INSERT; more only queues in the server). */
const HTTP_CONCURRENCY = 16;
/** How long the HTTP listener may take to accept after the MQTT listener did. */
const HTTP_READY_TIMEOUT_MS = 10_000;
/** The server's default zone hierarchy; the bench creates no zones, but EntityService needs one. */
const ZONE_HIERARCHY = ['building', 'level', 'area'];
/** The user the server creates on first start, with `SWITCHBOARD_ADMIN_PASSWORD`. */
export const ADMIN_USERNAME = 'admin';

function deviceName(prefix: string, index: number): string {
  return `${prefix}-${String(index).padStart(6, '0')}`;
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` running; results in index order. */
async function mapConcurrent<T>(count: number, concurrency: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      results[index] = await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return results;
}

async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<unknown> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST ${new URL(url).pathname}: HTTP ${response.status} ${text.slice(0, 200)}`);
  return JSON.parse(text) as unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * Logs in as admin. The bench knows the server is up once its MQTT port accepts; the HTTP listener opens right
 * after, so a refused connection is retried for a while (an HTTP error answer is not).
 */
async function logIn(httpBase: string, adminPassword: string): Promise<unknown> {
  const deadline = Date.now() + HTTP_READY_TIMEOUT_MS;
  for (;;) {
    try {
      return await postJson(`${httpBase}/api/auth/login`, { username: ADMIN_USERNAME, password: adminPassword });
    } catch (error) {
      // fetch rejects with a TypeError for network failures; our own HTTP status errors are plain Errors.
      if (!(error instanceof TypeError) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** `POST /api/auth/login` as admin, then `POST /api/devices` per device; answers each device's access token. */
export async function provisionOverHttp(
  httpBase: string,
  adminPassword: string,
  count: number,
  namePrefix: string,
): Promise<ProvisionedDevice[]> {
  const login = await logIn(httpBase, adminPassword);
  if (!isRecord(login) || typeof login['token'] !== 'string') throw new Error('login answered no token');
  const authorization = { authorization: `Bearer ${login['token']}` };
  return mapConcurrent(count, HTTP_CONCURRENCY, async (index) => {
    const name = deviceName(namePrefix, index);
    const created = await postJson(`${httpBase}/api/devices`, { name }, authorization);
    const credentials = isRecord(created) ? created['credentials'] : undefined;
    const id = isRecord(created) ? created['id'] : undefined;
    const accessToken = isRecord(credentials) ? credentials['accessToken'] : undefined;
    if (typeof id !== 'string' || typeof accessToken !== 'string') {
      throw new Error(`POST /api/devices answered no id or access token: ${JSON.stringify(created).slice(0, 200)}`);
    }
    return { id, name, accessToken };
  });
}

/** An organization with `count` devices (access tokens generated as the API would), written straight to the store. */
export async function provisionInStore(
  store: PlatformStore,
  count: number,
  namePrefix: string,
): Promise<ProvisionedDevice[]> {
  const entities = new EntityService(store, { zoneHierarchy: ZONE_HIERARCHY });
  const org = await entities.createOrganization({ name: `${namePrefix}-org` });
  const devices: ProvisionedDevice[] = [];
  for (let index = 0; index < count; index++) {
    const name = deviceName(namePrefix, index);
    const { device, credentials } = await entities.createDevice(org.id, { name });
    if (credentials.type !== 'ACCESS_TOKEN') throw new Error(`device ${name} got ${credentials.type} credentials`);
    devices.push({ id: device.id, name, accessToken: credentials.accessToken });
  }
  return devices;
}
