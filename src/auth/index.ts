/** Authentication and authorization: passwords, JWTs, API keys, roles, and the first-start admin. */
export { generateApiKey, hashApiKey, isApiKeyShaped, API_KEY_PREFIX } from './api-keys.js';
export type { GeneratedApiKey } from './api-keys.js';
export { bootstrapAdmin, BOOTSTRAP_ORGANIZATION, BOOTSTRAP_USERNAME } from './bootstrap.js';
export type { BootstrapOptions, BootstrapResult } from './bootstrap.js';
export { loadOrCreateJwtKey, TokenSigner } from './jwt.js';
export type { TokenClaims } from './jwt.js';
export { hashPassword, verifyPassword } from './password.js';
export { hasRole } from './roles.js';
export type { Caller } from './roles.js';
export { AuthService, DEFAULT_TOKEN_LIFETIME_SECONDS } from './service.js';
export type { AuthServiceOptions } from './service.js';
