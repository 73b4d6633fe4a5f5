/**
 * Writes what the Helm chart must know about the code, derived from the code itself:
 *
 *   chart/files/env.json       every env name the config schema reads, its kind, and whether it is a secret
 *   chart/files/queue.json     the BullMQ queue name, prefix and backlog keys (KEDA triggers)
 *   chart/files/http.json      the API's health routes and default port (probes, helm test)
 *   chart/files/sandbox.json   the labels every sandbox pod carries, its network label (NetworkPolicy selectors) and
 *                              the default image (the admission policy's allowed list)
 *   chart/values.schema.json   the chart's values schema; `config` and `secrets` come from the config schema
 *
 *   pnpm chart:contract           rewrite the files
 *   pnpm chart:contract --check   exit 1 when a file is out of date (test/deploy checks this too)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ENV_NAMES, envSchema, isSecretEnvName, type EnvName } from '@ci-fixer/config';
import { QUEUE_NAME, QUEUE_PREFIX, backlogKeys } from '@ci-fixer/queue';
import { LABELS, MANAGED_BY } from '@ci-fixer/sandbox';
import { DASHBOARD_PATH } from '../apps/api/src/dashboard.ts';
import { HEALTH_PATHS } from '../apps/api/src/health.ts';
import { NETWORK_LABEL, NETWORK_MODES } from '../packages/sandbox/src/kubernetes/job-spec.ts';

export const CHART_DIR = path.resolve(import.meta.dirname, '..', 'chart');

/** A name that looks like a credential must be in SECRET_ENV_NAMES; the generator refuses to guess. */
export const CREDENTIAL_NAME = /(^|_)(TOKEN|SECRET|PASSWORD|PASSPHRASE|API_KEY|PRIVATE_KEY|CREDENTIALS?)$/;

/**
 * Names the chart sets itself from structured values, so `config` may not set them:
 * NODE_ENV (always production), HOST and WORKER_METRICS_HOST (0.0.0.0 in a pod), PORT (api.port),
 * WORKER_METRICS_PORT (worker.metricsPort), REDIS_URL (redis / externalRedis).
 */
export const CHART_OWNED_ENV_NAMES: readonly string[] = [
  'NODE_ENV',
  'HOST',
  'PORT',
  'REDIS_URL',
  'WORKER_METRICS_HOST',
  'WORKER_METRICS_PORT',
  // The chart creates the sandbox namespace and ServiceAccount, so it alone knows their names.
  'K8S_NAMESPACE',
  'K8S_SANDBOX_SERVICE_ACCOUNT',
  // The chart runs the egress proxy: its Service address and port are the chart's (egressProxy.port).
  'K8S_EGRESS_PROXY',
  'EGRESS_PROXY_PORT',
];

type Kind = 'integer' | 'boolean' | 'string';

interface EnvEntry {
  kind: Kind;
  secret: boolean;
  chartOwned: boolean;
}

type JsonSchema = Record<string, unknown>;

/** How a value is written in Helm values: integers and booleans natively, the rest as strings. */
function kindOf(name: EnvName, schema: JsonSchema): Kind {
  if (schema.type === 'integer') return 'integer';
  // Input JSON schema shows z.stringbool as a string; its parsed output tells it apart.
  const parsed = envSchema.shape[name].safeParse('true');
  if (parsed.success && typeof parsed.data === 'boolean') return 'boolean';
  return 'string';
}

function inputSchemas(): Record<EnvName, JsonSchema> {
  const whole = envSchema.toJSONSchema({ io: 'input', target: 'draft-7', unrepresentable: 'any' }) as {
    properties: Record<EnvName, JsonSchema>;
  };
  return whole.properties;
}

export function envEntries(): Record<string, EnvEntry> {
  const schemas = inputSchemas();
  const unflagged = ENV_NAMES.filter((name) => CREDENTIAL_NAME.test(name) && !isSecretEnvName(name));
  if (unflagged.length > 0) {
    throw new Error(
      `${unflagged.join(', ')} look like credentials but are not in SECRET_ENV_NAMES (packages/config/src/secrets.ts): ` +
        'add them there so the chart keeps them out of the ConfigMap',
    );
  }
  const entries: Record<string, EnvEntry> = {};
  for (const name of ENV_NAMES) {
    entries[name] = {
      kind: kindOf(name, schemas[name]),
      secret: isSecretEnvName(name),
      chartOwned: CHART_OWNED_ENV_NAMES.includes(name),
    };
  }
  return entries;
}

/** The schema of one env value as Helm values hold it. */
function valueSchema(name: EnvName, schema: JsonSchema, kind: Kind): JsonSchema {
  const description = schema.description;
  if (kind === 'boolean') return { type: 'boolean', description };
  if (kind === 'integer') {
    return { type: 'integer', minimum: schema.minimum, maximum: schema.maximum, description };
  }
  const { default: _default, ...rest } = schema;
  return { ...rest, type: 'string', description: `${description ?? name}` };
}

