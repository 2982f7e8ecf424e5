// Scenarios the kcli serve tests run with JavaScript Kafka clients:
//   node scenarios.mjs CLIENT SCENARIO BOOTSTRAP TOPIC [ARG]
// CLIENT is kafkajs (pure JS, protocol versions of Kafka 2.x) or platformatic (@platformatic/kafka,
// pure JS, only recent flexible versions).  Prints one JSON object on stdout; exits 1 on failure.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const [client, scenario, bootstrap, topic, arg] = process.argv.slice(2)
const TIMEOUT_MS = 60_000

function done (result) {
  process.stdout.write(JSON.stringify(result) + '\n')
  process.exit(0)
}

function fail (error) {
  process.stderr.write(`${scenario} with ${client} failed: ${error && error.stack ? error.stack : error}\n`)
  process.exit(1)
}

setTimeout(() => fail(new Error(`timed out after ${TIMEOUT_MS} ms`)), TIMEOUT_MS).unref()

// -- kafkajs ---------------------------------------------------------------------------------

async function kafkajs () {
  const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs')
  CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy')
  const kafka = new Kafka({ clientId: `kafkajs-${scenario}`, brokers: [bootstrap], logLevel: logLevel.WARN, retry: { retries: 3 } })
  const codecs = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP, snappy: CompressionTypes.Snappy }

  async function consumeAll (groupId, expected, { fromBeginning = true } = {}) {
    const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1000 })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning })
    const values = []
    await new Promise((resolve, reject) => {
      consumer.on(consumer.events.CRASH, e => reject(e.payload.error))
      consumer.run({
        eachMessage: async ({ partition, message }) => {
          values.push({ partition, offset: Number(message.offset), value: message.value.toString() })
          if (values.length >= expected) resolve()
        }
      }).catch(reject)
    })
    await consumer.disconnect()
    return values
  }

  if (scenario === 'produce') {
    const producer = kafka.producer()
    await producer.connect()
    const messages = Array.from({ length: 10 }, (_, i) => ({ key: `key-${i}`, value: `value-${i}` }))
    const sent = await producer.send({ topic, messages, compression: codecs[arg || 'none'] })
    await producer.disconnect()
    done({ sent: sent.length, errors: sent.map(r => r.errorCode) })
  }
  if (scenario === 'consume') {
    done({ values: await consumeAll(`${topic}-kafkajs`, Number(arg)) })
  }
  if (scenario === 'group-member') {
    // One member of a two-member group: once it holds one partition of the two, it reads for a
    // while and reports what it was assigned and everything it read.
    const consumer = kafka.consumer({ groupId: `${topic}-pair`, sessionTimeout: 10_000, heartbeatInterval: 500 })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    const values = []
    let assigned = []
    await new Promise((resolve, reject) => {
      const check = () => {
        if (assigned.length === 1) setTimeout(resolve, Number(arg))
      }
      consumer.on(consumer.events.GROUP_JOIN, e => { assigned = e.payload.memberAssignment[topic] || []; check() })
      consumer.on(consumer.events.CRASH, e => reject(e.payload.error))
      consumer.run({
        eachMessage: async ({ partition, message }) => {
          values.push({ partition, value: message.value.toString() })
          check()
        }
      }).catch(reject)
    })
    await consumer.disconnect()
    done({ assigned, values })
  }
  if (scenario === 'out-of-range') {
    // The group's committed offset is past the log end: the consumer must reset and read all.
    const admin = kafka.admin()
    await admin.connect()
    await admin.setOffsets({ groupId: `${topic}-oor`, topic, partitions: [{ partition: 0, offset: '1000' }] })
    await admin.disconnect()
    done({ values: await consumeAll(`${topic}-oor`, Number(arg)) })
  }
  if (scenario === 'reset-after-leave') {
    // Consume, leave, and reset the group's offsets at once (the admin checks it is empty).
    const values = await consumeAll(`${topic}-reset`, Number(arg))
    const admin = kafka.admin()
    await admin.connect()
    await admin.resetOffsets({ groupId: `${topic}-reset`, topic, earliest: true })
    const offsets = await admin.fetchOffsets({ groupId: `${topic}-reset`, topics: [topic] })
    await admin.disconnect()
    done({ read: values.length, committed: offsets[0].partitions.map(p => Number(p.offset)) })
  }
  if (scenario === 'alter-configs') {
    const admin = kafka.admin()
    await admin.connect()
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: 2, name: topic, configEntries: [{ name: 'retention.ms', value: arg }] }]
    })
    const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: topic, configNames: ['retention.ms'] }] })
    await admin.disconnect()
    done({ value: described.resources[0].configEntries[0].configValue })
  }
  fail(new Error(`unknown scenario ${scenario}`))
}

