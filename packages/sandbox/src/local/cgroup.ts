import { existsSync, readFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * Per-sandbox cgroups for the local driver: a pids and a memory limit for everything a sandbox runs, and a
 * way to find and kill every process of it, including those that left the process group (`setsid`,
 * double forks). Groups nest under the worker's own cgroup, so that whatever bounds the worker bounds its
 * sandboxes too. cgroup v1 (a hierarchy per controller) and v2 (one unified hierarchy) are both handled.
 */

const CONTROLLERS = ['pids', 'memory'] as const;
type Controller = (typeof CONTROLLERS)[number];

export interface CgroupLimits {
  pids: number;
  memoryBytes: number;
}

interface Layout {
  version: 1 | 2;
  /** v2: the worker's own group, whose children the sandbox groups are. */
  own?: string;
  /** The directory of each controller under which sandbox groups are made (one for v2). */
  parents: Record<Controller, string>;
}

/** Where sandbox groups can be made here, or why not (no cgroup fs, not writable, controllers missing). */
export function detectCgroups(namespace: string): Layout | { unavailable: string } {
  const own = ownCgroups();
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    const base = path.join('/sys/fs/cgroup', own.get('') ?? '/');
    const available = readOr(path.join(base, 'cgroup.controllers'), '').split(/\s+/);
    const missing = CONTROLLERS.filter((name) => !available.includes(name));
    if (missing.length)
      return { unavailable: `cgroup v2 controllers ${missing.join(', ')} are not delegated to ${base}` };
    const parent = path.join(base, namespace);
    return { version: 2, own: base, parents: { pids: parent, memory: parent } };
  }
  const parents = {} as Record<Controller, string>;
  for (const controller of CONTROLLERS) {
    const mount = path.join('/sys/fs/cgroup', controller);
    if (!existsSync(path.join(mount, 'cgroup.procs')))
      return { unavailable: `no cgroup v1 ${controller} hierarchy at ${mount}` };
    parents[controller] = path.join(mount, own.get(controller) ?? '/', namespace);
  }
  return { version: 1, parents };
}

/** Makes the namespace's parent groups; fails when this process may not (not root, not delegated). */
export async function prepareCgroups(layout: Layout): Promise<void> {
  if (layout.version === 2) {
    // A v2 group with processes in it may enable no controllers for its children, so the worker first
    // moves itself into a leaf of its own group, as a delegated supervisor does (not needed at the root).
    const own = layout.own!;
    const enabled = readOr(path.join(own, 'cgroup.subtree_control'), '').split(/\s+/);
    if (CONTROLLERS.some((name) => !enabled.includes(name))) {
      if (own !== '/sys/fs/cgroup') {
        const leaf = path.join(own, 'ci-fixer-worker');
        await fs.mkdir(leaf, { recursive: true });
        await fs.writeFile(path.join(leaf, 'cgroup.procs'), String(process.pid));
      }
      await fs.writeFile(path.join(own, 'cgroup.subtree_control'), '+pids +memory');
    }
    const parent = layout.parents.pids;
    await fs.mkdir(parent, { recursive: true });
    await fs.writeFile(path.join(parent, 'cgroup.subtree_control'), '+pids +memory');
    return;
  }
  for (const parent of new Set(Object.values(layout.parents))) await fs.mkdir(parent, { recursive: true });
}

/** Removes the namespace's parent groups when no sandbox group is left in them. */
export async function removeEmptyParents(layout: Layout): Promise<void> {
  for (const parent of new Set(Object.values(layout.parents))) await fs.rmdir(parent).catch(() => {});
}

/** One sandbox's groups: limits on the whole, a child group per command so each can be killed alone. */
export class SandboxCgroup {
  private readonly dirs: Record<Controller, string>;
  private readonly layout: Layout;
  private execs = 0;

  private constructor(layout: Layout, id: string) {
    this.layout = layout;
    this.dirs = { pids: path.join(layout.parents.pids, id), memory: path.join(layout.parents.memory, id) };
  }

  /** The groups of a sandbox made earlier, perhaps by another process, to destroy them. */
  static existing(layout: Layout, id: string): SandboxCgroup {
    return new SandboxCgroup(layout, id);
  }

