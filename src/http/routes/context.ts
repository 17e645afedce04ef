/** What every route module gets from `createHttpApp`. */
import type { AuthService } from '../../auth/index.js';
import type { CloudplugsManagement } from '../../dialects/cloudplugs/index.js';
import type { Platform } from '../../platform/platform.js';
import type { AppMetrics } from '../metrics.js';
import type { SseStreams } from '../sse.js';

export interface RouteContext {
  platform: Platform;
  auth: AuthService;
  metrics: AppMetrics;
  streams: SseStreams;
  /** The CloudPlugs parts of profiles and devices; absent when the server runs without the dialect. */
  cloudplugs: CloudplugsManagement | undefined;
}
