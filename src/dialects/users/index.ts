/** The users dialect: users and API keys over MQTT, on every listener and at `/api/mqtt/` (docs/users.md). */
export { createUsersDialect, REVOKED_REASON_STRING } from './dialect.js';
export type { UsersDialect, UsersDialectOptions } from './dialect.js';
export { createUsersAuthStep } from './auth.js';
export type { SecretVerifier } from './auth.js';
export { isJwtShaped, userSecretOf } from './credentials.js';
export type { UserSecret } from './credentials.js';
export { FEED_VIEWER_PATH } from './feed-viewer.js';
export { isUserIdentity } from '../../platform/identity.js';
export type { UserIdentity } from '../../platform/identity.js';
export {
  decidePublish,
  decideSubscribe,
  FEED_ROOT,
  GUARD_PREFIX,
  guardFor,
  isDeliverable,
  isFeedTopic,
} from './rights.js';
export type { RefusalReason, SubscribeDecision } from './rights.js';
export { EXPIRED_REASON_STRING, SessionDeadlines } from './session-deadlines.js';
export type { SessionCloser } from './session-deadlines.js';
