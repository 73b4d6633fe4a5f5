/** Label keys that mean the same thing on every driver: Kubernetes labels, container labels, local metadata. */
export const LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  owner: 'ci-fixer.dev/owner',
  fixJob: 'ci-fixer.dev/fix-job',
  /** The deployment (one Redis, one queue) whose workers own the sandbox; reapers look only at their own. */
  deployment: 'ci-fixer.dev/deployment',
} as const;

export const MANAGED_BY = 'ci-fixer';

// Kubernetes is the strictest of the three stores, so every driver holds values to its rule.
const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$/;

/** Makes any string a valid label value: at most 63 characters of [A-Za-z0-9_.-], alphanumeric at both ends. */
export function toLabelValue(value: string): string {
  const cleaned = value.replace(/[^A-Za-z0-9_.-]+/g, '-').slice(0, 63);
  return cleaned.replace(/^[^A-Za-z0-9]+/, '').replace(/[^A-Za-z0-9]+$/, '');
}

export function assertValidLabels(labels: Record<string, string>): void {
  if (!labels[LABELS.owner]) throw new Error(`sandbox labels must include ${LABELS.owner}`);
  for (const [key, value] of Object.entries(labels)) {
    if (!LABEL_VALUE.test(value)) throw new Error(`label ${key}=${value} is not a valid label value`);
  }
}

export function matchesSelector(labels: Record<string, string>, selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}
