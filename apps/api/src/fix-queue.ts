import { Queue, type Job, type JobsOptions, type QueueOptions } from 'bullmq';
import { signJobData, type FixJobData } from '@ci-fixer/jobs';

/**
 * The fix-job queue as the API writes to it: every job is added under an id the API chose and signed
 * for it (CI_FIXER_JOB_SIGNING_KEY), so workers can tell the API's jobs from data changed in Redis.
 * Both the REST route and the webhooks add through here, so no path enqueues an unsigned job.
 */
export class FixQueue extends Queue<FixJobData> {
  private readonly signingKey: string | undefined;

  constructor(name: string, options: QueueOptions, signingKey: string | undefined) {
    super(name, options);
    this.signingKey = signingKey;
  }

  override add(
    name: 'fix',
    data: FixJobData,
    options: JobsOptions & { jobId: string },
  ): Promise<Job<FixJobData>> {
    const signed = this.signingKey ? signJobData(options.jobId, data, this.signingKey) : data;
    return super.add(name, signed, options);
  }
}
