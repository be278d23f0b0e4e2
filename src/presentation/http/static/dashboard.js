// The perfshop dashboard: polls /metrics once a second and redraws; /cache/stats is shown when the app has it.
// The history of the charts lives here, in the browser, from those polls: the server keeps no series for it.
"use strict";

const POLL_MS = 1000;
const HISTORY = 120; // points of every chart
const COLORS = ["#3b6fd8", "#d89b00", "#e26d5a"];
const history = { rps: [], clientErrors: [], serverErrors: [], lag: [], inFlight: [], latency: new Map() };
let previous = null; // {requests, clientErrors, serverErrors, uptime} of the last poll, for rates between polls
let cacheAvailable = true;
let sort = { field: "endpoint", descending: false };
let lastReport = null;

function cell(row, value, field) {
  const td = document.createElement("td");
  td.textContent = value === null || value === undefined ? "–" : String(value);
  if (field) td.dataset.field = field;
  row.appendChild(td);
}

function fixed(value, digits = 2) {
  return value === null || value === undefined ? null : value.toFixed(digits);
}

function push(series, value) {
  series.push(value);
  if (series.length > HISTORY) series.shift();
}

function sortValue(name, e, field) {
  if (field === "endpoint") return name;
  return e[field] ?? -1;
}

function renderTable(endpoints) {
  const body = document.querySelector("#endpoints tbody");
  const { field, descending } = sort;
  const rows = Object.entries(endpoints).sort(([an, a], [bn, b]) => {
    const x = sortValue(an, a, field);
    const y = sortValue(bn, b, field);
    const order = typeof x === "string" ? x.localeCompare(y) : x - y;
    return descending ? -order : order;
  });
  body.replaceChildren(
    ...rows.map(([name, e]) => {
      const row = document.createElement("tr");
      row.dataset.endpoint = name;
      cell(row, name, "endpoint");
      cell(row, e.count, "count");
      cell(row, fixed(e.avg_ms), "avg_ms");
      cell(row, fixed(e.p50_ms), "p50_ms");
      cell(row, fixed(e.p95_ms), "p95_ms");
      cell(row, fixed(e.p99_ms), "p99_ms");
      cell(row, fixed(e.max_ms), "max_ms");
      cell(row, fixed(e.e2e_p99_ms), "e2e_p99_ms");
      cell(row, fixed(e.apdex, 3), "apdex");
      return row;
    }),
  );
  for (const th of document.querySelectorAll("#endpoints th[data-sort]")) {
    const sorted = th.dataset.sort === field;
    if (sorted) th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    else th.removeAttribute("aria-sort");
  }
}

function sortBy(field) {
  sort = { field, descending: sort.field === field ? !sort.descending : field !== "endpoint" };
  if (lastReport) renderTable(lastReport.endpoints);
}

function renderSlowest(slowest) {
  const box = document.getElementById("slowest");
  const top = slowest.length ? slowest[0].avg_ms : 1;
  const parts = [];
  for (const entry of slowest) {
    const label = document.createElement("span");
    label.className = "bar-label";
    label.textContent = entry.endpoint;
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${Math.max(2, (100 * entry.avg_ms) / (top || 1))}%`;
    bar.textContent = `${entry.avg_ms.toFixed(1)} ms`;
    parts.push(label, bar);
  }
  box.replaceChildren(...parts);
}

function renderRates(report) {
  let requests = 0;
  let serverErrors = 0;
  let clientErrors = 0;
  for (const e of Object.values(report.endpoints)) {
    requests += e.count;
    serverErrors += e.status["5xx"] || 0;
    clientErrors += e.status["4xx"] || 0;
  }
  const percent = (part) => (requests ? `${((100 * part) / requests).toFixed(2)} %` : "–");
  document.getElementById("rps").textContent = report.rps.toFixed(2);
  document.getElementById("rps-window").textContent = report.rps_window.toFixed(2);
  document.getElementById("error-rate").textContent = percent(serverErrors);
  document.getElementById("client-error-rate").textContent = percent(clientErrors);
  if (previous && report.uptime_s > previous.uptime) {
    const seconds = report.uptime_s - previous.uptime;
    push(history.rps, (requests - previous.requests) / seconds);
    push(history.clientErrors, (clientErrors - previous.clientErrors) / seconds);
    push(history.serverErrors, (serverErrors - previous.serverErrors) / seconds);
  }
  previous = { requests, clientErrors, serverErrors, uptime: report.uptime_s };
}

function renderLatency(endpoints) {
  for (const [name, e] of Object.entries(endpoints)) {
    if (!history.latency.has(name)) history.latency.set(name, [[], [], []]);
    const [p50, p95, p99] = history.latency.get(name);
    push(p50, e.window.p50_ms ?? 0);
    push(p95, e.window.p95_ms ?? 0);
    push(p99, e.window.p99_ms ?? 0);
  }
  const select = document.getElementById("latency-endpoint");
  const names = Object.keys(endpoints).sort();
  if ([...select.options].map((option) => option.value).join("\n") !== names.join("\n")) {
    const chosen = select.value || lastReport?.top_5_slowest[0]?.endpoint || names[0];
    select.replaceChildren(...names.map((name) => new Option(name, name, false, name === chosen)));
  }
}

function renderLoopAndObjectives(report) {
  const loop = report.event_loop;
  const lag = loop ? loop.lag_ms.window.p99 : null;
  document.getElementById("loop-lag").textContent = lag === null ? "–" : `${lag.toFixed(1)} ms`;
  document.getElementById("in-flight").textContent = loop ? `${loop.in_flight.now} / ${loop.in_flight.window_max}` : "–";
  if (loop) {
    push(history.lag, lag ?? 0);
    push(history.inFlight, loop.in_flight.now);
  }
  let weighted = 0;
  let counted = 0;
  for (const e of Object.values(report.endpoints)) {
    if (e.window.apdex === undefined) continue;
    weighted += e.window.apdex * e.window.count;
    counted += e.window.count;
  }
  document.getElementById("apdex").textContent = counted ? (weighted / counted).toFixed(3) : "–";
  const objectives = Object.entries(report.slo || {});
  document.getElementById("slo-panel").hidden = objectives.length === 0;
  document.getElementById("slo").textContent = objectives.map(([name, o]) => `${name} ${o.status}`).join(" · ");
  renderQueueBanner(report, lag);
}

// Without the proxy's receipt time the figures are service time only: say so when the loop runs later than the
// slowest endpoint takes, since requests then wait in front of the app longer than they spend in it.
function renderQueueBanner(report, lag) {
  const banner = document.getElementById("queue-banner");
  const endpoints = Object.values(report.endpoints);
  const queueKnown = endpoints.some((e) => e.queue_p50_ms !== undefined);
  const slowest = Math.max(0, ...endpoints.map((e) => e.window.p50_ms ?? 0));
  const show = !queueKnown && lag !== null && lag > slowest;
  banner.hidden = !show;
  if (show) {
    banner.textContent =
      `These figures omit the wait in front of the app: the event loop ran ${lag.toFixed(1)} ms late (p99), ` +
      `more than the slowest endpoint's window p50 (${slowest.toFixed(2)} ms). Have the proxy send ` +
      "X-Request-Start and set PERFSHOP_TRUST_REQUEST_START=true to measure it.";
  }
}

