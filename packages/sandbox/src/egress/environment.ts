import type { EgressGrant } from './proxy.ts';

/** The port a sandbox's relay listens on, on its own loopback (local and docker drivers alike). */
export const EGRESS_RELAY_PORT = 3128;

/**
 * The variables every common client reads for its proxy (curl and git read lower-case `http_proxy`, Node
 * needs NODE_USE_ENV_PROXY), pointed at the relay inside the sandbox (local, docker) or at the egress
 * proxy's address (kubernetes); ssh goes through the same proxy by CONNECT. NO_PROXY is emptied: nothing
 * may bypass it, and nothing could.
 */
export function proxyEnvironment(
  grant: Pick<EgressGrant, 'credentials'>,
  port = EGRESS_RELAY_PORT,
  host = '127.0.0.1',
): Record<string, string> {
  const url = `http://${grant.credentials}@${host}:${port}`;
  return {
    HTTP_PROXY: url,
    HTTPS_PROXY: url,
    http_proxy: url,
    https_proxy: url,
    ALL_PROXY: url,
    all_proxy: url,
    NO_PROXY: '',
    no_proxy: '',
    NODE_USE_ENV_PROXY: '1',
    GIT_SSH_COMMAND: `ssh -o ProxyCommand='socat - PROXY:${host}:%h:%p,proxyport=${port},proxyauth=${grant.credentials}'`,
  };
}
