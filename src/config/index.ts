/** Switchboard configuration: schema with defaults, file + environment loading, one-line validation errors. */
export { ConfigSchema } from './schema.js';
export type { AclRuleConfig, Config } from './schema.js';
export { ConfigError, DEFAULT_CONFIG_FILE, loadConfig, parseConfig } from './load.js';
export type { ConfigIssue } from './load.js';
export { ENV_BINDINGS, envVarFor } from './env.js';
export type { EnvBinding } from './env.js';
