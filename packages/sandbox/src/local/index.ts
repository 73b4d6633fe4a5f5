export { LocalDriver, type LocalDriverOptions } from './driver.ts';
