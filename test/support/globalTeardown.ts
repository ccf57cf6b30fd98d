import type { Emulators } from '../../src/local/emulators';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __EMULATORS__?: Emulators }).__EMULATORS__?.stop();
}
