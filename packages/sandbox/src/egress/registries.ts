import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The package registries this host's own package managers are configured with (npm's registry, Go's
 * GOPROXY and GOSUMDB, pip's index), as `host:port` egress entries. Asking the tools rather than naming
 * hosts here means a company mirror configured on the worker is what sandboxes may reach. A tool that is
 * not installed contributes nothing.
 */
export async function discoverRegistryEgress(): Promise<string[]> {
  const found = await Promise.all([npmRegistry(), goProxies(), pipIndexes()]);
  return [...new Set(found.flat())];
}

/** An egress allow-list with `registries` replaced by what {@link discoverRegistryEgress} finds. */
export async function expandEgress(entries: readonly string[]): Promise<string[]> {
  const registries = entries.includes('registries') ? await discoverRegistryEgress() : [];
  return [...new Set(entries.flatMap((entry) => (entry === 'registries' ? registries : [entry])))];
}

async function npmRegistry(): Promise<string[]> {
  const registry = await output('npm', ['config', 'get', 'registry']);
  return registry ? urlEntries([registry]) : [];
}

async function goProxies(): Promise<string[]> {
  const lines = (await output('go', ['env', 'GOPROXY', 'GOSUMDB']))?.split('\n') ?? [];
  const [proxy = '', sumdb = ''] = lines;
  // GOPROXY is a list separated by commas or pipes; `direct` and `off` are not hosts.
  const proxies = proxy.split(/[,|]/).filter((entry) => /^https?:\/\//.test(entry));
  // GOSUMDB is `off`, a name (a host), or `name+key url`.
  const [name, , url] = sumdb.trim().split(/\s+/);
  const sums = url ? [url] : name && name !== 'off' ? [`https://${name.split('+')[0]}`] : [];
  return urlEntries([...proxies, ...sums]);
}

async function pipIndexes(): Promise<string[]> {
  // pip's built-in defaults (index and file host), then whatever the host's pip configuration adds.
  const [defaults, configured] = await Promise.all([
    output('python3', [
      '-c',
      'from pip._internal.models.index import PyPI as p; print(p.url); print("https://" + p.file_storage_domain)',
    ]),
    output('python3', ['-m', 'pip', 'config', 'list']),
  ]);
  const urls = [...(defaults?.split('\n') ?? []), ...(configured?.match(/https?:\/\/[^\s'"]+/g) ?? [])];
  return urlEntries(urls);
}

async function output(file: string, args: string[]): Promise<string | undefined> {
  try {
    const { stdout } = await run(file, args, { timeout: 10_000, env: { ...process.env, NO_COLOR: '1' } });
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

function urlEntries(urls: readonly string[]): string[] {
  const entries: string[] = [];
  for (const url of urls) {
    try {
      const parsed = new URL(url.trim());
      if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') continue;
      const port = parsed.port || (parsed.protocol === 'https:' ? '443' : '80');
      entries.push(`${parsed.hostname.toLowerCase()}:${port}`);
    } catch {
      // Not a URL: nothing to allow.
    }
  }
  return entries;
}
