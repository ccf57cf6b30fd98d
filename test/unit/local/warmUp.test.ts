import { warmUp } from '../../../src/local/stack';

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
