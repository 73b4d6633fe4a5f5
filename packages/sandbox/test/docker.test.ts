import { sandboxContract } from './contract.ts';
import { dockerTarget } from './docker-target.ts';

sandboxContract('docker (podman)', async () => {
  const { driver, image } = await dockerTarget();
  return { driver, spec: { image } };
});
