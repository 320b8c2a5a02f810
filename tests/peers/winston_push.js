// Sends the lines given on the command line to a Loki push URL with winston-loki (a real client
// nobody here wrote): protobuf+snappy, or JSON with --json. Exits 0 once Loki (klaxon) accepted
// them, 1 on any send error. Usage: node winston_push.js URL [--json] LINE...
// For an https URL and credentials, as an operator would configure the client (files by name):
// KLAXON_PEER_CA (the CA to trust), KLAXON_PEER_CERT and KLAXON_PEER_KEY (a client certificate),
// KLAXON_PEER_BASIC_AUTH (user:password), KLAXON_PEER_BEARER (a token), KLAXON_PEER_TENANT.
// winston-loki does not look at the status of Loki's answer: a refusal is seen on klaxon's side.
const fs = require('fs')
const https = require('https')
const winston = require('winston')
const LokiTransport = require('winston-loki')

const [url, ...rest] = process.argv.slice(2)
const json = rest[0] === '--json'
const lines = json ? rest.slice(1) : rest
let failed = false
const env = process.env
const headers = {}
if (env.KLAXON_PEER_BEARER) headers.Authorization = `Bearer ${env.KLAXON_PEER_BEARER}`
if (env.KLAXON_PEER_TENANT) headers['X-Scope-OrgID'] = env.KLAXON_PEER_TENANT
const tls = {}
if (env.KLAXON_PEER_CA) tls.ca = fs.readFileSync(env.KLAXON_PEER_CA)
if (env.KLAXON_PEER_CERT) tls.cert = fs.readFileSync(env.KLAXON_PEER_CERT)
if (env.KLAXON_PEER_KEY) tls.key = fs.readFileSync(env.KLAXON_PEER_KEY)
const transport = new LokiTransport({
  host: url,
  json,
  batching: true,
  interval: 60, // we flush ourselves
  gracefulShutdown: false,
  headers,
  basicAuth: env.KLAXON_PEER_BASIC_AUTH || undefined,
  httpsAgent: new https.Agent({ ...tls, keepAlive: false }),
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
