import { DockerDriver, type DockerDriverOptions } from '../src/docker/index.ts';

/** The tiny image the docker tests use; `scripts/build-images busybox` makes it. */
export const TEST_IMAGE = 'ci-fixer/test-busybox:latest';

/**
 * The image for sandboxes with egress: busybox has no socat, which relays their proxy traffic. The node
 * base `scripts/build-images node` makes has it (and bash and node, for the attack suite).
 */
export const EGRESS_IMAGE = 'node:24-bookworm-slim';

/**
 * A DockerDriver for the engine at DOCKER_HOST. Tests never skip for want of an engine: CI starts podman
 * first (`scripts/podman-service up`), and a missing one fails here with what to do.
 */
export async function dockerTarget(
  options: DockerDriverOptions = {},
): Promise<{ driver: DockerDriver; image: string }> {
  if (!process.env.DOCKER_HOST) {
    throw new Error(
      'DOCKER_HOST is not set: the docker driver tests need a container engine. Run ' +
        '`scripts/podman-service up && eval "$(scripts/podman-service env)"` and `scripts/build-images busybox node`.',
    );
  }
  const driver = new DockerDriver({ image: TEST_IMAGE, ...options });
  await driver.preflight();
  return { driver, image: TEST_IMAGE };
}
