// Sends the lines given on the command line to a Loki push URL with winston-loki (a real client
// nobody here wrote): protobuf+snappy, or JSON with --json. Exits 0 once Loki (klaxon) accepted
// them, 1 on any send error. Usage: node winston_push.js URL [--json] LINE...
const winston = require('winston')
const LokiTransport = require('winston-loki')

const [url, ...rest] = process.argv.slice(2)
const json = rest[0] === '--json'
const lines = json ? rest.slice(1) : rest
let failed = false
const transport = new LokiTransport({
  host: url,
  json,
  batching: true,
  interval: 60, // we flush ourselves
  gracefulShutdown: false,
  labels: { app: 'dapr-sentry', namespace: 'dapr-system', client: json ? 'winston-json' : 'winston-protobuf' },
  format: winston.format.printf(info => info.message),
  onConnectionError: err => { failed = true; console.error(`send failed: ${err}`) }
})
const logger = winston.createLogger({ transports: [transport] })
for (const line of lines) logger.info(line)
setTimeout(async () => {
  try {
    await transport.batcher.sendBatchToLoki()
  } catch (err) {
    failed = true
    console.error(`send failed: ${err}`)
  }
  process.exit(failed ? 1 : 0)
}, 100)
setTimeout(() => { console.error('timed out'); process.exit(2) }, 20000)
