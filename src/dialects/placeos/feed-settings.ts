/**
 * An organization's feed settings: defaults (the source document's: building level area, time in milliseconds, value a
 * serialized JSON string), the request shape of `PUT /api/organizations/{id}/feed`, and how a request is merged into
 * what is stored. Fields a request leaves out keep their current value (or the default), so `{"enabled": false}`
 * switches the feed off without losing its hierarchy or filters.
 */
import { randomBytes } from 'node:crypto';
import { Type, type Static } from 'typebox';
import type { FeedSettings, PrivacyRule } from './feed-types.js';
import { compilePrivacyRules, PRIVACY_LIMITS } from './privacy.js';

/** The tiers of the source document's topic (`<bld>/<lvl>/<area>`). */
export const DEFAULT_HIERARCHY: readonly string[] = ['building', 'level', 'area'];

/** A leading tier of this name is the scope: the organization itself, not a topic level (PlaceOS's `org` tag). */
export const SCOPE_TIER = 'org';

/** At most this many tiers (the platform's zone hierarchy allows 8, plus the scope). */
export const MAX_TIERS = 9;

const Tier = Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z][a-z0-9_-]*$' });

/** One rule as the API takes it (feed-types.ts `PrivacyRule`). */
export const PrivacyRuleBody = Type.Object(
  {
    pattern: Type.String({
      minLength: 1,
      maxLength: PRIVACY_LIMITS.maxPatternLength,
      description: 'A JavaScript regular expression, or `builtin:email` / `builtin:user-id`',
    }),
    action: Type.Union([Type.Literal('hash'), Type.Literal('mask'), Type.Literal('drop')]),
    keepLast: Type.Optional(
      Type.Integer({ minimum: 0, maximum: PRIVACY_LIMITS.maxKeepLast, description: 'mask: trailing characters kept' }),
    ),
    replacement: Type.Optional(
      Type.String({ maxLength: PRIVACY_LIMITS.maxReplacementLength, description: 'mask: text put instead' }),
    ),
  },
  { additionalProperties: false },
);

export const PrivacyRules = Type.Array(PrivacyRuleBody, { maxItems: PRIVACY_LIMITS.maxRules });

/** `PUT /api/organizations/{id}/feed`. */
export const FeedSettingsBody = Type.Object(
  {
    enabled: Type.Boolean(),
    hierarchy: Type.Optional(
      Type.Array(Tier, {
        minItems: 1,
        maxItems: MAX_TIERS,
        description: 'Zone tiers from the top; a leading `org` is the organization itself (PlaceOS: org region …)',
      }),
    ),
    timeUnit: Type.Optional(Type.Union([Type.Literal('ms'), Type.Literal('s')])),
    valueEncoding: Type.Optional(Type.Union([Type.Literal('string'), Type.Literal('raw')])),
    filters: Type.Optional(PrivacyRules),
  },
  { additionalProperties: false },
);
export type FeedSettingsBody = Static<typeof FeedSettingsBody>;

/** What the API shows: the settings without the secret. */
export const FeedSettingsView = Type.Object({
  enabled: Type.Boolean(),
  hierarchy: Type.Array(Type.String()),
  timeUnit: Type.Union([Type.Literal('ms'), Type.Literal('s')]),
  valueEncoding: Type.Union([Type.Literal('string'), Type.Literal('raw')]),
  filters: PrivacyRules,
});
export type FeedSettingsView = Static<typeof FeedSettingsView>;

/** A settings request the schema accepts but the feed cannot use; `message` names the field. */
export class FeedSettingsError extends Error {
  override readonly name = 'FeedSettingsError';
  readonly code = 'INVALID_FEED_SETTINGS';
}

/**
 * Settings of an organization that never configured its feed: the source document's building level area (so its
 * wildcard examples work as written), whatever tiers the server's zones may have (`platform.zoneHierarchy` also
 * allows PlaceOS's org and region).
 */
export function defaultFeedSettings(hierarchy: readonly string[] = DEFAULT_HIERARCHY): FeedSettings {
  return {
    enabled: false,
    hierarchy: [...hierarchy],
    timeUnit: 'ms',
    valueEncoding: 'string',
    filters: [],
    secret: randomBytes(32).toString('hex'),
  };
}

/**
 * The settings after a request: fields it leaves out are kept. Throws FeedSettingsError for a hierarchy the feed
 * cannot use and PrivacyRuleError (naming the rule) for a bad filter, before anything is stored.
 */
export function mergeFeedSettings(current: FeedSettings, body: FeedSettingsBody): FeedSettings {
  const hierarchy = body.hierarchy ?? current.hierarchy;
  checkHierarchy(hierarchy);
  const filters: PrivacyRule[] = (body.filters ?? current.filters).map(copyRule);
  compilePrivacyRules(filters, current.secret);
  return {
    enabled: body.enabled,
    hierarchy: [...hierarchy],
    timeUnit: body.timeUnit ?? current.timeUnit,
    valueEncoding: body.valueEncoding ?? current.valueEncoding,
    filters,
    secret: current.secret,
  };
}

function checkHierarchy(hierarchy: readonly string[]): void {
  const seen = new Set<string>();
  hierarchy.forEach((tier, index) => {
    if (seen.has(tier)) throw new FeedSettingsError(`hierarchy[${String(index)}]: ${tier} is listed twice`);
    seen.add(tier);
    if (tier === SCOPE_TIER && index > 0) {
      throw new FeedSettingsError(`hierarchy[${String(index)}]: ${SCOPE_TIER} (the organization) can only be first`);
    }
  });
}

/** The tiers that are topic levels: the hierarchy without a leading scope tier. */
export function topicTiers(hierarchy: readonly string[]): readonly string[] {
  return hierarchy[0] === SCOPE_TIER ? hierarchy.slice(1) : hierarchy;
}

function copyRule(rule: PrivacyRule): PrivacyRule {
  const copy: PrivacyRule = { pattern: rule.pattern, action: rule.action };
  if (rule.keepLast !== undefined) copy.keepLast = rule.keepLast;
  if (rule.replacement !== undefined) copy.replacement = rule.replacement;
  return copy;
}

/** The API's view of stored settings. */
export function viewOf(settings: FeedSettings): FeedSettingsView {
  return {
    enabled: settings.enabled,
    hierarchy: [...settings.hierarchy],
    timeUnit: settings.timeUnit,
    valueEncoding: settings.valueEncoding,
    filters: settings.filters.map((rule) => {
      const view: FeedSettingsView['filters'][number] = { pattern: rule.pattern, action: rule.action };
      if (rule.keepLast !== undefined) view.keepLast = rule.keepLast;
      if (rule.replacement !== undefined) view.replacement = rule.replacement;
      return view;
    }),
  };
}
