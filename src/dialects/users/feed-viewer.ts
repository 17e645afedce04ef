/**
 * `GET /feed-viewer`: a small page, served by Switchboard itself, that shows an organization's state feed live. It
 * connects from the browser with MQTT.js over WebSocket at `/api/mqtt/` (WSS when the page came over HTTPS), with an
 * API key or JWT as both username and password (device-apis.md §1.5), and subscribes to `placeos/<org>/state/#` (or
 * the filter given). The key is typed into the form or passed in the URL fragment (`#key=…`), which browsers never
 * send to a server, so it stays out of request logs; the page removes it from the address bar at once.
 *
 * The MQTT.js browser bundle is served from the installed `mqtt` package, so the page needs nothing from the internet.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { FastifyPluginAsync } from 'fastify';
import { HttpError, HttpErrorCode } from '../../http/index.js';

export const FEED_VIEWER_PATH = '/feed-viewer';

/** The page only loads its own script and the bundle, and talks only to its own origin. */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; " +
  "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchboard feed viewer</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d232a; }
  form { display: flex; flex-wrap: wrap; gap: .75rem; align-items: end; margin-bottom: 1rem; }
  label { display: flex; flex-direction: column; gap: .25rem; font-weight: 600; }
  input { font: inherit; padding: .35rem .5rem; min-width: 22rem; }
  button { font: inherit; padding: .4rem 1rem; }
  #status { margin: .5rem 0 1rem; }
  #status[data-state="connected"] { color: #176c2a; }
  #status[data-state="error"] { color: #b3261e; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #d8dde3; vertical-align: top; }
  td.topic, td.value { font-family: ui-monospace, monospace; }
  td.topic { color: #5b6570; font-size: 12px; word-break: break-all; }
  td.value { overflow-wrap: anywhere; min-width: 8rem; }
</style>
</head>
<body>
<h1>Feed viewer</h1>
<form id="connect">
  <label>API key or JWT <input id="key" type="password" autocomplete="off" required></label>
  <label>Topic filter <input id="filter" placeholder="placeos/&lt;your organization&gt;/state/#"></label>
  <button type="submit">Connect</button>
</form>
<p id="status" role="status" data-state="idle">Not connected.</p>
<table>
  <thead><tr><th>Where</th><th>Value</th><th>Time</th><th>Retained</th><th>Topic</th></tr></thead>
  <tbody id="messages"></tbody>
</table>
<script src="${FEED_VIEWER_PATH}/mqtt.min.js"></script>
<script src="${FEED_VIEWER_PATH}/viewer.js"></script>
</body>
</html>
`;

/** The page's script; plain browser JavaScript, no build step. Text is only ever set with textContent. */
const SCRIPT = String.raw`'use strict';
(function () {
  var form = document.getElementById('connect');
  var keyInput = document.getElementById('key');
  var filterInput = document.getElementById('filter');
  var statusLine = document.getElementById('status');
  var rows = document.getElementById('messages');
  var client = null;
  var rowsByTopic = new Map();
  /** Names from placeos/<org>/metadata/<id> ({"value": {"name": …}}), by id: zones, systems, drivers. */
  var namesById = new Map();
  var STATE = /^placeos\/[^/]+\/state\/(.+)$/;
  var METADATA = /^placeos\/[^/]+\/metadata\/([^/]+)$/;

  function decodeLevel(level) {
    try {
      return decodeURIComponent(level);
    } catch (error) {
      return level;
    }
  }

  /** "HQ › Level 24 › Room 24.1 › Cisco VC › VC 1 › power" for a state topic; the topic itself otherwise. */
  function describe(topic) {
    var match = STATE.exec(topic);
    if (!match) return topic;
    var levels = match[1].split('/').map(decodeLevel);
    if (levels.length < 5) return topic;
    var key = levels.pop();
    var index = levels.pop();
    var moduleName = levels.pop();
    var parts = [];
    for (var i = 0; i < levels.length; i++) {
      if (levels[i] !== '_') parts.push(namesById.get(levels[i]) || levels[i]);
    }
    parts.push(moduleName + ' ' + index, key);
    return parts.join(' › ');
  }

  function rememberName(id, payload) {
    try {
      var parsed = JSON.parse(new TextDecoder().decode(payload));
      var value = parsed && parsed.value;
      if (value && typeof value.name === 'string') namesById.set(decodeLevel(id), value.name);
      else namesById.delete(decodeLevel(id));
    } catch (error) {
      return;
    }
    rowsByTopic.forEach(function (row, topic) {
      row.cells[0].textContent = describe(topic);
    });
  }

  function setStatus(state, text) {
    statusLine.dataset.state = state;
    statusLine.textContent = text;
  }

  function formatTime(time) {
    if (typeof time !== 'number') return '';
    // The feed sends milliseconds by default, seconds when set to PlaceOS's own format.
    var ms = time < 1e11 ? time * 1000 : time;
    return new Date(ms).toISOString();
  }

  function show(topic, payload, retained) {
    var metadata = METADATA.exec(topic);
    if (metadata) {
      rememberName(metadata[1], payload);
      return;
    }
    var row = rowsByTopic.get(topic);
    if (payload.length === 0) {
      // An empty retained message removes the topic (a device renamed, moved or deleted).
      if (row) row.remove();
      rowsByTopic.delete(topic);
      return;
    }
    var text = new TextDecoder().decode(payload);
    var value = text;
    var time = '';
    try {
      var parsed = JSON.parse(text);
      if (parsed !== null && typeof parsed === 'object' && 'value' in parsed) {
        value = typeof parsed.value === 'string' ? parsed.value : JSON.stringify(parsed.value);
        time = formatTime(parsed.time);
      }
    } catch (error) {
      // Not JSON: shown as sent.
    }
    if (!row) {
      row = document.createElement('tr');
      row.dataset.topic = topic;
      var classes = ['where', 'value', 'time', 'retained', 'topic'];
      for (var i = 0; i < classes.length; i++) {
        var cell = document.createElement('td');
        cell.className = classes[i];
        row.appendChild(cell);
      }
      row.cells[4].textContent = topic;
      rowsByTopic.set(topic, row);
      rows.appendChild(row);
    }
    row.cells[0].textContent = describe(topic);
    row.cells[1].textContent = value;
    row.cells[2].textContent = time;
    row.cells[3].textContent = retained ? 'yes' : 'no';
    row.dataset.value = value;
  }

  function whoAmI(key) {
    return fetch('/api/auth/me', { headers: { Authorization: 'Bearer ' + key } }).then(function (response) {
      if (response.status === 401) throw new Error('the key or token is not valid');
      if (!response.ok) throw new Error('the server answered ' + response.status);
      return response.json();
    });
  }

  function connect(key, filter) {
    if (client) client.end(true);
    rows.replaceChildren();
    rowsByTopic.clear();
    namesById.clear();
    setStatus('connecting', 'Connecting...');
    whoAmI(key)
      .then(function (me) {
        var topicFilter = filter || 'placeos/' + me.orgId + '/state/#';
        var scheme = location.protocol === 'https:' ? 'wss' : 'ws';
        client = mqtt.connect(scheme + '://' + location.host + '/api/mqtt/', {
          protocolVersion: 5,
          username: key,
          password: key,
          clientId: 'feed-viewer-' + Math.random().toString(16).slice(2, 10),
          reconnectPeriod: 0,
        });
        client.on('connect', function () {
          // Names for the ids in state topics; shown in the Where column, not as rows.
          client.subscribe('placeos/' + me.orgId + '/metadata/+', { qos: 0 });
          client.subscribe(topicFilter, { qos: 0 }, function (error, granted) {
            var code = granted && granted[0] ? granted[0].qos : 128;
            if (error || code >= 128) {
              setStatus('error', 'Subscription to ' + topicFilter + ' refused (reason 0x' + code.toString(16) + ').');
              return;
            }
            setStatus('connected', 'Connected, subscribed to ' + topicFilter + '.');
          });
        });
        client.on('message', function (topic, payload, packet) {
          show(topic, payload, packet.retain);
        });
        client.on('disconnect', function (packet) {
          var reason = packet.properties && packet.properties.reasonString;
          setStatus('error', 'Disconnected by the server' + (reason ? ': ' + reason : '') + '.');
        });
        client.on('error', function (error) {
          setStatus('error', 'Connection failed: ' + error.message);
        });
        client.on('close', function () {
          if (statusLine.dataset.state !== 'error') setStatus('idle', 'Connection closed.');
        });
      })
      .catch(function (error) {
        setStatus('error', 'Cannot connect: ' + error.message);
      });
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    connect(keyInput.value.trim(), filterInput.value.trim());
  });

  // #key=…&filter=… connects at once; the fragment is dropped from the address bar (and history) right away.
  var fragment = new URLSearchParams(location.hash.slice(1));
  var key = fragment.get('key');
  if (key) {
    history.replaceState(null, '', location.pathname + location.search);
    keyInput.value = key;
    filterInput.value = fragment.get('filter') || '';
    connect(key, filterInput.value);
  }
})();
`;

let bundle: Promise<Buffer> | undefined;

/** MQTT.js's browser bundle from the installed package, read once. */
function readMqttBundle(): Promise<Buffer> {
  bundle ??= readFile(createRequire(import.meta.url).resolve('mqtt/dist/mqtt.min')).catch((error: unknown) => {
    bundle = undefined;
    throw error;
  });
  return bundle;
}

/** Registers the page, its script and the MQTT.js bundle (public routes: the page asks for the key itself). */
export const feedViewerPlugin: FastifyPluginAsync = (app) => {
  app.get(FEED_VIEWER_PATH, { schema: { hide: true } }, async (_request, reply) =>
    reply
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .type('text/html; charset=utf-8')
      .send(PAGE),
  );
  app.get(`${FEED_VIEWER_PATH}/viewer.js`, { schema: { hide: true } }, async (_request, reply) =>
    reply.header('x-content-type-options', 'nosniff').type('text/javascript; charset=utf-8').send(SCRIPT),
  );
  app.get(`${FEED_VIEWER_PATH}/mqtt.min.js`, { schema: { hide: true } }, async (_request, reply) => {
    let body: Buffer;
    try {
      body = await readMqttBundle();
    } catch (error) {
      const message = 'the mqtt package (MQTT.js) is not installed, so its browser bundle cannot be served';
      throw new HttpError(HttpErrorCode.Internal, message, { cause: error });
    }
    return reply
      .header('cache-control', 'public, max-age=3600')
      .header('x-content-type-options', 'nosniff')
      .type('text/javascript; charset=utf-8')
      .send(body);
  });
  return Promise.resolve();
};
