/**
 * The kubernetes egress proxy: sandbox pods with egress reach the network only through this process, a
 * Deployment of the worker image apart from the workers (chart/templates/egress-proxy.yaml). It holds no
 * state: each sandbox presents a credential the worker signed with SANDBOX_EGRESS_PROXY_KEY, carrying its
 * allow-list and expiry, and gets only what that list allows. Refusals are logged at info, connections at
 * debug.
 */
import { ConfigError, loadConfig, secretValues, type Config } from '@ci-fixer/config';
import { addSecretValues, createLogger } from '@ci-fixer/logger';
import { EgressProxy } from '@ci-fixer/sandbox/egress-proxy';

function loadOrExit(): Config & { SANDBOX_EGRESS_PROXY_KEY: string } {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`ci-fixer egress proxy: ${error.message}\n`);
    process.exit(2);
  }
  const key = config.SANDBOX_EGRESS_PROXY_KEY;
  if (!key) {
    process.stderr.write(
      'ci-fixer egress proxy: SANDBOX_EGRESS_PROXY_KEY is required: it verifies the credentials workers give sandboxes\n',
    );
    process.exit(2);
  }
  return { ...config, SANDBOX_EGRESS_PROXY_KEY: key };
}

const config = loadOrExit();
addSecretValues(secretValues(config));
const logger = createLogger({ service: 'egress-proxy', level: config.LOG_LEVEL });
const proxy = await EgressProxy.start({
  listen: { host: '0.0.0.0', port: config.EGRESS_PROXY_PORT },
  credentialKey: config.SANDBOX_EGRESS_PROXY_KEY,
  onDecision: (decision) =>
    decision.allowed
      ? logger.debug('egress allowed', { ...decision })
      : logger.info('egress refused', { ...decision }),
});
logger.info('egress proxy listening', { port: proxy.address?.port });
// The proxy's server does not hold the process open (it is built to live inside a worker): this does.
const keepAlive = setInterval(() => {}, 2 ** 30);

const shutdown = (signal: string) => {
  logger.info('signal received', { signal });
  clearInterval(keepAlive);
  void proxy.close().then(() => process.exit(0));
};
process.once('SIGTERM', () => shutdown('SIGTERM'));
process.once('SIGINT', () => shutdown('SIGINT'));
