// The resident page: watches /sub/line/{line} over STOMP (@stomp/stompjs), shows alerts live
// with their location, accepts one (POST /accept), and raises alerts (POST /alert). On a
// reconnect it resumes after the last record it saw of each partition (x-from-offset), so
// nothing sent meanwhile is missed. The last line watched is remembered (localStorage) and
// watched again when the page loads.
'use strict';

const LINES = 10;
const state = { client: null, line: null, seen: {}, alerts: new Map(), accepts: new Map() };
const $ = (id) => document.getElementById(id);

for (let i = 1; i <= LINES; i++) {
  const o = document.createElement('option');
  o.value = o.textContent = String(i);
  $('line').appendChild(o);
}

function residentId() {
  let id = localStorage.getItem('resident-id');
  if (!id) {
    id = 'resident-' + Math.random().toString(36).slice(2, 10);
    localStorage.setItem('resident-id', id);
  }
  return id;
}

function status(text) {
  $('status').textContent = text;
  $('status').classList.toggle('live', text.startsWith('watching'));
}

// "topic:partition:offset" of every partition seen, as the next offsets wanted.
function resumeHeader() {
  return Object.entries(state.seen).map(([tp, off]) => tp + ':' + (off + 1)).join(',');
}

function alertItem(id, alert) {
  const li = document.createElement('li');
  li.dataset.id = id;
  li.innerHTML = '<div class="where"></div><div class="meta"></div>' +
    '<button class="accept">Accept</button> <span class="accepted-by"></span>';
  li.querySelector('.where').textContent = alert.location;
  li.querySelector('.meta').textContent = 'line ' + alert.line + ' · ' +
    new Date(alert.time || Date.now()).toLocaleTimeString() + ' · ' + id;
  li.querySelector('.accept').onclick = () => accept(id);
  return li;
}

function onMessage(msg) {
  const h = msg.headers;
  const tp = h['x-topic'] + ':' + h['x-partition'];
  const off = Number(h['x-offset']);
  if (state.seen[tp] !== undefined && off <= state.seen[tp]) return; // already shown
  state.seen[tp] = off;
  const body = JSON.parse(msg.body);
  if (h['x-topic'] === 'an-alert') {
    const li = alertItem(h['message-id'], { ...body, time: Number(h['x-timestamp']) });
    state.alerts.set(h['message-id'], li);
    $('alerts').prepend(li);
    const by = state.accepts.get(h['message-id']);
    if (by !== undefined) markAccepted(li, by);
  } else {
    // The two topics are replayed independently: an accept may arrive before its alert.
    state.accepts.set(body.alert, body.by);
    const li = state.alerts.get(body.alert);
    if (li) markAccepted(li, body.by);
  }
}

function markAccepted(li, by) {
  li.classList.add('accepted');
  li.querySelector('.accepted-by').textContent = 'accepted by ' + by;
  li.querySelector('.accept').disabled = true;
}

function watch() {
  const line = $('line').value;
  localStorage.setItem('line', line); // watched again on the next visit
  if (state.client) state.client.deactivate();
  state.line = line;
  state.seen = {};
  state.alerts.clear();
  state.accepts.clear();
  $('alerts').replaceChildren();
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/an-ws';
  const client = new StompJs.Client({
    brokerURL: url,
    connectHeaders: { 'client-id': residentId() + '-' + line },
    heartbeatIncoming: 10000,
    heartbeatOutgoing: 10000,
    reconnectDelay: 1000,
  });
  client.onConnect = () => {
    const headers = { ack: 'auto' };
    const from = resumeHeader();
    // First visit: the last hour of alerts; after a drop: exactly after what was seen.
    if (from) headers['x-from-offset'] = from;
    headers['x-from-time'] = String(Date.now() - 3600 * 1000);
    client.subscribe('/sub/line/' + line, onMessage, headers);
    status('watching line ' + line);
    $('raise').disabled = false;
  };
  client.onWebSocketClose = () => status('reconnecting…');
  client.onStompError = (f) => status('error: ' + f.headers.message);
  client.activate();
  state.client = client;
}

async function post(path, body) {
  const r = await fetch(path, { method: 'POST', body: JSON.stringify(body) });
  if (!r.ok) status('HTTP ' + r.status + ': ' + (await r.text()));
  return r.ok;
}

function accept(id) {
  return post('/accept', { line: state.line, alert: id, by: state.line + '-' + $('unit').value });
}

$('join').onclick = watch;
// The line watched last time is watched again on load: alerts show without a click.
const lastLine = localStorage.getItem('line');
if (lastLine && Number(lastLine) >= 1 && Number(lastLine) <= LINES) {
  $('line').value = lastLine;
  watch();
}
$('raise').onclick = () =>
  post('/alert', { line: state.line, location: $('location').value || state.line + '-' + $('unit').value });
