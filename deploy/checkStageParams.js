// biome-ignore lint/suspicious/noRedundantUseStrict: a CommonJS file (package.json has no "type": "module"), where it is not redundant
'use strict';

/**
 * A serverless plugin (listed in serverless.yml) that stops `sls package` and `sls deploy` of a
 * half-configured stage before anything is built: a stage without the mock needs the real
 * enrichment API, and Datadog needs its API key secret. The message names the param and how to
 * pass it (docs/deploy.md). Other commands (remove, info, logs) are not affected.
 */
class CheckStageParams {
  constructor(serverless, options) {
    this.serverless = serverless;
    this.options = options;
    this.hooks = { 'before:package:initialize': () => this.check() };
  }

  /** A resource of the template; `resources` may be a list of fragments, as serverless.yml writes it. */
  resource(id) {
    const raw = this.serverless.service.resources;
    const parts = Array.isArray(raw) ? raw : [raw];
    const found = parts.map((p) => p?.Resources?.[id]).find(Boolean);
    if (!found) throw new this.serverless.classes.Error(`serverless.yml has no resource ${id}`);
    return found;
  }

  check() {
    const { service } = this.serverless;
    const stage = this.options.stage || service.provider.stage;
    const param = (name, example) =>
      `--param="${name}=${example}" (or set ${name} under ${stage} in serverless/params.yml)`;
    const problems = [];

    const apiUrl = service.provider.environment?.ENRICHMENT_API_URL;
    if (typeof apiUrl === 'string' && !/^https?:\/\/\S+$/.test(apiUrl)) {
      problems.push(
        apiUrl === ''
          ? `enrichmentApiUrl is required: stage "${stage}" deploys no mock enrichment API (mockApi is false), so the worker needs the real one. Pass ${param('enrichmentApiUrl', 'https://…')}.`
          : `enrichmentApiUrl must be an http(s) URL, got "${apiUrl}".`,
      );
    }

    const provider = service.provider.environment?.ENRICHMENT_PROVIDER;
    if (provider !== undefined && provider !== 'mock' && provider !== 'peopledatalabs')
      problems.push(`enrichmentProvider must be mock or peopledatalabs, got "${provider}".`);
    if (
      provider === 'peopledatalabs' &&
      !service.provider.environment.ENRICHMENT_API_KEY &&
      !/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:\S+$/.test(
        service.provider.environment.PDL_API_KEY_SECRET_ARN || '',
      )
    ) {
      problems.push(
        `pdlApiKeySecretArn is required with enrichmentProvider peopledatalabs: the Secrets Manager ARN of the People Data Labs API key, got "${service.provider.environment.PDL_API_KEY_SECRET_ARN || ''}". ` +
          `Pass ${param('pdlApiKeySecretArn', 'arn:aws:secretsmanager:<region>:<account>:secret:<name>')}.`,
      );
    }

    const datadog = service.custom?.datadog || {};
    if (
      String(datadog.enabled) !== 'false' &&
      !/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:\S+$/.test(datadog.apiKeySecretArn || '')
    ) {
      problems.push(
        `ddApiKeySecretArn is required while Datadog is on (datadogEnabled): the Secrets Manager ARN of the Datadog API key, got "${datadog.apiKeySecretArn || ''}". ` +
          `Pass ${param('ddApiKeySecretArn', 'arn:aws:secretsmanager:<region>:<account>:secret:<name>')}, or turn Datadog off with --param="datadogEnabled=false".`,
      );
    }

    const timeout = Number(service.custom?.workerTimeout);
    const visibility = Math.min(
      ...['BatchQueue', 'BatchDeadLetterQueue'].map((q) => Number(this.resource(q).Properties.VisibilityTimeout)),
    );
    if (!(timeout >= 1 && timeout <= 900))
      problems.push(`workerTimeoutSeconds must be 1 to 900 (Lambda's limit), got "${service.custom.workerTimeout}".`);
    else if (!(visibility >= 6 * timeout)) {
      problems.push(
        `queueVisibilitySeconds (${visibility}) must be at least 6 times workerTimeoutSeconds (${timeout}), as AWS requires of an SQS event source: ` +
          `pass ${param('queueVisibilitySeconds', 6 * timeout)}.`,
      );
    }

    const intakeTimeout = Number(service.custom?.intakeTimeout);
    const intakeVisibility = Math.min(
      ...['IntakeQueue', 'IntakeDeadLetterQueue'].map((q) => Number(this.resource(q).Properties.VisibilityTimeout)),
    );
    if (!(intakeTimeout >= 1 && intakeTimeout <= 900))
      problems.push(`intakeTimeoutSeconds must be 1 to 900 (Lambda's limit), got "${service.custom.intakeTimeout}".`);
    else if (!(intakeVisibility >= 6 * intakeTimeout)) {
      problems.push(
        `intakeQueueVisibilitySeconds (${intakeVisibility}) must be at least 6 times intakeTimeoutSeconds (${intakeTimeout}), as AWS requires of an SQS event source: ` +
          `pass ${param('intakeQueueVisibilitySeconds', 6 * intakeTimeout)}.`,
      );
    }

    const assemblyTimeout = Number(service.custom?.assemblyTimeout);
    const assemblyVisibility = Math.min(
      ...['AssemblyQueue', 'AssemblyDeadLetterQueue'].map((q) => Number(this.resource(q).Properties.VisibilityTimeout)),
    );
    if (!(assemblyTimeout >= 1 && assemblyTimeout <= 900))
      problems.push(
        `assemblyTimeoutSeconds must be 1 to 900 (Lambda's limit), got "${service.custom.assemblyTimeout}".`,
      );
    else if (!(assemblyVisibility >= 6 * assemblyTimeout)) {
      problems.push(
        `assemblyQueueVisibilitySeconds (${assemblyVisibility}) must be at least 6 times assemblyTimeoutSeconds (${assemblyTimeout}), as AWS requires of an SQS event source: ` +
          `pass ${param('assemblyQueueVisibilitySeconds', 6 * assemblyTimeout)}.`,
      );
    }

    // deliverWebhook's timeout is fixed in serverless/functions.yml; its queue's visibility is a param.
    const webhookTimeout = Number(service.functions?.deliverWebhook?.timeout);
    const webhookVisibility = Math.min(
      ...['WebhookQueue', 'WebhookDeadLetterQueue'].map((q) => Number(this.resource(q).Properties.VisibilityTimeout)),
    );
    if (!(webhookVisibility >= 6 * webhookTimeout)) {
      problems.push(
        `webhookQueueVisibilitySeconds (${webhookVisibility}) must be at least 6 times deliverWebhook's timeout (${webhookTimeout}), as AWS requires of an SQS event source: ` +
          `pass ${param('webhookQueueVisibilitySeconds', 6 * webhookTimeout)}.`,
      );
    }

    const env = service.provider.environment || {};
    if (service.functions?.mockEnrich && !env.ENRICHMENT_API_KEY) {
      // Not an error: the key only exists once the stage is deployed (docs/api.md: Authentication).
      this.serverless.cli.log(
        `Warning: stage "${stage}" deploys the mock behind its API keys, but the worker has no enrichmentApiKey: its calls to the mock answer 403 until you deploy again with ${param('enrichmentApiKey', "<the value of one of this stage's API keys>")}.`,
      );
    }

    if (problems.length) {
      throw new this.serverless.classes.Error(
        `Stage "${stage}" is not fully configured:\n  - ${problems.join('\n  - ')}`,
      );
    }
  }
}

module.exports = CheckStageParams;
