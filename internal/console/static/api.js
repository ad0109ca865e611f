// A client for Trent's KMS (awsJson1.1), IAM and STS (awsQuery) APIs on
// the console's own origin, signing every request with SigV4.

import { sign } from './sigv4.js';

// APIError is an error answered by the API: code is AWS's error code
// ("NotFoundException", "AccessDenied"), message its message.
export class APIError extends Error {
  constructor(code, message, status) {
    super(message || code);
    this.code = code;
    this.status = status;
  }
  toString() {
    return this.message && this.message !== this.code ? `${this.code}: ${this.message}` : this.code;
  }
}

const versions = { iam: '2010-05-08', sts: '2011-06-15' };

export class Client {
  // creds: {accessKeyId, secretAccessKey, sessionToken}; region: the KMS
  // and STS region. IAM is always signed for us-east-1, as its global
  // endpoint is.
  constructor(creds, region) {
    this.creds = creds;
    this.region = region;
  }

  async post(service, region, headers, body) {
    const signed = await sign({ host: location.host, headers, body, creds: this.creds, region, service });
    return fetch('/', { method: 'POST', headers: signed, body, credentials: 'omit', cache: 'no-store', redirect: 'error' });
  }

  // kms calls the KMS operation op with input and returns the decoded
  // response, or throws an APIError.
  kms(op, input = {}) {
    return this.json('TrentService.' + op, input);
  }

  // admin calls one of Trent's own operations (TrentAdmin.SearchAudit,
  // GetRequestCounts, GetUsageReport; docs/audit.md), signed like KMS.
  admin(op, input = {}) {
    return this.json('TrentAdmin.' + op, input);
  }

  async json(target, input) {
    const body = JSON.stringify(input);
    const res = await this.post('kms', this.region, {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': target,
    }, body);
    const text = await res.text();
    let data = {};
    try {
      data = text ? JSON.parse(text) : {};
    } catch {
      throw new APIError('InvalidResponse', `HTTP ${res.status}`, res.status);
    }
    if (!res.ok) {
      const type = String(data.__type || 'UnknownError');
      throw new APIError(type.slice(type.lastIndexOf('#') + 1), data.message || data.Message || '', res.status);
    }
    return data;
  }

  // kmsAll follows NextMarker until Truncated is false and returns the
  // concatenated lists under field.
  async kmsAll(op, input, field) {
    const all = [];
    let marker;
    for (;;) {
      const out = await this.kms(op, marker ? { ...input, Marker: marker } : input);
      all.push(...(out[field] || []));
      if (!out.Truncated || !out.NextMarker) return all;
      marker = out.NextMarker;
    }
  }

  // query calls an IAM or STS action (service "iam" or "sts") with params
  // and returns the response's XML document, or throws an APIError.
  async query(service, action, params = {}) {
    const form = new URLSearchParams({ Action: action, Version: versions[service] });
    for (const [k, v] of Object.entries(params)) form.append(k, v);
    const region = service === 'iam' ? 'us-east-1' : this.region;
    const res = await this.post(service, region, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, form.toString());
    const doc = new DOMParser().parseFromString(await res.text(), 'application/xml');
    if (!res.ok) {
      throw new APIError(text(doc, 'Code') || `HTTP ${res.status}`, text(doc, 'Message'), res.status);
    }
    return doc;
  }

  iam(action, params) {
    return this.query('iam', action, params);
  }

  sts(action, params) {
    return this.query('sts', action, params);
  }
}

// text returns the text of the first element named name under node, or "".
export function text(node, name) {
  const e = node.getElementsByTagName(name)[0];
  return e ? e.textContent : '';
}

// members returns, for the first list element named listName under node,
// its <member> children as objects of their child elements' texts.
export function members(node, listName) {
  const list = node.getElementsByTagName(listName)[0];
  if (!list) return [];
  return Array.from(list.children).filter((m) => m.tagName === 'member').map((m) => {
    const o = {};
    for (const c of m.children) o[c.tagName] = c.textContent;
    return o;
  });
}
