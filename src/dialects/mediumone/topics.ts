/**
 * Medium One's topics (device-apis.md §4.2): the first level is a delivery class, `0` device → cloud, `1` cloud → one
 * user's devices, `2` cloud → a project or a group. Identifiers (project, user, device, group ids) must be valid topic
 * levels (the source document: case-sensitive ASCII, no control characters, no `#`, `+`, `/`); `_all` is reserved
 * for devices and groups.
 */

/** The reserved device and group id meaning "every one". */
export const ALL = '_all';

/** Longest device, group or stream id accepted (the document sets none; this bounds keys and topics). */
export const MAX_ID_LENGTH = 128;

/** The namespace `0/…`, `1/…`, `2/…` (and the bare levels `0`, `1`, `2`) belongs to Medium One (choices.md). */
export function isMediumOneNamespace(topic: string): boolean {
  const c0 = topic.charCodeAt(0);
  if (c0 !== 0x30 && c0 !== 0x31 && c0 !== 0x32) return false; // 0 1 2
  return topic.length === 1 || topic.charCodeAt(1) === 0x2f;
}

/**
 * Whether `id` is a valid topic level in the document's sense: printable ASCII without `#`, `+`, `/`. Empty is not
 * valid (an empty device id is handled by its caller).
 */
export function isValidIdentifier(id: string): boolean {
  if (id.length === 0 || id.length > MAX_ID_LENGTH) return false;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x23 || c === 0x2b || c === 0x2f) return false;
  }
  return true;
}

/** Why an identifier is refused, for reason strings and HTTP messages; undefined when it is valid. */
export function identifierProblem(what: string, id: string, options: { allowAll?: boolean } = {}): string | undefined {
  if (id.length === 0) return `${what} is empty`;
  if (id.length > MAX_ID_LENGTH) return `${what} is longer than ${MAX_ID_LENGTH} characters`;
  if (!isValidIdentifier(id)) {
    return `${what} ${JSON.stringify(id)} is not a valid topic level (printable ASCII without '#', '+', '/')`;
  }
  if (id === ALL && options.allowAll !== true) return `${what} "${ALL}" is reserved`;
  return undefined;
}

/** An event topic `0/<project>/<user>/<device_id>`; `deviceId` is '' for `0/<p>/<u>/` and `0/<p>/<u>`. */
export interface EventTopic {
  projectMqttId: string;
  userMqttId: string;
  deviceId: string;
}

/**
 * Parses an event topic; undefined when it does not have the shape (more than four levels, empty project or user).
 * The device id is not checked here (the caller refuses `_all` and bad characters with a reason).
 */
export function parseEventTopic(topic: string): EventTopic | undefined {
  if (!topic.startsWith('0/')) return undefined;
  const second = topic.indexOf('/', 2);
  if (second < 0) return undefined;
  const projectMqttId = topic.slice(2, second);
  const third = topic.indexOf('/', second + 1);
  const userMqttId = third < 0 ? topic.slice(second + 1) : topic.slice(second + 1, third);
  const deviceId = third < 0 ? '' : topic.slice(third + 1);
  if (projectMqttId.length === 0 || userMqttId.length === 0 || deviceId.includes('/')) return undefined;
  return { projectMqttId, userMqttId, deviceId };
}

/** The first level of a topic and the next one or two, without allocating an array. */
function levels(topic: string, count: 2 | 3): string[] | undefined {
  const result: string[] = [];
  let start = 0;
  for (let i = 0; i < count; i++) {
    const end = topic.indexOf('/', start);
    if (end < 0) {
      if (i < count - 1) return undefined;
      result.push(topic.slice(start));
      return result;
    }
    result.push(topic.slice(start, end));
    start = end + 1;
  }
  return result;
}

/**
 * Whether a Medium One device user may subscribe to `topicFilter`: only its own user's topics `1/<p>/<u>/…` and its
 * project's `2/<p>/…` (the project and user levels literal, not wildcards). Devices of one user are not isolated from
 * each other (§4.2), projects are.
 */
export function isDeviceUserFilter(topicFilter: string, projectMqttId: string, userMqttId: string): boolean {
  if (topicFilter.startsWith('1/')) {
    const parts = levels(topicFilter, 3);
    return parts !== undefined && parts[1] === projectMqttId && parts[2] === userMqttId;
  }
  if (topicFilter.startsWith('2/')) {
    const parts = levels(topicFilter, 2);
    return parts !== undefined && parts[1] === projectMqttId;
  }
  return false;
}

/** The project level of a namespace topic or filter (`<class>/<project>/…`); undefined when it has none. */
export function projectOf(topic: string): string | undefined {
  const parts = levels(topic, 2);
  return parts?.[1];
}

/** `1/<p>/<u>/<d>/event`: workflow output to one device. */
export function deviceEventTopic(projectMqttId: string, userMqttId: string, deviceId: string): string {
  return `1/${projectMqttId}/${userMqttId}/${deviceId}/event`;
}

/** `1/<p>/<u>/<d>/update/<type>`, or `1/<p>/<u>/_all/update/<type>` for every device of the user. */
export function userUpdateTopic(projectMqttId: string, userMqttId: string, deviceId: string, type: string): string {
  return `1/${projectMqttId}/${userMqttId}/${deviceId}/update/${type}`;
}

/** `2/<p>/<group>/<type>`, or `2/<p>/_all/<type>` for the whole project. */
export function groupUpdateTopic(projectMqttId: string, groupId: string, type: string): string {
  return `2/${projectMqttId}/${groupId}/${type}`;
}
