/**
 * The users auth step (choices.md "Who connects", step 2): username and password both a JWT or both an API key make a
 * user session, checked by the auth module exactly as the HTTP API checks a Bearer token or an X-API-Key (the user or
 * key must still exist; its current role counts). Anything else is not a user session (undefined: the next step is
 * asked). A secret of the right shape that does not verify (forged, expired, revoked, unknown key) is refused with
 * 0x86 Bad user name or password (3.1.1: 0x04).
 */
import type { Logger } from 'pino';
import type { AuthenticateResult, ConnectRequest } from '../../broker/index.js';
import type { AuthService } from '../../auth/index.js';
import { ReasonCode } from '../../mqtt/codec/index.js';
import { jwtExpiryMs, userSecretOf } from './credentials.js';
import type { UserIdentity } from '../../platform/identity.js';

/** What the step needs of the auth module. */
export type SecretVerifier = Pick<AuthService, 'authenticateSecret'>;

/** Builds the step; `nowMs` is for tests of expiry at the edge. */
export function createUsersAuthStep(
  auth: SecretVerifier,
  logger: Logger,
  nowMs: () => number = Date.now,
): (request: ConnectRequest) => Promise<AuthenticateResult> | undefined {
  return (request) => {
    const credential = userSecretOf(request.username, request.password);
    if (credential === undefined) return undefined;
    return verify(auth, credential.kind, credential.secret, nowMs).catch((error: unknown) => {
      // The store could not answer: the credentials may well be right, so say "try later", not "wrong".
      logger.error({ err: error }, 'user credential look-up failed');
      return { ok: false, reasonCode: ReasonCode.ServerUnavailable };
    });
  };
}

async function verify(
  auth: SecretVerifier,
  kind: 'jwt' | 'api-key',
  secret: string,
  nowMs: () => number,
): Promise<AuthenticateResult> {
  const caller = await auth.authenticateSecret(secret);
  if (caller === undefined) return { ok: false, reasonCode: ReasonCode.BadUserNameOrPassword };
  let expiresAtMs: number | undefined;
  if (kind === 'jwt') {
    // Verified above (signature, issuer, expiry), so reading `exp` without checking again is safe.
    expiresAtMs = jwtExpiryMs(secret);
    if (expiresAtMs === undefined || expiresAtMs <= nowMs()) {
      return { ok: false, reasonCode: ReasonCode.BadUserNameOrPassword };
    }
  }
  const identity: UserIdentity = {
    kind: 'user',
    orgId: caller.orgId,
    role: caller.role,
    subject: caller.id,
    expiresAtMs,
  };
  return { ok: true, identity };
}
