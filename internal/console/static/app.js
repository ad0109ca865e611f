// Trent's web console: a single-page client of Trent's KMS, IAM and STS
// APIs. Every call is signed in the browser with the credentials typed at
// sign-in, which stay in this module's memory only (never in storage or
// cookies) and are gone when the tab closes or on sign-out.

import { APIError, Client, members, text } from './api.js';
import { buildKeyPolicy, diffLines } from './policy.js';
import { barChart, columnChart } from './charts.js';

let client = null; // the signed-in Client, or null
let identity = null; // {arn, account, partition}

const main = document.getElementById('main');

// el builds an element. Attributes starting with "on" are listeners;
// children are nodes or strings (set as text, never parsed as HTML).
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

let uid = 0;
// field returns a labelled control: a div holding a label and the control.
function field(label, control, hint) {
  if (!control.id) control.id = 'f' + ++uid;
  const parts = [el('label', { for: control.id, text: label }), control];
  if (hint) {
    const h = el('span', { class: 'note', id: control.id + '-hint', text: hint });
    control.setAttribute('aria-describedby', h.id);
    parts.push(h);
  }
  return el('div', { class: 'field' }, parts);
}

// errorBox returns the element that shows an action's error, beside it.
function errorBox(id) {
  return el('p', { class: 'error', id, role: 'alert' });
}

// act runs fn for a button: the button is disabled meanwhile, and an error
// is shown in errBox as AWS's code and message.
async function act(button, errBox, fn) {
  errBox.textContent = '';
  button.disabled = true;
  try {
    return await fn();
  } catch (e) {
    errBox.textContent = e instanceof APIError ? e.toString() : String(e.message || e);
    return undefined;
  } finally {
    button.disabled = false;
  }
}

function show(title, ...content) {
  main.replaceChildren(el('h1', { text: title }), ...content);
  document.title = `${title} – Trent console`;
  main.focus();
}

function fmtDate(v) {
  if (v === undefined || v === null || v === '') return '–';
  const d = typeof v === 'number' ? new Date(v * 1000) : new Date(v);
  return isNaN(d) ? String(v) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

function table(headers, rows, caption) {
  return el('table', {},
    caption ? el('caption', { class: 'note', text: caption }) : null,
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c) => el('td', {}, c ?? '–'))))));
}

// ---- Sign-in ----

function signInPage() {
  const akid = el('input', { id: 'access-key-id', autocomplete: 'off', spellcheck: 'false', required: true });
  const secret = el('input', { id: 'secret-access-key', type: 'password', autocomplete: 'off', required: true });
  const token = el('textarea', { id: 'session-token', rows: 3, autocomplete: 'off', spellcheck: 'false' });
  const region = el('input', { id: 'signin-region', value: 'us-east-1', autocomplete: 'off' });
  const err = errorBox('signin-error');
  const btn = el('button', { id: 'signin', class: 'primary', type: 'submit', text: 'Sign in' });
  const form = el('form', { 'aria-label': 'Sign in' },
    field('Access key ID', akid),
    field('Secret access key', secret),
    field('Session token (for temporary credentials)', token, 'Leave empty for a long-term access key.'),
    field('Region', region),
    el('div', { class: 'row' }, btn), err);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(btn, err, async () => {
      const c = new Client({
        accessKeyId: akid.value.trim(),
        secretAccessKey: secret.value,
        sessionToken: token.value.trim() || undefined,
      }, region.value.trim() || 'us-east-1');
      const doc = await c.sts('GetCallerIdentity');
      const arn = text(doc, 'Arn');
      client = c;
      identity = { arn, account: text(doc, 'Account'), partition: arn.split(':')[1] || 'aws' };
      secret.value = '';
      token.value = '';
      document.getElementById('whoami').textContent = arn;
      document.getElementById('region').value = c.region;
      document.getElementById('nav').hidden = false;
      document.getElementById('session').hidden = false;
      if (location.hash === '' || location.hash === '#/' || location.hash === '#/signin') location.hash = '#/keys';
      else route();
    });
  });
  show('Sign in to Trent', el('p', { class: 'note', text: 'Credentials stay in this tab\'s memory and are sent nowhere but as request signatures to this server.' }), form);
}

function signOut() {
  client = null;
  identity = null;
  document.getElementById('nav').hidden = true;
  document.getElementById('session').hidden = true;
  document.getElementById('whoami').textContent = '';
  location.hash = '#/signin';
  signInPage();
}

// ---- Keys ----

async function loadKeys() {
  const [keys, aliases] = await Promise.all([
    client.kmsAll('ListKeys', {}, 'Keys'),
    client.kmsAll('ListAliases', {}, 'Aliases'),
  ]);
  const byKey = {};
  for (const a of aliases) if (a.TargetKeyId) (byKey[a.TargetKeyId] ||= []).push(a.AliasName);
  const out = [];
  await Promise.all(keys.map(async (k) => {
    try {
      const d = await client.kms('DescribeKey', { KeyId: k.KeyId });
      out.push({ meta: d.KeyMetadata, aliases: byKey[k.KeyId] || [] });
    } catch (e) {
      out.push({ meta: { KeyId: k.KeyId, Arn: k.KeyArn }, aliases: byKey[k.KeyId] || [], error: e });
    }
  }));
  out.sort((a, b) => (a.meta.CreationDate || 0) - (b.meta.CreationDate || 0) || a.meta.KeyId.localeCompare(b.meta.KeyId));
  return out;
}

function keyType(m) {
  if (!m.KeySpec) return '–';
  return m.KeySpec === 'SYMMETRIC_DEFAULT' || m.KeySpec.startsWith('HMAC_') ? 'Symmetric' : 'Asymmetric';
}

