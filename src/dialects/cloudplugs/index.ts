/** The CloudPlugs dialect: MQTT hooks, credential steps, the `/iot` HTTP API, management calls (docs/cloudplugs.md). */
export { createCloudplugsDialect, DEFAULT_CLOUDPLUGS_LIMITS } from './cloudplugs.js';
export type { CloudplugsDialect, CloudplugsDialectOptions, CloudplugsLimits } from './cloudplugs.js';
export { CloudplugsRequestError } from './management.js';
export type { CloudplugsCredentials, CloudplugsManagement } from './management.js';
export { controlPass, thingEnrollPass } from './enroll-pass.js';
export { isCloudplugsIdentity } from './identity.js';
export { isCloudplugsTopic } from './topics.js';
