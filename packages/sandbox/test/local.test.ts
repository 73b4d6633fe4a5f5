import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalDriver } from '../src/local/index.ts';
import { sandboxContract } from './contract.ts';

const root = () => mkdtempSync(path.join(os.tmpdir(), 'cif-contract-'));

sandboxContract('local (bubblewrap)', async () => ({
  driver: new LocalDriver({ root: root(), isolation: 'bwrap' }),
}));
sandboxContract('local (plain processes)', async () => ({
  driver: new LocalDriver({ root: root(), isolation: 'none' }),
}));
