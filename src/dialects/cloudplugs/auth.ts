/**
 * The dialect's two credential steps (choices.md, "Who connects"): `login` for a Plug-ID or account e-mail with its
 * auth code or master password (step 4), `enrollment` for an empty username and password (step 5, after ThingsBoard's
 * client-id-only devices). Each answers undefined for credentials not of its shape, so the next step is asked.
 */
import type { AuthenticateResult, ConnectRequest } from '../../broker/index.js';
import type { Logger } from 'pino';
import { PlugErr, PlugError } from './errors.js';
import { enrollIdentity, parseClientId } from './identity.js';
import { isDevicePlugId } from './plug-id.js';
import type { CloudplugsService } from './service.js';

const BAD_CREDENTIALS = 0x86;
const NOT_AUTHORIZED = 0x87;
const SERVER_UNAVAILABLE = 0x88;

/** Loose e-mail shape (something@domain.tld): only used to decide whether the step applies. */
const EMAIL_SHAPE = /^[^\s@/]+@[^\s@/]+\.[^\s@/]+$/;

/** Username a device Plug-ID, or an e-mail a platform user has: a CloudPlugs login. */
export function cloudplugsLoginStep(service: CloudplugsService, logger: Logger) {
  // Credentials of another shape are told apart synchronously: most connects are not CloudPlugs logins.
  return (request: ConnectRequest): Promise<AuthenticateResult | undefined> | undefined => {
    const username = request.username;
    if (username === undefined) return undefined;
    const isDevice = isDevicePlugId(username);
    if (!isDevice && !EMAIL_SHAPE.test(username)) return undefined;
    return login(username, request.password?.toString('utf8') ?? '', isDevice);
  };

  async function login(username: string, password: string, isDevice: boolean): Promise<AuthenticateResult | undefined> {
    try {
      if (isDevice) return { ok: true, identity: service.loginDevice(username, password) };
      // An e-mail no user has may still be a ThingsBoard basic-credentials username: not ours then.
      if ((await service.platform.store.getUserByEmail(username)) === undefined) return undefined;
      return { ok: true, identity: await service.loginAccount(username, password) };
    } catch (error) {
      if (error instanceof PlugError) {
        return { ok: false, reasonCode: error.err === PlugErr.Forbidden ? NOT_AUTHORIZED : BAD_CREDENTIALS };
      }
      logger.error({ err: error }, 'CloudPlugs login failed');
      return { ok: false, reasonCode: SERVER_UNAVAILABLE };
    }
  }
}

/**
 * Empty username and password: an enrolment session for the device named by the client id `HWID/NAME`. When the
 * server allows anonymous access the step stands aside: the router lets the client in as a plain anonymous one (no
 * identity, as every dialect expects of anonymous clients), and the dialect treats an anonymous client's enrolment
 * SUBSCRIBE the same way. Without anonymous access it attaches an enrolment identity, which no other dialect admits.
 */
export function cloudplugsEnrollmentStep(allowAnonymous: boolean) {
  return (request: ConnectRequest): AuthenticateResult | undefined => {
    const isEmptyUser = request.username === undefined || request.username === '';
    const isEmptyPassword = request.password === undefined || request.password.length === 0;
    if (!isEmptyUser || !isEmptyPassword || allowAnonymous) return undefined;
    const { hwid, name } = parseClientId(request.clientId);
    return { ok: true, identity: enrollIdentity(hwid, name) };
  };
}