// -- @platformatic/kafka -----------------------------------------------------------------------

async function platformatic () {
  const { Producer, Consumer, Admin, stringSerializers, stringDeserializers, compatibilityPartitioner } = require('@platformatic/kafka')
  const base = { clientId: `platformatic-${scenario}`, bootstrapBrokers: [bootstrap] }

  async function consumeAll (groupId, expected) {
    const consumer = new Consumer({ ...base, groupId, deserializers: stringDeserializers, sessionTimeout: 10_000, heartbeatInterval: 500 })
    const stream = await consumer.consume({ topics: [topic], mode: 'committed', fallbackMode: 'earliest', autocommit: true })
    const values = []
    for await (const message of stream) {
      values.push({ partition: message.partition, offset: Number(message.offset), value: message.value })
      if (values.length >= expected) break
    }
    await stream.close()
    await consumer.close()
    return values
  }

  if (scenario === 'produce') {
    // compatibilityPartitioner is Java's (murmur2 & 0x7fffffff); the default one differs.
    const producer = new Producer({ ...base, serializers: stringSerializers, compression: arg || 'none', partitioner: compatibilityPartitioner })
    const messages = Array.from({ length: 10 }, (_, i) => ({ topic, key: `key-${i}`, value: `value-${i}` }))
    const result = await producer.send({ messages })
    await producer.close()
    done({ sent: (result.offsets || []).length })
  }
  if (scenario === 'consume') {
    done({ values: await consumeAll(`${topic}-platformatic`, Number(arg)) })
  }
  if (scenario === 'group-member') {
    // As kafkajs's: one member of two, reporting its one partition and what it read.
    const consumer = new Consumer({ ...base, groupId: `${topic}-pair`, deserializers: stringDeserializers, sessionTimeout: 10_000, heartbeatInterval: 500 })
    let assigned = []
    let timer = null
    const finished = new Promise(resolve => {
      consumer.on('consumer:group:join', ({ assignments }) => {
        assigned = (assignments || []).filter(a => a.topic === topic).flatMap(a => a.partitions)
        if (assigned.length === 1 && !timer) timer = setTimeout(resolve, Number(arg))
      })
    })
    const stream = await consumer.consume({ topics: [topic], mode: 'committed', fallbackMode: 'earliest', autocommit: 100 })
    const values = []
    stream.on('data', message => values.push({ partition: message.partition, value: message.value }))
    await finished
    await stream.close()
    await consumer.close()
    done({ assigned, values })
  }
  if (scenario === 'alter-configs') {
    const admin = new Admin(base)
    await admin.incrementalAlterConfigs({
      resources: [{ resourceType: 2, resourceName: topic, configs: [{ name: 'retention.ms', configOperation: 0, value: arg }] }]
    })
    const described = await admin.describeConfigs({ resources: [{ resourceType: 2, resourceName: topic, configurationKeys: ['retention.ms'] }] })
    await admin.close()
    done({ value: described[0].configs.find(c => c.name === 'retention.ms').value })
  }
  if (scenario === 'admin') {
    // Metadata, ListGroups, DescribeGroups, ListOffsets, DescribeLogDirs at their newest versions.
    const admin = new Admin(base)
    const metadata = await admin.metadata({ topics: [topic] })
    const groups = await admin.listGroups()
    const offsets = await admin.listOffsets({ topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: -1n }] }] })
    await admin.close()
    done({
      partitions: metadata.topics.get(topic).partitionsCount,
      groups: [...groups.keys()],
      logEnd: Number(offsets[0].partitions[0].offset)
    })
  }
  fail(new Error(`unknown scenario ${scenario}`))
}

const run = { kafkajs, platformatic }[client]
if (!run) fail(new Error(`unknown client ${client}`))
run().catch(fail)