async function keysPage(manager) {
  const title = manager === 'AWS' ? 'AWS managed keys' : 'Customer managed keys';
  const err = errorBox('keys-error');
  show(title, el('p', { class: 'note', text: 'Loading…' }), err);
  let keys;
  try {
    keys = (await loadKeys()).filter((k) => (k.meta.KeyManager || 'CUSTOMER') === manager);
  } catch (e) {
    show(title, err);
    err.textContent = e.toString();
    return;
  }
  const q = el('input', { id: 'filter-text', type: 'search', placeholder: 'alias or key ID' });
  const states = ['', 'Enabled', 'Disabled', 'PendingDeletion', 'PendingImport', 'Unavailable'];
  const state = el('select', { id: 'filter-state' }, states.map((s) => el('option', { value: s, text: s || 'Any state' })));
  const specs = [...new Set(keys.map((k) => k.meta.KeySpec).filter(Boolean))].sort();
  const spec = el('select', { id: 'filter-spec' }, ['', ...specs].map((s) => el('option', { value: s, text: s || 'Any key spec' })));
  const tag = el('input', { id: 'filter-tag', placeholder: 'key=value' });
  const apply = el('button', { id: 'filter-apply', type: 'button', text: 'Apply filters' });
  const ferr = errorBox('filter-error');
  const holder = el('div', { id: 'keys-table' });
  const tagCache = {};
  async function render() {
    let list = keys.filter((k) => {
      const t = q.value.trim().toLowerCase();
      if (t && !k.meta.KeyId.toLowerCase().includes(t) && !k.aliases.some((a) => a.toLowerCase().includes(t))) return false;
      if (state.value && k.meta.KeyState !== state.value) return false;
      if (spec.value && k.meta.KeySpec !== spec.value) return false;
      return true;
    });
    const tv = tag.value.trim();
    if (tv) {
      const [tk, ...rest] = tv.split('=');
      const want = rest.join('=');
      await Promise.all(list.map(async (k) => {
        if (!tagCache[k.meta.KeyId]) {
          tagCache[k.meta.KeyId] = (await client.kmsAll('ListResourceTags', { KeyId: k.meta.KeyId }, 'Tags'));
        }
      }));
      list = list.filter((k) => tagCache[k.meta.KeyId].some((x) => x.TagKey === tk && (rest.length === 0 || x.TagValue === want)));
    }
    const cols = manager === 'AWS' ? ['Aliases', 'Key ID', 'Status'] : ['Aliases', 'Key ID', 'Status', 'Key type', 'Key spec', 'Key usage'];
    const rows = list.map((k) => {
      const m = k.meta;
      const r = [k.aliases.join(', ') || '–', el('a', { href: '#/keys/' + encodeURIComponent(m.KeyId), text: m.KeyId }),
        k.error ? k.error.toString() : m.KeyState];
      if (manager !== 'AWS') r.push(keyType(m), m.KeySpec || '–', m.KeyUsage || '–');
      return r;
    });
    holder.replaceChildren(table(cols, rows, `${rows.length} of ${keys.length} keys`));
  }
  apply.addEventListener('click', () => act(apply, ferr, render));
  q.addEventListener('input', () => render().catch((e) => { ferr.textContent = e.toString(); }));
  state.addEventListener('change', () => render().catch((e) => { ferr.textContent = e.toString(); }));
  spec.addEventListener('change', () => render().catch((e) => { ferr.textContent = e.toString(); }));
  show(title,
    el('div', { class: 'row', role: 'search' }, field('Filter by alias or key ID', q), field('Key state', state), field('Key spec', spec), field('Tag', tag, 'key or key=value'), apply),
    ferr, holder);
  await render();
}

// ---- Key detail ----

function tabs(defs, selected) {
  const list = el('div', { role: 'tablist', 'aria-label': 'Key details' });
  const panels = el('div');
  const buttons = [];
  defs.forEach((d, i) => {
    const b = el('button', { type: 'button', role: 'tab', id: 'tab-' + d.id, 'aria-controls': 'panel-' + d.id, text: d.label });
    const p = el('section', { role: 'tabpanel', id: 'panel-' + d.id, 'aria-labelledby': b.id, tabindex: '0', hidden: true });
    let loaded = false;
    const select = () => {
      buttons.forEach((x) => { x.setAttribute('aria-selected', 'false'); x.tabIndex = -1; });
      [...panels.children].forEach((x) => { x.hidden = true; });
      b.setAttribute('aria-selected', 'true');
      b.tabIndex = 0;
      p.hidden = false;
      if (!loaded) {
        loaded = true;
        d.render(p);
      }
    };
    b.addEventListener('click', select);
    b.addEventListener('keydown', (ev) => {
      const n = ev.key === 'ArrowRight' ? 1 : ev.key === 'ArrowLeft' ? -1 : 0;
      if (!n) return;
      const next = buttons[(i + n + buttons.length) % buttons.length];
      next.focus();
      next.click();
    });
    b._select = select;
    buttons.push(b);
    list.append(b);
    panels.append(p);
  });
  (buttons.find((b) => b.id === 'tab-' + selected) || buttons[0])._select();
  return [list, panels];
}

async function loadInto(panel, fn) {
  const err = errorBox(panel.id + '-error');
  panel.replaceChildren(el('p', { class: 'note', text: 'Loading…' }));
  try {
    await fn();
  } catch (e) {
    panel.replaceChildren(err);
    err.textContent = e instanceof APIError ? e.toString() : String(e);
  }
}

async function keyPage(keyId, tab) {
  const err = errorBox('key-error');
  let meta;
  try {
    meta = (await client.kms('DescribeKey', { KeyId: keyId })).KeyMetadata;
  } catch (e) {
    show(keyId, err);
    err.textContent = e.toString();
    return;
  }
  let aliases = [];
  try {
    aliases = (await client.kmsAll('ListAliases', { KeyId: meta.KeyId }, 'Aliases')).map((a) => a.AliasName);
  } catch { /* shown on the Aliases tab */ }
  const reload = (t) => keyPage(meta.KeyId, t);

  const actionErr = errorBox('action-error');
  const actions = el('div', { class: 'row', role: 'group', 'aria-label': 'Key actions' });
  const confirmBox = el('div');
  const customer = meta.KeyManager !== 'AWS';
  if (customer) {
    if (meta.KeyState === 'Enabled') {
      const b = el('button', { id: 'disable-key', type: 'button', text: 'Disable' });
      b.addEventListener('click', () => act(b, actionErr, async () => { await client.kms('DisableKey', { KeyId: meta.KeyId }); reload(); }));
      actions.append(b);
    }
    if (meta.KeyState === 'Disabled') {
      const b = el('button', { id: 'enable-key', type: 'button', text: 'Enable' });
      b.addEventListener('click', () => act(b, actionErr, async () => { await client.kms('EnableKey', { KeyId: meta.KeyId }); reload(); }));
      actions.append(b);
    }
    if (meta.KeyState === 'PendingDeletion') {
      const b = el('button', { id: 'cancel-deletion', type: 'button', text: 'Cancel key deletion' });
      b.addEventListener('click', () => act(b, actionErr, async () => { await client.kms('CancelKeyDeletion', { KeyId: meta.KeyId }); reload(); }));
      actions.append(b);
    } else {
      const b = el('button', { id: 'schedule-deletion', type: 'button', class: 'danger', text: 'Schedule key deletion' });
      b.addEventListener('click', () => confirmBox.replaceChildren(deletionConfirm(meta, actionErr, reload)));
      actions.append(b);
    }
  }

  const general = el('dl', { id: 'general' },
    el('dt', { text: 'Aliases' }), el('dd', { id: 'key-aliases', text: aliases.join(', ') || '–' }),
    el('dt', { text: 'Key ID' }), el('dd', { id: 'key-id', text: meta.KeyId }),
    el('dt', { text: 'ARN' }), el('dd', { text: meta.Arn }),
    el('dt', { text: 'Status' }), el('dd', { id: 'key-state', text: meta.KeyState }),
    el('dt', { text: 'Description' }), el('dd', { text: meta.Description || '–' }),
    el('dt', { text: 'Creation date' }), el('dd', { text: fmtDate(meta.CreationDate) }),
    el('dt', { text: 'Key manager' }), el('dd', { text: meta.KeyManager === 'AWS' ? 'AWS managed' : 'Customer managed' }),
    meta.DeletionDate ? [el('dt', { text: 'Scheduled deletion date' }), el('dd', { id: 'deletion-date', text: fmtDate(meta.DeletionDate) })] : null,
    meta.PendingDeletionWindowInDays ? [el('dt', { text: 'Waiting period' }), el('dd', { text: meta.PendingDeletionWindowInDays + ' days' })] : null);

  const asymmetric = keyType(meta) === 'Asymmetric';
  const defs = [
    { id: 'policy', label: 'Key policy', render: (p) => policyTab(p, meta, customer) },
    { id: 'crypto', label: 'Cryptographic configuration', render: (p) => cryptoTab(p, meta) },
    asymmetric ? { id: 'public-key', label: 'Public key', render: (p) => publicKeyTab(p, meta) } : null,
    { id: 'rotation', label: 'Key rotation', render: (p) => rotationTab(p, meta) },
    { id: 'aliases', label: 'Aliases', render: (p) => aliasesTab(p, meta, customer) },
    { id: 'tags', label: 'Tags', render: (p) => tagsTab(p, meta, customer) },
    { id: 'grants', label: 'Grants', render: (p) => grantsTab(p, meta) },
  ].filter(Boolean);
  show(aliases[0] || meta.KeyId, actions, actionErr, confirmBox,
    el('h2', { text: 'General configuration' }), general, ...tabs(defs, tab));
}

