import { ServerlessConfig } from '../../../src/local/serverlessConfig';
import { warmUp, warmUpPlan } from '../../../src/local/stack';

const timeout = new Error('worker failed: [504] - Lambda timeout.');

describe('warmUp: a warm-up invocation of the offline stack', () => {
  it('tries a timed-out one again, and gives up quietly after the last try (the function starts on first use)', async () => {
    const answers = [timeout, timeout];
    const call = jest.fn(async () => {
      const next = answers.shift();
      if (next) throw next;
    });
    await warmUp(call, 'worker');
    expect(call).toHaveBeenCalledTimes(3);

    const always = jest.fn(async () => {
      throw timeout;
    });
    await expect(warmUp(always, 'worker', 3)).resolves.toBeUndefined();
    expect(always).toHaveBeenCalledTimes(3);
  });

  it('throws any other failure at once: a function that cannot start must stop the stack', async () => {
    const broken = jest.fn(async () => {
      throw new Error('worker failed: Missing required environment variable STATUS_TABLE');
    });
    await expect(warmUp(broken, 'worker')).rejects.toThrow(/STATUS_TABLE/);
    expect(broken).toHaveBeenCalledTimes(1);
  });
});

describe('warmUpPlan: what the offline stack starts before its ready line', () => {
  const sls = new ServerlessConfig({ stage: 'local', region: 'us-east-1', env: {} });
  const queue = sls.sqsEventSources().map((s) => s.functionKey);
  const http = sls.httpRoutes().map((r) => r.functionKey);

  it('the batch worker and the own mock once per worker, every other function of serverless.yml once', () => {
    const plan = warmUpPlan(queue, http, 8, 'mockEnrich');
    const instances = Object.fromEntries(plan.map((w) => [w.functionKey, w.instances]));
    expect(instances).toMatchObject({ processBatch: 8, mockEnrich: 8, assembleOutput: 1, intake: 1 });
    const others = plan.filter((w) => w.functionKey !== 'processBatch' && w.functionKey !== 'mockEnrich');
    expect(others.length).toBeGreaterThanOrEqual(10);
    expect(others.every((w) => w.instances === 1)).toBe(true);
    // One entry per function (the mock serves several routes), queue-triggered ones with a message-free event.
    expect(new Set(plan.map((w) => w.functionKey)).size).toBe(plan.length);
    expect(plan.find((w) => w.functionKey === 'processBatch')?.event).toEqual({ Records: [] });
  });

  it("a provider of the user's: no mock to warm beyond once", () => {
    const plan = warmUpPlan(queue, http, 8, undefined);
    expect(plan.find((w) => w.functionKey === 'mockEnrich')?.instances).toBe(1);
  });
});
