'use strict'
// An MQTT.js (Debian node-mqtt) client driven by the interop tests. It
// takes the same arguments, runs the same stdin commands and prints the
// same JSON lines as paho_client.py (see there):
//
//   node mqtt_client.js --port P --version 311|5 [--id ID] [--no-clean]
//        [--session-expiry S] [--will-topic T [--will-payload P] [--will-qos Q]
//        [--will-retain] [--will-user-prop k=v]...]
//
// On v5 it also prints {"event": "server-disconnect", "rc": N} when the
// broker sends DISCONNECT. Run it with NODE_PATH=/usr/share/nodejs when node
// is not Debian's own. It never reconnects; it exits when stdin closes and
// after --timeout seconds whatever happens.

const readline = require('readline')
const mqtt = require('mqtt')

function emit (fields) {
  process.stdout.write(JSON.stringify(fields) + '\n')
}

function exit (code) {
  process.stdout.write('', () => process.exit(code))
}

function fail (msg) {
  emit({ event: 'error', error: String(msg) })
  exit(1)
}

function parseArgs (argv) {
  const a = { id: '', timeout: 60, willPayload: '', willQos: 0, willUserProp: [] }
  const bools = { '--no-clean': 'noClean', '--will-retain': 'willRetain' }
  const values = {
    '--port': ['port', Number],
    '--version': ['version', String],
    '--id': ['id', String],
    '--session-expiry': ['sessionExpiry', Number],
    '--timeout': ['timeout', Number],
    '--will-topic': ['willTopic', String],
    '--will-payload': ['willPayload', String],
    '--will-qos': ['willQos', Number]
  }
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]
    if (bools[f]) {
      a[bools[f]] = true
    } else if (values[f] && i + 1 < argv.length) {
      a[values[f][0]] = values[f][1](argv[++i])
    } else if (f === '--will-user-prop' && i + 1 < argv.length) {
      a.willUserProp.push(argv[++i])
    } else {
      fail('bad argument ' + f)
    }
  }
  if (a.version !== '311' && a.version !== '5') fail('--version 311 or 5')
  return a
}

// userProps turns [[k, v], ...] into MQTT.js's object; a repeated key
// becomes an array of values.
function userProps (list) {
  const o = {}
  for (const [k, v] of list) {
    if (!(k in o)) o[k] = v
    else if (Array.isArray(o[k])) o[k].push(v)
    else o[k] = [o[k], v]
  }
  return o
}

function propPairs (ups) {
  const out = []
  for (const k of Object.keys(ups || {})) {
    const vs = Array.isArray(ups[k]) ? ups[k] : [ups[k]]
    for (const v of vs) out.push([k, String(v)])
  }
  return out
}

const a = parseArgs(process.argv.slice(2))
setTimeout(() => fail('still running after ' + a.timeout + 's'), a.timeout * 1000).unref()
const v5 = a.version === '5'

const opts = {
  host: '127.0.0.1',
  port: a.port,
  protocolVersion: v5 ? 5 : 4,
  clean: !a.noClean,
  keepalive: 30,
  reconnectPeriod: 0,
  connectTimeout: a.timeout * 1000
}
if (a.id) opts.clientId = a.id
if (v5 && a.sessionExpiry !== undefined) opts.properties = { sessionExpiryInterval: a.sessionExpiry }
if (a.willTopic) {
  opts.will = { topic: a.willTopic, payload: Buffer.from(a.willPayload), qos: a.willQos, retain: !!a.willRetain }
  if (v5 && a.willUserProp.length) {
    opts.will.properties = { userProperties: userProps(a.willUserProp.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])) }
  }
}

const c = mqtt.connect(opts)
let disconnecting = false
c.on('error', (err) => fail(err && err.message ? err.message : err))
c.on('disconnect', (p) => emit({ event: 'server-disconnect', rc: p.reasonCode || 0 }))
c.on('close', () => {
  emit({ event: 'disconnected', rc: 0 })
  if (disconnecting) exit(0)
})
c.on('message', (topic, payload, packet) => {
  const ev = { event: 'message', topic, payload: payload.toString('utf8'), qos: packet.qos, retain: !!packet.retain, dup: !!packet.dup }
  const p = packet.properties
  if (p && p.userProperties) ev.user_properties = propPairs(p.userProperties)
  if (p && p.contentType !== undefined) ev.content_type = p.contentType
  emit(ev)
})

// Commands run one at a time, in order.
const queue = []
let busy = false
function pump () {
  if (busy || !queue.length) return
  busy = true
  run(queue.shift(), () => { busy = false; pump() })
}

function run (cmd, done) {
  switch (cmd.cmd) {
    case 'subscribe': {
      const subs = {}
      for (const [topic, qos] of cmd.subs) subs[topic] = { qos }
      c.subscribe(subs, (err, granted) => {
        if (err) fail('subscribe: ' + err.message)
        emit({ event: 'subscribed', granted: granted.map((g) => g.qos) })
        done()
      })
      break
    }
    case 'publish': {
      const po = { qos: cmd.qos || 0, retain: !!cmd.retain }
      if (v5 && ((cmd.user_properties && cmd.user_properties.length) || cmd.content_type)) {
        po.properties = {}
        if (cmd.user_properties && cmd.user_properties.length) po.properties.userProperties = userProps(cmd.user_properties)
        if (cmd.content_type) po.properties.contentType = cmd.content_type
      }
      c.publish(cmd.topic, cmd.payload, po, (err) => {
        if (err) fail('publish ' + cmd.payload + ': ' + err.message)
        emit({ event: 'published', payload: cmd.payload })
        done()
      })
      break
    }
    case 'disconnect':
      disconnecting = true
      c.end()
      break
    case 'eof':
      if (!disconnecting) fail('stdin closed')
      break
    default:
      fail('unknown command ' + cmd.cmd)
  }
}

c.once('connect', (connack) => {
  const rc = connack.reasonCode !== undefined ? connack.reasonCode : (connack.returnCode || 0)
  emit({ event: 'connected', rc, session_present: !!connack.sessionPresent })
  if (rc !== 0) fail('connection refused: ' + rc)
  const rl = readline.createInterface({ input: process.stdin })
  rl.on('line', (line) => {
    if (!line.trim()) return
    try {
      queue.push(JSON.parse(line))
    } catch (e) {
      fail('bad command ' + line)
    }
    pump()
  })
  rl.on('close', () => { queue.push({ cmd: 'eof' }); pump() })
})