function deletionConfirm(meta, actionErr, reload) {
  const days = el('input', { id: 'waiting-period', type: 'number', min: 7, max: 30, value: 30 });
  const what = el('p', { id: 'deletion-warning' });
  const check = el('input', { id: 'confirm-deletion', type: 'checkbox' });
  const checkLabel = el('label', { for: check.id });
  const update = () => {
    what.textContent = `After a waiting period of ${days.value} days, the key ${meta.KeyId} and all its key material are deleted. Data encrypted under it can no longer be decrypted. You can cancel deletion during the waiting period.`;
    checkLabel.textContent = ` Confirm that you want to schedule this key for deletion after a ${days.value}-day waiting period.`;
  };
  days.addEventListener('input', update);
  update();
  const go = el('button', { id: 'confirm-schedule', type: 'button', class: 'danger', text: 'Schedule deletion' });
  const cancel = el('button', { type: 'button', text: 'Cancel' });
  const box = el('div', { class: 'confirm', role: 'dialog', 'aria-label': 'Schedule key deletion' },
    el('h2', { text: 'Schedule key deletion' }),
    field('Waiting period (in days)', days, 'Between 7 and 30 days.'), what,
    el('div', { class: 'row' }, check, checkLabel),
    el('div', { class: 'row' }, go, cancel));
  go.addEventListener('click', () => act(go, actionErr, async () => {
    if (!check.checked) throw new Error('Confirm the waiting period first.');
    await client.kms('ScheduleKeyDeletion', { KeyId: meta.KeyId, PendingWindowInDays: Number(days.value) });
    reload();
  }));
  cancel.addEventListener('click', () => box.remove());
  queueMicrotask(() => days.focus());
  return box;
}

function policyTab(panel, meta, editable) {
  return loadInto(panel, async () => {
    const current = (await client.kms('GetKeyPolicy', { KeyId: meta.KeyId, PolicyName: 'default' })).Policy;
    let pretty = current;
    try { pretty = JSON.stringify(JSON.parse(current), null, 2); } catch { /* shown as stored */ }
    const area = el('textarea', { id: 'policy-editor', rows: 24, spellcheck: 'false', readonly: !editable });
    area.value = pretty;
    const err = errorBox('policy-error');
    const notice = el('p', { class: 'notice', id: 'policy-notice', role: 'status' });
    const diff = el('div', { id: 'policy-diff' });
    const review = el('button', { id: 'policy-review', type: 'button', text: 'Review changes' });
    const save = el('button', { id: 'policy-save', type: 'button', class: 'primary', text: 'Save changes', disabled: true });
    let reviewed = null;
    review.addEventListener('click', () => act(review, err, async () => {
      notice.textContent = '';
      save.disabled = true;
      reviewed = null;
      let doc;
      try {
        doc = JSON.parse(area.value);
      } catch (e) {
        diff.replaceChildren();
        throw new Error('The policy is not valid JSON: ' + e.message);
      }
      const next = JSON.stringify(doc, null, 2);
      const lines = diffLines(pretty, next);
      const changed = lines.some((l) => l.op !== ' ');
      diff.replaceChildren(el('h3', { text: changed ? 'Changes' : 'No changes' }),
        el('pre', { class: 'diff', 'aria-label': 'Policy changes' }, lines.filter((l) => l.op !== ' ' || changed).map((l) =>
          el('span', { class: l.op === '+' ? 'add' : l.op === '-' ? 'del' : '' }, `${l.op} ${l.line}\n`))));
      if (changed) {
        reviewed = area.value;
        save.disabled = false;
      }
    }));
    save.addEventListener('click', () => act(save, err, async () => {
      if (reviewed !== area.value) throw new Error('The policy changed since the review: review it again.');
      await client.kms('PutKeyPolicy', { KeyId: meta.KeyId, PolicyName: 'default', Policy: area.value });
      pretty = JSON.stringify(JSON.parse(area.value), null, 2);
      save.disabled = true;
      diff.replaceChildren();
      notice.textContent = 'Key policy saved.';
    }));
    panel.replaceChildren(field('Key policy (JSON)', area),
      editable ? el('div', { class: 'row' }, review, save) : el('p', { class: 'note', text: 'AWS managed keys\' policies cannot be changed.' }),
      err, notice, diff);
  });
}

function cryptoTab(panel, meta) {
  const list = (v) => (v && v.length ? v.join(', ') : '–');
  panel.replaceChildren(el('dl', {},
    el('dt', { text: 'Key type' }), el('dd', { text: keyType(meta) }),
    el('dt', { text: 'Key spec' }), el('dd', { text: meta.KeySpec }),
    el('dt', { text: 'Key usage' }), el('dd', { text: meta.KeyUsage }),
    el('dt', { text: 'Origin' }), el('dd', { text: meta.Origin }),
    el('dt', { text: 'Regionality' }), el('dd', { text: meta.MultiRegion ? 'Multi-Region' : 'Single Region' }),
    el('dt', { text: 'Encryption algorithms' }), el('dd', { text: list(meta.EncryptionAlgorithms) }),
    el('dt', { text: 'Signing algorithms' }), el('dd', { text: list(meta.SigningAlgorithms) }),
    el('dt', { text: 'MAC algorithms' }), el('dd', { text: list(meta.MacAlgorithms) }),
    el('dt', { text: 'Key agreement algorithms' }), el('dd', { text: list(meta.KeyAgreementAlgorithms) })));
}

