/**
 * CloudPlugs enrolment over MQTT (device-apis.md §2.4, the MQTT API overview): CONNECT with empty username and
 * password, SUBSCRIBE to `<model>/thing/<pass>` or `<model>/ctrl/<thing-hwid>/<pass>`, the reply published on that
 * topic, the connection closed after a failure. With MQTT.js and mosquitto_sub.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { clientClosed, connectClient, PROTOCOL_VERSIONS, Resources, runMosquitto } from '../helpers/index.js';
import { controlTopicPass, startPlugServer, thingTopicPass, type PlugServer, type Template } from './helpers.js';

describe('CloudPlugs enrolment over MQTT', () => {
  let server: PlugServer;
  let template: Template;
  const resources = new Resources();

  before(async () => {
    server = await startPlugServer();
    template = await server.createTemplate();
  });
  afterEach(() => resources.closeAll());
  after(() => server.close());

  /** An enrolment session: empty username and password, client id HWID/NAME. */
  const enrolmentSession = (clientId: string, protocolVersion: 4 | 5) =>
    connectClient(server.test.mqttUrl, { clientId, protocolVersion, username: '', password: '' });

  for (const version of PROTOCOL_VERSIONS) {
    it(`v${String(version)}: a thing subscribing with the derived password gets {"id","auth"} on the topic and can log in`, async () => {
      const hwid = `EN-${String(version)}-ok`;
      const session = resources.add(await enrolmentSession(`${hwid}/Kitchen sensor`, version));
      const topic = `${template.plugId}/thing/${thingTopicPass(template.secret, hwid)}`;
      await session.client.subscribeAsync(topic);
      const [reply] = await session.waitForMessages(1);
      assert.equal(reply?.topic, topic);
      const answer = JSON.parse(reply?.payload ?? '') as { id: string; auth: string };
      assert.match(answer.id, /^dev-[0-9a-f]{24}$/);
      assert.equal(typeof answer.auth, 'string');
      const device = resources.add(
        await connectClient(server.test.mqttUrl, {
          clientId: hwid,
          username: answer.id,
          password: answer.auth,
          protocolVersion: version,
        }),
      );
      assert.equal(device.connack.returnCode ?? device.connack.reasonCode ?? 0, 0);
      // The thing is a platform device named after the client id's NAME, with the template's profile.
      const devices = await server.api('GET', '/api/devices');
      const created = (devices.body as { name: string; profileId: string }[]).find((d) => d.name === 'Kitchen sensor');
      assert.equal(created?.profileId, template.id);
    });

    it(`v${String(version)}: a wrong enrolment password gets {"err":403,"msg"} on the topic, then the connection is closed`, async () => {
      const session = resources.add(await enrolmentSession(`EN-${String(version)}-bad`, version));
      let disconnectReason: number | undefined;
      session.client.on('disconnect', (packet) => {
        disconnectReason = packet.reasonCode;
      });
      const topic = `${template.plugId}/thing/not-the-password`;
      await session.client.subscribeAsync(topic);
      const [reply] = await session.waitForMessages(1);
      const answer = JSON.parse(reply?.payload ?? '') as { err: number; msg: string };
      assert.equal(answer.err, 403);
      assert.equal(typeof answer.msg, 'string');
      await clientClosed(session.client);
      // MQTT 5: DISCONNECT 0x87 with a reason string; 3.1.1 has no DISCONNECT from the server, the socket just closes.
      if (version === 5) assert.equal(disconnectReason, 0x87);
    });
  }

  it('mosquitto_sub enrols a thing with the URL-safe spelling of the password and prints the reply', async () => {
    const hwid = 'EN-mosquitto';
    const pass = thingTopicPass(template.secret, hwid);
    const sub = runMosquitto('mosquitto_sub', server.test.mqttPort, [
      '-i',
      hwid,
      '-u',
      '',
      '-P',
      '',
      '-t',
      `${template.plugId}/thing/${pass}`,
      '-C',
      '1',
      '-V',
      'mqttv311',
    ]);
    const result = await sub.result;
    assert.equal(result.code, 0, result.stderr);
    const answer = JSON.parse(result.stdout) as { id: string; auth: string };
    assert.match(answer.id, /^dev-[0-9a-f]{24}$/);
  });

  it('an unknown model is refused with err 404 and a second enrolment of the same thing with err 409', async () => {
    const unknown = resources.add(await enrolmentSession('EN-unknown', 5));
    await unknown.client.subscribeAsync(`mod-${'0'.repeat(24)}/thing/whatever`);
    const [missing] = await unknown.waitForMessages(1);
    assert.equal((JSON.parse(missing?.payload ?? '') as { err: number }).err, 404);

    const hwid = 'EN-twice';
    const topic = `${template.plugId}/thing/${thingTopicPass(template.secret, hwid)}`;
    const first = resources.add(await enrolmentSession(hwid, 5));
    await first.client.subscribeAsync(topic);
    await first.waitForMessages(1);
    const second = resources.add(await enrolmentSession(hwid, 5));
    await second.client.subscribeAsync(topic);
    const [again] = await second.waitForMessages(1);
    assert.equal((JSON.parse(again?.payload ?? '') as { err: number }).err, 409);
    await clientClosed(second.client);
  });

  it('in status reactivate a thing enrols again: a new auth code, the old one refused with 0x86', async () => {
    const hwid = 'EN-reactivate';
    const topic = `${template.plugId}/thing/${thingTopicPass(template.secret, hwid)}`;
    const first = resources.add(await enrolmentSession(hwid, 5));
    await first.client.subscribeAsync(topic);
    const old = JSON.parse((await first.waitForMessages(1))[0]?.payload ?? '') as { id: string; auth: string };
    const devices = (await server.api('GET', '/api/devices')).body as { id: string; name: string }[];
    const deviceId = devices.find((d) => d.name === hwid)?.id ?? '';
    const patched = await server.api('PATCH', `/api/devices/${deviceId}`, { cloudplugs: { status: 'reactivate' } });
    assert.equal(patched.status, 200);
    assert.equal((patched.body as { cloudplugs: { status: string } }).cloudplugs.status, 'reactivate');

    const again = resources.add(await enrolmentSession(hwid, 5));
    await again.client.subscribeAsync(topic);
    const renewed = JSON.parse((await again.waitForMessages(1))[0]?.payload ?? '') as { id: string; auth: string };
    assert.equal(renewed.id, old.id);
    assert.notEqual(renewed.auth, old.auth);
    await assert.rejects(
      connectClient(server.test.mqttUrl, { clientId: hwid, username: old.id, password: old.auth, protocolVersion: 5 }),
      (error: Error & { code?: number }) => error.code === 0x86,
    );
  });

  it('a controller enrols on <model>/ctrl/<thing-hwid>/<control pass> and reads the thing’s data', async () => {
    const thing = await server.createThing(template, 'EN-controlled');
    const session = resources.add(await enrolmentSession('CTRL-1/Remote', 4));
    await session.client.subscribeAsync(
      `${template.plugId}/ctrl/${thing.hwid}/${controlTopicPass(template.secret, thing.hwid)}`,
    );
    const answer = JSON.parse((await session.waitForMessages(1))[0]?.payload ?? '') as { id: string; auth: string };
    const controller = resources.add(
      await connectClient(server.test.mqttUrl, { clientId: 'CTRL-1', username: answer.id, password: answer.auth }),
    );
    await controller.client.subscribeAsync(`${thing.plugId}/data/#`);
    const device = resources.add(await server.connectThing(thing));
    await device.client.publishAsync(`${thing.plugId}/data/temp`, '{"data": 7}');
    const [delivered] = await controller.waitForMessages(1);
    assert.equal(delivered?.topic, `${thing.plugId}/data/temp`);
    assert.equal((JSON.parse(delivered?.payload ?? '') as { data: number }).data, 7);
  });

  it('a controller with a wrong control password gets err 403; a thing password is not a control password', async () => {
    const thing = await server.createThing(template, 'EN-ctrl-bad');
    const session = resources.add(await enrolmentSession('CTRL-2', 5));
    await session.client.subscribeAsync(
      `${template.plugId}/ctrl/${thing.hwid}/${thingTopicPass(template.secret, thing.hwid)}`,
    );
    const answer = JSON.parse((await session.waitForMessages(1))[0]?.payload ?? '') as { err: number };
    assert.equal(answer.err, 403);
    await clientClosed(session.client);
  });

  it('an uploaded per-device password enrols that hardware id; the derived one then does not', async () => {
    const created = await server.api('POST', '/api/profiles', {
      name: 'uploaded-model',
      cloudplugs: { enrollPasses: { 'EN-up': 'uploaded-pass-1' } },
    });
    assert.equal(created.status, 201);
    const plugId = (created.body as { plugId: string }).plugId;
    assert.match(plugId, /^mod-[0-9a-f]{24}$/);
    const session = resources.add(await enrolmentSession('EN-up', 5));
    await session.client.subscribeAsync(`${plugId}/thing/uploaded-pass-1`);
    const answer = JSON.parse((await session.waitForMessages(1))[0]?.payload ?? '') as { id?: string };
    assert.match(answer.id ?? '', /^dev-/);
  });

  it('an enrolment session may not subscribe to data nor, without anonymous access, to plain topics (SUBACK 0x80)', async () => {
    const session = resources.add(await enrolmentSession('EN-nosy', 4));
    // [MQTT-3.9.3-1] 3.1.1 SUBACK return code 0x80 = failure (MQTT.js rejects with the SUBACK).
    const refused = (error: Error & { packet?: { granted?: number[] } }) => error.packet?.granted?.[0] === 0x80;
    await assert.rejects(session.client.subscribeAsync('+/data/#'), refused);
    await assert.rejects(session.client.subscribeAsync('some/plain/topic'), refused);
  });

  it('with anonymous access on, an anonymous client enrols the same way and stays a plain client elsewhere', async () => {
    const open = await startPlugServer({ allowAnonymous: true });
    resources.add({ close: () => open.close() });
    const openTemplate = await open.createTemplate();
    const session = resources.add(
      await connectClient(open.test.mqttUrl, { clientId: 'EN-anon/Open', protocolVersion: 5 }),
    );
    await session.client.subscribeAsync('plain/topic');
    await session.client.subscribeAsync(
      `${openTemplate.plugId}/thing/${thingTopicPass(openTemplate.secret, 'EN-anon')}`,
    );
    const [reply] = await session.waitForMessages(1, (m) => m.topic.startsWith(openTemplate.plugId));
    assert.match((JSON.parse(reply?.payload ?? '') as { id: string }).id, /^dev-[0-9a-f]{24}$/);
    await assert.rejects(session.client.subscribeAsync('+/data/#'), /Not authorized/);
  });

  it('a client with no credentials connects (CONNACK 0) as an enrolment session, as CloudPlugs requires', async () => {
    const client = mqtt.connect(server.test.mqttUrl, { clientId: 'EN-plain', reconnectPeriod: 0, protocolVersion: 5 });
    resources.add(client);
    const connack = await new Promise<mqtt.IConnackPacket>((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', reject);
    });
    assert.equal(connack.reasonCode ?? 0, 0);
  });
});
