/**
 * The configuration schema: one TypeBox object per section, defaults inside the schema. Every limit is documented where
 * it is declared (the `description` is also what docs/configuration.md and docs/limits.md say).
 */
import { Type, type Static } from 'typebox';

const UINT16 = 65_535;
const UINT32 = 4_294_967_295;
/** [MQTT-2.2.3] Remaining Length is at most 268,435,455; the fixed header adds up to 5 bytes. */
const MAX_MQTT_PACKET_BYTES = 268_435_455;

const port = (defaultPort: number, description: string) =>
  Type.Integer({ minimum: 0, maximum: UINT16, default: defaultPort, description });

/** Broker limits, per client unless said otherwise. Each one bounds memory, CPU or a socket's share of them. */
export const MqttSection = Type.Object(
  {
    port: port(1883, 'MQTT over TCP listener port (0 = any free port).'),
    maxPacketSizeBytes: Type.Integer({
      minimum: 64,
      maximum: MAX_MQTT_PACKET_BYTES,
      default: 1_048_576,
      description:
        'Largest MQTT packet accepted or sent, header included. Checked on the Remaining Length before the body is buffered; ' +
        'v5 clients are told it as Maximum Packet Size; larger packets are refused with 0x95. Also the WebSocket frame limit.',
    }),
    receiveMaximum: Type.Integer({
      minimum: 1,
      maximum: UINT16,
      default: 128,
      description:
        'Inbound QoS 1/2 PUBLISH packets a client may have unacknowledged at once (v5 Receive Maximum; exceeding it is 0x93).',
    }),
    maxInflight: Type.Integer({
      minimum: 1,
      maximum: UINT16,
      default: 64,
      description:
        'Outbound QoS 1/2 messages sent to a client and not yet acknowledged (lowered to the client’s own v5 Receive Maximum).',
    }),
    maxQueuedMessages: Type.Integer({
      minimum: 0,
      maximum: 10_000_000,
      default: 10_000,
      description:
        'Messages waiting for a client beyond its in-flight window (online or offline). On overflow QoS 0 is dropped first; every drop is counted.',
    }),
    maxKeepAliveSeconds: Type.Integer({
      minimum: 0,
      maximum: UINT16,
      default: UINT16,
      description:
        'Largest keep-alive a client may use; a v5 client asking for more (or for 0) is given this as Server Keep Alive.',
    }),
    topicAliasMaximum: Type.Integer({
      minimum: 0,
      maximum: UINT16,
      default: 64,
      description: 'Topic aliases a v5 client may define towards the broker (0 = topic aliases off).',
    }),
    maxTopicLengthBytes: Type.Integer({
      minimum: 1,
      maximum: UINT16,
      default: UINT16,
      description: 'Longest topic name or filter, in UTF-8 bytes.',
    }),
    maxTopicLevels: Type.Integer({
      minimum: 1,
      maximum: UINT16,
      default: 128,
      description: 'Most `/`-separated levels in a topic name or filter (bounds the topic trie depth).',
    }),
    maxSubscriptionsPerClient: Type.Integer({
      minimum: 1,
      maximum: 1_000_000,
      default: 1_000,
      description: 'Subscriptions one session may hold; a SUBSCRIBE beyond it is refused for the extra filters (0x97).',
    }),
    maxConnectionsPerSecond: Type.Integer({
      minimum: 1,
      maximum: 1_000_000,
      default: 20_000,
      description: 'New connections accepted per second on each listener; the excess is closed at once and counted.',
    }),
    authFailuresBeforeDelay: Type.Integer({
      minimum: 0,
      maximum: 1_000,
      default: 5,
      description:
        'Refused logins per client address within a minute answered at once; each further one waits 100 ms, doubling, up to `authFailureMaxDelayMs`.',
    }),
    authFailureMaxDelayMs: Type.Integer({
      minimum: 0,
      maximum: 60_000,
      default: 5_000,
      description: 'The longest a repeated refused login is held back before its CONNACK; 0 turns the slowdown off.',
    }),
    connectTimeoutMs: Type.Integer({
      minimum: 100,
      maximum: 3_600_000,
      default: 10_000,
      description: 'Time a new connection has to complete its TLS handshake and send CONNECT before it is closed.',
    }),
    drainDeadlineMs: Type.Integer({
      minimum: 100,
      maximum: 3_600_000,
      default: 30_000,
      description:
        'A client whose socket stays unwritable (send buffer full) this long is disconnected, so a slow subscriber never holds memory for long.',
    }),
    sessionExpirySeconds: Type.Integer({
      minimum: 0,
      maximum: UINT32,
      default: 604_800,
      description: 'How long a 3.1.1 clean-session-0 session (subscriptions, queued messages) outlives its connection.',
    }),
    maxSessionExpirySeconds: Type.Integer({
      minimum: 0,
      maximum: UINT32,
      default: UINT32,
      description:
        'Cap on the v5 Session Expiry Interval a client may ask for (4294967295 = a session may never expire).',
    }),
    maxRetainedMessages: Type.Integer({
      minimum: 0,
      maximum: 1_000_000_000,
      default: 1_000_000,
      description: 'Retained messages kept broker-wide; a new retained topic beyond it is not retained (counted).',
    }),
    sysIntervalSeconds: Type.Integer({
      minimum: 1,
      maximum: 86_400,
      default: 10,
      description: 'Interval between `$SYS/broker/...` updates.',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const TlsSection = Type.Object(
  {
    port: port(8883, 'MQTT over TLS listener port; the listener is on only when `cert` and `key` are set.'),
    httpsPort: port(
      8443,
      'HTTPS listener port: the HTTP API, and MQTT over secure WebSocket (WSS) at `/mqtt` and `/api/mqtt/`; on only when `cert` and `key` are set.',
    ),
    cert: Type.Optional(Type.String({ minLength: 1, description: 'Path to the PEM server certificate (chain).' })),
    key: Type.Optional(Type.String({ minLength: 1, description: 'Path to the PEM private key of `cert`.' })),
    ca: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Path to PEM CA certificates that client certificates are checked against.',
      }),
    ),
    requestCert: Type.Boolean({
      default: false,
      description:
        'Ask clients for a certificate; one that verifies against `ca` is passed to authentication (X.509 client auth).',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const HttpSection = Type.Object(
  {
    port: port(8080, 'HTTP listener port; MQTT over WebSocket is served at `/mqtt` and `/api/mqtt/` on it.'),
  },
  { additionalProperties: false, default: {} },
);

export const StorageSection = Type.Object(
  {
    kind: Type.Union([Type.Literal('sqlite'), Type.Literal('memory')], {
      default: 'sqlite',
      description: '`sqlite`: durable, in `<dataDir>/broker.db`; `memory`: nothing survives a restart.',
    }),
    synchronous: Type.Union([Type.Literal('normal'), Type.Literal('full')], {
      default: 'normal',
      description:
        'SQLite `synchronous` pragma: `normal` survives a process crash (kill -9); `full` also survives a power loss.',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const DatabaseSection = Type.Object(
  {
    url: Type.Optional(
      Type.String({
        pattern: '^postgres(ql)?://',
        description:
          'PostgreSQL URL (`postgres://user@host:5432/db`) for the platform store (devices, telemetry, attributes, RPC); ' +
          'migrations run at start. Unset: embedded SQLite in `<dataDir>/platform.db`.',
      }),
    ),
    schema: Type.String({
      pattern: '^[a-z_][a-z0-9_]{0,62}$',
      default: 'switchboard',
      description: 'PostgreSQL schema holding the platform tables (created if missing); lets servers share a database.',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const PlatformSection = Type.Object(
  {
    zoneHierarchy: Type.Array(Type.String({ minLength: 1, pattern: '^[a-z][a-z0-9_-]*$' }), {
      minItems: 1,
      maxItems: 8,
      default: ['org', 'region', 'building', 'level', 'area'],
      description:
        "Zone tiers from the top of the spatial hierarchy down (JSON array in the environment variable); every tier is optional, a zone's parent must be of a higher tier.",
    }),
    maxPendingWrites: Type.Integer({
      minimum: 1_000,
      maximum: 100_000_000,
      default: 200_000,
      description:
        'Device data items (telemetry points, attributes, events) waiting for a store commit; beyond it new writes ' +
        'are refused (MQTT 5 PUBACK 0x97, HTTP 503) until the store catches up.',
    }),
    jwtLifetimeSeconds: Type.Integer({
      minimum: 60,
      maximum: 31_536_000,
      default: 3_600,
      description: 'Lifetime of the JWTs `POST /api/auth/login` issues.',
    }),
    clientRpcHandlers: Type.Record(
      Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$' }),
      Type.String({ pattern: '^https?://', maxLength: 2048 }),
      {
        default: {},
        description:
          'Client-side RPC methods answered by an HTTP endpoint: `{"<method>": "<http(s) URL>"}` (JSON in the environment variable). The device\'s request is POSTed as `{"method", "params", "device": {"id", "name", "orgId"}}`; the JSON answer is the reply. A method named here replaces a built-in one.',
      },
    ),
    maxOtaPackageBytes: Type.Integer({
      minimum: 1_024,
      maximum: 1_073_741_824,
      default: 33_554_432,
      description: 'Largest firmware or software package `POST /api/ota-packages` accepts.',
    }),
    retentionIntervalSeconds: Type.Integer({
      minimum: 1,
      maximum: 86_400,
      default: 60,
      description:
        'How often expired telemetry and events (per organization retention, event ttl) are deleted, in small steps.',
    }),
  },
  { additionalProperties: false, default: {} },
);

/** PlaceOS bridges to cloud brokers (docs/placeos.md, "Bridges"): how many, and how each buffers and retries. */
export const BridgesSection = Type.Object(
  {
    maxPerOrganization: Type.Integer({
      minimum: 0,
      maximum: 1_000,
      default: 16,
      description: 'Bridges one organization may configure (`POST /api/bridges` beyond it is 400).',
    }),
    maxQueuedEntries: Type.Integer({
      minimum: 0,
      maximum: 10_000_000,
      default: 10_000,
      description:
        'Feed entries a bridge keeps while its target is unreachable (newest per topic); on overflow the oldest is ' +
        'dropped and counted. Current values come back with the resync on reconnect.',
    }),
    maxBackoffMs: Type.Integer({
      minimum: 100,
      maximum: 3_600_000,
      default: 30_000,
      description: 'Cap of a bridge’s reconnect back-off (250 ms doubling, with jitter, retried forever).',
    }),
    connectTimeoutMs: Type.Integer({
      minimum: 100,
      maximum: 600_000,
      default: 10_000,
      description:
        'Time a bridge gives its target to complete TCP, TLS and CONNACK before the attempt counts as failed.',
    }),
  },
  { additionalProperties: false, default: {} },
);

/** The Medium One dialect (docs/mediumone.md): event and upload sizes, query size, REST sessions, the device cache. */
export const MediumOneSection = Type.Object(
  {
    maxEventBytes: Type.Integer({
      minimum: 64,
      maximum: MAX_MQTT_PACKET_BYTES,
      default: 65_536,
      description:
        'Largest Medium One event (MQTT payload or one line of a REST upload); larger ones are refused ' +
        '(MQTT 5 PUBACK 0x99 with a reason string, HTTP 413). Medium One documents 64 KB.',
    }),
    maxUploadBytes: Type.Integer({
      minimum: 64,
      maximum: 1_073_741_824,
      default: 10_485_760,
      description:
        'Largest body of `POST /v2/events/<stream>/<login_id>` (newline-delimited events); larger: HTTP 413.',
    }),
    maxQueryLimit: Type.Integer({
      minimum: 1,
      maximum: 1_000_000,
      default: 10_000,
      description: 'Most events one `GET /v2/events/<stream>/<login_id>` returns (its `limit` default and maximum).',
    }),
    restSessionSeconds: Type.Integer({
      minimum: 60,
      maximum: 31_536_000,
      default: 3_600,
      description: 'How long a `POST /v2/login` session (cookie or token) stays valid.',
    }),
    maxRestSessions: Type.Integer({
      minimum: 1,
      maximum: 10_000_000,
      default: 10_000,
      description: 'REST sessions kept at once (in memory); a login beyond it ends the oldest session.',
    }),
    deviceCacheSize: Type.Integer({
      minimum: 100,
      maximum: 100_000_000,
      default: 100_000,
      description: 'Medium One devices whose platform device is kept in memory (least recently used out first).',
    }),
    loginCacheSeconds: Type.Integer({
      minimum: 0,
      maximum: 86_400,
      default: 300,
      description:
        'How long a verified Medium One login is remembered, so a user’s devices cost one password check (0 = always check); ' +
        'forgotten at once when the user, its organization or an API key changes.',
    }),
    maxCachedLogins: Type.Integer({
      minimum: 1,
      maximum: 10_000_000,
      default: 10_000,
      description: 'Verified Medium One logins remembered at once (the oldest is forgotten first).',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const CloudplugsSection = Type.Object(
  {
    defaultReadLimit: Type.Integer({
      minimum: 1,
      maximum: 100_000,
      default: 100,
      description: 'Records `GET /iot/data/<mask>` answers when the request names no `limit`.',
    }),
    maxReadLimit: Type.Integer({
      minimum: 1,
      maximum: 100_000,
      default: 1_000,
      description: 'The largest `limit` a CloudPlugs data read may name.',
    }),
    maxScanRecords: Type.Integer({
      minimum: 100,
      maximum: 10_000_000,
      default: 100_000,
      description: 'Stored records one CloudPlugs read with a wildcard channel mask examines at most.',
    }),
    maxReadDevices: Type.Integer({
      minimum: 1,
      maximum: 100_000,
      default: 1_000,
      description: 'Devices one CloudPlugs data read or channel listing may cover.',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const AclRule = Type.Object(
  {
    action: Type.Union([Type.Literal('publish'), Type.Literal('subscribe'), Type.Literal('all')]),
    topic: Type.String({ minLength: 1, description: 'A topic filter (`+` and `#` allowed) the rule applies to.' }),
    allow: Type.Boolean(),
    users: Type.Optional(Type.Array(Type.String(), { description: 'Only for these user names.' })),
    clientIds: Type.Optional(Type.Array(Type.String(), { description: 'Only for these client ids.' })),
  },
  { additionalProperties: false },
);

export const ConfigSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, default: '0.0.0.0', description: 'Address every listener binds to.' }),
    dataDir: Type.String({
      minLength: 1,
      default: './data',
      description: 'Directory for the embedded store (created if missing).',
    }),
    allowAnonymous: Type.Boolean({
      default: false,
      description:
        "Accept clients without credentials as plain MQTT clients (no device rights). Off by default: every client authenticates as a device or a user. Anonymous clients are trusted readers: they may subscribe to every organization's feed and data topics unless `acl` rules restrict them.",
    }),
    logLevel: Type.Union(
      [
        Type.Literal('fatal'),
        Type.Literal('error'),
        Type.Literal('warn'),
        Type.Literal('info'),
        Type.Literal('debug'),
        Type.Literal('trace'),
        Type.Literal('silent'),
      ],
      { default: 'info', description: 'pino log level; JSON logs go to stdout.' },
    ),
    adminPassword: Type.Optional(
      Type.String({
        minLength: 8,
        description:
          'Password of the `admin` user created on first start with an empty store; unset: one is generated and printed once.',
      }),
    ),
    mqtt: MqttSection,
    tls: TlsSection,
    http: HttpSection,
    storage: StorageSection,
    database: DatabaseSection,
    platform: PlatformSection,
    bridges: BridgesSection,
    mediumone: MediumOneSection,
    cloudplugs: CloudplugsSection,
    acl: Type.Array(AclRule, {
      default: [],
      description:
        'Static access rules; the first rule matching action, topic, user and client id decides; none: allowed.',
    }),
  },
  { additionalProperties: false },
);

/** The validated configuration, every default filled in. */
export type Config = Static<typeof ConfigSchema>;
/** One static ACL rule (`Config['acl'][number]`). */
export type AclRuleConfig = Static<typeof AclRule>;
