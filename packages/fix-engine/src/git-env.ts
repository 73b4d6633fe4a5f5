import path from 'node:path';

/** Whether a repository URL names a directory on this host (a path or a file:// URL). */
export function isLocalRepoUrl(url: string): boolean {
  return url.startsWith('file://') || path.isAbsolute(url);
}

/**
 * Environment for every git command the pipeline runs: only https and ssh transports (file only when the
 * repository itself is local), so that no URL a repository or a redirect supplies (ext::, file://, a
 * submodule) can make git run a command or read the host's files. `protocol.file.allow` says the same in
 * configuration, for any git that reads it; `extra` adds further `-c`-like settings (the auth header).
 */
export function gitProtocolEnv(url: string, extra: [string, string][] = []): Record<string, string> {
  const local = isLocalRepoUrl(url);
  const settings: [string, string][] = [['protocol.file.allow', local ? 'always' : 'never'], ...extra];
  const env: Record<string, string> = {
    GIT_ALLOW_PROTOCOL: local ? 'https:ssh:file' : 'https:ssh',
    GIT_CONFIG_COUNT: String(settings.length),
  };
  settings.forEach(([key, value], index) => {
    env[`GIT_CONFIG_KEY_${index}`] = key;
    env[`GIT_CONFIG_VALUE_${index}`] = value;
  });
  return env;
}
