export { DockerDriver, DOCKER_WORKDIR, type DockerDriverOptions } from './driver.ts';
