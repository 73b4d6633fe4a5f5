/**
 * The Helm chart against the code: env names, ports, health routes, queue keys, RBAC rules and shutdown
 * timing all come from the code (packages/config, packages/jobs, apps/api) or from the shared rules file,
 * and every check renders the chart with the real helm binary.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { ENV_NAMES, loadConfig } from '@ci-fixer/config';
import { backlogKeys } from '@ci-fixer/jobs';
import { HEALTH_PATHS } from '../../apps/api/src/health.ts';
import {
  CHART_OWNED_ENV_NAMES,
  CREDENTIAL_NAME,
  SECRET_ENV_NAMES,
  envEntries,
  staleChartFiles,
} from '../../scripts/chart-contract.ts';
import {
  CHART_DIR,
  RELEASE,
  NAMESPACE,
  find,
  helm,
  podSpec,
  render,
  templateArgs,
  type Manifest,
} from './helm.ts';

const fullname = `${RELEASE}-ci-fixer`;
const envNames: readonly string[] = ENV_NAMES;
const secretNames = new Set<string>(ENV_NAMES.filter((name) => SECRET_ENV_NAMES.includes(name)));

/** Every optional feature on, as far as one values set allows (HPA and KEDA exclude each other). */
const FEATURE_SETS: Record<string, string[]> = {
  defaults: [],
  ingress: ['api.ingress.enabled=true', 'api.ingress.className=nginx'],
  hpa: ['worker.autoscaling.enabled=true'],
  keda: ['worker.keda.enabled=true'],
  serviceMonitor: ['serviceMonitor.enabled=true'],
  networkPolicy: ['sandbox.networkPolicy.enabled=true'],
  separateSandboxNamespace: ['sandbox.namespace=cf-sandboxes', 'sandbox.createNamespace=true'],
  existingSecret: ['existingSecret=my-credentials'],
  externalRedisUrl: ['redis.enabled=false', 'externalRedis.url=rediss://:pw@redis.internal:6380/2'],
  externalRedisSecret: ['redis.enabled=false', 'externalRedis.existingSecret=my-redis'],
};

function envNamesOf(manifests: Manifest[], workload: string): Set<string> {
  const spec = podSpec(find(manifests, 'Deployment', `${fullname}-${workload}`));
  const container = spec.containers[0]!;
  const names = new Set<string>();
  for (const source of container.envFrom ?? []) {
    const ref = source.configMapRef ?? source.secretRef;
    const kind = source.configMapRef ? 'ConfigMap' : 'Secret';
    const object = manifests.find((m) => m.kind === kind && m.metadata.name === ref!.name);
    if (!object) continue; // an existingSecret: not the chart's to know
    for (const key of Object.keys((object.data as Record<string, string>) ?? {})) names.add(key);
  }
  for (const entry of container.env ?? []) names.add(entry.name);
  return names;
}

describe('generated chart files', () => {
  test('chart/files/*.json and values.schema.json match the code (pnpm chart:contract)', () => {
    expect(staleChartFiles()).toEqual([]);
  });

  test('every name that looks like a credential is flagged secret, and the generator refuses one that is not', () => {
    for (const name of ENV_NAMES) {
      if (CREDENTIAL_NAME.test(name)) expect(SECRET_ENV_NAMES, name).toContain(name);
    }
    expect(CREDENTIAL_NAME.test('FORGE_NEW_TOKEN')).toBe(true);
    expect(CREDENTIAL_NAME.test('WORKER_CONCURRENCY')).toBe(false);
    expect(Object.keys(envEntries())).toEqual(ENV_NAMES);
  });
});

