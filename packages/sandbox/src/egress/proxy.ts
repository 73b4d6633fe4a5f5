import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import net from 'node:net';
import {
  allowsAddress,
  allowsName,
  isInternalAddress,
  parseEgressRules,
  type EgressRule,
} from './allow-list.ts';
import { verifyEgressCredential } from './credential.ts';

// git (curl with proxy auth "any") sends the proxy URL's credentials only after a 407 names a scheme.
const CHALLENGE = 'Basic realm="ci-fixer egress"';

/** Where the proxy listens: a Unix socket (local and docker sandboxes reach it through a relay) or TCP. */
export type ProxyListen = { path: string } | { host: string; port: number };

export interface EgressDecision {
  sandbox: string;
  target: string;
  allowed: boolean;
  reason: string;
}

export interface EgressProxyOptions {
  listen: ProxyListen;
  /** Told of every decision, for logs and metrics. */
  onDecision?: (decision: EgressDecision) => void;
  /** Resolves a host name; the proxy connects to the address it returns, never to the name again. */
  resolve?: (host: string) => Promise<string[]>;
  /**
   * Also accept credentials signed with this key (credential.ts), which carry their own allow-list: the
   * kubernetes egress proxy, which runs apart from the worker and so holds no grants of its own.
   */
  credentialKey?: string;
}

/** A sandbox's right to the network: the credentials its proxy URL carries, until revoked. */
export interface EgressGrant {
  /** `http://sandbox:<token>@…` minus the address, which depends on where the sandbox reaches the proxy. */
  readonly credentials: string;
  revoke(): void;
}

interface Grantee {
  sandbox: string;
  rules: EgressRule[];
}

/**
 * The one way out of a sandbox: an HTTP forward proxy (CONNECT for TLS and ssh, absolute URLs for plain
 * HTTP) that lets each sandbox reach only what its grant allows. Sandboxes have no network of their own;
 * their proxy variables point here with a per-sandbox token. A host name is resolved once, here, and the
 * connection goes to that address, so a name that resolves to an internal address (DNS rebinding) is
 * refused like the address itself unless an address rule names it.
 */
export class EgressProxy {
  private readonly server: http.Server;
  private readonly grantees = new Map<string, Grantee>();
  private readonly sockets = new Set<net.Socket>();
  private readonly options: EgressProxyOptions;

  private constructor(options: EgressProxyOptions) {
    this.options = options;
    this.server = http.createServer((req, res) => void this.forward(req, res));
    this.server.on(
      'connect',
      (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void this.tunnel(req, socket, head),
    );
    this.server.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  static async start(options: EgressProxyOptions): Promise<EgressProxy> {
    const proxy = new EgressProxy(options);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      if ('path' in options.listen) proxy.server.listen(options.listen.path, resolve);
      else proxy.server.listen(options.listen.port, options.listen.host, resolve);
    });
    // Serving sandboxes is no reason to keep a process alive that has nothing else to do.
    proxy.server.unref();
    return proxy;
  }

  /** The TCP address, when listening on TCP (tests and the Kubernetes proxy). */
  get address(): net.AddressInfo | undefined {
    const address = this.server.address();
    return typeof address === 'object' && address ? address : undefined;
  }

