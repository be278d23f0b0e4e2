// The perfshop dashboard: polls /metrics once a second and redraws; /cache/stats is shown when the app has it.
"use strict";

const POLL_MS = 1000;
const HISTORY = 120; // points of the requests/s chart
const rpsHistory = [];
let previous = null; // {requests, uptime} of the last poll, for the rate between two polls
let cacheAvailable = true;

function cell(row, value, field) {
  const td = document.createElement("td");
  td.textContent = value === null || value === undefined ? "–" : String(value);
  if (field) td.dataset.field = field;
  row.appendChild(td);
}

function fixed(value) {
  return value === null || value === undefined ? null : value.toFixed(2);
}

function renderTable(endpoints) {
  const body = document.querySelector("#endpoints tbody");
  const rows = Object.entries(endpoints).sort((a, b) => a[0].localeCompare(b[0]));
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
      return row;
    }),
  );
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
    rpsHistory.push((requests - previous.requests) / (report.uptime_s - previous.uptime));
    if (rpsHistory.length > HISTORY) rpsHistory.shift();
  }
  previous = { requests, uptime: report.uptime_s };
  drawChart();
}

function drawChart() {
  const canvas = document.getElementById("rps-chart");
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const top = Math.max(1, ...rpsHistory);
  ctx.fillStyle = "#6b7280";
  ctx.font = "12px sans-serif";
  ctx.fillText(`${top.toFixed(1)} req/s`, 6, 14);
  ctx.strokeStyle = "#3b6fd8";
  ctx.lineWidth = 2;
  ctx.beginPath();
  rpsHistory.forEach((value, i) => {
    const x = (i / (HISTORY - 1)) * width;
    const y = height - 4 - (value / top) * (height - 24);
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  });
  ctx.stroke();
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
    renderTable(report.endpoints);
    renderSlowest(report.top_5_slowest);
    renderRates(report);
    await pollCache();
    status.textContent = `updated ${new Date().toLocaleTimeString()} · uptime ${report.uptime_s.toFixed(0)} s`;
  } catch (error) {
    status.textContent = `cannot reach the service (${error.message}); retrying`;
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

document.addEventListener("DOMContentLoaded", poll);
