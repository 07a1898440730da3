/**
 * The dashboard's page and style sheet (docs/ui.md), served by src/api/routes/ui.ts. Static
 * text built into the agent with the rest of the code: no front-end framework, no build step
 * of its own, nothing fetched from elsewhere (the page's Content-Security-Policy allows only
 * this agent). The script that fills the page is dashboard-script.ts.
 */

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SMAC dashboard</title>
<link rel="stylesheet" href="/ui/dashboard.css">
<script src="/ui/dashboard.js" defer></script>
</head>
<body>
<header>
  <h1>SMAC</h1>
  <div id="agent" class="muted">connecting…</div>
  <div id="live" class="pill" data-state="connecting">connecting</div>
</header>
<div id="error" class="error" hidden></div>
<main>
  <section id="members-section">
    <h2>Members <span id="members-count" class="muted"></span></h2>
    <table id="members"><thead><tr><th>member</th><th>status</th><th>region</th><th>incarnation</th><th>rtt</th></tr></thead><tbody></tbody></table>
  </section>
  <section id="replication-section">
    <h2>Replication</h2>
    <table id="peers"><thead><tr><th>peer</th><th>region</th><th>connected</th><th>last heartbeat</th><th>lag (events)</th></tr></thead><tbody></tbody></table>
  </section>
  <section id="services-section">
    <h2>Services <span id="services-count" class="muted"></span></h2>
    <div id="services"></div>
  </section>
  <section id="load-section">
    <h2>Load</h2>
    <div id="load"></div>
  </section>
  <section id="store-section">
    <h2>Buffer and log</h2>
    <dl id="store"></dl>
  </section>
  <section id="compaction-section">
    <h2>Compaction</h2>
    <div id="compaction"></div>
  </section>
</main>
<footer class="muted">Updates live from <code>/v1/watch?prefix=_sys/</code>; figures without a write behind them (lag, heartbeat ages) every 10 s. <span id="updated"></span></footer>
</body>
</html>
`;

export const DASHBOARD_CSS = `:root {
  --bg: #f7f7f5; --fg: #1d1f21; --muted: #6b6f73; --line: #dcdcd8; --card: #ffffff;
  --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --off: #57606a;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 14px;
}
body { margin: 0; background: var(--bg); color: var(--fg); }
header { display: flex; align-items: center; gap: 1rem; padding: 0.6rem 1.2rem; background: #20232a; color: #fff; }
header h1 { font-size: 1.1rem; margin: 0; letter-spacing: 0.08em; }
header .muted { color: #c9ccd1; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 1rem; padding: 1rem 1.2rem; }
#services-section, #compaction-section { grid-column: 1 / -1; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 0.6rem 0.9rem 0.9rem; overflow-x: auto; }
h2 { font-size: 0.95rem; margin: 0.2rem 0 0.6rem; }
h3 { font-size: 0.85rem; margin: 0.8rem 0 0.3rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.25rem 0.5rem 0.25rem 0; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { font-weight: 600; color: var(--muted); font-size: 0.8rem; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .id { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.85em; }
.muted { color: var(--muted); }
.pill { margin-left: auto; border-radius: 999px; padding: 0.1rem 0.6rem; font-size: 0.8rem; background: var(--off); }
.pill[data-state="live"] { background: var(--ok); }
.pill[data-state="reconnecting"] { background: var(--warn); }
.status { font-weight: 600; }
.status-alive, .status-passing, .status-true { color: var(--ok); }
.status-suspect, .status-warning { color: var(--warn); }
.status-dead, .status-critical, .status-false { color: var(--bad); }
.status-left { color: var(--off); }
.self { color: var(--muted); font-weight: normal; margin-left: 0.4rem; }
.error { margin: 1rem 1.2rem 0; padding: 0.5rem 0.8rem; border: 1px solid var(--bad); color: var(--bad); background: #fff5f5; border-radius: 6px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; font-variant-numeric: tabular-nums; }
.bar { display: inline-block; height: 0.6rem; background: #4c8bf5; border-radius: 2px; vertical-align: middle; margin-left: 0.4rem; }
footer { padding: 0 1.2rem 1rem; font-size: 0.8rem; }
`;