const str = { type: 'string' };
const bool = { type: 'boolean' };
const int = (minimum: number, maximum?: number) => ({
  type: 'integer',
  minimum,
  ...(maximum ? { maximum } : {}),
});
const obj = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  type: 'object',
  additionalProperties: false,
  properties,
  ...extra,
});
const openObj = { type: 'object' };
const list = { type: 'array' };
const image = obj({
  repository: { type: 'string', minLength: 1 },
  tag: str,
  pullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
});
const pdb = obj(
  {
    enabled: bool,
    minAvailable: { type: ['integer', 'string'] },
    maxUnavailable: { type: ['integer', 'string'] },
  },
  { description: 'minAvailable wins when both are set; maxUnavailable defaults to 1.' },
);
const podPlacement = {
  nodeSelector: openObj,
  tolerations: list,
  affinity: openObj,
  podAnnotations: openObj,
  podLabels: openObj,
  podSecurityContext: openObj,
  securityContext: openObj,
  resources: openObj,
};
const cidrList = { type: 'array', items: { type: 'string', pattern: '^[0-9a-fA-F:.]+/[0-9]{1,3}$' } };

export function valuesSchema(): JsonSchema {
  const schemas = inputSchemas();
  const entries = envEntries();
  const config: Record<string, JsonSchema> = {};
  const secrets: Record<string, JsonSchema> = {};
  for (const name of ENV_NAMES) {
    const entry = entries[name]!;
    if (entry.chartOwned) continue;
    (entry.secret ? secrets : config)[name] = valueSchema(name, schemas[name], entry.kind);
  }
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'ci-fixer Helm values (generated by scripts/chart-contract.ts; edit the script, not this file)',
    type: 'object',
    additionalProperties: false,
    required: ['api', 'worker', 'egressProxy', 'config', 'secrets', 'redis', 'externalRedis', 'sandbox'],
    properties: {
      global: openObj,
      nameOverride: str,
      fullnameOverride: str,
      imagePullSecrets: list,
      hostAliases: {
        type: 'array',
        items: obj({ ip: { type: 'string', minLength: 1 }, hostnames: { type: 'array', items: str } }),
      },
      commonLabels: openObj,
      config: obj(config, {
        description: `Settings from the config schema (docs/configuration.md), one key per env name. ${CHART_OWNED_ENV_NAMES.join(', ')} are set by the chart; credentials go in \`secrets\`.`,
      }),
      secrets: obj(secrets, {
        description: 'Credentials for the Secret the chart creates (ignored with existingSecret).',
      }),
      existingSecret: {
        type: 'string',
        description: 'Name of a Secret holding the credential env names; the chart then creates none.',
      },
      api: obj({
        image,
        replicaCount: int(1),
        port: int(1, 65535),
        shutdownDelaySeconds: int(0, 600),
        service: obj({
          type: { enum: ['ClusterIP', 'NodePort', 'LoadBalancer'] },
          port: int(1, 65535),
          nodePort: int(0, 65535),
          annotations: openObj,
        }),
        ingress: obj({
          enabled: bool,
          className: str,
          annotations: openObj,
          host: str,
          path: str,
          tls: list,
        }),
        pdb,
        ...podPlacement,
      }),
      worker: obj({
        image,
        replicaCount: int(0),
        metricsPort: int(0, 65535),
        shutdownMarginSeconds: int(0, 3600),
        extraEnv: list,
        allowShortShutdownGrace: bool,
        autoscaling: obj({
          enabled: bool,
          minReplicas: int(1),
          maxReplicas: int(1),
          targetCPUUtilizationPercentage: int(1, 100),
        }),
        keda: obj({
          enabled: bool,
          minReplicaCount: int(0),
          maxReplicaCount: int(1),
          pollingInterval: int(1),
          cooldownPeriod: int(0),
          jobsPerReplica: int(1),
          redis: obj({
            address: {
              type: 'string',
              pattern: '^$|^[^:/\\s]+:[0-9]+$',
              description: 'host:port of Redis for KEDA',
            },
            databaseIndex: int(0, 15),
            enableTLS: bool,
            passwordSecret: obj({ name: str, key: str }),
            username: { type: 'string', pattern: '^[A-Za-z0-9_.-]*$' },
          }),
          operatorNamespace: str,
        }),
        pdb,
        ...podPlacement,
      }),
      egressProxy: obj({
        image,
        replicaCount: int(1),
        port: int(1, 65535),
        nodeSelector: openObj,
        tolerations: list,
        affinity: openObj,
        podSecurityContext: openObj,
        securityContext: openObj,
        resources: openObj,
      }),
      serviceAccounts: obj({
        api: obj({ name: str, annotations: openObj }),
        worker: obj({ name: str, annotations: openObj }),
        sandbox: obj({ name: str, annotations: openObj }),
      }),
      sandbox: obj({
        namespace: {
          type: 'string',
          pattern: '^$|^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$',
          description: 'Namespace of sandbox pods; empty means <release namespace>-sandboxes.',
        },
        allowReleaseNamespace: bool,
        createNamespace: bool,
        admissionPolicy: obj({
          enabled: bool,
          allowedImages: {
            type: 'array',
            // Exact references, rendered into a CEL list: no quotes, backslashes or spaces.
            items: { type: 'string', pattern: '^[^\\s"\'\\\\]+$' },
            description:
              'Images sandbox Jobs may use, exactly as the worker writes them; empty means config.SANDBOX_IMAGE.',
          },
          failurePolicy: { enum: ['Fail', 'Ignore'] },
        }),
        networkPolicy: obj({
          enabled: bool,
          dnsNamespaceSelector: openObj,
          dnsPodSelector: openObj,
          egressPorts: {
            type: 'array',
            items: obj({ protocol: { enum: ['TCP', 'UDP', 'SCTP'] }, port: int(1, 65535) }),
          },
          blockedCIDRs: cidrList,
          podCIDRs: cidrList,
          serviceCIDRs: cidrList,
          ipv6: bool,
        }),
      }),
      redis: obj({
        enabled: bool,
        image,
        auth: obj({
          existingSecret: str,
          existingSecretPasswordKey: str,
          username: {
            type: 'string',
            pattern: '^$|^[A-Za-z0-9_.-]+$',
            description: 'ACL user the apps and KEDA log in as; empty = the default user with requirepass',
          },
        }),
        persistence: obj({
          size: { type: 'string', pattern: '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$' },
          storageClass: str,
        }),
        resources: openObj,
        podSecurityContext: openObj,
        securityContext: openObj,
        nodeSelector: openObj,
        tolerations: list,
      }),
      externalRedis: obj({
        url: {
          type: 'string',
          pattern: '^$|^rediss?://',
          description: 'redis:// or rediss:// URL of an external Redis',
        },
        existingSecret: str,
        existingSecretKey: str,
        tls: obj({ caSecret: obj({ name: str, key: str }) }),
      }),
      serviceMonitor: obj({ enabled: bool, interval: str, labels: openObj }),
      tests: obj({ image, enabled: bool, nodeSelector: openObj, tolerations: list }),
    },
  };
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Every generated file, by path relative to the chart directory. */
export function chartContractFiles(): Record<string, string> {
  return {
    'files/env.json': json({
      generatedBy: 'scripts/chart-contract.ts from packages/config (pnpm chart:contract); do not edit',
      env: envEntries(),
    }),
    'files/queue.json': json({
      generatedBy: 'scripts/chart-contract.ts from packages/queue (pnpm chart:contract); do not edit',
      prefix: QUEUE_PREFIX,
      name: QUEUE_NAME,
      backlogKeys,
    }),
    'files/http.json': json({
      generatedBy:
        'scripts/chart-contract.ts from apps/api and packages/config (pnpm chart:contract); do not edit',
      health: HEALTH_PATHS,
      defaultPort: envSchema.shape.PORT.parse(undefined),
      dashboardPath: DASHBOARD_PATH,
    }),
    'files/sandbox.json': json({
      generatedBy: 'scripts/chart-contract.ts from packages/sandbox (pnpm chart:contract); do not edit',
      podSelector: { [LABELS.managedBy]: MANAGED_BY },
      networkLabel: NETWORK_LABEL,
      networkModes: Object.fromEntries(NETWORK_MODES.map((mode) => [mode, mode])),
      // Labels the worker always sets besides podSelector; the admission policy requires them.
      ownerLabel: LABELS.owner,
      deploymentLabel: LABELS.deployment,
      defaultImage: envSchema.shape.SANDBOX_IMAGE.parse(undefined),
    }),
    'values.schema.json': json(valuesSchema()),
  };
}

/** Paths (relative to the chart) whose content differs from what the code says. */
export function staleChartFiles(): string[] {
  return Object.entries(chartContractFiles())
    .filter(([file, content]) => {
      try {
        return readFileSync(path.join(CHART_DIR, file), 'utf8') !== content;
      } catch {
        return true;
      }
    })
    .map(([file]) => file);
}

if (import.meta.main) {
  if (process.argv.includes('--check')) {
    const stale = staleChartFiles();
    if (stale.length > 0) {
      console.error(`out of date: ${stale.map((f) => `chart/${f}`).join(', ')}; run pnpm chart:contract`);
      process.exit(1);
    }
  } else {
    for (const [file, content] of Object.entries(chartContractFiles())) {
      writeFileSync(path.join(CHART_DIR, file), content);
    }
  }
}
