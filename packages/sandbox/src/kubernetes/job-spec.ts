import { randomBytes } from 'node:crypto';
import type { V1Job, V1Toleration } from '@kubernetes/client-node';
import type { SandboxLimits } from '../types.ts';

/** The one container of every sandbox pod; exec and logs address it by this name. */
export const CONTAINER_NAME = 'sandbox';
/** Label on the Job and its pod that names the sandbox (the Job's name). */
export const SANDBOX_LABEL = 'ci-fixer.dev/sandbox';
export const APP_LABELS = { 'app.kubernetes.io/name': 'ci-fixer-sandbox' } as const;
/**
 * Label on every sandbox pod that says which network it may use: `none` (spec.egress empty or absent) or
 * `egress`. The chart's NetworkPolicies select on it: `none` pods get no egress at all, `egress` pods only
 * the egress proxy's pods, which enforce each sandbox's allow-list (egress.ts, docs/sandbox.md).
 */
export const NETWORK_LABEL = 'ci-fixer.dev/network';
export const NETWORK_MODES = ['none', 'egress'] as const;
export type NetworkMode = (typeof NETWORK_MODES)[number];

/** The network mode of a sandbox spec's egress allow-list. */
export function networkMode(egress: readonly string[] | undefined): NetworkMode {
  return egress && egress.length > 0 ? 'egress' : 'none';
}

/** What a sandbox pod looks like, apart from what each sandbox brings (labels, lifetime). */
export interface PodSettings {
  image: string;
  serviceAccountName: string;
  /** Numeric, never 0: `runAsNonRoot` cannot check a named user. */
  uid: number;
  gid: number;
  /** Mounted as an emptyDir; holds one directory per sandbox (workspace, home, tmp). */
  workspaceDir: string;
  limits: Required<Pick<SandboxLimits, 'cpus' | 'memoryBytes'>> & { ephemeralStorageBytes?: number };
  ttlSecondsAfterFinished: number;
  runtimeClassName?: string;
  priorityClassName?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: V1Toleration[];
  imagePullSecrets?: string[];
}

export interface JobRequest {
  name: string;
  labels: Record<string, string>;
  /** Becomes NETWORK_LABEL; the NetworkPolicies in the namespace decide what it means. */
  network: NetworkMode;
  image?: string;
  limits?: SandboxLimits;
  /** The keep-alive `sleep` ends the pod (and so the Job) after this long. */
  maxLifetimeSeconds: number;
}

/** Extra seconds after the keep-alive ends before the Job controller kills the pod outright. */
const HARD_STOP_GRACE_SECONDS = 60;

/**
 * A DNS-1123 name from the fix job's label, with a random suffix: `cif-<fix job>-<8 hex>`. Kept to 52
 * characters so that the pod name (`<job>-<5 chars>`) and the `job-name` label stay within 63.
 */
export function jobName(fixJob: string | undefined): string {
  const base = (fixJob ?? 'sandbox')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 38)
    .replace(/-+$/, '');
  return `cif-${base || 'sandbox'}-${randomBytes(4).toString('hex')}`;
}

/**
 * One batch/v1 Job per sandbox: a single pod whose main process is a bounded `sleep`, so that the pod
 * completes on its own, `ttlSecondsAfterFinished` deletes it, and `activeDeadlineSeconds` is a hard stop
 * even if the image's `sleep` misbehaves. Commands run through exec, never as the main process.
 */
export function buildJob(settings: PodSettings, request: JobRequest): V1Job {
  // Set last, so that no caller label can claim a wider network than the spec asked for.
  const labels = {
    ...APP_LABELS,
    ...request.labels,
    [SANDBOX_LABEL]: request.name,
    [NETWORK_LABEL]: request.network,
  };
  const cpus = request.limits?.cpus ?? settings.limits.cpus;
  const memoryBytes = request.limits?.memoryBytes ?? settings.limits.memoryBytes;
  const resources: Record<string, string> = {
    cpu: `${Math.round(cpus * 1000)}m`,
    memory: String(memoryBytes),
  };
  if (settings.limits.ephemeralStorageBytes)
    resources['ephemeral-storage'] = String(settings.limits.ephemeralStorageBytes);
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: request.name, labels },
    spec: {
      backoffLimit: 0,
      completions: 1,
      parallelism: 1,
      ttlSecondsAfterFinished: settings.ttlSecondsAfterFinished,
      activeDeadlineSeconds: request.maxLifetimeSeconds + HARD_STOP_GRACE_SECONDS,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          serviceAccountName: settings.serviceAccountName,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          // The keep-alive is PID 1 and ignores SIGTERM; there is nothing to save on deletion.
          terminationGracePeriodSeconds: 5,
          ...(settings.runtimeClassName ? { runtimeClassName: settings.runtimeClassName } : {}),
          ...(settings.priorityClassName ? { priorityClassName: settings.priorityClassName } : {}),
          ...(settings.nodeSelector ? { nodeSelector: settings.nodeSelector } : {}),
          ...(settings.tolerations?.length ? { tolerations: settings.tolerations } : {}),
          ...(settings.imagePullSecrets?.length
            ? { imagePullSecrets: settings.imagePullSecrets.map((name) => ({ name })) }
            : {}),
          securityContext: {
            runAsNonRoot: true,
            runAsUser: settings.uid,
            runAsGroup: settings.gid,
            fsGroup: settings.gid,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: CONTAINER_NAME,
              image: request.image ?? settings.image,
              // No registry serves our images in the dev cluster (they are imported into the node), and a
              // `:latest` tag would otherwise default to Always: use the node's copy when it has one.
              imagePullPolicy: 'IfNotPresent',
              command: ['sleep', String(request.maxLifetimeSeconds)],
              workingDir: settings.workspaceDir,
              resources: { requests: resources, limits: resources },
              securityContext: {
                allowPrivilegeEscalation: false,
                capabilities: { drop: ['ALL'] },
                // Commands write only to the emptyDirs (workspace, home, tmp), as on the docker driver.
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                seccompProfile: { type: 'RuntimeDefault' },
              },
              volumeMounts: [
                { name: 'workspace', mountPath: settings.workspaceDir },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            { name: 'workspace', emptyDir: {} },
            { name: 'tmp', emptyDir: {} },
          ],
        },
      },
    },
  };
}

/** `key=value,key=value` for a label selector; values are label-safe already. */
export function labelSelector(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}
