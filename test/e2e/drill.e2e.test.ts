/**
 * The drill of issue 15 with short leases (lock 4 s, heartbeat TTL 2 s): 18 distinct jobs, four worker
 * SIGKILLs while jobs run and Redis SIGKILLed and restarted from its AOF; every accepted job ends in its
 * expected status with one answer, and no sandbox is left.
 */
import { afterEach, it } from 'vitest';
import { runDrill, SHORT, stopDrills } from '../support/drill.ts';

afterEach(stopDrills);

it('ends every accepted job in its expected status, with one answer, through worker and Redis kills', () =>
  runDrill({ name: 'short leases', settings: SHORT, batch: 6, killsPerWave: 2 }));