describe('env names: the chart sets exactly what the code reads', () => {
  test.each(Object.entries(FEATURE_SETS))(
    '%s: every container env name is one the code reads',
    async (_name, set) => {
      const manifests = await render({ set });
      for (const manifest of manifests) {
        if (!['Deployment', 'StatefulSet', 'Pod'].includes(manifest.kind)) continue;
        if (manifest.metadata.name.endsWith('-redis')) continue; // the redis image, not ci-fixer
        for (const container of podSpec(manifest).containers) {
          for (const entry of container.env ?? [])
            expect(envNames, `${manifest.metadata.name}`).toContain(entry.name);
        }
      }
      for (const manifest of manifests) {
        if (manifest.kind !== 'Namespace')
          expect(manifest.metadata.namespace, `${manifest.kind}/${manifest.metadata.name}`).toBeTruthy();
      }
      for (const kind of ['ConfigMap', 'Secret']) {
        for (const object of manifests.filter((m) => m.kind === kind)) {
          for (const key of Object.keys((object.data as Record<string, string>) ?? {})) {
            expect(envNames, `${kind} ${object.metadata.name}`).toContain(key);
          }
        }
      }
    },
  );

  test.each(['api', 'worker'])(
    '%s gets every env name the code reads, credentials only from Secrets',
    async (workload) => {
      const manifests = await render();
      expect([...envNamesOf(manifests, workload)].sort()).toEqual([...ENV_NAMES].sort());
      const configMap = find(manifests, 'ConfigMap', fullname);
      for (const key of Object.keys(configMap.data as object)) expect(secretNames.has(key), key).toBe(false);
      const secret = find(manifests, 'Secret', fullname);
      for (const key of Object.keys(secret.data as object)) expect(secretNames.has(key), key).toBe(true);
    },
  );

  test('values files set only names the code reads, in the right section', () => {
    for (const file of ['values.yaml', 'values-prod.yaml']) {
      const values = parse(readFileSync(path.join(CHART_DIR, file), 'utf8')) as {
        config?: Record<string, unknown>;
        secrets?: Record<string, unknown>;
      };
      for (const name of Object.keys(values.config ?? {})) {
        expect(envNames, `${file} config`).toContain(name);
        expect(secretNames.has(name) || CHART_OWNED_ENV_NAMES.includes(name), `${file} config.${name}`).toBe(
          false,
        );
      }
      for (const name of Object.keys(values.secrets ?? {}))
        expect(secretNames.has(name), `${file} secrets.${name}`).toBe(true);
    }
  });

  test('configured values reach the ConfigMap as the code parses them', async () => {
    const manifests = await render({
      set: [
        'config.API_MAX_BODY_BYTES=2097152',
        'config.BULL_BOARD_READ_ONLY=false',
        'config.CI_FIXER_REPO_HOSTS=github.com\\,git.example.org',
      ],
    });
    const data = find(manifests, 'ConfigMap', fullname).data as Record<string, string>;
    const parsed = loadConfig({ ...data, REDIS_URL: 'redis://x:6379' });
    expect(parsed.API_MAX_BODY_BYTES).toBe(2_097_152);
    expect(parsed.BULL_BOARD_READ_ONLY).toBe(false);
    expect(parsed.CI_FIXER_REPO_HOSTS).toEqual(['github.com', 'git.example.org']);
    expect(parsed.NODE_ENV).toBe('production');
    expect(parsed.HOST).toBe('0.0.0.0');
    // Large integers from a values file arrive as floats in helm; they must not render as 1.048576e+06.
    const fromFile = await render({ files: ['values-prod.yaml'] });
    expect((find(fromFile, 'ConfigMap', fullname).data as Record<string, string>).FIX_TIMEOUT_SECONDS).toBe(
      '1800',
    );
  });
});

