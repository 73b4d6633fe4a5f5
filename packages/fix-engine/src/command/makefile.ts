/**
 * Just enough of make to find what a target runs: rules with their prerequisites and recipe lines, and
 * simple variables (`VAR = value`, `:=`, `?=`) substituted into them. Functions (`$(shell …)`, `$(wildcard …)`)
 * are left as written; the commands they end up in are then not literal, which is the honest answer.
 */
export interface Makefile {
  /** The first ordinary target: what `make` alone builds. */
  defaultTarget?: string;
  rules: Map<string, { prerequisites: string[]; recipe: string[] }>;
}

const ASSIGNMENT = /^(?:export\s+|override\s+)?([A-Za-z_][\w.-]*)\s*(?:::=|:=|\?=|\+=|!=|=)\s*(.*)$/;
const RULE = /^([^\s:=#][^:=#]*?)\s*::?(?!=)\s*([^;#]*)(?:;(.*))?$/;

export function parseMakefile(text: string): Makefile {
  const vars = new Map<string, string>();
  const rules: Makefile['rules'] = new Map();
  let current: string[] = [];
  let defaultTarget: string | undefined;
  const lines = text.replace(/\\\n[ \t]*/g, ' ').split('\n');
  for (const line of lines) {
    if (line.startsWith('\t')) {
      const command = line.trim();
      if (command && !command.startsWith('#'))
        current.forEach((target) => rules.get(target)!.recipe.push(command));
      continue;
    }
    if (!line.trim() || line.trimStart().startsWith('#')) continue;
    const assignment = ASSIGNMENT.exec(line);
    if (assignment) {
      const [, name, value] = assignment;
      const previous = line.includes('+=') ? `${vars.get(name!) ?? ''} ` : '';
      if (!line.includes('?=') || !vars.has(name!)) vars.set(name!, `${previous}${value!.trim()}`);
      current = [];
      continue;
    }
    const rule = RULE.exec(line);
    if (!rule) {
      current = [];
      continue;
    }
    current = rule[1]!.split(/\s+/).filter((target) => target && !target.includes('%'));
    for (const target of current) {
      const existing = rules.get(target) ?? { prerequisites: [], recipe: [] };
      existing.prerequisites.push(...(rule[2] ?? '').split(/\s+/).filter(Boolean));
      if (rule[3]?.trim()) existing.recipe.push(rule[3].trim());
      rules.set(target, existing);
      if (!defaultTarget && !target.startsWith('.')) defaultTarget = target;
    }
  }
  const expand = (value: string, depth = 0): string =>
    depth > 8
      ? value
      : value.replace(/\$\$|\$\(([\w.-]+)\)|\$\{([\w.-]+)\}/g, (whole, paren?: string, brace?: string) => {
          if (whole === '$$') return '$$';
          const name = paren ?? brace!;
          if (name === 'MAKE') return 'make';
          const found = vars.get(name);
          return found === undefined ? whole : expand(found, depth + 1);
        });
  for (const rule of rules.values()) {
    // `@` (silent), `-` (ignore errors), `+` (always run) prefix a recipe line; `$$` is the shell's `$`.
    rule.recipe = rule.recipe.map((line) => expand(line.replace(/^[@+-]+\s*/, '')).replace(/\$\$/g, '$'));
    rule.prerequisites = rule.prerequisites.flatMap((name) => expand(name).split(/\s+/).filter(Boolean));
  }
  return { ...(defaultTarget ? { defaultTarget } : {}), rules };
}