function publicKeyTab(panel, meta) {
  return loadInto(panel, async () => {
    const out = await client.kms('GetPublicKey', { KeyId: meta.KeyId });
    const b64 = out.PublicKey;
    const pem = '-----BEGIN PUBLIC KEY-----\n' + b64.match(/.{1,64}/g).join('\n') + '\n-----END PUBLIC KEY-----\n';
    const url = URL.createObjectURL(new Blob([pem], { type: 'application/x-pem-file' }));
    panel.replaceChildren(el('pre', { id: 'public-key' }, pem),
      el('a', { href: url, download: `${meta.KeyId}.pem`, id: 'public-key-download', text: 'Download public key (PEM)' }));
  });
}

function rotationTab(panel, meta) {
  return loadInto(panel, async () => {
    let status;
    try {
      status = await client.kms('GetKeyRotationStatus', { KeyId: meta.KeyId });
    } catch (e) {
      if (e instanceof APIError && e.code === 'UnknownOperationException') {
        panel.replaceChildren(el('p', { id: 'rotation-unavailable', class: 'note', text: 'Key rotation is not available on this server (GetKeyRotationStatus is not served).' }));
        return;
      }
      throw e;
    }
    const parts = [el('dl', {},
      el('dt', { text: 'Automatic rotation' }), el('dd', { id: 'rotation-status', text: status.KeyRotationEnabled ? 'Enabled' : 'Disabled' }),
      el('dt', { text: 'Rotation period' }), el('dd', { text: status.RotationPeriodInDays ? status.RotationPeriodInDays + ' days' : '–' }),
      el('dt', { text: 'Next rotation date' }), el('dd', { text: fmtDate(status.NextRotationDate) }))];
    try {
      const rot = await client.kmsAll('ListKeyRotations', { KeyId: meta.KeyId }, 'Rotations');
      parts.push(el('h3', { text: 'Rotation history' }), table(['Rotation date', 'Type'], rot.map((r) => [fmtDate(r.RotationDate), r.RotationType])));
    } catch (e) {
      parts.push(el('p', { class: 'note', text: 'Rotation history: ' + (e.code === 'UnknownOperationException' ? 'not available on this server.' : e.toString()) }));
    }
    panel.replaceChildren(...parts);
  });
}

function aliasesTab(panel, meta, editable) {
  return loadInto(panel, async () => {
    const list = await client.kmsAll('ListAliases', { KeyId: meta.KeyId }, 'Aliases');
    const err = errorBox('alias-error');
    const rows = list.map((a) => {
      const del = el('button', { type: 'button', class: 'danger', text: 'Delete', 'aria-label': 'Delete ' + a.AliasName });
      del.addEventListener('click', () => act(del, err, async () => { await client.kms('DeleteAlias', { AliasName: a.AliasName }); keyPage(meta.KeyId, 'aliases'); }));
      return [a.AliasName, a.AliasArn, fmtDate(a.CreationDate), editable ? del : '–'];
    });
    const name = el('input', { id: 'new-alias', placeholder: 'alias/example' });
    const add = el('button', { id: 'create-alias', type: 'button', text: 'Create alias' });
    add.addEventListener('click', () => act(add, err, async () => {
      let n = name.value.trim();
      if (!n.startsWith('alias/')) n = 'alias/' + n;
      await client.kms('CreateAlias', { AliasName: n, TargetKeyId: meta.KeyId });
      keyPage(meta.KeyId, 'aliases');
    }));
    panel.replaceChildren(table(['Alias name', 'Alias ARN', 'Creation date', 'Actions'], rows),
      editable ? el('div', { class: 'row' }, field('Alias name', name), add) : null, err);
  });
}

function tagsTab(panel, meta, editable) {
  return loadInto(panel, async () => {
    const tags = await client.kmsAll('ListResourceTags', { KeyId: meta.KeyId }, 'Tags');
    const err = errorBox('tag-error');
    const rows = tags.map((t) => {
      const del = el('button', { type: 'button', class: 'danger', text: 'Remove', 'aria-label': 'Remove tag ' + t.TagKey });
      del.addEventListener('click', () => act(del, err, async () => { await client.kms('UntagResource', { KeyId: meta.KeyId, TagKeys: [t.TagKey] }); keyPage(meta.KeyId, 'tags'); }));
      return [t.TagKey, t.TagValue, editable ? del : '–'];
    });
    const k = el('input', { id: 'new-tag-key' });
    const v = el('input', { id: 'new-tag-value' });
    const add = el('button', { id: 'add-tag', type: 'button', text: 'Add tag' });
    add.addEventListener('click', () => act(add, err, async () => {
      await client.kms('TagResource', { KeyId: meta.KeyId, Tags: [{ TagKey: k.value, TagValue: v.value }] });
      keyPage(meta.KeyId, 'tags');
    }));
    panel.replaceChildren(table(['Tag key', 'Tag value', 'Actions'], rows, `${tags.length} tags`),
      editable ? el('div', { class: 'row' }, field('Tag key', k), field('Tag value', v), add) : null, err);
  });
}

function grantsTab(panel, meta) {
  return loadInto(panel, async () => {
    const grants = await client.kmsAll('ListGrants', { KeyId: meta.KeyId }, 'Grants');
    panel.replaceChildren(table(['Grant ID', 'Name', 'Grantee principal', 'Retiring principal', 'Operations', 'Creation date'],
      grants.map((g) => [g.GrantId, g.Name || '–', g.GranteePrincipal, g.RetiringPrincipal || '–', (g.Operations || []).join(', '), fmtDate(g.CreationDate)]),
      `${grants.length} grants`));
  });
}

// ---- Create key wizard ----

