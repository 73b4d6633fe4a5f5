import type { CoreV1Api, CoreV1Event, KubeConfig, V1Pod } from '@kubernetes/client-node';
import { Watch } from '@kubernetes/client-node';
import { SandboxError } from '../types.ts';
import { CONTAINER_NAME, SANDBOX_LABEL } from './job-spec.ts';

export interface WaitContext {
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  namespace: string;
}

/** Container waiting reasons that do not fix themselves: the sandbox fails at once, naming the cause. */
const FATAL_WAITING_REASONS = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
  'CreateContainerConfigError',
  'CreateContainerError',
]);

/** Job events that mean no pod will come: admission refused it, or the Job itself gave up. */
const FATAL_JOB_EVENTS = new Set(['FailedCreate', 'DeadlineExceeded', 'BackoffLimitExceeded']);

type Verdict = { kind: 'running' } | { kind: 'fatal'; reason: string } | { kind: 'waiting'; reason?: string };

/**
 * Waits, with watches rather than polling, until the Job's pod runs its container, and returns the pod's
 * name. Image pull failures, refused pod creation and a failed Job end the wait at once; an unschedulable
 * pod does not (a cluster autoscaler may be adding a node) but becomes the reason given at the timeout.
 */
export async function waitForPod(context: WaitContext, jobName: string, timeoutMs: number): Promise<string> {
  const { kubeConfig, core, namespace } = context;
  const watch = new Watch(kubeConfig);
  const watches: AbortController[] = [];
  let lastPod: V1Pod | undefined;
  let pending: string | undefined;
  let lastWarning: string | undefined;
  let settled = false;

  return new Promise<string>((resolve, reject) => {
    const finish = (error: Error | undefined, podName?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const controller of watches) controller.abort();
      if (error) reject(error);
      else resolve(podName!);
    };
    const fail = (reason: string) =>
      finish(new SandboxError(`sandbox ${jobName} did not start: ${reason}`, { sandboxId: jobName }));

    const timer = setTimeout(() => {
      const cause =
        pending ??
        lastWarning ??
        (lastPod ? `pod ${lastPod.metadata?.name} is ${lastPod.status?.phase}` : 'the Job created no pod');
      fail(`its pod was not running after ${Math.round(timeoutMs / 1000)}s: ${cause}`);
    }, timeoutMs);

    const onPod = (pod: V1Pod) => {
      lastPod = pod;
      const verdict = podVerdict(pod);
      if (verdict.kind === 'running') finish(undefined, pod.metadata!.name!);
      else if (verdict.kind === 'fatal') {
        void explainWithLogs(core, namespace, pod, verdict.reason).then(fail, () => fail(verdict.reason));
      } else if (verdict.reason) pending = verdict.reason;
    };
    const onEvent = (event: CoreV1Event) => {
      if (event.type !== 'Warning') return;
      const text = `${event.reason}: ${event.message}`;
      lastWarning = text;
      if (FATAL_JOB_EVENTS.has(event.reason ?? '')) fail(text);
    };

    const follow = <T>(
      path: string,
      query: Record<string, string>,
      list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>,
      handle: (item: T) => void,
    ) => {
      const start = async (): Promise<void> => {
        const listed = await list();
        for (const item of listed.items) handle(item);
        if (settled) return;
        const controller = await watch.watch(
          path,
          { ...query, resourceVersion: listed.metadata?.resourceVersion ?? '', allowWatchBookmarks: 'true' },
          (type, object: T) => {
            if (type === 'ADDED' || type === 'MODIFIED') handle(object);
            else if (type === 'DELETED' && path.endsWith('/pods')) fail(`pod ${podName(object)} was deleted`);
          },
          // Watches end (server timeout, 410 Gone, inactivity): list again and resume.
          () => {
            if (!settled) setTimeout(restart, 200);
          },
        );
        watches.push(controller);
        if (settled) controller.abort();
      };
      const restart = () => {
        if (!settled) start().catch((error: unknown) => finish(apiFailure(error, jobName)));
      };
      restart();
    };

    const selector = `${SANDBOX_LABEL}=${jobName}`;
    follow<V1Pod>(
      `/api/v1/namespaces/${namespace}/pods`,
      { labelSelector: selector },
      () => core.listNamespacedPod({ namespace, labelSelector: selector }),
      onPod,
    );
    const involved = `involvedObject.kind=Job,involvedObject.name=${jobName}`;
    follow<CoreV1Event>(
      `/api/v1/namespaces/${namespace}/events`,
      { fieldSelector: involved },
      () => core.listNamespacedEvent({ namespace, fieldSelector: involved }),
      onEvent,
    );
  });
}

function podVerdict(pod: V1Pod): Verdict {
  const name = podName(pod);
  if (pod.metadata?.deletionTimestamp) return { kind: 'fatal', reason: `pod ${name} is being deleted` };
  const phase = pod.status?.phase;
  if (phase === 'Failed' || phase === 'Succeeded') {
    const detail = [pod.status?.reason, pod.status?.message].filter(Boolean).join(': ');
    return {
      kind: 'fatal',
      reason: `pod ${name} ended (${phase}${detail ? `, ${detail}` : ''}) before it ran`,
    };
  }
  const container = pod.status?.containerStatuses?.find((status) => status.name === CONTAINER_NAME);
  if (phase === 'Running' && container?.state?.running) return { kind: 'running' };
  const waiting = container?.state?.waiting;
  if (waiting?.reason && FATAL_WAITING_REASONS.has(waiting.reason)) {
    const image = pod.spec?.containers.find((spec) => spec.name === CONTAINER_NAME)?.image;
    return { kind: 'fatal', reason: `${waiting.reason} for image ${image}: ${waiting.message ?? ''}`.trim() };
  }
  const scheduled = pod.status?.conditions?.find((condition) => condition.type === 'PodScheduled');
  if (scheduled?.status === 'False')
    return {
      kind: 'waiting',
      reason: `${scheduled.reason ?? 'not scheduled'}: ${scheduled.message ?? ''}`.trim(),
    };
  if (waiting?.reason)
    return { kind: 'waiting', reason: `${waiting.reason}: ${waiting.message ?? ''}`.trim() };
  return { kind: 'waiting' };
}

/** Adds the last lines of the container's log to a failure, when there is one. */
async function explainWithLogs(
  core: CoreV1Api,
  namespace: string,
  pod: V1Pod,
  reason: string,
): Promise<string> {
  if (
    !pod.status?.containerStatuses?.some(
      (status) => status.name === CONTAINER_NAME && status.state?.terminated,
    )
  )
    return reason;
  const log = await core.readNamespacedPodLog({
    name: podName(pod),
    namespace,
    container: CONTAINER_NAME,
    tailLines: 20,
  });
  return log.trim() ? `${reason}; last log lines:\n${log.trim()}` : reason;
}

function podName(pod: unknown): string {
  return (pod as V1Pod).metadata?.name ?? 'unknown';
}

/** An API error as a SandboxError that says what was refused. */
export function apiFailure(
  error: unknown,
  sandboxId: string | undefined,
  action = 'watch the sandbox pod',
): SandboxError {
  const code = (error as { code?: number }).code;
  const body = (error as { body?: unknown }).body;
  const message = typeof body === 'object' && body && 'message' in body ? String(body.message) : undefined;
  return new SandboxError(
    `cannot ${action}: ${message ?? (error instanceof Error ? error.message : String(error))}${code === 403 ? ' (the worker Role lacks this permission; see chart/files/worker-role-rules.yaml)' : ''}`,
    { ...(sandboxId ? { sandboxId } : {}), cause: error },
  );
}
