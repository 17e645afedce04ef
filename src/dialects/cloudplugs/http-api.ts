/**
 * CloudPlugs' HTTP API (device-apis.md §2.5) under `/iot/`: enrolment (`POST`/`PUT /iot/device`), device read /
 * change / delete, properties and location, data publish (`PUT /iot/data/<channel>`) and read (`GET
 * /iot/data/<mask>`), channel listing. Credentials: `X-Plug-Id` + `X-Plug-Auth` (a device), `X-Plug-Email` +
 * `X-Plug-Master` or `Authorization: Basic base64(email:master)` (an account). Errors are `{"err": <status>, "error":
 * <code>, "message"}` (CloudPlugs clients read `err`). Statuses: docs/cloudplugs.md, "HTTP API".
 */
import type { FastifyError, FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Broker } from '../../broker/index.js';
import type { JsonValue } from '../../platform/model.js';
import { boundMs, ingestRecords, readRecords } from './data.js';
import { PlugErr, PlugError } from './errors.js';
import {
  asBadRequest,
  bodyOf,
  csv,
  ERROR_CODE,
  integerOf,
  jsonBody,
  locationOf,
  objectBody,
  propsOf,
  statusOf,
  stringField,
  toStatus,
} from './http-input.js';
import type { PlugAccountIdentity } from './identity.js';
import { modifyRecord } from './modify.js';
import { parsePermFilter } from './perm.js';
import { ORGANIZATION_READER, type RecordReader } from './private-records.js';
import { isDevicePlugId } from './plug-id.js';
import { parseProperties, readProperties, setProperties } from './properties.js';
import { parseRecords, type DataRecord } from './records.js';
import { canRead, canWrite, isSameDevice, type PlugDevice } from './registry.js';
import type { CloudplugsService } from './service.js';
import { channelProblem, matchesMask } from './topics.js';

/** What the `/iot` plugin needs, with its read bounds. */
export interface CloudplugsHttpOptions {
  service: CloudplugsService;
  broker: () => Broker | undefined;
  logger: Logger;
  /** `limit` when a read names none, and the most it may name. */
  defaultReadLimit: number;
  maxReadLimit: number;
  /** Events examined at most for one wildcard read. */
  maxScanRecords: number;
  /** Devices one read may cover (`of` or, absent, every readable device). */
  maxReadDevices: number;
}

/** Who is calling: a device or an account. */
type Caller = { kind: 'device'; entry: PlugDevice } | { kind: 'account'; account: PlugAccountIdentity };

/** Whose private records a caller sees: an account its organization's, a device only its own (private-records.ts). */
function readerOf(caller: Caller): RecordReader {
  return caller.kind === 'account' ? ORGANIZATION_READER : { kind: 'device', deviceId: caller.entry.device.id };
}

