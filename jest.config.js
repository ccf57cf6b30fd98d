/**
 * The test tiers (README: Tests), one Jest project each: `npm test` runs them all in one run, `--selectProjects <name>`
 * one of them. Only the integration tier starts the emulators (globalSetup); the unit tier must not reach them
 * (test/support/unitGuard.ts), the e2e tier's `npm start` runs its own, and the deploy tier needs none.
 */
const tier = (name, extra = {}) => ({
  displayName: name,
  testEnvironment: 'node',
  roots: [`<rootDir>/test/${name}`],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  setupFiles: ['<rootDir>/test/support/env.ts'],
  setupFilesAfterEnv: ['<rootDir>/test/support/iamGuard.ts'],
  testTimeout: 120000,
  ...extra,
});

/** @type {import('jest').Config} */
module.exports = {
  testTimeout: 120000,
  projects: [
    tier('unit', { setupFiles: ['<rootDir>/test/support/env.ts', '<rootDir>/test/support/unitGuard.ts'] }),
    tier('integration', {
      globalSetup: '<rootDir>/test/support/globalSetup.ts',
      globalTeardown: '<rootDir>/test/support/globalTeardown.ts',
    }),
    tier('e2e'),
    tier('deploy'),
  ],
};
