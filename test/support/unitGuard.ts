// The unit tier runs without the emulators (README: Tests): its project has no globalSetup, and this file keeps a
// unit test from reaching them anyway. In a full `npm test` run the integration tier's globalSetup has put the
// emulators' endpoints in the environment of the shared Jest process: a unit test does not see them (so
// test/support/service.ts refuses to start: "emulators are not running"), and starting emulators of its own fails.
// A test that needs S3, SQS or DynamoDB for real belongs in test/integration.
for (const name of ['TEST_S3_ENDPOINT', 'TEST_SQS_ENDPOINT', 'TEST_DYNAMODB_ENDPOINT']) delete process.env[name];

jest.mock('../../src/local/emulators', () => ({
  ...jest.requireActual('../../src/local/emulators'),
  startEmulators: () => {
    throw new Error('a unit test may not start the emulators: move it to test/integration');
  },
}));