function drawLines(id, series, unit) {
  const canvas = document.getElementById(id);
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const top = Math.max(1, ...series.flatMap((line) => line.values));
  ctx.fillStyle = "#6b7280";
  ctx.font = "12px sans-serif";
  ctx.fillText(`${top.toFixed(1)} ${unit}`, 6, 14);
  ctx.lineWidth = 2;
  for (const { values, color } of series) {
    ctx.strokeStyle = color;
    ctx.beginPath();
    values.forEach((value, i) => {
      const x = (i / (HISTORY - 1)) * width;
      const y = height - 4 - (value / top) * (height - 24);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
  canvas.dataset.points = String(Math.max(0, ...series.map((line) => line.values.length)));
}

function drawCharts() {
  drawLines("rps-chart", [{ values: history.rps, color: COLORS[0] }], "req/s");
  const latency = history.latency.get(document.getElementById("latency-endpoint").value) || [[], [], []];
  drawLines("latency-chart", latency.map((values, i) => ({ values, color: COLORS[i] })), "ms");
  drawLines(
    "errors-chart",
    [
      { values: history.clientErrors, color: COLORS[0] },
      { values: history.serverErrors, color: COLORS[2] },
    ],
    "/s",
  );
  drawLines(
    "loop-chart",
    [
      { values: history.lag, color: COLORS[2] },
      { values: history.inFlight, color: COLORS[0] },
    ],
    "ms · requests",
  );
}

async function pollCache() {
  if (!cacheAvailable) return;
  const panel = document.getElementById("cache-panel");
  const response = await fetch("/cache/stats", { cache: "no-store" });
  if (response.status === 404) {
    cacheAvailable = false; // this app has no cache: hide the panel for good
    panel.hidden = true;
    return;
  }
  if (!response.ok) return;
  const stats = await response.json();
  document.getElementById("cache-hit-rate").textContent = `${Number(stats.hit_rate).toFixed(1)} %`;
  panel.hidden = false;
}

async function poll() {
  const status = document.getElementById("status");
  try {
    const response = await fetch("/metrics", { cache: "no-store" });
    const report = await response.json();
    lastReport = report;
    renderTable(report.endpoints);
    renderSlowest(report.top_5_slowest);
    renderRates(report);
    renderLatency(report.endpoints);
    renderLoopAndObjectives(report);
    drawCharts();
    await pollCache();
    const covers = report.scope === "cluster" ? `${report.processes} processes` : "this process";
    const fault = report.cluster_error ? ` · ${report.cluster_error}` : "";
    status.textContent = `updated ${new Date().toLocaleTimeString()} · ${covers} · uptime ${report.uptime_s.toFixed(0)} s${fault}`;
  } catch (error) {
    status.textContent = `cannot reach the service (${error.message}); retrying`;
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const th of document.querySelectorAll("#endpoints th[data-sort]")) {
    th.addEventListener("click", () => sortBy(th.dataset.sort));
  }
  document.getElementById("latency-endpoint").addEventListener("change", drawCharts);
  poll();
});