describe('ports, health routes and the helm test follow the API code', () => {
  test.each([[3000], [8080]])('api.port=%i: container port, PORT, probes and Service agree', async (port) => {
    const manifests = await render({ set: [`api.port=${port}`] });
    const container = podSpec(find(manifests, 'Deployment', `${fullname}-api`)).containers[0]!;
    expect(container.ports).toEqual([{ name: 'http', containerPort: port, protocol: 'TCP' }]);
    expect((find(manifests, 'ConfigMap', fullname).data as Record<string, string>).PORT).toBe(String(port));
    expect(container.livenessProbe?.httpGet).toEqual({ path: HEALTH_PATHS.live, port: 'http' });
    expect(container.readinessProbe?.httpGet).toEqual({ path: HEALTH_PATHS.ready, port: 'http' });
    const service = find(manifests, 'Service', `${fullname}-api`).spec as {
      ports: { targetPort: string; port: number }[];
    };
    expect(service.ports[0]!.targetPort).toBe('http');
    const testPod = find(manifests, 'Pod', `${fullname}-test-readyz`);
    expect(testPod.metadata.annotations?.['helm.sh/hook']).toBe('test');
    expect(podSpec(testPod).containers[0]!.command!.at(-1)).toBe(
      `http://${fullname}-api:80${HEALTH_PATHS.ready}`,
    );
  });
});

test('worker metrics: the container port, WORKER_METRICS_PORT/HOST and the PodMonitor agree', async () => {
  const manifests = await render({ set: ['serviceMonitor.enabled=true', 'worker.metricsPort=9555'] });
  const data = find(manifests, 'ConfigMap', fullname).data as Record<string, string>;
  expect([data.WORKER_METRICS_PORT, data.WORKER_METRICS_HOST]).toEqual(['9555', '0.0.0.0']);
  const container = podSpec(find(manifests, 'Deployment', `${fullname}-worker`)).containers[0]!;
  expect(container.ports).toEqual([{ name: 'metrics', containerPort: 9555, protocol: 'TCP' }]);
  const podMonitor = find(manifests, 'PodMonitor', `${fullname}-worker`).spec as {
    podMetricsEndpoints: { port: string; path: string }[];
  };
  expect(podMonitor.podMetricsEndpoints[0]).toMatchObject({ port: 'metrics', path: '/metrics' });
  const off = await render({ set: ['serviceMonitor.enabled=true', 'worker.metricsPort=0'] });
  expect(off.filter((m) => m.kind === 'PodMonitor')).toEqual([]);
  expect((find(off, 'ConfigMap', fullname).data as Record<string, string>).WORKER_METRICS_PORT).toBe('0');
});

describe('worker scaling and shutdown', () => {
  test('terminationGracePeriodSeconds covers the shutdown grace, which covers the longest fix', async () => {
    const manifests = await render();
    const spec = podSpec(find(manifests, 'Deployment', `${fullname}-worker`));
    const data = find(manifests, 'ConfigMap', fullname).data as Record<string, string>;
    const grace = Number(data.WORKER_SHUTDOWN_GRACE_SECONDS);
    expect(grace).toBeGreaterThanOrEqual(Number(data.FIX_TIMEOUT_SECONDS));
    expect(spec.terminationGracePeriodSeconds).toBe(grace + 30);
  });

  test('a shutdown grace shorter than the fix timeout is refused with the reason', async () => {
    const result = await helm(templateArgs({ set: ['config.WORKER_SHUTDOWN_GRACE_SECONDS=60'] }));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      'WORKER_SHUTDOWN_GRACE_SECONDS (60) is shorter than config.FIX_TIMEOUT_SECONDS (1800)',
    );
    const accepted = await render({
      set: ['config.WORKER_SHUTDOWN_GRACE_SECONDS=60', 'worker.allowShortShutdownGrace=true'],
    });
    expect(podSpec(find(accepted, 'Deployment', `${fullname}-worker`)).terminationGracePeriodSeconds).toBe(
      90,
    );
  });

  test('KEDA scales on both backlog keys of the real queue, and the Deployment leaves replicas to it', async () => {
    const manifests = await render({ set: ['worker.keda.enabled=true'] });
    const scaled = find(manifests, 'ScaledObject', `${fullname}-worker`).spec as {
      scaleTargetRef: { name: string };
      triggers: { type: string; metadata: Record<string, string> }[];
    };
    expect(scaled.scaleTargetRef.name).toBe(`${fullname}-worker`);
    expect(scaled.triggers.map((t) => [t.type, t.metadata.listName])).toEqual([
      ['redis', backlogKeys.wait],
      ['redis', backlogKeys.prioritized],
    ]);
    expect(scaled.triggers[0]!.metadata.address).toBe(`${fullname}-redis:6379`);
    expect(
      (find(manifests, 'Deployment', `${fullname}-worker`).spec as { replicas?: number }).replicas,
    ).toBeUndefined();
  });

  test('HPA targets the worker Deployment with the configured bounds', async () => {
    const manifests = await render({
      set: ['worker.autoscaling.enabled=true', 'worker.autoscaling.maxReplicas=7'],
    });
    const hpa = find(manifests, 'HorizontalPodAutoscaler', `${fullname}-worker`).spec as Record<
      string,
      unknown
    >;
    expect(hpa).toMatchObject({
      scaleTargetRef: { kind: 'Deployment', name: `${fullname}-worker` },
      minReplicas: 1,
      maxReplicas: 7,
    });
  });

  test('PodDisruptionBudgets select the api and worker pods', async () => {
    const manifests = await render();
    for (const component of ['api', 'worker']) {
      const pdb = find(manifests, 'PodDisruptionBudget', `${fullname}-${component}`).spec as {
        selector: { matchLabels: Record<string, string> };
      };
      const pods = find(manifests, 'Deployment', `${fullname}-${component}`).spec as {
        template: { metadata: { labels: Record<string, string> } };
      };
      expect(pods.template.metadata.labels).toMatchObject(pdb.selector.matchLabels);
    }
  });
});