/** The `/iot` routes as one encapsulated Fastify plugin (own body parser and error handler). */
export function cloudplugsHttpPlugin(options: CloudplugsHttpOptions): FastifyPluginAsync {
  const { service, logger } = options;
  const { platform, store, registry } = service;
  return (app) => {
    // Devices post JSON with any content type (or none): parse it here, so a parse failure is a 400 with `err`.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
      done(null, body);
    });
    app.setErrorHandler((error: FastifyError, _request, reply) => {
      const { status, message } = toStatus(error, logger);
      return reply.code(status).send({ err: status, error: ERROR_CODE[status] ?? 'ERROR', message });
    });

    const callerOf = async (request: FastifyRequest, isRequired = true): Promise<Caller | undefined> => {
      const header = (name: string): string | undefined => {
        const value = request.headers[name];
        return typeof value === 'string' && value !== '' ? value : undefined;
      };
      const plugId = header('x-plug-id');
      const auth = header('x-plug-auth');
      if (plugId !== undefined) {
        const identity = service.loginDevice(plugId, auth ?? '');
        const entry = registry.byDeviceId(identity.deviceId);
        if (entry === undefined) throw new PlugError(PlugErr.Unauthorized, 'unknown Plug-ID');
        return { kind: 'device', entry };
      }
      let email = header('x-plug-email');
      let master = header('x-plug-master');
      const authorization = header('authorization');
      if (email === undefined && authorization?.toLowerCase().startsWith('basic ') === true) {
        const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        email = colon < 0 ? decoded : decoded.slice(0, colon);
        master = colon < 0 ? '' : decoded.slice(colon + 1);
        if (isDevicePlugId(email)) {
          const identity = service.loginDevice(email, master);
          const entry = registry.byDeviceId(identity.deviceId);
          if (entry !== undefined) return { kind: 'device', entry };
        }
      }
      if (email !== undefined) return { kind: 'account', account: await service.loginAccount(email, master ?? '') };
      if (isRequired)
        throw new PlugError(PlugErr.Unauthorized, 'send X-Plug-Id/X-Plug-Auth or X-Plug-Email/X-Plug-Master');
      return undefined;
    };
    const mustCall = async (request: FastifyRequest): Promise<Caller> => {
      const caller = await callerOf(request);
      if (caller === undefined) throw new PlugError(PlugErr.Unauthorized, 'credentials required');
      return caller;
    };
    const deviceFor = (caller: Caller, plugId: string, access: 'read' | 'write' | 'admin'): PlugDevice => {
      const entry = registry.byPlugId(plugId);
      if (entry === undefined) throw new PlugError(PlugErr.NotFound, 'no device has that Plug-ID');
      if (caller.kind === 'account') {
        if (caller.account.orgId !== entry.device.orgId)
          throw new PlugError(PlugErr.NotFound, 'no device has that Plug-ID');
        if (access !== 'read' && caller.account.role === 'viewer')
          throw new PlugError(PlugErr.Forbidden, 'a viewer reads only');
        return entry;
      }
      const isAllowed =
        access === 'read'
          ? canRead(caller.entry, entry)
          : access === 'write'
            ? isSameDevice(caller.entry, entry)
            : false;
      if (!isAllowed) throw new PlugError(PlugErr.Forbidden, `not permitted on ${plugId}`);
      return entry;
    };

    // ---- enrolment -------------------------------------------------------------------------------------------
    app.post('/iot/device', async (request, reply) => {
      const body = objectBody(request);
      const caller = await callerOf(request, false);
      if (caller === undefined) {
        const model = stringField(body, 'model', true);
        const hwid = stringField(body, 'hwid', true);
        const pass = stringField(body, 'pass', true);
        const props = propsOf(body);
        const result = await service.enrollThing(model, hwid, stringField(body, 'name', false), pass);
        if (props !== undefined) await setProperties(store, registry.byPlugId(result.id)!, props);
        return reply.code(200).send(result);
      }
      if (caller.kind !== 'account')
        throw new PlugError(PlugErr.Forbidden, 'a prototype is enrolled with the master password');
      if (caller.account.role === 'viewer') throw new PlugError(PlugErr.Forbidden, 'a viewer cannot enrol devices');
      const name = stringField(body, 'name', true);
      const perm = body['perm'] === undefined ? undefined : parsePermFilter(body['perm']);
      const props = propsOf(body);
      const pass = stringField(body, 'pass', false);
      const { entry, auth } = await service.createDevice(caller.account.orgId, name, undefined, {
        kind: 'prototype',
        templateId: null,
        hwid: stringField(body, 'hwid', false) ?? null,
        perm,
        auth: pass,
      });
      if (props !== undefined) await setProperties(store, entry, props);
      return reply.code(201).send({ id: entry.row.plugId, auth });
    });

    app.put('/iot/device', async (request, reply) => {
      const body = objectBody(request);
      const caller = await callerOf(request, false);
      if (caller?.kind === 'account') throw new PlugError(PlugErr.Forbidden, 'a controller enrols as itself');
      const asController = caller?.entry;
      if (asController !== undefined && asController.row.kind !== 'controller') {
        throw new PlugError(PlugErr.Forbidden, 'only a controller controls other devices');
      }
      const result = await service.enrollController(
        stringField(body, 'model', true),
        stringField(body, 'ctrl', true),
        stringField(body, 'pass', true),
        { hwid: stringField(body, 'hwid', false), name: stringField(body, 'name', false), asController },
      );
      return result === undefined ? reply.code(200).send() : reply.code(201).send(result);
    });

    // ---- devices -------------------------------------------------------------------------------------------------
    app.get<{ Params: { plugId: string } }>('/iot/device/:plugId', async (request) => {
      const entry = deviceFor(await mustCall(request), request.params.plugId, 'read');
      return describe(entry, await readProperties(platform, store, entry, undefined), registry);
    });

    app.patch<{ Params: { plugId: string } }>('/iot/device/:plugId', async (request) => {
      const caller = await mustCall(request);
      const body = objectBody(request);
      const needsAdmin = body['perm'] !== undefined || body['status'] !== undefined;
      const entry = deviceFor(caller, request.params.plugId, needsAdmin ? 'admin' : 'write');
      for (const key of Object.keys(body)) {
        if (!['perm', 'name', 'status', 'props'].includes(key))
          throw new PlugError(PlugErr.BadRequest, `unknown field "${key}"`);
      }
      const perm = body['perm'] === undefined ? undefined : parsePermFilter(body['perm'], entry.row.perm);
      const status = body['status'] === undefined ? undefined : statusOf(body['status']);
      const props = propsOf(body);
      const name = stringField(body, 'name', false);
      if (name !== undefined) await platform.entities.updateDevice(entry.device.orgId, entry.device.id, { name });
      if (props !== undefined) await setProperties(store, entry, props);
      if (perm !== undefined || status !== undefined) await service.updateDevice(entry.device.id, { perm, status });
      const updated = registry.byDeviceId(entry.device.id) ?? entry;
      return describe(updated, await readProperties(platform, store, updated, undefined), registry);
    });

    app.delete<{ Params: { plugId: string } }>('/iot/device/:plugId', async (request, reply) => {
      const caller = await mustCall(request);
      const ids = request.params.plugId
        .split(',')
        .map((id) => id.trim())
        .filter((id) => id !== '');
      const entries = ids.map((id) => deviceFor(caller, id, 'admin'));
      for (const entry of entries) await platform.entities.deleteDevice(entry.device.orgId, entry.device.id);
      return reply.code(200).send();
    });

    app.get<{ Params: { plugId: string } }>('/iot/device/:plugId/location', async (request) => {
      const entry = deviceFor(await mustCall(request), request.params.plugId, 'read');
      if (entry.row.location === null) throw new PlugError(PlugErr.NotFound, 'the device has no location');
      return entry.row.location;
    });

    app.patch<{ Params: { plugId: string } }>('/iot/device/:plugId/location', async (request, reply) => {
      const entry = deviceFor(await mustCall(request), request.params.plugId, 'write');
      const location = locationOf(objectBody(request));
      const current = registry.byDeviceId(entry.device.id) ?? entry;
      await store.updateDevice({ ...current.row, location });
      registry.putDevice({ row: { ...current.row, location }, device: current.device });
      return reply.code(200).send();
    });

    app.get<{ Params: { plugId: string; prop: string } }>('/iot/device/:plugId/:prop', async (request) => {
      const entry = deviceFor(await mustCall(request), request.params.plugId, 'read');
      const values = await readProperties(platform, store, entry, [request.params.prop]);
      if (!(request.params.prop in values)) throw new PlugError(PlugErr.NotFound, 'no such property');
      return JSON.stringify(values[request.params.prop] ?? null);
    });

    app.patch<{ Params: { plugId: string; prop: string } }>('/iot/device/:plugId/:prop', async (request, reply) => {
      const entry = deviceFor(await mustCall(request), request.params.plugId, 'write');
      const props = parseProperties({ [request.params.prop]: jsonBody(request) });
      await setProperties(store, entry, props);
      return reply.code(200).send();
    });

    app.delete<{ Params: { plugId: string; prop: string } }>('/iot/device/:plugId/:prop', async (request, reply) => {
      const entry = deviceFor(await mustCall(request), request.params.plugId, 'write');
      if (!(await store.deleteProperty(entry.device.id, request.params.prop))) {
        throw new PlugError(PlugErr.NotFound, 'no such property');
      }
      return reply.code(200).send();
    });

    // ---- data ----------------------------------------------------------------------------------------------------
    app.put<{ Params: { '*': string } }>('/iot/data/*', async (request, reply) => {
      const caller = await mustCall(request);
      const urlChannel = request.params['*'];
      const records = asBadRequest(() => parseRecords(bodyOf(request), Date.now(), true));
      // Group new records by (target, channel): each group is one ingest (one commit with the others of this turn).
      // A record with an id modifies that stored record on its own; each record is stored or refused by itself.
      const groups = new Map<string, { target: PlugDevice; channel: string; records: DataRecord[] }>();
      const modifications: { target: PlugDevice; channel: string; record: DataRecord }[] = [];
      for (const record of records) {
        const channel = record.channel ?? urlChannel;
        const problem = channelProblem(channel, false);
        if (problem !== undefined) throw new PlugError(PlugErr.BadRequest, problem);
        const target = writeTarget(caller, record.of, registry);
        if (record.isGivenId) {
          modifications.push({ target, channel, record });
          continue;
        }
        const key = `${target.device.id}\0${channel}`;
        const group = groups.get(key) ?? { target, channel, records: [] };
        group.records.push(record);
        groups.set(key, group);
      }
      const committed = (post: (done: (error: Error | undefined) => void) => void) =>
        new Promise<void>((resolve, reject) => {
          post((error) => {
            if (error === undefined) resolve();
            else reject(error);
          });
        });
      const context = { platform, store, broker: options.broker, logger };
      const publisher = caller.kind === 'device' ? caller.entry : undefined;
      await Promise.all([
        ...[...groups.values()].map((group) =>
          committed((done) => {
            const { target, channel } = group;
            ingestRecords(platform, store, options.broker, target, publisher, channel, group.records, 1, done);
          }),
        ),
        ...modifications.map((m) =>
          committed((done) => {
            modifyRecord(context, m.target, m.channel, m.record, 1, done);
          }),
        ),
      ]);
      const ids = records.map((r) => r.id);
      return reply.code(200).send(ids.length === 1 ? ids[0] : ids);
    });

    app.get<{ Params: { '*': string }; Querystring: Record<string, string | undefined> }>(
      '/iot/data/*',
      async (request) => {
        const caller = await mustCall(request);
        const mask = request.params['*'];
        const problem = channelProblem(mask, true);
        if (problem !== undefined) throw new PlugError(PlugErr.BadRequest, problem);
        const q = request.query;
        const limit =
          q['limit'] === undefined ? options.defaultReadLimit : integerOf(q['limit'], 'limit', 1, options.maxReadLimit);
        const atMs =
          q['at'] === undefined
            ? undefined
            : csv(q['at'])
                .slice(0, 100)
                .map((v) => boundMs(v, 'at'));
        return readRecords(platform, store, {
          mask,
          targets: readTargets(caller, q['of'], registry, options.maxReadDevices),
          beforeMs: q['before'] === undefined ? undefined : asBadRequest(() => boundMs(q['before'] ?? '', 'before')),
          afterMs: q['after'] === undefined ? undefined : asBadRequest(() => boundMs(q['after'] ?? '', 'after')),
          atMs,
          offset: q['offset'] === undefined ? 0 : integerOf(q['offset'], 'offset', 0, 1_000_000),
          limit,
          reader: readerOf(caller),
          maxScan: options.maxScanRecords,
        });
      },
    );

    // Deletes the stored records of `<mask>` the caller may write (its own device, the devices "of" names that its
    // permission filter lets it write, or for an account its organization's), narrowed by the body's `id` (OID or
    // list), `before`, `after` and `at`; answers how many went. Reads and deletes in pages, at most maxScanRecords.
    app.delete<{ Params: { '*': string } }>('/iot/data/*', async (request) => {
      const caller = await mustCall(request);
      const mask = request.params['*'];
      const problem = channelProblem(mask, true);
      if (problem !== undefined) throw new PlugError(PlugErr.BadRequest, problem);
      const body = bodyOf(request).length === 0 ? {} : objectBody(request);
      const text = (name: string): string | undefined => {
        const value = body[name];
        if (value === undefined || value === null) return undefined;
        const items = Array.isArray(value) ? value : [value];
        if (!items.every((item) => typeof item === 'string' || typeof item === 'number')) {
          throw new PlugError(PlugErr.BadRequest, `"${name}" is a string, a number or a list of them`);
        }
        return items.map(String).join(',');
      };
      const ofText = text('of');
      const targets =
        caller.kind === 'device' && ofText === undefined
          ? [caller.entry]
          : csv(ofText ?? '').length === 0
            ? readTargets(caller, undefined, registry, options.maxReadDevices)
            : csv(ofText ?? '').map((of) => writeTarget(caller, of, registry));
      if (caller.kind === 'account' && caller.account.role === 'viewer') {
        throw new PlugError(PlugErr.Forbidden, 'a viewer reads only');
      }
      const idText = text('id');
      const ids = idText === undefined ? undefined : new Set(csv(idText));
      const atText = text('at');
      const query = {
        mask,
        targets,
        beforeMs: text('before') === undefined ? undefined : asBadRequest(() => boundMs(text('before')!, 'before')),
        afterMs: text('after') === undefined ? undefined : asBadRequest(() => boundMs(text('after')!, 'after')),
        atMs:
          atText === undefined
            ? undefined
            : csv(atText)
                .slice(0, 100)
                .map((v) => asBadRequest(() => boundMs(v, 'at'))),
        offset: 0,
        limit: options.maxReadLimit,
        reader: readerOf(caller),
        maxScan: options.maxScanRecords,
      };
      let deleted = 0;
      let skipped = 0;
      for (let scanned = 0; scanned < options.maxScanRecords;) {
        const page = await readRecords(platform, store, { ...query, offset: skipped });
        if (page.length === 0) break;
        scanned += page.length;
        const doomed = page.filter((record) => ids === undefined || ids.has(record.id)).map((record) => record.id);
        skipped += page.length - doomed.length;
        for (let i = 0; i < doomed.length; i += 1000)
          deleted += await platform.store.deleteEvents(doomed.slice(i, i + 1000));
        if (page.length < query.limit) break;
      }
      return { deleted };
    });

    app.get<{ Params: { '*': string }; Querystring: Record<string, string | undefined> }>(
      '/iot/channel/*',
      async (request) => {
        const caller = await mustCall(request);
        const mask = request.params['*'] === '' ? '#' : request.params['*'];
        const targets = readTargets(caller, request.query['of'], registry, options.maxReadDevices);
        const channels = new Set<string>();
        for (const target of targets) {
          for (const key of await platform.store.telemetryKeys(target.device.id)) {
            if (matchesMask(mask, key)) channels.add(key);
          }
        }
        return [...channels].sort().map((channel) => ({ channel }));
      },
    );

    return Promise.resolve();
  };
}

