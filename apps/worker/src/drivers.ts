import type { Config } from '@ci-fixer/config';
import { DockerDriver, LocalDriver, type SandboxDriver } from '@ci-fixer/sandbox';

export interface DriverSetup {
  driver: SandboxDriver;
  /** What an operator should know about the isolation this driver gives here. */
  warnings: string[];
}

/** The sandbox driver SANDBOX_DRIVER names, configured from the SANDBOX_* settings. */
export function createDriver(config: Config): DriverSetup {
  switch (config.SANDBOX_DRIVER) {
    case 'local': {
      const driver = new LocalDriver({
        ...(config.SANDBOX_LOCAL_ROOT ? { root: config.SANDBOX_LOCAL_ROOT } : {}),
        isolation: config.SANDBOX_LOCAL_ISOLATION,
        defaultTimeoutMs: config.SANDBOX_COMMAND_TIMEOUT_SECONDS * 1000,
        defaultMaxOutputBytes: config.SANDBOX_MAX_OUTPUT_BYTES,
      });
      const warnings =
        driver.isolation === 'none'
          ? [
              'bubblewrap is not available: sandboxes are plain processes that can read this host and reach its network. ' +
                'Install bubblewrap, or use a container driver for code you do not trust.',
            ]
          : [];
      return { driver, warnings };
    }
    case 'docker': {
      const driver = new DockerDriver({
        image: config.SANDBOX_IMAGE,
        network: config.SANDBOX_NETWORK,
        user: config.SANDBOX_USER,
        limits: {
          cpus: config.SANDBOX_CPUS,
          memoryBytes: config.SANDBOX_MEMORY_MB * 1_048_576,
          pids: config.SANDBOX_PIDS,
        },
        defaultTimeoutMs: config.SANDBOX_COMMAND_TIMEOUT_SECONDS * 1000,
        defaultMaxOutputBytes: config.SANDBOX_MAX_OUTPUT_BYTES,
      });
      const warnings =
        config.SANDBOX_NETWORK === 'none'
          ? ['SANDBOX_NETWORK=none: sandboxes cannot clone or install from the network.']
          : [];
      return { driver, warnings };
    }
  }
}
