/**
 * `GET` and `PUT /api/organizations/{id}/feed`: an organization's PlaceOS feed settings (issue 5 "Management API
 * additions"). Viewers read them, admins change them; a caller reaches its own organization (admins of the server
 * organization reach every one). A bad filter is a 400 naming the rule (`filters[2]: invalid regular expression: …`);
 * nothing is stored then. The PUT answers once the new settings apply (for a feed just turned on: once its current
 * state is published). The secret of the hash action is never shown.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { callerOf, HttpError, HttpErrorCode } from '../../http/index.js';
import type { PlatformStore } from '../../storage/platform-store.js';
import type { PlaceosFeed } from './feed.js';
import { FeedSettingsBody, FeedSettingsError, FeedSettingsView, viewOf } from './feed-settings.js';
import { PrivacyRuleError } from './privacy.js';

export interface FeedHttpDeps {
  feed: PlaceosFeed;
  store: PlatformStore;
}

const Params = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
const ErrorBody = Type.Object({ error: Type.String(), message: Type.String() });
const errorResponses = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

interface FeedRoute {
  Params: { id: string };
}

export function feedHttpPlugin(deps: FeedHttpDeps): FastifyPluginAsync {
  return (app) => {
    const tags = ['placeos'];

    /** 404 alike for an organization that does not exist and one the caller cannot reach. */
    const reachable = async (request: FastifyRequest<FeedRoute>): Promise<string> => {
      const caller = callerOf(request);
      const { id } = request.params;
      if ((caller.orgId !== id && !caller.isServerAdmin) || (await deps.store.getOrganization(id)) === undefined) {
        throw new HttpError(HttpErrorCode.NotFound, 'organization not found');
      }
      return id;
    };

    app.get<FeedRoute>(
      '/api/organizations/:id/feed',
      {
        config: { minRole: 'viewer' },
        schema: {
          tags,
          summary: 'The organization’s PlaceOS feed settings',
          params: Params,
          response: { 200: FeedSettingsView, ...errorResponses },
        },
      },
      async (request) => viewOf(deps.feed.settingsOrDefault(await reachable(request))),
    );

    app.put<FeedRoute & { Body: FeedSettingsBody }>(
      '/api/organizations/:id/feed',
      {
        config: { minRole: 'admin' },
        schema: {
          tags,
          summary: 'Turn the PlaceOS feed on or off and set its hierarchy, payload format and local privacy filters',
          description:
            'Fields left out keep their current value. Filters: `{"pattern", "action": "hash" | "mask" | "drop", ' +
            '"keepLast"?, "replacement"?}`, in order; `"pattern": "builtin:email"` or `"builtin:user-id"` selects a ' +
            'built-in rule.',
          params: Params,
          body: FeedSettingsBody,
          response: { 200: FeedSettingsView, ...errorResponses },
        },
      },
      async (request) => {
        const orgId = await reachable(request);
        try {
          return viewOf(await deps.feed.configure(orgId, request.body));
        } catch (error) {
          if (error instanceof PrivacyRuleError || error instanceof FeedSettingsError) {
            throw new HttpError(HttpErrorCode.InvalidRequest, error.message, { cause: error });
          }
          throw error;
        }
      },
    );
    return Promise.resolve();
  };
}
