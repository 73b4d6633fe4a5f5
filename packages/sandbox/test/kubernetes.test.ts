import { sandboxContract } from './contract.ts';
import { workerDriver } from './kubernetes-cluster.ts';

// Needs `scripts/dev-cluster up`: a real API server, controllers and scheduler, with a KWOK node that runs
// exec'd commands on this host (see docs/dev-cluster.md).
sandboxContract('kubernetes (dev-cluster)', async () => ({ driver: await workerDriver() }));
