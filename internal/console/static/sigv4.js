// SigV4 (AWS4-HMAC-SHA256) signing of a request in the browser, with
// WebCrypto only: SHA-256 through crypto.subtle.digest, HMAC-SHA256 through
// crypto.subtle.importKey and sign. It signs what the AWS SDKs sign for a
// POST to a non-S3 service: the path "/", no query string, the headers
// given plus host and x-amz-date (and x-amz-security-token for session
// credentials), and the SHA-256 of the body.
//
// Browsers forbid setting the Host header: the signature uses the host the
// browser sends, location.host, and the returned headers leave it out.

const enc = new TextEncoder();

function hex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function sha256Hex(text) {
  return hex(await crypto.subtle.digest('SHA-256', enc.encode(text)));
}

async function hmac(key, msg) {
  const raw = typeof key === 'string' ? enc.encode(key) : key;
  const k = await crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return crypto.subtle.sign('HMAC', k, enc.encode(msg));
}

// amzDate formats a time as SigV4's basic ISO 8601 form, 20060102T150405Z.
export function amzDate(d) {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

// sign returns the headers to send (without host) for a POST of body to
// "/" on host, for the service and region, with creds
// ({accessKeyId, secretAccessKey, sessionToken}).
export async function sign({ host, headers, body, creds, region, service, now = new Date() }) {
  const date = amzDate(now);
  const day = date.slice(0, 8);
  const h = {};
  for (const [k, v] of Object.entries(headers)) h[k.toLowerCase()] = String(v);
  h.host = host;
  h['x-amz-date'] = date;
  if (creds.sessionToken) h['x-amz-security-token'] = creds.sessionToken;
  const names = Object.keys(h).sort();
  const canonicalHeaders = names.map((n) => `${n}:${h[n].trim().replace(/\s+/g, ' ')}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = ['POST', '/', '', canonicalHeaders, signedHeaders, await sha256Hex(body)].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', date, scope, await sha256Hex(canonicalRequest)].join('\n');
  let key = await hmac('AWS4' + creds.secretAccessKey, day);
  key = await hmac(key, region);
  key = await hmac(key, service);
  key = await hmac(key, 'aws4_request');
  const signature = hex(await hmac(key, stringToSign));
  const out = { ...h };
  delete out.host;
  out.authorization = `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return out;
}