function writeTarget(caller: Caller, of: string | undefined, registry: CloudplugsService['registry']): PlugDevice {
  if (caller.kind === 'device') {
    if (of === undefined) return caller.entry;
    const target = registry.byPlugId(of);
    if (target === undefined || !canWrite(caller.entry, target))
      throw new PlugError(PlugErr.Forbidden, `may not publish of ${of}`);
    return target;
  }
  if (of === undefined) throw new PlugError(PlugErr.BadRequest, 'an account publishes "of" a device');
  const target = registry.byPlugId(of);
  if (target === undefined || target.device.orgId !== caller.account.orgId) {
    throw new PlugError(PlugErr.NotFound, `no device ${of}`);
  }
  if (caller.account.role === 'viewer') throw new PlugError(PlugErr.Forbidden, 'a viewer reads only');
  return target;
}

function readTargets(
  caller: Caller,
  ofText: string | undefined,
  registry: CloudplugsService['registry'],
  maxDevices: number,
): PlugDevice[] {
  if (ofText !== undefined) {
    const ids = csv(ofText);
    if (ids.length > maxDevices)
      throw new PlugError(PlugErr.BadRequest, `"of" names over ${String(maxDevices)} devices`);
    return ids.map((id) => {
      const target = registry.byPlugId(id);
      const isAllowed =
        target !== undefined &&
        (caller.kind === 'account' ? target.device.orgId === caller.account.orgId : canRead(caller.entry, target));
      if (!isAllowed) throw new PlugError(PlugErr.Forbidden, `may not read ${id}`);
      return target;
    });
  }
  const orgId = caller.kind === 'account' ? caller.account.orgId : caller.entry.device.orgId;
  const readable = registry.devicesOf(orgId).filter((t) => caller.kind === 'account' || canRead(caller.entry, t));
  if (readable.length > maxDevices) {
    throw new PlugError(PlugErr.BadRequest, `over ${String(maxDevices)} readable devices: name them with "of"`);
  }
  return readable;
}

function describe(entry: PlugDevice, props: Record<string, JsonValue>, registry: CloudplugsService['registry']) {
  const template = entry.row.templateId === null ? undefined : registry.templateByProfileId(entry.row.templateId);
  return {
    id: entry.row.plugId,
    type: entry.row.kind,
    name: entry.device.name,
    hwid: entry.row.hwid,
    model: template?.plugId ?? null,
    status: entry.row.status,
    perm: entry.row.perm,
    ctrl: entry.row.controls,
    props,
    location: entry.row.location,
    created_at: entry.row.createdAt,
  };
}