const specsByUsage = {
  'Symmetric/ENCRYPT_DECRYPT': ['SYMMETRIC_DEFAULT'],
  'Symmetric/GENERATE_VERIFY_MAC': ['HMAC_224', 'HMAC_256', 'HMAC_384', 'HMAC_512'],
  'Asymmetric/ENCRYPT_DECRYPT': ['RSA_2048', 'RSA_3072', 'RSA_4096', 'SM2'],
  'Asymmetric/SIGN_VERIFY': ['RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'ECC_SECG_P256K1', 'ECC_NIST_EDWARDS25519', 'ML_DSA_44', 'ML_DSA_65', 'ML_DSA_87', 'SM2'],
  'Asymmetric/KEY_AGREEMENT': ['ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'SM2'],
};
const usageLabels = {
  ENCRYPT_DECRYPT: 'Encrypt and decrypt', GENERATE_VERIFY_MAC: 'Generate and verify MAC',
  SIGN_VERIFY: 'Sign and verify', KEY_AGREEMENT: 'Key agreement',
};

function radios(name, legend, options, value) {
  return el('fieldset', {}, el('legend', { text: legend }), options.map(([v, label]) => {
    const id = `${name}-${v}`;
    return el('div', {}, el('input', { type: 'radio', name, id, value: v, checked: v === value }), ' ', el('label', { for: id, text: label }));
  }));
}

async function principalsList() {
  const [users, roles] = await Promise.all([client.iam('ListUsers'), client.iam('ListRoles')]);
  return [...members(users, 'Users').map((u) => ({ name: u.UserName, arn: u.Arn, type: 'User' })),
    ...members(roles, 'Roles').map((r) => ({ name: r.RoleName, arn: r.Arn, type: 'Role' }))];
}

function createPage() {
  const state = { type: 'Symmetric', usage: 'ENCRYPT_DECRYPT', spec: 'SYMMETRIC_DEFAULT', alias: '', description: '', tags: [], admins: [], users: [], allowAdminDelete: true };
  let principals = null;
  let principalsErr = '';
  const steps = ['Configure key', 'Add labels', 'Define key administrative permissions', 'Define key usage permissions', 'Review'];
  let step = 0;
  const body = el('div');
  const err = errorBox('wizard-error');
  const back = el('button', { id: 'wizard-back', type: 'button', text: 'Previous' });
  const next = el('button', { id: 'wizard-next', type: 'button', class: 'primary', text: 'Next' });
  const heading = el('h2', { id: 'wizard-step' });

  function collect() {
    const q = (sel) => body.querySelector(sel);
    if (step === 0) {
      state.type = q('input[name=keytype]:checked').value;
      state.usage = q('input[name=keyusage]:checked')?.value || state.usage;
      state.spec = q('#key-spec').value;
    } else if (step === 1) {
      state.alias = q('#key-alias').value.trim();
      state.description = q('#key-description').value;
      state.tags = [...body.querySelectorAll('.tag-row')].map((r) => ({ TagKey: r.querySelector('.tk').value, TagValue: r.querySelector('.tv').value })).filter((t) => t.TagKey);
    } else if (step === 2) {
      state.admins = [...body.querySelectorAll('input[name=admin]:checked')].map((c) => c.value);
      state.admins.push(...q('#admin-arns').value.split(/\s+/).filter(Boolean));
      state.allowAdminDelete = q('#allow-admin-delete').checked;
    } else if (step === 3) {
      state.users = [...body.querySelectorAll('input[name=user]:checked')].map((c) => c.value);
      state.users.push(...q('#user-arns').value.split(/\s+/).filter(Boolean));
    }
  }

  function validate() {
    if (step === 1) {
      if (!state.alias) throw new Error('Enter an alias.');
      if (!/^(alias\/)?[a-zA-Z0-9/_-]+$/.test(state.alias)) throw new Error('An alias can contain only alphanumeric characters, forward slashes (/), underscores (_) and dashes (-).');
    }
  }

  function policy() {
    return buildKeyPolicy({ partition: identity.partition, account: identity.account, spec: state.spec, usage: state.usage, admins: state.admins, users: state.users, allowAdminDelete: state.allowAdminDelete });
  }

  function principalPicker(name, chosen) {
    if (principalsErr) return el('p', { class: 'error', role: 'alert', text: 'Could not list IAM users and roles: ' + principalsErr });
    return table(['', 'Name', 'Type', 'ARN'], principals.map((p) => {
      const id = `${name}-${p.type}-${p.name}`;
      return [el('input', { type: 'checkbox', name, id, value: p.arn, checked: chosen.includes(p.arn), 'aria-label': `${p.type} ${p.name}` }), el('label', { for: id, text: p.name }), p.type, p.arn];
    }));
  }

  async function render() {
    heading.textContent = `Step ${step + 1} of ${steps.length}: ${steps[step]}`;
    back.disabled = step === 0;
    next.textContent = step === steps.length - 1 ? 'Finish' : 'Next';
    next.id = step === steps.length - 1 ? 'wizard-finish' : 'wizard-next';
    if ((step === 2 || step === 3) && principals === null) {
      try { principals = await principalsList(); } catch (e) { principals = []; principalsErr = e.toString(); }
    }
    if (step === 0) {
      const usages = state.type === 'Symmetric' ? ['ENCRYPT_DECRYPT', 'GENERATE_VERIFY_MAC'] : ['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'KEY_AGREEMENT'];
      if (!usages.includes(state.usage)) state.usage = 'ENCRYPT_DECRYPT';
      const specs = specsByUsage[`${state.type}/${state.usage}`];
      if (!specs.includes(state.spec)) state.spec = specs[0];
      const specSel = el('select', { id: 'key-spec' }, specs.map((s) => el('option', { value: s, text: s, selected: s === state.spec })));
      body.replaceChildren(
        radios('keytype', 'Key type', [['Symmetric', 'Symmetric'], ['Asymmetric', 'Asymmetric']], state.type),
        radios('keyusage', 'Key usage', usages.map((u) => [u, usageLabels[u]]), state.usage),
        field('Key spec', specSel));
      body.querySelectorAll('input[type=radio]').forEach((r) => r.addEventListener('change', () => { collect(); render(); }));
    } else if (step === 1) {
      const tagRows = el('div');
      const addRow = (t = { TagKey: '', TagValue: '' }) => {
        const n = tagRows.children.length;
        tagRows.append(el('div', { class: 'row tag-row' },
          field('Tag key', el('input', { class: 'tk', id: `tag-key-${n}`, value: t.TagKey })),
          field('Tag value', el('input', { class: 'tv', id: `tag-value-${n}`, value: t.TagValue }))));
      };
      state.tags.forEach(addRow);
      if (!state.tags.length) addRow();
      const more = el('button', { type: 'button', id: 'add-tag-row', text: 'Add tag' });
      more.addEventListener('click', () => addRow());
      body.replaceChildren(
        field('Alias', el('input', { id: 'key-alias', value: state.alias }), 'For example alias/app-data; "alias/" is added if missing.'),
        field('Description', el('textarea', { id: 'key-description', rows: 2, text: state.description })),
        el('h3', { text: 'Tags' }), tagRows, more);
    } else if (step === 2) {
      body.replaceChildren(el('p', { text: 'Choose the IAM users and roles who can administer this key through the KMS API.' }),
        principalPicker('admin', state.admins),
        field('Other principals (ARNs, one a line)', el('textarea', { id: 'admin-arns', rows: 2 })),
        el('div', { class: 'row' }, el('input', { type: 'checkbox', id: 'allow-admin-delete', checked: state.allowAdminDelete }),
          el('label', { for: 'allow-admin-delete', text: 'Allow key administrators to delete this key' })));
    } else if (step === 3) {
      body.replaceChildren(el('p', { text: 'Choose the IAM users and roles who can use this key in cryptographic operations.' }),
        principalPicker('user', state.users),
        field('Other principals or AWS accounts (ARNs, one a line)', el('textarea', { id: 'user-arns', rows: 2 })));
    } else {
      const alias = state.alias.startsWith('alias/') ? state.alias : 'alias/' + state.alias;
      const pol = el('textarea', { id: 'review-policy', rows: 24, readonly: true, spellcheck: 'false' });
      pol.value = JSON.stringify(policy(), null, 2);
      body.replaceChildren(el('dl', {},
        el('dt', { text: 'Key type' }), el('dd', { text: state.type }),
        el('dt', { text: 'Key spec' }), el('dd', { text: state.spec }),
        el('dt', { text: 'Key usage' }), el('dd', { text: usageLabels[state.usage] }),
        el('dt', { text: 'Alias' }), el('dd', { text: alias }),
        el('dt', { text: 'Description' }), el('dd', { text: state.description || '–' }),
        el('dt', { text: 'Tags' }), el('dd', { text: state.tags.map((t) => `${t.TagKey}=${t.TagValue}`).join(', ') || '–' })),
      field('Key policy', pol));
    }
  }

  back.addEventListener('click', () => { collect(); step--; err.textContent = ''; render(); });
  next.addEventListener('click', () => act(next, err, async () => {
    collect();
    validate();
    if (step < steps.length - 1) {
      step++;
      await render();
      return;
    }
    const alias = state.alias.startsWith('alias/') ? state.alias : 'alias/' + state.alias;
    const input = { KeySpec: state.spec, KeyUsage: state.usage, Policy: JSON.stringify(policy(), null, 2) };
    if (state.description) input.Description = state.description;
    if (state.tags.length) input.Tags = state.tags;
    const out = await client.kms('CreateKey', input);
    const id = out.KeyMetadata.KeyId;
    try {
      await client.kms('CreateAlias', { AliasName: alias, TargetKeyId: id });
    } catch (e) {
      throw new APIError(e.code, `The key ${id} was created, but its alias was not: ${e.message}`, e.status);
    }
    location.hash = '#/keys/' + encodeURIComponent(id);
  }));
  show('Create key', heading, body, el('div', { class: 'row' }, back, next), err);
  render();
}

// ---- Identities ----

function identitiesPage() {
  const usersBox = el('div', { id: 'users' });
  const rolesBox = el('div', { id: 'roles' });
  const policiesBox = el('div', { id: 'policies' });
  show('Identities', el('h2', { text: 'Users' }), usersBox, el('h2', { text: 'Roles' }), rolesBox, el('h2', { text: 'Policies' }), policiesBox);
  loadInto(usersBox, () => usersSection(usersBox));
  loadInto(rolesBox, async () => {
    const roles = members(await client.iam('ListRoles'), 'Roles');
    rolesBox.replaceChildren(table(['Role name', 'ARN', 'Creation date'], roles.map((r) => [r.RoleName, r.Arn, fmtDate(r.CreateDate)]), `${roles.length} roles`));
  });
  loadInto(policiesBox, async () => {
    const pols = members(await client.iam('ListPolicies', { Scope: 'Local' }), 'Policies');
    policiesBox.replaceChildren(table(['Policy name', 'ARN', 'Attachments', 'Creation date'], pols.map((p) => [p.PolicyName, p.Arn, p.AttachmentCount, fmtDate(p.CreateDate)]), `${pols.length} customer managed policies`));
  });
}

async function usersSection(box) {
  const users = members(await client.iam('ListUsers'), 'Users');
  const keysBox = el('div', { id: 'access-keys' });
  const rows = users.map((u) => {
    const b = el('button', { type: 'button', text: 'Access keys', 'aria-label': 'Access keys of ' + u.UserName });
    b.addEventListener('click', () => loadInto(keysBox, () => accessKeysSection(keysBox, u.UserName)));
    return [u.UserName, u.Arn, fmtDate(u.CreateDate), b];
  });
  const name = el('input', { id: 'new-user' });
  const add = el('button', { id: 'create-user', type: 'button', text: 'Create user' });
  const err = errorBox('user-error');
  add.addEventListener('click', () => act(add, err, async () => {
    await client.iam('CreateUser', { UserName: name.value.trim() });
    loadInto(box, () => usersSection(box));
  }));
  box.replaceChildren(table(['User name', 'ARN', 'Creation date', 'Actions'], rows, `${users.length} users`),
    el('div', { class: 'row' }, field('User name', name), add), err, keysBox);
}

async function accessKeysSection(box, userName) {
  const keys = members(await client.iam('ListAccessKeys', { UserName: userName }), 'AccessKeyMetadata');
  const err = errorBox('access-key-error');
  const secretBox = el('div', { id: 'new-secret' });
  const create = el('button', { id: 'create-access-key', type: 'button', text: 'Create access key' });
  create.addEventListener('click', () => act(create, err, async () => {
    const doc = await client.iam('CreateAccessKey', { UserName: userName });
    const id = text(doc, 'AccessKeyId');
    const secret = text(doc, 'SecretAccessKey');
    const secretEl = el('code', { class: 'secret', id: 'new-secret-value', text: secret });
    const copy = el('button', { id: 'copy-secret', type: 'button', text: 'Copy secret access key' });
    const copied = el('span', { class: 'notice', role: 'status' });
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(secret);
        copied.textContent = 'Copied.';
      } catch {
        getSelection().selectAllChildren(secretEl);
        copied.textContent = 'Selected: press Ctrl+C to copy.';
      }
    });
    await accessKeysSection(box, userName);
    box.append(el('div', { class: 'confirm', id: 'secret-once', role: 'status' },
      el('p', { text: 'This is the only time the secret access key is shown. Copy it now.' }),
      el('p', {}, 'Access key ID: ', el('code', { id: 'new-access-key-id', text: id })),
      el('p', {}, 'Secret access key: ', secretEl), el('div', { class: 'row' }, copy, copied)));
  }));
  box.replaceChildren(el('h3', { text: `Access keys of ${userName}` }),
    table(['Access key ID', 'Status', 'Creation date'], keys.map((k) => [k.AccessKeyId, k.Status, fmtDate(k.CreateDate)])),
    el('div', { class: 'row' }, create), err, secretBox);
}

