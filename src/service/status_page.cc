#include "service/status_page.h"

namespace assist::service {
namespace {

// Figures are written with textContent only (log messages may carry
// anything). Elements the browser test reads have ids: outcome-<label>-total,
// outcome-<label>-minute, finished, sessions, connections.
constexpr std::string_view kPage = R"page(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>assist-sync status</title>
<style>
:root { --bg: #f5f6f8; --fg: #1b1f24; --muted: #57606a; --card: #ffffff; --line: #d0d7de;
        --ok: #1a7f37; --bad: #b42318; --warn: #9a6700; --accent: #0969da; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --card: #161b22; --line: #30363d;
          --ok: #3fb950; --bad: #ff7b72; --warn: #d29922; --accent: #58a6ff; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
       font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; }
header { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1rem; background: var(--card);
         padding: .9rem clamp(1rem, 3vw, 2rem); border-bottom: 1px solid var(--line); }
h1 { font-size: 1.25rem; margin: 0; }
h2 { font-size: 1rem; margin: 0 0 .6rem; }
header p { margin: 0; }
.meta { color: var(--muted); font-size: .9rem; margin-left: auto; }
main { display: grid; gap: 1rem; max-width: 90rem; margin: 0 auto; padding: 1rem clamp(.5rem, 3vw, 2rem);
       grid-template-columns: repeat(auto-fit, minmax(min(100%, 26rem), 1fr)); }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 1rem; min-width: 0; }
.wide { grid-column: 1 / -1; }
.tiles { display: grid; grid-template-columns: repeat(2, 1fr); gap: .9rem 1rem; margin: 0; }
@media (min-width: 40rem) { .tiles { grid-template-columns: repeat(4, 1fr); } }
@media (min-width: 80rem) { .tiles { grid-template-columns: repeat(8, 1fr); } }
.tiles dt { color: var(--muted); font-size: .85rem; }
.tiles dd { margin: 0; font-size: 1.6rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.tiles dd.sub { font-size: .8rem; font-weight: 400; color: var(--muted); }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { color: var(--muted); font-weight: 600; font-size: .85rem; }
.num { text-align: right; white-space: nowrap; }
tfoot th, tfoot td { font-weight: 600; border-bottom: 0; }
.pill { border: 2px solid currentColor; border-radius: 999px; padding: .1rem .7rem; font-weight: 600; }
.ok { color: var(--ok); } .failing { color: var(--bad); } .degraded { color: var(--warn); }
.state { font-weight: 600; }
.bar-cell { width: 60%; }
.bar { height: .9rem; background: var(--accent); border-radius: 2px; }
#histogram th { white-space: nowrap; }
#health th::first-letter { text-transform: uppercase; }
.axis { display: flex; justify-content: space-between; color: var(--muted); font-size: .8rem; }
@media (max-width: 30rem) { section { padding: .75rem; } th, td { padding: .3rem .35rem; } }
.note { color: var(--muted); font-size: .9rem; margin: .5rem 0 0; }
svg { display: block; width: 100%; height: 6rem; }
svg polyline { fill: none; stroke: var(--accent); stroke-width: 2; vector-effect: non-scaling-stroke; }
svg line { stroke: var(--line); stroke-width: 1; vector-effect: non-scaling-stroke; }
ol.errors { list-style: none; margin: 0; padding: 0; }
ol.errors li { padding: .4rem 0; border-bottom: 1px solid var(--line); overflow-wrap: anywhere;
               font: .85rem/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
ol.errors time { color: var(--muted); margin-right: .5rem; }
.level { font-weight: 700; margin-right: .5rem; }
form { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
input, button { font: inherit; padding: .35rem .6rem; border: 1px solid var(--line); border-radius: 6px;
                background: var(--bg); color: var(--fg); }
button { background: var(--accent); color: var(--card); border-color: var(--accent); font-weight: 600; }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
footer { color: var(--muted); font-size: .85rem; text-align: center; padding: 0 1rem 1.5rem; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
                   white-space: nowrap; }
</style>
</head>
<body>
<header>
  <h1>assist-sync</h1>
  <p id="readiness" class="pill" role="status">Loading&hellip;</p>
  <p class="meta">up <span id="uptime">&ndash;</span> &middot; updated <time id="updated">&ndash;</time></p>
</header>
<main>
  <section id="key-section" class="wide" hidden aria-labelledby="key-title">
    <h2 id="key-title">API key needed</h2>
    <form id="key-form">
      <label for="key">This service asks for its API key:</label>
      <input id="key" type="password" autocomplete="current-password" required>
      <button type="submit">Show status</button>
    </form>
    <p class="note">Kept in this tab only (session storage) and sent as <code>Authorization: Bearer</code>.</p>
  </section>
  <section class="wide" aria-labelledby="glance-title">
    <h2 id="glance-title" class="visually-hidden">At a glance</h2>
    <dl class="tiles">
      <div><dt>Prompts per second</dt><dd id="rate">&ndash;</dd><dd class="sub">finished, last 10 s</dd></div>
      <div><dt>ACK latency p50</dt><dd id="p50">&ndash;</dd><dd class="sub">write &rarr; ACK, last minute</dd></div>
      <div><dt>ACK latency p99</dt><dd id="p99">&ndash;</dd><dd class="sub">write &rarr; ACK, last minute</dd></div>
      <div><dt>Adoption</dt><dd id="adoption">&ndash;</dd><dd class="sub" id="adoption-sub">adopted / acked</dd></div>
      <div><dt>Connections</dt><dd id="connections">&ndash;</dd><dd class="sub" id="connections-sub">open</dd></div>
      <div><dt>Sessions</dt><dd id="sessions">&ndash;</dd><dd class="sub">holding a slot</dd></div>
      <div><dt>Queued</dt><dd id="queued">&ndash;</dd><dd class="sub" id="inflight">in flight &ndash;</dd></div>
      <div><dt>Finished</dt><dd id="finished">&ndash;</dd><dd class="sub">prompts since start</dd></div>
    </dl>
  </section>
  <section aria-labelledby="health-title">
    <h2 id="health-title">Health</h2>
    <table>
      <thead><tr><th scope="col">Component</th><th scope="col">State</th><th scope="col">Detail</th></tr></thead>
      <tbody id="health"></tbody>
    </table>
  </section>
  <section aria-labelledby="outcomes-title">
    <h2 id="outcomes-title">Outcomes</h2>
    <table>
      <thead><tr><th scope="col">Outcome</th><th scope="col" class="num">Since start</th>
        <th scope="col" class="num">Last minute</th></tr></thead>
      <tbody id="outcomes"></tbody>
      <tfoot><tr><th scope="row">All</th><td class="num" id="outcomes-total">&ndash;</td>
        <td class="num" id="outcomes-minute">&ndash;</td></tr></tfoot>
    </table>
    <p class="note" id="nacks"></p>
  </section>
  <section aria-labelledby="latency-title">
    <h2 id="latency-title">Write &rarr; ACK latency, last minute</h2>
    <p class="note" id="latency-summary"></p>
    <table>
      <thead><tr><th scope="col">Up to</th><th scope="col" class="bar-cell"><span class="visually-hidden">Share</span></th>
        <th scope="col" class="num">ACKs</th></tr></thead>
      <tbody id="histogram"></tbody>
    </table>
  </section>
  <section aria-labelledby="throughput-title">
    <h2 id="throughput-title">Prompts finished per second, last minute</h2>
    <svg id="spark" viewBox="0 0 600 100" preserveAspectRatio="none" role="img" aria-labelledby="spark-label">
      <title id="spark-label">No data yet</title>
      <line x1="0" y1="99" x2="600" y2="99"></line>
      <polyline id="spark-line" points=""></polyline>
    </svg>
    <p class="axis" aria-hidden="true"><span id="spark-from">&ndash;</span><span>now</span></p>
    <p class="note" id="spark-note"></p>
  </section>
  <section class="wide" aria-labelledby="errors-title">
    <h2 id="errors-title">Recent warnings and errors</h2>
    <ol class="errors" id="errors"></ol>
  </section>
</main>
<footer>The figures behind this page: <a href="/v1/status">/v1/status</a> (JSON) &middot;
  <a href="/metrics">/metrics</a> (Prometheus)</footer>
<script>
'use strict';
const $ = (id) => document.getElementById(id);
const count = new Intl.NumberFormat('en-US');
const LABELS = { acked: 'Acked', nacked: 'NACKed', rejected_validation: 'Rejected: invalid',
  rejected_freshness: 'Rejected: stale at write', rejected_concurrency: 'Rejected: session queue full',
  superseded: 'Superseded', failed: 'Failed', unconfirmed: 'Unconfirmed' };
const KEY = 'assist-sync-api-key';
let apiKey = sessionStorage.getItem(KEY) || '';
let timer = 0;

function el(tag, text, attrs) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}
function ms(v) {
  if (v < 1) return v.toFixed(3) + ' ms';
  if (v < 10) return v.toFixed(2) + ' ms';
  if (v < 1000) return v.toFixed(1) + ' ms';
  return (v / 1000).toFixed(2) + ' s';
}
function bound(v) {
  if (v < 1) return Math.round(v * 1000) + ' \u00b5s';
  if (v < 1000) return v + ' ms';
  return v / 1000 + ' s';
}
function duration(s) {
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  if (d) return d + 'd ' + h + 'h';
  if (h) return h + 'h ' + m + 'm';
  if (m) return m + 'm ' + Math.floor(s % 60) + 's';
  return Math.floor(s) + 's';
}
// Unchanged text is left alone: the readiness line is a live region, and
// screen readers announce every change.
function setText(id, text) {
  const e = $(id);
  if (e.textContent !== text) e.textContent = text;
}
function rate(v) { return count.format(v >= 100 ? Math.round(v) : v); }

function renderHealth(health) {
  $('health').replaceChildren(...health.map((h) => {
    const tr = el('tr');
    tr.append(el('th', h.component, { scope: 'row' }), el('td', h.state, { class: 'state ' + h.state }),
              el('td', h.detail));
    return tr;
  }));
}

function renderOutcomes(d) {
  let minute = 0;
  $('outcomes').replaceChildren(...d.outcomes.map((o) => {
    minute += o.last_minute;
    const tr = el('tr');
    tr.append(el('th', LABELS[o.label] || o.outcome, { scope: 'row' }),
              el('td', count.format(o.total), { class: 'num', id: 'outcome-' + o.label + '-total' }),
              el('td', count.format(o.last_minute), { class: 'num', id: 'outcome-' + o.label + '-minute' }));
    return tr;
  }));
  setText('outcomes-total', count.format(d.finished));
  setText('outcomes-minute', count.format(minute));
  setText('nacks', d.nacks.length ? 'NACKs by code: ' +
    d.nacks.map((n) => n.code + ' ' + count.format(n.total)).join(', ') : '');
}

function renderLatency(l) {
  setText('p50', l.count ? ms(l.p50_ms) : '\u2013');
  setText('p99', l.count ? ms(l.p99_ms) : '\u2013');
  setText('latency-summary', l.count ? count.format(l.count) + ' ACKs: p50 ' + ms(l.p50_ms) + ', p99 ' +
    ms(l.p99_ms) + ', mean ' + ms(l.mean_ms) : 'No ACK in the last minute.');
  const bins = l.histogram;
  let first = bins.findIndex((b) => b.count > 0), last = bins.length - 1;
  while (last > 0 && bins[last].count === 0) last--;
  if (first < 0) { $('histogram').replaceChildren(); return; }
  first = Math.max(0, Math.min(first - 1, last - 5));
  last = Math.min(bins.length - 1, Math.max(last + 1, first + 5));
  const peak = Math.max(...bins.map((b) => b.count));
  const rows = [];
  for (let i = first; i <= last; i++) {
    const b = bins[i];
    const bar = el('div', undefined, { class: 'bar', 'aria-hidden': 'true' });
    bar.style.width = b.count ? Math.max(0.5, 100 * b.count / peak).toFixed(1) + '%' : '0';
    const cell = el('td', undefined, { class: 'bar-cell' });
    cell.append(bar);
    const tr = el('tr');
    tr.append(el('th', '\u2264 ' + bound(b.le_ms), { scope: 'row' }), cell,
              el('td', count.format(b.count), { class: 'num' }));
    rows.push(tr);
  }
  $('histogram').replaceChildren(...rows);
}

function renderSpark(t, window) {
  const s = t.series.slice(-60);
  setText('spark-from', Math.round(window) + ' s ago');
  const peak = Math.max(1, ...s);
  const step = s.length > 1 ? 600 / (s.length - 1) : 600;
  $('spark-line').setAttribute('points',
    s.map((v, i) => (i * step).toFixed(1) + ',' + (98 - 94 * v / peak).toFixed(1)).join(' '));
  const text = 'Peak ' + rate(Math.max(0, ...s)) + '/s; last 10 s: ' + rate(t.finished_per_second) +
    ' finished/s, ' + rate(t.written_per_second) + ' frames written/s';
  setText('spark-label', text);
  setText('spark-note', text);
}

function renderErrors(errors) {
  if (!errors.length) { $('errors').replaceChildren(el('li', 'None since start.')); return; }
  $('errors').replaceChildren(...errors.map((e) => {
    const li = el('li');
    const when = new Date(e.time * 1000);
    li.append(el('time', when.toLocaleTimeString(), { datetime: when.toISOString() }),
              el('span', e.level, { class: 'level ' + (e.level === 'warn' ? 'degraded' : 'failing') }),
              document.createTextNode(e.message));
    return li;
  }));
}

function render(d) {
  setText('readiness', d.ready ? 'Ready' : 'Not ready');
  $('readiness').className = 'pill ' + (d.ready ? 'ok' : 'failing');
  setText('uptime', duration(d.uptime_seconds));
  const at = new Date(d.generated_at * 1000);
  setText('updated', at.toLocaleTimeString());
  $('updated').setAttribute('datetime', at.toISOString());
  setText('rate', rate(d.throughput.finished_per_second));
  setText('adoption', (100 * d.adoption.rate).toFixed(1) + '%');
  setText('adoption-sub', count.format(d.adoption.adopted) + ' adopted, ' + count.format(d.adoption.dismissed) +
    ' dismissed');
  setText('connections', count.format(d.connections.open));
  setText('connections-sub', 'open, ' + count.format(d.connections.reconnects) + ' reconnects');
  setText('sessions', count.format(d.sessions));
  setText('queued', count.format(d.queue.queued));
  setText('inflight', 'in flight ' + count.format(d.queue.in_flight) + ', audit backlog ' +
    count.format(d.audit.queue_depth));
  setText('finished', count.format(d.finished));
  renderHealth(d.health);
  renderOutcomes(d);
  renderLatency(d.latency);
  renderSpark(d.throughput, d.window_seconds);
  renderErrors(d.errors);
}

function lost(why) {
  setText('readiness', 'No answer: ' + why);
  $('readiness').className = 'pill failing';
}

async function refresh() {
  clearTimeout(timer);
  if (!document.hidden) {
    try {
      const res = await fetch('/v1/status', { cache: 'no-store',
        headers: apiKey ? { Authorization: 'Bearer ' + apiKey } : {} });
      if (res.status === 401) {
        $('key-section').hidden = false;
        lost('API key needed');
        return;  // until a key is given
      }
      if (!res.ok) throw new Error('HTTP ' + res.status);
      render(await res.json());
    } catch (e) {
      lost(e.message);
    }
  }
  timer = setTimeout(refresh, 1000);
}

$('key-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  apiKey = $('key').value;
  sessionStorage.setItem(KEY, apiKey);
  $('key-section').hidden = true;
  refresh();
});
document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });
refresh();
</script>
</body>
</html>
)page";

}  // namespace

std::string_view status_page_html() { return kPage; }

}  // namespace assist::service
