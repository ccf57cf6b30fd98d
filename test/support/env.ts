// Defaults for every test file: quiet logs, no metrics, fake credentials, names for unit tests.
process.env.LOG_SILENT ??= 'true';
process.env.METRICS_ENABLED = 'false';
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
process.env.AWS_REGION ??= 'us-east-1';
process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE = '1';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.BUCKET_NAME ??= 'unit-bucket';
process.env.TABLE_NAME ??= 'unit-table';
process.env.CACHE_TABLE ??= 'unit-result-cache';
process.env.BATCH_QUEUE_NAME ??= 'unit-queue';
process.env.INTAKE_QUEUE_NAME ??= 'unit-intake-queue';
process.env.ASSEMBLY_QUEUE_NAME ??= 'unit-assembly-queue';
process.env.WEBHOOK_QUEUE_NAME ??= 'unit-webhook-queue';
process.env.WEBHOOK_DLQ_NAME ??= 'unit-webhook-dlq';
process.env.ENRICHMENT_API_URL ??= 'http://127.0.0.1:9/mock/enrich';
process.env.PUBLIC_API_URL ??= 'https://api.example.test/dev';