  static async create(layout: Layout, id: string, limits: CgroupLimits): Promise<SandboxCgroup> {
    const group = new SandboxCgroup(layout, id);
    for (const dir of new Set(Object.values(group.dirs))) await fs.mkdir(dir, { recursive: true });
    if (layout.version === 2) {
      await fs.writeFile(path.join(group.dirs.pids, 'cgroup.subtree_control'), '+pids +memory');
      await fs.writeFile(path.join(group.dirs.pids, 'pids.max'), String(limits.pids));
      await fs.writeFile(path.join(group.dirs.memory, 'memory.max'), String(limits.memoryBytes));
      await fs.writeFile(path.join(group.dirs.memory, 'memory.swap.max'), '0').catch(() => {});
    } else {
      await fs.writeFile(path.join(group.dirs.pids, 'pids.max'), String(limits.pids));
      await fs.writeFile(path.join(group.dirs.memory, 'memory.limit_in_bytes'), String(limits.memoryBytes));
      // Swap counts too where the kernel accounts it; without swap accounting the file is absent.
      await fs
        .writeFile(path.join(group.dirs.memory, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes))
        .catch(() => {});
    }
    return group;
  }

  /** A child group for one command: the `cgroup.procs` files its first process must join. */
  async forCommand(): Promise<CommandCgroup> {
    const name = `c${++this.execs}`;
    const dirs = [...new Set(Object.values(this.dirs))].map((dir) => path.join(dir, name));
    for (const dir of dirs) await fs.mkdir(dir);
    // v1 counts an OOM kill only in the group of the task it killed: the command's, so read it there.
    const events = path.join(
      this.dirs.memory,
      name,
      this.layout.version === 2 ? 'memory.events' : 'memory.oom_control',
    );
    return new CommandCgroup(dirs, events);
  }

  /** Kills every process of the sandbox and removes its groups. */
  async destroy(): Promise<void> {
    for (const dir of new Set(Object.values(this.dirs))) await killTree(dir);
  }
}

export class CommandCgroup {
  readonly procs: string[];
  private readonly dirs: string[];
  private readonly events: string;

  constructor(dirs: string[], events: string) {
    this.dirs = dirs;
    this.procs = dirs.map((dir) => path.join(dir, 'cgroup.procs'));
    this.events = events;
  }

  /** How many processes of this command the kernel's OOM killer ended (read before destroy()). */
  async oomKills(): Promise<number> {
    const text = await fs.readFile(this.events, 'utf8').catch(() => '');
    return Number(/^oom_kill (\d+)$/m.exec(text)?.[1] ?? 0);
  }

  private destroyed: Promise<void> | undefined;

  /** Kills whatever the command left running, in any session, and removes its group. Safe to call twice. */
  destroy(): Promise<void> {
    this.destroyed ??= (async () => {
      for (const dir of this.dirs) await killTree(dir);
    })();
    return this.destroyed;
  }
}

/** The shell prefix that moves itself into the groups, then becomes the command. */
export function joinCgroupArgv(procs: readonly string[], argv: readonly string[]): string[] {
  return [
    'sh',
    '-c',
    'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"',
    'cgroup',
    String(procs.length),
    ...procs,
    ...argv,
  ];
}

/** SIGKILLs every process in a group and its children until none is left, then removes the groups. */
async function killTree(dir: string): Promise<void> {
  // Another destroy (a timeout racing the command's end) may remove the group under our feet.
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!entries) return;
  const children = entries.filter((entry) => entry.isDirectory());
  for (const child of children) await killTree(path.join(dir, child.name));
  // v2 has cgroup.kill, which also catches processes forking while we look; v1 needs rounds.
  await fs.writeFile(path.join(dir, 'cgroup.kill'), '1').catch(() => {});
  for (let round = 0; round < 50; round++) {
    const pids = readOr(path.join(dir, 'cgroup.procs'), '').split('\n').filter(Boolean);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      await fs.rmdir(dir);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      // EBUSY while the last killed processes are being reaped.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** This process's cgroup path per v1 controller (key '' for the v2 hierarchy). */
function ownCgroups(): Map<string, string> {
  const groups = new Map<string, string>();
  for (const line of readOr('/proc/self/cgroup', '').split('\n')) {
    const [, controllers, where] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (controllers === undefined || where === undefined) continue;
    for (const controller of controllers.split(',')) groups.set(controller, where);
  }
  return groups;
}

function readOr(file: string, fallback: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}
