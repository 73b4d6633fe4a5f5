import { createRequire } from 'node:module';
import { Language, Parser, type Node } from 'web-tree-sitter';

/** One word of a simple command: its value when the shell would see a fixed string, else the source text. */
export interface Word {
  text: string;
  /** False for anything the shell expands at run time (`$VAR`, `$(…)`, `{a,b}`…). */
  literal: boolean;
}

/** A simple command the script runs: `gofmt -l .`, wherever it stands (pipeline, `$(…)`, `if`, `&&`). */
export interface ShellCommand {
  words: Word[];
}

const require = createRequire(import.meta.url);
let parser: Promise<Parser> | undefined;

/** tree-sitter's bash grammar, compiled to WebAssembly: loaded once per process, on first use. */
function bashParser(): Promise<Parser> {
  parser ??= (async () => {
    await Parser.init();
    const bash = await Language.load(require.resolve('tree-sitter-bash/tree-sitter-bash.wasm'));
    const created = new Parser();
    created.setLanguage(bash);
    return created;
  })();
  return parser;
}

/**
 * Every simple command in a shell script, in source order, nested ones (inside `$(…)`, `if`, subshells,
 * functions) included. The script is parsed, never run; a syntax error yields the commands around it.
 */
export async function shellCommands(script: string): Promise<ShellCommand[]> {
  const tree = (await bashParser()).parse(script);
  if (!tree) return [];
  try {
    return tree.rootNode.descendantsOfType('command').flatMap((node) => {
      if (!node) return [];
      const name = node.childForFieldName('name');
      if (!name) return [];
      const args = node.childrenForFieldName('argument').filter((arg) => arg !== null);
      return [{ words: [name, ...args].map(wordOf) }];
    });
  } finally {
    tree.delete();
  }
}

function wordOf(node: Node): Word {
  const value = literalValue(node);
  return value === undefined ? { text: node.text, literal: false } : { text: value, literal: true };
}

/** The string the shell would pass for a word without expansions; undefined when it expands something. */
function literalValue(node: Node): string | undefined {
  switch (node.type) {
    case 'command_name':
      return node.firstNamedChild ? literalValue(node.firstNamedChild) : node.text;
    case 'word':
      // Globs are kept as written: the tools these commands name expand none of them themselves, and the
      // commands built from them run through the shell again.
      return /[$`{]/.test(node.text) ? undefined : node.text.replace(/\\(.)/gs, '$1');
    case 'number':
      return node.text;
    case 'raw_string':
      return node.text.slice(1, -1);
    case 'string': {
      const parts = node.namedChildren.filter((child) => child !== null);
      if (parts.some((part) => part.type !== 'string_content')) return undefined;
      return parts.map((part) => part.text.replace(/\\([$`"\\\n])/g, '$1')).join('');
    }
    case 'concatenation': {
      const parts = node.namedChildren.filter((child) => child !== null).map(literalValue);
      return parts.every((part) => part !== undefined) ? parts.join('') : undefined;
    }
    default:
      return undefined;
  }
}