// ---- Usage ----

// keyFilter turns an alias name into its key's ARN (DescribeKey), since
// the audit trail names a key by its ARN and only the requests that used
// an alias name it; key IDs and ARNs are passed as they are.
async function keyFilter(v) {
  v = v.trim();
  if (!v.startsWith('alias/') && !v.includes(':alias/')) return v;
  const d = await client.kms('DescribeKey', { KeyId: v });
  return d.KeyMetadata.Arn;
}

// Time ranges of the usage page: [label, seconds, period in seconds].
const ranges = [
  ['Last 15 minutes', 900, 60],
  ['Last hour', 3600, 300],
  ['Last 24 hours', 86400, 3600],
  ['Last 7 days', 7 * 86400, 21600],
];

const keyLabel = (arn) => (arn ? arn.slice(arn.lastIndexOf('/') + 1) : '(no key)');

async function usagePage() {
  const range = el('select', { id: 'usage-range' }, ranges.map(([l], i) => el('option', { value: String(i), selected: i === 1, text: l })));
  const keyIn = el('input', { id: 'usage-key', size: 40, autocomplete: 'off', spellcheck: 'false' });
  const acctIn = el('input', { id: 'usage-account', size: 14, autocomplete: 'off' });
  const monthIn = el('input', { id: 'usage-month', type: 'month', value: new Date().toISOString().slice(0, 7) });
  const refresh = el('button', { id: 'usage-refresh', class: 'primary', type: 'submit', text: 'Refresh' });
  const form = el('form', { 'aria-label': 'Usage filters', class: 'filters' },
    field('Time range', range),
    field('Key (ID, ARN or alias name)', keyIn, 'Empty: every key.'),
    field('Account', acctIn, 'Empty: yours. Only the management account may name another, or * for all.'),
    field('Usage report month', monthIn),
    el('div', { class: 'row' }, refresh));
  const requests = el('section', { id: 'usage-requests', 'aria-labelledby': 'h-requests' });
  const report = el('section', { id: 'usage-report', 'aria-labelledby': 'h-report' });
  const keysBox = el('section', { id: 'usage-keys', 'aria-labelledby': 'h-keys' });
  show('Usage',
    el('p', { class: 'note', text: 'Requests are counted from this node\'s audit trail (TrentAdmin.GetRequestCounts); the month\'s figures are those of trent usage report (TrentAdmin.GetUsageReport). Both need the trent: actions in your identity policy, or the account\'s root user.' }),
    form, keysBox, requests, report);

  async function loadKeyCounts() {
    keysBox.replaceChildren(el('h2', { id: 'h-keys', text: 'Keys' }), el('p', { class: 'note', text: 'Loading…' }));
    let keys;
    try {
      keys = await loadKeys();
    } catch (e) {
      keysBox.replaceChildren(el('h2', { id: 'h-keys', text: 'Keys' }), el('p', { class: 'error', role: 'alert', id: 'usage-keys-error', text: e.toString() }));
      return;
    }
    const count = (f) => Object.entries(keys.reduce((m, k) => { const v = f(k); if (v) m[v] = (m[v] || 0) + 1; return m; }, {}));
    keysBox.replaceChildren(el('h2', { id: 'h-keys', text: 'Keys' }),
      el('p', { text: `${keys.length} keys in ${client.region}.` }),
      el('div', { class: 'charts' },
        barChart('Keys by state', count((k) => k.meta.KeyState || (k.error && k.error.code)), 'chart-state', ['State', 'Keys']),
        barChart('Keys by key spec', count((k) => k.meta.KeySpec), 'chart-spec', ['Key spec', 'Keys']),
        barChart('Keys by key usage', count((k) => k.meta.KeyUsage), 'chart-usage', ['Key usage', 'Keys']),
        barChart('Keys by key manager', count((k) => k.meta.KeyManager), 'chart-manager', ['Key manager', 'Keys'])));
  }

  async function loadRequests() {
    const [, seconds, period] = ranges[Number(range.value)];
    const end = Math.ceil(Date.now() / 1000 / period) * period;
    const start = end - seconds;
    const input = { StartTime: start, EndTime: end, Period: period };
    if (acctIn.value.trim()) input.AccountId = acctIn.value.trim();
    const head = el('h2', { id: 'h-requests', text: 'Requests' });
    requests.replaceChildren(head, el('p', { class: 'note', text: 'Loading…' }));
    let out;
    try {
      if (keyIn.value.trim()) input.KeyId = await keyFilter(keyIn.value);
      out = await client.admin('GetRequestCounts', input);
    } catch (e) {
      requests.replaceChildren(head, el('p', { class: 'error', role: 'alert', id: 'requests-error', text: e.toString() }));
      return;
    }
    const byOp = {};
    let total = 0;
    for (const d of out.Datapoints) {
      const k = `${d.Operation} ${d.Outcome}`;
      byOp[k] = byOp[k] || [k, 0, `outcome-${d.Outcome}`];
      byOp[k][1] += d.Count;
      total += d.Count;
    }
    const n = Math.round((out.EndTime - out.StartTime) / out.Period);
    const groups = (list, name) => list.map((g) => [name(g), g.Success + g.Denied + g.Failed]);
    requests.replaceChildren(head,
      el('p', { id: 'requests-total', text: `${total} requests from ${fmtDate(out.StartTime)} to ${fmtDate(out.EndTime)}${input.KeyId ? ' with ' + keyIn.value.trim() : ''}.` }),
      el('div', { class: 'charts' },
        columnChart('Requests over time by outcome', out.Datapoints, out.StartTime, out.Period, n, 'chart-time'),
        barChart('Requests by operation and outcome', Object.values(byOp), 'chart-ops', ['Operation and outcome', 'Requests']),
        barChart('Requests by key', groups(out.Keys.slice(0, 15), (g) => keyLabel(g.KeyArn)), 'chart-keys', ['Key', 'Requests']),
        out.Accounts.length > 1 ? barChart('Requests by account', groups(out.Accounts, (g) => g.AccountId || '(not authenticated)'), 'chart-accounts', ['Account', 'Requests']) : null));
  }

  async function loadReport() {
    const head = el('h2', { id: 'h-report', text: 'Month\'s usage and cost' });
    report.replaceChildren(head, el('p', { class: 'note', text: 'Loading…' }));
    const input = { Month: monthIn.value };
    if (acctIn.value.trim()) input.AccountId = acctIn.value.trim();
    let rep;
    try {
      rep = (await client.admin('GetUsageReport', input)).Report;
    } catch (e) {
      report.replaceChildren(head, el('p', { class: 'error', role: 'alert', id: 'report-error', text: e.toString() }));
      return;
    }
    const classes = ['symmetric', 'rsa_2048', 'asymmetric', 'generate_data_key_pair_ecc', 'generate_data_key_pair_rsa'];
    const reqs = (r) => classes.reduce((a, c) => a + (r.requests[c] || 0), 0);
    const money = (v) => Number(v).toFixed(6); // the report's exact amounts have six decimals
    report.replaceChildren(head,
      el('p', {}, `${rep.month}, counted to ${fmtDate(rep.until)}; prices in ${rep.currency}. Total `, el('strong', { id: 'report-total', text: money(rep.total) }), '.'),
      barChart('Requests this month by key', rep.keys.filter((k) => reqs(k) > 0).map((k) => [keyLabel(k.keyArn), reqs(k)]), 'chart-month-keys', ['Key', 'Requests']),
      el('div', { id: 'report-keys' }, table(['Account', 'Key', 'Kind', 'Key-hours', 'Rotation hours', 'Requests', 'Key cost', 'Rotation cost', 'Request cost'],
        rep.keys.map((k) => [k.accountId, keyLabel(k.keyArn), k.kind || '–', String(k.keyHours), String(k.rotationHours), String(reqs(k)), money(k.keyCost), money(k.rotationCost), money(k.requestCost)]),
        `${rep.keys.length} rows by account and key`)),
      el('div', { id: 'report-accounts' }, table(['Account', 'Key-hours', 'Requests', 'Free requests', 'Free tier credit', 'Total'],
        rep.accounts.map((a) => [a.accountId, String(a.keyHours), String(reqs(a)), String(a.freeRequests), money(a.freeTierCredit), money(a.total)]),
        'Totals by account, after the free tier')));
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    loadRequests();
    loadReport();
  });
  // Keys first: their DescribeKey calls are then in the counts.
  await loadKeyCounts();
  await Promise.all([loadRequests(), loadReport()]);
}

