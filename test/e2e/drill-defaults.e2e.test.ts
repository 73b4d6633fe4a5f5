/**
 * The drill of issue 15 with the default leases (lock 30 s, heartbeat TTL 15 s): a killed worker's jobs
 * wait out its lease, so fewer jobs and kills than with short leases, to stay within a couple of minutes.
 */
import { afterEach, it } from 'vitest';
import { runDrill, stopDrills } from '../support/drill.ts';

afterEach(stopDrills);

it('ends every accepted job in its expected status, with one answer, through worker and Redis kills', () =>
  runDrill({ name: 'default leases', settings: {}, batch: 3, killsPerWave: 1 }));
