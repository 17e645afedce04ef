/**
 * CloudPlugs failure paths with Debian's mosquitto clients as an independent implementation: a wrong enrolment
 * password, a disabled device, a permission filter that denies a subscription; and an account publishing records on
 * behalf of its organization's things.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { connectClient, Resources, runMosquitto } from '../helpers/index.js';
import { record, startPlugServer, type PlugServer, type Template } from './helpers.js';

describe('CloudPlugs with mosquitto_pub and mosquitto_sub', () => {
  let server: PlugServer;
  let template: Template;
  const resources = new Resources();

  before(async () => {
    server = await startPlugServer();
    template = await server.createTemplate();
  });
  afterEach(() => resources.closeAll());
  after(() => server.close());

  it('MQTT 5: a wrong enrolment password prints {"err":403,…} and the server’s DISCONNECT ends mosquitto_sub', async () => {
    const sub = runMosquitto('mosquitto_sub', server.test.mqttPort, [
      '-i',
      'MOS-5',
      '-t',
      `${template.plugId}/thing/wrong-pass`,
      '-V',
      'mqttv5',
    ]);
    const result = await sub.result;
    // Exit code 0 without -C: mosquitto_sub stopped because the server disconnected it (0x87), not by a limit.
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { err: 403, msg: 'wrong enrolment password' });
  });

  it('MQTT 3.1.1: after the failure reply the connection is closed (mosquitto_sub reconnects and is answered again)', async () => {
    const sub = runMosquitto('mosquitto_sub', server.test.mqttPort, [
      '-i',
      'MOS-4',
      '-t',
      `${template.plugId}/thing/wrong-pass`,
      '-V',
      'mqttv311',
      '-C',
      '2',
    ]);
    const result = await sub.result;
    assert.equal(result.code, 0, result.stderr);
    // A second reply needs a second connection: 3.1.1 has no server DISCONNECT, the first one was closed.
    assert.equal(result.stdout.trim().split('\n').length, 2);
  });

  it('a disabled device is refused: mosquitto_pub exits 5 "not authorised"', async () => {
    const thing = await server.createThing(template, 'MOS-DISABLED');
    await server.api('PATCH', `/api/devices/${thing.deviceId}`, { cloudplugs: { status: 'disabled' } });
    const pub = runMosquitto('mosquitto_pub', server.test.mqttPort, [
      '-i',
      thing.hwid,
      '-u',
      thing.plugId,
      '-P',
      thing.auth,
      '-t',
      `${thing.plugId}/data/a`,
      '-m',
      '{"data": 1}',
    ]);
    const result = await pub.result;
    assert.equal(result.code, 5);
    assert.match(result.stderr, /not authori[sz]ed/);
  });

  it('a permission filter that does not list a device denies mosquitto_sub’s subscription to it', async () => {
    const target = await server.createThing(template, 'MOS-TARGET');
    const reader = await server.createThing(template, 'MOS-READER');
    await server.api('PATCH', `/api/devices/${reader.deviceId}`, { cloudplugs: { perm: { of: { r: [] } } } });
    const sub = runMosquitto('mosquitto_sub', server.test.mqttPort, [
      '-i',
      reader.hwid,
      '-u',
      reader.plugId,
      '-P',
      reader.auth,
      '-t',
      `${target.plugId}/data/#`,
    ]);
    const result = await sub.result;
    assert.match(result.stderr, /All subscription requests were denied/);
  });

  it('an account publishes with mosquitto_pub on a thing’s data topic; the record is the thing’s', async () => {
    const org = await server.createOrganization();
    const orgTemplate = await server.createTemplate('mos-account-model', org.token);
    const thing = await server.createThing(orgTemplate, 'MOS-ACC', org.token);
    const subscriber = resources.add(await server.connectThing(thing));
    await subscriber.client.subscribeAsync(`${thing.plugId}/data/#`);
    const pub = runMosquitto('mosquitto_pub', server.test.mqttPort, [
      '-i',
      'account-pub',
      '-u',
      org.email,
      '-P',
      org.password,
      '-t',
      `${thing.plugId}/data/set`,
      '-m',
      '{"data": "on"}',
    ]);
    assert.equal((await pub.result).code, 0);
    const [message] = await subscriber.waitForMessages(1);
    assert.equal(record(message?.payload ?? '').data, 'on');
    // An account of another organization may not.
    const outsider = await server.createOrganization();
    const other = resources.add(
      await connectClient(server.test.mqttUrl, {
        clientId: 'outsider',
        username: outsider.email,
        password: outsider.password,
        protocolVersion: 5,
      }),
    );
    await assert.rejects(
      other.client.publishAsync(`${thing.plugId}/data/set`, '{"data": "off"}', { qos: 1 }),
      /Not authorized/,
    );
  });
});