// ---- Audit ----

const auditState = { input: null, records: [], next: null };

function outcomeOf(r) {
  if (!r.errorCode) return 'success';
  return r.errorCode === 'AccessDeniedException' || r.errorCode === 'AccessDenied' ? 'denied' : 'failed';
}

function utcInput(id) {
  return el('input', { id, type: 'datetime-local', step: 1 });
}

function auditPage() {
  const keyIn = el('input', { id: 'audit-key', size: 40, autocomplete: 'off', spellcheck: 'false' });
  const principalIn = el('input', { id: 'audit-principal', size: 40, autocomplete: 'off', spellcheck: 'false' });
  const opIn = el('input', { id: 'audit-operation', autocomplete: 'off', list: 'audit-operations' });
  const ops = el('datalist', { id: 'audit-operations' }, ['Encrypt', 'Decrypt', 'GenerateDataKey', 'CreateKey', 'DescribeKey', 'ListKeys', 'PutKeyPolicy', 'ScheduleKeyDeletion', 'CreateUser', 'AssumeRole', 'SearchAudit']
    .map((o) => el('option', { value: o })));
  const outcomeIn = el('select', { id: 'audit-outcome' }, [['', 'Any'], ['success', 'Success'], ['denied', 'Denied'], ['failed', 'Failed']]
    .map(([v, l]) => el('option', { value: v, text: l })));
  const fromIn = utcInput('audit-from');
  const toIn = utcInput('audit-to');
  const acctIn = el('input', { id: 'audit-account', size: 14, autocomplete: 'off' });
  const search = el('button', { id: 'audit-search', class: 'primary', type: 'submit', text: 'Search' });
  const err = errorBox('audit-error');
  const results = el('div', { id: 'audit-results', 'aria-live': 'polite' });
  const detail = el('section', { id: 'audit-detail', 'aria-labelledby': 'h-record', tabindex: '-1', hidden: true });
  const form = el('form', { 'aria-label': 'Search the audit trail', class: 'filters' },
    field('Key (ID, ARN or alias name)', keyIn),
    field('Principal (ARN, access key ID or principal ID)', principalIn),
    field('Operation', opIn), ops,
    field('Outcome', outcomeIn),
    field('From (UTC)', fromIn),
    field('To (UTC, exclusive)', toIn),
    field('Account', acctIn, 'Empty: yours. Only the management account may name another, or * for all.'),
    el('div', { class: 'row' }, search), err);

  const time = (input) => {
    if (!input.value) return undefined;
    const t = Date.parse(input.value + (input.value.length === 16 ? ':00Z' : 'Z'));
    return isNaN(t) ? undefined : t / 1000;
  };

  function showRecord(r) {
    detail.hidden = false;
    detail.replaceChildren(
      el('h2', { id: 'h-record', text: `Record ${r.eventID}` }),
      el('dl', {},
        el('dt', { text: 'Event time' }), el('dd', { text: r.eventTime }),
        el('dt', { text: 'Operation' }), el('dd', { text: `${r.eventName} (${r.eventSource})` }),
        el('dt', { text: 'Outcome' }), el('dd', { id: 'record-outcome', text: r.errorCode ? (r.errorMessage ? `${r.errorCode}: ${r.errorMessage}` : r.errorCode) : 'Success' }),
        el('dt', { text: 'Principal' }), el('dd', { text: r.userIdentity.arn || r.userIdentity.accessKeyId || r.userIdentity.type }),
        el('dt', { text: 'Decision' }), el('dd', { text: (r.trent && r.trent.decision) || '–' }),
        el('dt', { text: 'Request ID' }), el('dd', { text: r.requestID }),
        el('dt', { text: 'Sequence' }), el('dd', { text: String(r.trent && r.trent.sequence) })),
      el('h3', { text: 'Record (JSON)' }),
      el('pre', { id: 'record-json', tabindex: '0', 'aria-label': 'The record as JSON', text: JSON.stringify(r, null, 2) }));
    detail.focus();
  }

  function render() {
    const rows = auditState.records.map((r, i) => {
      const view = el('button', { type: 'button', class: 'view-record', 'aria-label': `View record ${r.eventID}`, text: 'View', onclick: () => showRecord(r) });
      view.dataset.index = String(i);
      const key = (r.resources || []).find((x) => x.type === 'AWS::KMS::Key');
      return [r.eventTime.replace('T', ' ').replace('Z', ' UTC'), r.eventName, el('span', { class: `outcome outcome-${outcomeOf(r)}`, text: r.errorCode || 'Success' }),
        r.userIdentity.arn || r.userIdentity.accessKeyId || r.userIdentity.type, key ? keyLabel(key.ARN) : '–', r.sourceIPAddress || '–', view];
    });
    const more = auditState.next ? el('button', { id: 'audit-more', type: 'button', text: 'Load older records', onclick: (ev) => act(ev.target, err, () => run(true)) }) : null;
    results.replaceChildren(
      table(['Event time', 'Operation', 'Outcome', 'Principal', 'Key', 'Source IP', 'Record'], rows,
        `${auditState.records.length} ${auditState.records.length === 1 ? 'record' : 'records'}, newest first${auditState.next ? '; older records match too' : ''}`),
      ...(more ? [more] : []));
  }

  async function run(more) {
    const input = more ? { ...auditState.input, Marker: auditState.next } : auditState.input;
    const out = await client.admin('SearchAudit', input);
    auditState.records = more ? auditState.records.concat(out.Records) : out.Records;
    auditState.next = out.Truncated ? out.NextMarker : null;
    render();
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    detail.hidden = true;
    act(search, err, async () => {
      const input = { Limit: 50 };
      for (const [k, v] of [['KeyId', keyIn.value.trim() && await keyFilter(keyIn.value)], ['Principal', principalIn.value.trim()],
        ['Operation', opIn.value.trim()], ['Outcome', outcomeIn.value], ['AccountId', acctIn.value.trim()], ['StartTime', time(fromIn)], ['EndTime', time(toIn)]]) {
        if (v !== undefined && v !== '') input[k] = v;
      }
      auditState.input = input;
      return run(false);
    });
  });
  show('Audit',
    el('p', { class: 'note', text: 'Searches this node\'s audit trail (TrentAdmin.SearchAudit, action trent:SearchAudit): your account\'s records, newest first. Every search is itself recorded.' }),
    form, results, detail);
}

// ---- Routing ----

function route() {
  if (!client) {
    signInPage();
    return;
  }
  const h = location.hash.replace(/^#/, '') || '/keys';
  for (const a of document.querySelectorAll('nav a')) {
    if (h.startsWith(a.getAttribute('href').slice(1))) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const m = h.match(/^\/keys\/([^/]+)$/);
  if (m) keyPage(decodeURIComponent(m[1]));
  else if (h === '/aws-keys') keysPage('AWS');
  else if (h === '/create') createPage();
  else if (h === '/identities') identitiesPage();
  else if (h === '/usage') usagePage();
  else if (h === '/audit') auditPage();
  else keysPage('CUSTOMER');
}

document.getElementById('signout').addEventListener('click', signOut);
document.getElementById('region').addEventListener('change', (ev) => {
  if (client && ev.target.value.trim()) {
    client.region = ev.target.value.trim();
    route();
  }
});
window.addEventListener('hashchange', route);
route();
