import { MOCK_CONFIG_VARIABLES } from '../../src/config';
import { resetMockState } from '../../src/handlers/mockEnrich';

/**
 * The in-process mock as every mock test starts it: no knob of its environment set (the whole list the mock's
 * config reads, so no test's knob leaks into the next), no latency, and its in-memory state new.
 */
export function resetMock(): void {
  clearMockKnobs();
  process.env.MOCK_LATENCY_MS = '0';
}

/** Every mock knob unset and its in-memory state new: what a mock test leaves behind. */
export function clearMockKnobs(): void {
  for (const name of MOCK_CONFIG_VARIABLES) delete process.env[name];
  resetMockState();
}
