/**
 * A stand-in for a worker process, for the reaper test: it keeps a heartbeat in Redis, creates one sandbox
 * Job as the worker ServiceAccount, prints its id, and waits to be killed (SIGKILL: no cleanup runs).
 *
 * argv: <redis url> <heartbeat key> <owner> <kubeconfig> <namespace> <workspace dir>
 */
import { KubeConfig } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { LABELS, MANAGED_BY } from '../../src/index.ts';
import { KubernetesDriver } from '../../src/kubernetes/index.ts';

const [redisUrl, key, owner, kubeconfig, namespace, workspaceDir] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
];
const redis = new Redis(redisUrl);
const beat = () => redis.set(key, new Date().toISOString(), 'PX', 1500);
await beat();
setInterval(() => void beat(), 300);

const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(kubeconfig);
const driver = new KubernetesDriver({ kubeConfig, namespace, workspaceDir, image: 'ci-fixer/sandbox:test' });
const sandbox = await driver.create({
  labels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.owner]: owner, [LABELS.fixJob]: 'killed-worker' },
  maxLifetimeSeconds: 3600,
});
await sandbox.exec(['true']);
process.stdout.write(`${sandbox.id}\n`);