  /** Allows `sandbox` what `allow` lists (egress allow-list entries) until the grant is revoked. */
  grant(sandbox: string, allow: readonly string[]): EgressGrant {
    const token = randomBytes(24).toString('hex');
    this.grantees.set(token, { sandbox, rules: parseEgressRules(allow) });
    return {
      credentials: `sandbox:${token}`,
      revoke: () => {
        this.grantees.delete(token);
      },
    };
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private grantee(req: http.IncomingMessage): Grantee | undefined {
    const header = req.headers['proxy-authorization'];
    const match = typeof header === 'string' ? /^basic\s+(\S+)$/i.exec(header) : null;
    if (!match) return undefined;
    const decoded = Buffer.from(match[1]!, 'base64').toString();
    const colon = decoded.indexOf(':');
    const [user, token] = colon < 0 ? ['', decoded] : [decoded.slice(0, colon), decoded.slice(colon + 1)];
    const found = this.grantees.get(token);
    if (found) return found;
    const claims = this.options.credentialKey
      ? verifyEgressCredential(this.options.credentialKey, user, token)
      : undefined;
    if (!claims) return undefined;
    try {
      return { sandbox: claims.sandbox, rules: parseEgressRules(claims.allow) };
    } catch {
      // Signed but unparsable: the signer's bug, and still no reason to let anything through.
      return undefined;
    }
  }

  /**
   * The address to connect to for `host:port`, or why not. Names must match a name rule and resolve to a
   * public address (or one an address rule names); addresses must match an address rule.
   */
  private async decide(
    grantee: Grantee,
    host: string,
    port: number,
  ): Promise<{ address: string } | { refused: string }> {
    const bare = host.replace(/^\[(.*)\]$/, '$1');
    const target = `${host}:${port}`;
    if (net.isIP(bare)) {
      if (allowsAddress(grantee.rules, bare, port)) return { address: bare };
      return { refused: `${target} is not allowed for this sandbox` };
    }
    if (!allowsName(grantee.rules, bare, port))
      return { refused: `${target} is not allowed for this sandbox` };
    let addresses: string[];
    try {
      addresses = await (this.options.resolve ?? resolveAll)(bare);
    } catch (error) {
      return { refused: `${host} does not resolve (${(error as Error).message})` };
    }
    const usable = addresses.filter(
      (address) => !isInternalAddress(address) || allowsAddress(grantee.rules, address, port),
    );
    if (usable.length === 0)
      return {
        refused: `${host} resolves to an internal address (${addresses.join(', ')}), which is not allowed`,
      };
    return { address: usable[0]! };
  }

  private record(grantee: Grantee | undefined, target: string, allowed: boolean, reason: string): void {
    this.options.onDecision?.({ sandbox: grantee?.sandbox ?? 'unknown', target, allowed, reason });
  }

  private async tunnel(req: http.IncomingMessage, client: net.Socket, head: Buffer): Promise<void> {
    client.on('error', () => client.destroy());
    const target = req.url ?? '';
    const grantee = this.grantee(req);
    const refuse = (status: string, reason: string) => {
      this.record(grantee, target, false, reason);
      const challenge = status.startsWith('407') ? `Proxy-Authenticate: ${CHALLENGE}\r\n` : '';
      client.end(
        `HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\n${challenge}Connection: close\r\n\r\nci-fixer egress: ${reason}\n`,
      );
    };
    if (!grantee) return refuse('407 Proxy Authentication Required', 'no valid sandbox credentials');
    const parsed = /^(\[[0-9a-f:.]+\]|[^:[\]]+):(\d{1,5})$/i.exec(target);
    if (!parsed) return refuse('400 Bad Request', `not a host:port target: ${JSON.stringify(target)}`);
    const decision = await this.decide(grantee, parsed[1]!, Number(parsed[2]));
    if ('refused' in decision) return refuse('403 Forbidden', decision.refused);
    const upstream = net.connect({ host: decision.address, port: Number(parsed[2]) });
    upstream.once('connect', () => {
      this.record(grantee, target, true, `connected to ${decision.address}`);
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.once('error', (error) =>
      refuse('502 Bad Gateway', `cannot connect to ${target}: ${error.message}`),
    );
    client.once('close', () => upstream.destroy());
  }

  private async forward(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const grantee = this.grantee(req);
    const refuse = (status: number, reason: string) => {
      this.record(grantee, req.url ?? '', false, reason);
      res
        .writeHead(status, {
          'content-type': 'text/plain',
          ...(status === 407 ? { 'proxy-authenticate': CHALLENGE } : {}),
        })
        .end(`ci-fixer egress: ${reason}\n`);
    };
    if (!grantee) return refuse(407, 'no valid sandbox credentials');
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      return refuse(400, 'a proxy request needs an absolute http:// URL');
    }
    if (url.protocol !== 'http:')
      return refuse(400, `only http:// is forwarded; use CONNECT for ${url.protocol}`);
    const port = Number(url.port || 80);
    const decision = await this.decide(grantee, url.hostname, port);
    if ('refused' in decision) return refuse(403, decision.refused);
    const failed = (reason: string) => (res.headersSent ? res.destroy() : refuse(502, reason));
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const upstream = http.request(
      { host: decision.address, port, method: req.method, path: `${url.pathname}${url.search}`, headers },
      (answer) => {
        this.record(grantee, url.host, true, `forwarded to ${decision.address}`);
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.once('error', (error) => failed(`cannot reach ${url.host}: ${error.message}`));
    req.pipe(upstream);
  }
}

async function resolveAll(host: string): Promise<string[]> {
  return (await lookup(host, { all: true })).map((entry) => entry.address);
}
