import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { signEgressCredential } from '../egress/credential.ts';
import { proxyEnvironment } from '../egress/environment.ts';
import { SandboxError } from '../types.ts';

/** The egress proxy sandbox pods reach the network through (K8S_EGRESS_PROXY, SANDBOX_EGRESS_PROXY_KEY). */
export interface EgressProxySettings {
  /** `host:port`: the chart's egress-proxy Service, or an address. */
  address: string;
  /** The HMAC key the proxy verifies sandbox credentials with. */
  key: string;
}

/** Seconds a credential outlives the sandbox's keep-alive: the Job's hard stop comes within them. */
const CREDENTIAL_GRACE_SECONDS = 120;

export function parseProxyAddress(address: string): { host: string; port: number } {
  const match = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+):(\d{1,5})$/i.exec(address);
  const port = Number(match?.[2]);
  if (!match || port < 1 || port > 65535)
    throw new SandboxError(`the egress proxy address must be host:port, got ${JSON.stringify(address)}`);
  return { host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

/**
 * The proxy variables of one sandbox: its allow-list and lifetime signed into the credential, and the
 * proxy's address resolved here, by the worker, so that a sandbox pod needs no DNS (its NetworkPolicy
 * allows the proxy pods and nothing else; through a Service the CNI sees the pod address after DNAT).
 */
export async function sandboxProxyEnvironment(
  proxy: EgressProxySettings,
  sandbox: string,
  allow: readonly string[],
  lifetimeSeconds: number,
): Promise<Record<string, string>> {
  const { host, port } = parseProxyAddress(proxy.address);
  let address = host;
  if (!isIP(host)) {
    try {
      address = (await lookup(host)).address;
    } catch (error) {
      throw new SandboxError(
        `cannot resolve the egress proxy ${host} (K8S_EGRESS_PROXY): ${(error as Error).message}`,
        { sandboxId: sandbox, cause: error },
      );
    }
  }
  const credentials = signEgressCredential(proxy.key, {
    sandbox,
    allow: [...allow],
    expiresAt: Math.ceil(Date.now() / 1000) + lifetimeSeconds + CREDENTIAL_GRACE_SECONDS,
  });
  return proxyEnvironment({ credentials }, port, isIP(address) === 6 ? `[${address}]` : address);
}
