/**
 * The dashboard's script (docs/ui.md), served as /ui/dashboard.js. Plain browser JavaScript
 * (no framework, no build step), kept as text here so that it ships inside the agent.
 *
 * How it stays live without a polling storm: one EventSource on `/v1/watch?prefix=_sys/`
 * (members, services, checks and load are objects under `_sys/`, docs/services.md). Every
 * `snapshot` or `change` event asks for a refresh; refreshes are debounced (REFRESH_DEBOUNCE_MS),
 * at most one runs at a time and they start at most every MIN_REFRESH_GAP_MS, so a burst of
 * writes costs one refresh. Figures that change without a write (replication lag, heartbeat
 * ages, a suspicion) are refreshed every SLOW_REFRESH_MS.
 *
 * Everything shown is set through textContent: values from the cluster never become markup.
 * Written without template literals and backslashes, so that it can sit in this String.raw
 * (whose one substitution is the watch prefix).
 */

/** What the page watches: members, services, checks and load are objects under it. */
export const DASHBOARD_WATCH_PREFIX = '_sys/';

export const DASHBOARD_JS = String.raw`'use strict';
(function () {
  var REFRESH_DEBOUNCE_MS = 250;
  var MIN_REFRESH_GAP_MS = 1000;
  var SLOW_REFRESH_MS = 10000;
  var MAX_SERVICES = 50;
  var MAX_METRICS = 20;

  function byId(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (attrs[k] !== undefined && attrs[k] !== null) node.setAttribute(k, String(attrs[k]));
      });
    }
    (children || []).forEach(function (c) {
      if (c === undefined || c === null) return;
      node.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    });
    return node;
  }

  function short(id) {
    var s = String(id);
    return s.length > 20 ? s.slice(0, 8) + '…' + s.slice(-6) : s;
  }

  function idCell(id) { return el('td', { class: 'id', title: id }, [short(id)]); }

  function statusCell(value) {
    return el('td', { class: 'status status-' + String(value) }, [String(value)]);
  }

  function num(n) { return el('td', { class: 'num' }, [n === undefined || n === null ? '–' : String(n)]); }

  function ago(ms) {
    if (ms === undefined || ms === null) return 'never';
    if (ms < 1000) return Math.round(ms) + ' ms ago';
    if (ms < 120000) return (ms / 1000).toFixed(1) + ' s ago';
    return Math.round(ms / 60000) + ' min ago';
  }

  function bytes(n) {
    if (n < 1024) return n + ' B';
    if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
    return (n / 1048576).toFixed(1) + ' MiB';
  }

  function fill(tbody, rows) {
    tbody.replaceChildren.apply(tbody, rows);
  }

  function loggedOut() {
    showError('This browser is not logged in (or its session expired): run "smac ui" on the agent host and open the URL it prints.');
  }

  function showError(message) {
    var box = byId('error');
    box.textContent = message;
    box.hidden = false;
  }

  function get(path) {
    return fetch(path, { credentials: 'same-origin', headers: { accept: 'application/json' } }).then(function (r) {
      if (r.status === 401) { loggedOut(); throw new Error('not logged in'); }
      if (!r.ok) throw new Error(path + ' answered ' + r.status);
      return r.json();
    });
  }

  // A service or metric that went away between the list and its query is left out, not an error.
  function optional(p) {
    return p.catch(function (e) {
      if (String(e && e.message) === 'not logged in') throw e;
      return null;
    });
  }

  function refresh() {
    return Promise.all([get('/v1/status'), get('/v1/members'), get('/v1/services'), get('/v1/load')]).then(function (top) {
      var services = top[2].services.slice(0, MAX_SERVICES);
      var metrics = top[3].metrics.slice(0, MAX_METRICS);
      return Promise.all([
        Promise.all(services.map(function (s) { return optional(get('/v1/services/' + encodeURIComponent(s.name) + '?all=true')); })),
        Promise.all(metrics.map(function (m) { return optional(get('/v1/load/' + encodeURIComponent(m.name))); })),
      ]).then(function (more) {
        render(top[0], top[1], top[2].services, more[0].filter(Boolean), more[1].filter(Boolean));
      });
    });
  }

  function render(status, members, serviceList, services, loads) {
    byId('error').hidden = true;
    byId('agent').textContent = short(status.peerId) + ' · region ' + status.region + ' · ' + status.objects + ' objects';
    renderMembers(members.members, status.peerId);
    renderServices(serviceList, services);
    renderLoad(loads);
    renderPeers(status.peers);
    renderStore(status);
    renderCompaction(status.compaction);
    byId('updated').textContent = 'Last update ' + new Date().toLocaleTimeString() + '.';
    document.body.setAttribute('data-updated', String(Date.now()));
  }

  function renderMembers(members, self) {
    var alive = members.filter(function (m) { return m.status === 'alive'; }).length;
    byId('members-count').textContent = alive + ' of ' + members.length + ' alive';
    fill(byId('members').tBodies[0], members.map(function (m) {
      return el('tr', { 'data-member': m.id, 'data-status': m.status }, [
        m.id === self ? el('td', { class: 'id', title: m.id }, [short(m.id), el('span', { class: 'self' }, ['this agent'])]) : idCell(m.id),
        statusCell(m.status), el('td', {}, [m.region || '–']), num(m.incarnation),
        num(m.rtt ? m.rtt.srttMs + ' ms' : undefined),
      ]);
    }));
  }

  function renderServices(list, services) {
    var box = byId('services');
    byId('services-count').textContent = list.length === 0 ? 'none registered' : list.length + ' registered';
    box.replaceChildren.apply(box, services.map(function (s) {
      var summary = list.find(function (x) { return x.name === s.service; }) || { healthy: 0, endpoints: 0 };
      var rows = s.endpoints.map(function (e) {
        return el('tr', { 'data-endpoint': e.id, 'data-healthy': String(e.healthy) }, [
          el('td', {}, [e.id]), el('td', { class: 'id' }, [e.address + ':' + e.port]), idCell(e.node),
          el('td', {}, [e.region || '–']), statusCell(e.nodeStatus),
          statusCell(e.check ? e.check.status : 'none'), statusCell(e.healthy),
        ]);
      });
      var head = el('tr', {}, ['endpoint', 'address', 'node', 'region', 'node status', 'check', 'healthy'].map(function (h) { return el('th', {}, [h]); }));
      return el('div', { 'data-service': s.service }, [
        el('h3', {}, [s.service + ' ', el('span', { class: 'muted' }, [summary.healthy + ' of ' + summary.endpoints + ' healthy'])]),
        el('table', {}, [el('thead', {}, [head]), el('tbody', {}, rows)]),
      ]);
    }));
  }

  function figures(title, f) {
    if (!f) return [];
    var max = Math.max.apply(null, f.nodes.map(function (n) { return Math.abs(Number(n.value)); }).concat([1]));
    var rows = f.nodes.map(function (n) {
      var width = Math.round(80 * Math.abs(Number(n.value)) / max);
      return el('tr', {}, [idCell(n.node), el('td', {}, [n.region || '–']), statusCell(n.alive ? 'alive' : 'dead'),
        el('td', { class: 'num' }, [String(n.value), el('span', { class: 'bar', style: 'width:' + width + 'px' }, [])])]);
    });
    var regions = Object.keys(f.regions).sort().map(function (r) { return r + ' ' + f.regions[r]; }).join(' · ');
    return [
      el('div', {}, [title + ': sum ' + f.sum + ' over ' + f.count + ' live node(s)' + (regions ? ' · by region: ' + regions : '')]),
      el('table', {}, [el('thead', {}, [el('tr', {}, ['node', 'region', 'node status', 'value'].map(function (h) { return el('th', {}, [h]); }))]), el('tbody', {}, rows)]),
    ];
  }

  function renderLoad(loads) {
    var box = byId('load');
    if (loads.length === 0) { box.replaceChildren(el('div', { class: 'muted' }, ['No load metrics reported.'])); return; }
    box.replaceChildren.apply(box, loads.map(function (l) {
      return el('div', { 'data-metric': l.metric }, [el('h3', {}, [l.metric])].concat(figures('counter', l.counter), figures('gauge', l.gauge)));
    }));
  }

  function renderPeers(peers) {
    fill(byId('peers').tBodies[0], peers.map(function (p) {
      return el('tr', { 'data-peer': p.peerId }, [idCell(p.peerId), el('td', {}, [p.region || '–']),
        statusCell(p.connected), el('td', {}, [ago(p.lastHeartbeatAgoMs)]), num(p.lag)]);
    }));
  }

  function renderStore(s) {
    var compacted = Object.keys(s.log.compacted).length;
    var items = [
      ['causal buffer', s.buffered + ' event(s) waiting for their dependencies'],
      ['log', s.log.events + ' event(s), ' + bytes(s.log.bytes)],
      ['log position', String(s.log.lastPos)],
      ['compacted origins', String(compacted)],
      ['objects', String(s.objects)],
      ['evicted from buffer', String(s.counters.bufferEvicted)],
    ];
    var dl = byId('store');
    dl.replaceChildren.apply(dl, items.reduce(function (acc, it) { return acc.concat([el('dt', {}, [it[0]]), el('dd', {}, [it[1]])]); }, []));
  }

  function renderCompaction(c) {
    var box = byId('compaction');
    var parts = [el('div', {}, ['Waits for ' + c.members.length + ' member(s); log bound ' + c.maxLogEvents + ' events.'])];
    if (c.blockedBy.length === 0) {
      parts.push(el('div', { class: 'status status-alive', 'data-blocked': '0' }, ['Nothing blocks compaction.']));
    } else {
      var rows = c.blockedBy.map(function (b) {
        return el('tr', { 'data-blocker': b.peerId }, [idCell(b.peerId), el('td', {}, [b.reason]), num(b.pinnedEvents), el('td', {}, [b.silentForMs === undefined ? 'never heard' : 'silent ' + ago(b.silentForMs)])]);
      });
      var head = el('tr', {}, ['blocked by', 'reason', 'pinned events', 'last heard'].map(function (h) { return el('th', {}, [h]); }));
      parts.push(el('table', { 'data-blocked': String(c.blockedBy.length) }, [el('thead', {}, [head]), el('tbody', {}, rows)]));
    }
    if (c.reaps.length > 0) parts.push(el('div', { class: 'muted' }, [c.reaps.length + ' reap(s) under way or done.']));
    box.replaceChildren.apply(box, parts);
  }

  // Refresh scheduling: debounced, one at a time, at most one start per MIN_REFRESH_GAP_MS.
  var timer = null;
  var running = false;
  var pending = false;
  var lastStart = 0;

  function schedule(delayMs) {
    if (running) { pending = true; return; }
    if (timer !== null) return;
    var wait = Math.max(delayMs, lastStart + MIN_REFRESH_GAP_MS - Date.now());
    timer = setTimeout(run, wait);
  }

  function run() {
    timer = null;
    running = true;
    lastStart = Date.now();
    refresh().catch(function (e) {
      if (String(e && e.message) !== 'not logged in') showError('Could not refresh: ' + (e && e.message ? e.message : String(e)));
    }).then(function () {
      running = false;
      if (pending) { pending = false; schedule(REFRESH_DEBOUNCE_MS); }
    });
  }

  function live(state) {
    var pill = byId('live');
    pill.setAttribute('data-state', state);
    pill.textContent = state;
  }

  function watch() {
    var source = new EventSource('/v1/watch?prefix=${DASHBOARD_WATCH_PREFIX}');
    var changed = function () { schedule(REFRESH_DEBOUNCE_MS); };
    source.addEventListener('snapshot', changed);
    source.addEventListener('change', changed);
    source.onopen = function () { live('live'); schedule(0); };
    // EventSource reconnects by itself (the stream says retry: 1000) and resumes from its last id.
    source.onerror = function () { live(source.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting'); };
  }

  document.addEventListener('DOMContentLoaded', function () {
    schedule(0);
    watch();
    setInterval(function () { schedule(0); }, SLOW_REFRESH_MS);
  });
})();
`;
