// Sends the lines of a file as OpenTelemetry log records through the
// official JS SDK and its OTLP/HTTP exporter (JSON or protobuf), as an
// instrumented service would. Run by `otlp.rs` with NODE_PATH set.
//
//   [SLUICE_INDEX=name] node otlp-client.js URL FILE json|protobuf
//
// Record i: body = line i, severity cycles through SEVERITIES, attributes
// `line.number` = i, `http` = {status, method} (a nested map), `tags` (an
// array), `ratio` (a double), `cached` (a bool); time = BASE_MS + i ms; a
// span context on every 10th record. One more record has a map as its
// body. Prints the number of records the exporter reported as exported.

const { LoggerProvider, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { SeverityNumber } = require('@opentelemetry/api-logs');
const api = require('@opentelemetry/api');
const fs = require('fs');

const [url, file, encoding] = process.argv.slice(2);
const { OTLPLogExporter } = require(
  encoding === 'json'
    ? '@opentelemetry/exporter-logs-otlp-http'
    : '@opentelemetry/exporter-logs-otlp-proto',
);

const BASE_MS = 1763798400000; // 2025-11-22T08:00:00Z
const SEVERITIES = [
  [SeverityNumber.DEBUG, 'DEBUG'],
  [SeverityNumber.INFO, 'INFO'],
  [SeverityNumber.WARN, 'WARN'],
  [SeverityNumber.ERROR, 'ERROR'],
  [SeverityNumber.FATAL, 'FATAL'],
];

const exporter = new OTLPLogExporter({ url, timeoutMillis: 20000 });
let exported = 0;
let failed = false;
const realExport = exporter.export.bind(exporter);
exporter.export = (records, done) =>
  realExport(records, (result) => {
    if (result.code === 0) {
      exported += records.length;
    } else {
      failed = true;
      console.error('export failed:', result.error);
    }
    done(result);
  });

const provider = new LoggerProvider({
  resource: resourceFromAttributes({
    'service.name': 'checkout',
    'service.version': '2.4.1',
    'host.name': 'web-7',
    'deployment.environment': encoding,
    // The index, when one is named: the exporter drops a query string from its URL.
    ...(process.env.SLUICE_INDEX ? { 'sluice.index': process.env.SLUICE_INDEX } : {}),
  }),
  processors: [
    new BatchLogRecordProcessor(exporter, { maxExportBatchSize: 256, scheduledDelayMillis: 50 }),
  ],
});
const logger = provider.getLogger('shop.cart', '1.2.3');

const lines = fs.readFileSync(file, 'utf8').split(/\r?\n/).filter((l) => l.trim());
lines.forEach((line, i) => {
  const [severityNumber, severityText] = SEVERITIES[i % SEVERITIES.length];
  let context = api.context.active();
  if (i % 10 === 0) {
    context = api.trace.setSpanContext(context, {
      traceId: (i + 1).toString(16).padStart(32, '0'),
      spanId: 'a'.repeat(15) + (i % 10),
      traceFlags: api.TraceFlags.SAMPLED,
    });
  }
  logger.emit({
    timestamp: new Date(BASE_MS + i),
    severityNumber,
    severityText,
    body: line,
    context,
    attributes: {
      'line.number': i,
      http: { status: 200 + (i % 4), method: 'GET' },
      tags: ['a', 'b'],
      ratio: 0.5,
      cached: i % 2 === 0,
    },
  });
});
logger.emit({
  timestamp: new Date(BASE_MS),
  severityNumber: SeverityNumber.INFO,
  body: { order: 'A-17', amount: 12.5 },
  attributes: { kind: 'structured' },
});

provider.shutdown().then(() => {
  console.log(exported);
  process.exit(failed ? 3 : 0);
});
