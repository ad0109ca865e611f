// Interop driver for the AWS Encryption SDK for JavaScript (Node.js),
// used by cmd/trent's TestESDKInterop. Usage: node esdk.js JOBS.json
//
// JOBS.json: [{op: "encrypt"|"decrypt", suite (number, encrypt), frameLength,
// keys: [key ARNs], context: {k: v}, policy: "REQUIRE_ENCRYPT_ALLOW_DECRYPT"...,
// in, out}]. Prints one JSON line per job: {ok: true} or {ok: false, error}.
//
// The KMS client gets the endpoint from AWS_ENDPOINT_URL explicitly through
// a client provider (getClient), so the test does not depend on whether
// this version of the AWS SDK for JavaScript reads that variable itself.
'use strict'
const fs = require('fs')
const { buildClient, KmsKeyringNode, getClient, KMS } = require('@aws-crypto/client-node')

const endpoint = process.env.AWS_ENDPOINT_URL
if (!endpoint) throw new Error('AWS_ENDPOINT_URL is not set')
const clientProvider = getClient(KMS, { endpoint })

async function run (job) {
  const client = buildClient({ commitmentPolicy: job.policy, maxEncryptedDataKeys: 10 })
  const input = fs.readFileSync(job.in)
  if (job.op === 'encrypt') {
    const keyring = new KmsKeyringNode({ clientProvider, generatorKeyId: job.keys[0], keyIds: job.keys.slice(1) })
    const { result } = await client.encrypt(keyring, input, {
      suiteId: job.suite, frameLength: job.frameLength, encryptionContext: job.context
    })
    fs.writeFileSync(job.out, result)
    return
  }
  const keyring = new KmsKeyringNode({ clientProvider, keyIds: job.keys })
  const { plaintext, messageHeader } = await client.decrypt(keyring, input)
  for (const [k, v] of Object.entries(job.context || {})) {
    if (messageHeader.encryptionContext[k] !== v) throw new Error(`encryption context lacks ${k}=${v}`)
  }
  fs.writeFileSync(job.out, plaintext)
}

async function main () {
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
  for (const job of jobs) {
    try {
      await run(job)
      console.log(JSON.stringify({ ok: true }))
    } catch (e) {
      console.log(JSON.stringify({ ok: false, error: String(e && e.message || e) }))
    }
  }
}
main().catch(e => { console.error(e); process.exit(1) })