describe('RBAC and sandbox isolation', () => {
  const rules = parse(
    readFileSync(path.join(CHART_DIR, 'files', 'worker-role-rules.yaml'), 'utf8'),
  ) as unknown[];

  test.each([
    ['the release namespace', [], NAMESPACE],
    [
      'a separate namespace',
      ['sandbox.namespace=cf-sandboxes', 'sandbox.createNamespace=true'],
      'cf-sandboxes',
    ],
  ])(
    'sandboxes in %s: the worker Role has exactly the shared rules, there, and nothing cluster-wide',
    async (_label, set, sandboxNs) => {
      const manifests = await render({ set });
      const role = find(manifests, 'Role', `${fullname}-worker`);
      expect(role.metadata.namespace).toBe(sandboxNs);
      expect(role.rules).toEqual(rules);
      const binding = find(manifests, 'RoleBinding', `${fullname}-worker`) as Manifest & {
        subjects: unknown[];
      };
      expect(binding.metadata.namespace).toBe(sandboxNs);
      expect(binding.subjects).toEqual([
        { kind: 'ServiceAccount', name: `${fullname}-worker`, namespace: NAMESPACE },
      ]);
      expect(manifests.filter((m) => m.kind.startsWith('Cluster'))).toEqual([]);
      expect(manifests.filter((m) => m.kind === 'Role' || m.kind === 'RoleBinding')).toHaveLength(2);
      const serviceAccounts = Object.fromEntries(
        manifests
          .filter((m) => m.kind === 'ServiceAccount')
          .map((m) => [m.metadata.name, m as Manifest & { automountServiceAccountToken: boolean }]),
      );
      expect(serviceAccounts[`${fullname}-api`]!.automountServiceAccountToken).toBe(false);
      expect(serviceAccounts[`${fullname}-sandbox`]!.automountServiceAccountToken).toBe(false);
      expect(serviceAccounts[`${fullname}-sandbox`]!.metadata.namespace).toBe(sandboxNs);
      expect(podSpec(find(manifests, 'Deployment', `${fullname}-api`)).automountServiceAccountToken).toBe(
        false,
      );
      if (sandboxNs !== NAMESPACE) expect(find(manifests, 'Namespace', sandboxNs).kind).toBe('Namespace');
    },
  );

  test('NetworkPolicy: no ingress; egress DNS and the allow-list minus metadata, pod and service networks', async () => {
    const manifests = await render({
      set: [
        'sandbox.networkPolicy.enabled=true',
        'sandbox.networkPolicy.allowEgressCIDRs={0.0.0.0/0,10.0.0.0/8,140.82.112.0/20,169.254.169.254/32}',
      ],
    });
    const policy = find(manifests, 'NetworkPolicy', `${fullname}-sandbox`).spec as {
      podSelector: { matchLabels: Record<string, string> };
      policyTypes: string[];
      ingress: unknown[];
      egress: { to: { ipBlock?: { cidr: string; except?: string[] } }[]; ports?: { port: number }[] }[];
    };
    expect(policy.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/managed-by': 'ci-fixer' });
    expect(policy.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(policy.ingress).toEqual([]);
    expect(policy.egress[0]!.ports!.map((p) => p.port)).toEqual([53, 53]);
    expect(policy.egress[1]!.to.map((t) => t.ipBlock)).toEqual([
      { cidr: '0.0.0.0/0', except: ['169.254.169.254/32', '10.244.0.0/16', '10.96.0.0/12'] },
      { cidr: '10.0.0.0/8', except: ['10.244.0.0/16', '10.96.0.0/12'] },
      { cidr: '140.82.112.0/20' },
      // 169.254.169.254/32 was asked for but is blocked: dropped, not allowed.
    ]);
  });
});

describe('values that cannot work fail at install with a clear message', () => {
  test.each([
    [['config.WORKER_CONCURRENCY=lots'], 'WORKER_CONCURRENCY'],
    [['config.WORKER_CONCURRENCY=0'], 'WORKER_CONCURRENCY'],
    [['config.LOG_LEVEL=verbose'], 'LOG_LEVEL'],
    [['config.PORT=8080'], 'PORT'],
    [['config.NOT_A_SETTING=1'], 'NOT_A_SETTING'],
    [['api.port=70000'], '/api/port'],
    [['externalRedis.url=http://redis:6379', 'redis.enabled=false'], '/externalRedis/url'],
    [['externalRedis.url=redis://r:6379'], 'redis.enabled=true and externalRedis are both set'],
    [['redis.enabled=false'], 'no Redis'],
    [['worker.autoscaling.enabled=true', 'worker.keda.enabled=true'], 'KEDA creates its own HPA'],
    [
      ['worker.keda.enabled=true', 'redis.enabled=false', 'externalRedis.url=redis://r:6379'],
      'worker.keda.redis.address',
    ],
  ])('%j', async (set, message) => {
    const result = await helm(templateArgs({ set }));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(message);
  });
});

describe('helm lint', () => {
  test.each([['values.yaml'], ['values-prod.yaml']])('%s: lints clean with --strict', async (file) => {
    const result = await helm(['lint', CHART_DIR, '--strict', '-f', path.join(CHART_DIR, file)]);
    expect(result.stderr + result.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    expect(result.code).toBe(0);
  });

  test('values-prod.yaml renders external Redis, KEDA, NetworkPolicy and the sandbox namespace', async () => {
    const manifests = await render({ files: ['values-prod.yaml'] });
    const kinds = new Set(manifests.map((m) => m.kind));
    for (const kind of ['ScaledObject', 'TriggerAuthentication', 'NetworkPolicy', 'Namespace', 'Ingress'])
      expect(kinds).toContain(kind);
    expect(kinds).not.toContain('StatefulSet');
    expect(manifests.filter((m) => m.kind === 'Secret')).toEqual([]); // existingSecret + externalRedis.existingSecret
    const env = podSpec(find(manifests, 'Deployment', `${fullname}-worker`)).containers[0]!.env!;
    expect(env).toEqual([
      { name: 'REDIS_URL', valueFrom: { secretKeyRef: { name: 'ci-fixer-redis', key: 'REDIS_URL' } } },
    ]);
  });
});
