import { BlockList, isIP } from 'node:net';

/**
 * One entry of an egress allow-list: a host name (`github.com`), a domain wildcard (`*.example.com`), an
 * IP address or a CIDR, each optionally with a port. A name without a port allows 443 and 80.
 */
export type EgressRule =
  | { kind: 'host'; host: string; ports: number[] }
  | { kind: 'domain'; suffix: string; ports: number[] }
  | { kind: 'address'; list: BlockList; ports: number[] | 'any' };

const DEFAULT_PORTS = [443, 80];

export class EgressRuleError extends Error {
  override name = 'EgressRuleError';
}

/** Parses allow-list entries; a malformed entry is an error that names it, never silently dropped. */
export function parseEgressRules(entries: readonly string[]): EgressRule[] {
  return entries.map(parseRule);
}

function parseRule(raw: string): EgressRule {
  const entry = raw.trim().toLowerCase();
  const bracketed = /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/.exec(entry);
  const cidr = /^([0-9a-f:.]+)\/(\d{1,3})$/.exec(entry);
  const withPort = /^([^:/]+):(\d{1,5})$/.exec(entry);
  if (bracketed) return addressRule(bracketed[1]!, undefined, bracketed[2], raw);
  if (cidr) return addressRule(cidr[1]!, Number(cidr[2]), undefined, raw);
  if (isIP(entry)) return addressRule(entry, undefined, undefined, raw);
  const [name, port] = withPort ? [withPort[1]!, withPort[2]] : [entry, undefined];
  if (isIP(name)) return addressRule(name, undefined, port, raw);
  const ports = port ? [checkedPort(port, raw)] : DEFAULT_PORTS;
  if (name.startsWith('*.') && isHostName(name.slice(2)))
    return { kind: 'domain', suffix: name.slice(1), ports };
  if (isHostName(name)) return { kind: 'host', host: name.replace(/\.$/, ''), ports };
  throw new EgressRuleError(`not an egress allow-list entry: ${JSON.stringify(raw)}`);
}

function addressRule(
  address: string,
  prefix: number | undefined,
  port: string | undefined,
  raw: string,
): EgressRule {
  const family = isIP(address);
  if (!family) throw new EgressRuleError(`not an IP address: ${JSON.stringify(raw)}`);
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const list = new BlockList();
  if (prefix === undefined) list.addAddress(address, type);
  else if (prefix <= (family === 4 ? 32 : 128)) list.addSubnet(address, prefix, type);
  else throw new EgressRuleError(`prefix length out of range: ${JSON.stringify(raw)}`);
  // An address is the operator naming one destination; without a port it is that host on any port.
  return { kind: 'address', list, ports: port ? [checkedPort(port, raw)] : 'any' };
}

function checkedPort(port: string, raw: string): number {
  const value = Number(port);
  if (!Number.isInteger(value) || value < 1 || value > 65535)
    throw new EgressRuleError(`port out of range: ${JSON.stringify(raw)}`);
  return value;
}

function isHostName(name: string): boolean {
  return /^(?=.{1,253}\.?$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.?$/.test(
    name,
  );
}

/** Whether a name rule allows `host:port`; addresses are judged after resolution, by `allowsAddress`. */
export function allowsName(rules: readonly EgressRule[], host: string, port: number): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return rules.some(
    (rule) =>
      (rule.kind === 'host' && rule.host === name && rule.ports.includes(port)) ||
      (rule.kind === 'domain' && name.endsWith(rule.suffix) && rule.ports.includes(port)),
  );
}

/** Whether an address rule names this address and port explicitly. */
export function allowsAddress(rules: readonly EgressRule[], address: string, port: number): boolean {
  const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  return rules.some(
    (rule) =>
      rule.kind === 'address' &&
      (rule.ports === 'any' || rule.ports.includes(port)) &&
      rule.list.check(address, type),
  );
}

/**
 * Addresses a sandbox never reaches unless an address rule names them: loopback, private, shared (CGNAT),
 * link-local (the cloud metadata address among them), multicast and reserved ranges, in both families.
 */
const INTERNAL = (() => {
  const list = new BlockList();
  for (const [net, prefix] of [
    ['0.0.0.0', 8],
    ['10.0.0.0', 8],
    ['100.64.0.0', 10],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['172.16.0.0', 12],
    ['192.0.0.0', 24],
    ['192.168.0.0', 16],
    ['198.18.0.0', 15],
    ['224.0.0.0', 4],
    ['240.0.0.0', 4],
  ] as const)
    list.addSubnet(net, prefix, 'ipv4');
  for (const [net, prefix] of [
    ['::', 128],
    ['::1', 128],
    ['fc00::', 7],
    ['fe80::', 10],
    ['ff00::', 8],
  ] as const)
    list.addSubnet(net, prefix, 'ipv6');
  return list;
})();

/** Whether an address is internal (see INTERNAL); IPv4-mapped IPv6 addresses are judged as IPv4. */
export function isInternalAddress(address: string, extra?: BlockList): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const candidate = mapped ? mapped[1]! : address;
  const type = isIP(candidate) === 6 ? 'ipv6' : 'ipv4';
  return INTERNAL.check(candidate, type) || (extra?.check(candidate, type) ?? false);
}
