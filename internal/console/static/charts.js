// Charts drawn as plain SVG, with a data table beside each for screen
// readers and for anyone who would rather read the numbers. No library:
// every element is built with the DOM and its text set as text.

const ns = 'http://www.w3.org/2000/svg';
let uid = 0;

function svgEl(tag, attrs = {}, text) {
  const e = document.createElementNS(ns, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c);
  return e;
}

// dataTable returns a disclosure holding a table of the chart's data.
export function dataTable(caption, headers, rows) {
  return h('details', { class: 'chart-data' },
    h('summary', { text: `${caption}: data table` }),
    h('table', {},
      h('caption', { class: 'note', text: caption }),
      h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col', text: x })))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', { text: String(c) })))))));
}

// barChart draws entries ([[label, n, className]]) as horizontal bars,
// largest first, each bar labelled with its value. The SVG is an image
// whose title lists every value; the table beside it holds the same.
export function barChart(title, entries, id, headers = ['Name', 'Count']) {
  entries = [...entries].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const rowH = 24;
  const labelW = 275;
  const barW = 220;
  const max = Math.max(1, ...entries.map((e) => e[1]));
  const titleId = `chart-title-${++uid}`;
  const svg = svgEl('svg', {
    id, role: 'img', 'aria-labelledby': titleId,
    width: labelW + barW + 60, height: Math.max(1, entries.length) * rowH + 8,
  });
  svg.append(svgEl('title', { id: titleId }, `${title}: ` + (entries.length ? entries.map(([k, v]) => `${k} ${v}`).join(', ') : 'none')));
  entries.forEach(([k, v, cls], i) => {
    const y = i * rowH + 4;
    const w = Math.max(2, (v / max) * barW);
    svg.append(
      svgEl('text', { x: 0, y: y + 15 }, k.length > 36 ? k.slice(0, 35) + '…' : k),
      svgEl('rect', { class: `bar ${cls || ''}`.trim(), x: labelW, y, height: rowH - 6, width: w, 'data-label': k, 'data-count': v }),
      svgEl('text', { x: labelW + w + 6, y: y + 15 }, String(v)));
  });
  return h('figure', {}, h('figcaption', { text: title }), svg,
    dataTable(title, headers, entries.map(([k, v]) => [k, v])));
}

// Outcomes, in stacking order, with their legend names.
export const outcomes = [['success', 'Success'], ['denied', 'Denied'], ['failed', 'Failed']];

// columnChart draws requests over time: one column per period from
// start (seconds since the epoch) for n periods of period seconds, each
// stacked by outcome. points are [{Timestamp, Outcome, Count}]. Each
// segment is a rect with its outcome as class and data-count; the data
// table lists every period.
export function columnChart(title, points, start, period, n, id) {
  const buckets = Array.from({ length: n }, () => ({ success: 0, denied: 0, failed: 0 }));
  for (const p of points) {
    const i = Math.floor((p.Timestamp - start) / period);
    if (i >= 0 && i < n) buckets[i][p.Outcome] = (buckets[i][p.Outcome] || 0) + p.Count;
  }
  const totals = buckets.map((b) => b.success + b.denied + b.failed);
  const max = Math.max(1, ...totals);
  const left = 44;
  const plotH = 180;
  const colW = Math.max(6, Math.min(40, Math.floor(720 / n)));
  const width = left + n * colW + 20;
  const titleId = `chart-title-${++uid}`;
  const label = (i) => new Date((start + i * period) * 1000).toISOString().slice(period >= 86400 ? 5 : 11, period >= 86400 ? 10 : 16);
  const svg = svgEl('svg', { id, role: 'img', 'aria-labelledby': titleId, width, height: plotH + 48 });
  const sum = totals.reduce((a, b) => a + b, 0);
  svg.append(svgEl('title', { id: titleId }, `${title}: ${sum} requests in ${n} periods of ${period / 60} minutes`));
  svg.append(svgEl('line', { x1: left, y1: plotH + 4, x2: width - 10, y2: plotH + 4, class: 'axis' }));
  svg.append(svgEl('text', { x: 0, y: 14 }, String(max)), svgEl('text', { x: 0, y: plotH + 4 }, '0'));
  const every = Math.max(1, Math.ceil(n / 8));
  buckets.forEach((b, i) => {
    const x = left + i * colW;
    let y = plotH + 4;
    for (const [o, name] of outcomes) {
      if (!b[o]) continue;
      const hgt = Math.max(1, (b[o] / max) * plotH);
      y -= hgt;
      const r = svgEl('rect', { class: `bar outcome-${o}`, x: x + 1, y, width: colW - 2, height: hgt, 'data-count': b[o] });
      r.append(svgEl('title', {}, `${label(i)} UTC: ${name} ${b[o]}`));
      svg.append(r);
    }
    if (i % every === 0) svg.append(svgEl('text', { x, y: plotH + 20 }, label(i)));
  });
  const legend = h('p', { class: 'legend' }, outcomes.map(([o, name]) => h('span', { class: `swatch outcome-${o}` }, name)));
  return h('figure', {}, h('figcaption', { text: `${title} (UTC)` }), svg, legend,
    dataTable(title, ['Period (UTC)', 'Success', 'Denied', 'Failed'],
      buckets.map((b, i) => [label(i), b.success, b.denied, b.failed]).filter((r, i) => totals[i] > 0)));
}
