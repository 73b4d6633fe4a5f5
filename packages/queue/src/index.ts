// Where fix jobs live in Redis and how API and workers signal each other there.
export * from './queue.ts';
export { fixJobOptions, type RetryAndRetention } from './job-options.ts';
export { requestCancellation, isCancellationRequested, subscribeToCancellations } from './cancellation.ts';
