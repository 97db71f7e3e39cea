// The page `mmiotrace report` writes (report.cc fills in @@TITLE@@ and
// @@DATA@@): HTML, CSS and script in one file, nothing loaded from anywhere.
// The script renders the data; it sets body[data-status] to "ok" when done,
// or "error" (with the message in #errors) if anything threw, which is what
// the headless-browser test checks. Filters of the access table may be given
// in the address: report.html#register=STATUS&op=R&tid=5&text=LU.
#pragma once

namespace mmiotrace::analysis {

inline constexpr const char* kReportPage = R"HTML(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">
<title>mmiotrace report: @@TITLE@@</title>
<style>
body { font: 13px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .3em; }
h2 { font-size: 1.1em; margin: 1.6em 0 .4em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; }
th, td { padding: 2px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; position: sticky; top: 0; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafafa; }
code, .mono { font-family: ui-monospace, monospace; }
#summary span { font-weight: 600; }
#heatmap td.cell { width: 6px; height: 12px; padding: 0; border: 0; }
#heatmap td.name { white-space: nowrap; font-family: ui-monospace, monospace; padding-right: 6px; }
#errors { color: #a00; white-space: pre-wrap; }
.filters label { margin-right: 1em; }
.note { color: #666; }
</style>
</head>
<body data-status="loading">
<h1>mmiotrace report: <code>@@TITLE@@</code></h1>
<pre id="errors" hidden></pre>
<p id="summary">
<span id="total-accesses"></span> accesses (<span id="total-reads"></span> reads,
<span id="total-writes"></span> writes) to <span id="register-count"></span> registers from
<span id="thread-count"></span> threads, <span id="duration"></span> s;
<span id="unknown-count"></span> unknown instructions, <span id="lost-count"></span> lost events.
<span id="filtered-note" class="note"></span>
</p>
<h2>Accesses per register over time</h2>
<p class="note" id="heat-note"></p>
<table id="heatmap"><tbody></tbody></table>
<h2>Top registers</h2>
<table id="top-registers"><thead><tr><th>register</th><th class="n">accesses</th><th class="n">reads</th><th class="n">writes</th><th class="n">values</th><th>sites</th></tr></thead><tbody></tbody></table>
<h2>Top sites</h2>
<table id="top-sites"><thead><tr><th>site</th><th class="n">accesses</th><th class="n">reads</th><th class="n">writes</th></tr></thead><tbody></tbody></table>
<h2>Phases between MARKs</h2>
<table id="phases"><thead><tr><th>phase</th><th class="n">start (s)</th><th class="n">duration (s)</th><th class="n">reads</th><th class="n">writes</th><th>top registers</th></tr></thead><tbody></tbody></table>
<h2>Polling loops</h2>
<table id="polls"><thead><tr><th>loop</th><th class="n">loops</th><th class="n">reads</th><th class="n">longest</th><th>site</th></tr></thead><tbody></tbody></table>
<h2>Accesses</h2>
<p class="filters">
<label>register <input id="filter-register" size="16" placeholder="STATUS, RAL*"></label>
<label>op <select id="filter-op"><option value="">R and W</option><option>R</option><option>W</option></select></label>
<label>thread <select id="filter-tid"><option value="">all</option></select></label>
<label>text <input id="filter-text" size="16" placeholder="in value, fields, site"></label>
<span id="shown-rows" class="note"></span>
</p>
<table id="accesses"><thead><tr><th class="n">seq</th><th class="n">time (s)</th><th class="n">tid</th><th>op</th><th>register</th><th>value</th><th>fields</th><th>site</th></tr></thead><tbody></tbody></table>
<p><button id="more" hidden>show more</button></p>
<script type="application/json" id="data">@@DATA@@</script>
<script>
"use strict";
function fail(message) {
  document.body.dataset.status = "error";
  const e = document.getElementById("errors");
  e.hidden = false;
  e.textContent += message + "\n";
}
window.addEventListener("error", (e) => fail(e.message || String(e)));
try {
  const D = JSON.parse(document.getElementById("data").textContent);
  const $ = (id) => document.getElementById(id);
  const seconds = (ns) => (ns / 1e9).toFixed(6);
  const group = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  function cell(text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }
  function row(tbody, cells) {
    const tr = document.createElement("tr");
    for (const c of cells) tr.appendChild(c);
    tbody.appendChild(tr);
    return tr;
  }
  const regName = (i) => (D.registers[i] ? D.registers[i].name : "?");
  const siteText = (i) => (D.sites[i] ? D.sites[i].text : "?");

  $("total-accesses").textContent = group(D.accesses);
  $("total-reads").textContent = group(D.reads);
  $("total-writes").textContent = group(D.writes);
  $("register-count").textContent = group(D.registers.length);
  $("thread-count").textContent = group(D.threads.length);
  $("duration").textContent = seconds(Math.max(0, D.last_ns - D.first_ns));
  $("unknown-count").textContent = group(D.unknown);
  $("lost-count").textContent = group(D.lost);
  if (D.accesses !== D.accesses_in_trace)
    $("filtered-note").textContent = "(" + group(D.accesses_in_trace) + " in the trace before filtering)";

  // Heat map.
  const heat = D.heat;
  let max = 1;
  for (const r of heat.rows) for (const c of r.counts) max = Math.max(max, c);
  $("heat-note").textContent = heat.rows.length + " most accessed registers; each column " +
      seconds(heat.bucket_ns) + " s from " + seconds(heat.start_ns) + " s; darker: more accesses (at most " +
      group(max) + " in one cell)";
  const hb = $("heatmap").tBodies[0];
  for (const r of heat.rows) {
    const tr = row(hb, [cell(regName(r.reg), "name")]);
    tr.dataset.register = regName(r.reg);
    r.counts.forEach((c, k) => {
      const td = cell("", "cell");
      const x = c === 0 ? 0 : Math.log(1 + c) / Math.log(1 + max);
      td.style.background = c === 0 ? "#fff" : "hsl(18, 85%, " + (92 - 60 * x).toFixed(0) + "%)";
      td.title = regName(r.reg) + ": " + c + " accesses from " + seconds(heat.start_ns + k * heat.bucket_ns) + " s";
      td.dataset.count = c;
      tr.appendChild(td);
    });
  }

  // Top registers and sites.
  const regs = D.registers.map((r, i) => [i, r]).sort((a, b) => b[1].reads + b[1].writes - (a[1].reads + a[1].writes));
  const tr_ = $("top-registers").tBodies[0];
  for (const [i, r] of regs.slice(0, 25)) {
    const sites = r.sites.slice().sort((a, b) => b[1] - a[1]).slice(0, 3).map((s) => siteText(s[0]) + " x" + s[1]);
    row(tr_, [cell(r.name, "mono"), cell(group(r.reads + r.writes), "n"), cell(group(r.reads), "n"),
              cell(group(r.writes), "n"), cell((r.more_values ? ">" : "") + r.values, "n"), cell(sites.join(", "))]);
  }
  const sites = D.sites.map((s, i) => [i, s]).sort((a, b) => b[1].reads + b[1].writes - (a[1].reads + a[1].writes));
  const ts = $("top-sites").tBodies[0];
  for (const [i, s] of sites.slice(0, 25))
    row(ts, [cell(s.text, "mono"), cell(group(s.reads + s.writes), "n"), cell(group(s.reads), "n"), cell(group(s.writes), "n")]);

  // Phases and polls.
  const tp = $("phases").tBodies[0];
  for (const p of D.phases) {
    row(tp, [cell(p.name), cell(seconds(p.start_ns), "n"), cell(seconds(Math.max(0, p.end_ns - p.start_ns)), "n"),
             cell(group(p.reads), "n"), cell(group(p.writes), "n"),
             cell(p.top.map((t) => regName(t[0]) + " x" + t[1]).join(", "), "mono")]);
  }
  const tl = $("polls").tBodies[0];
  for (const p of D.polls.slice().sort((a, b) => b.reads - a.reads)) {
    row(tl, [cell("R " + regName(p.reg) + (p.until ? " until " + p.until : ", unchanged"), "mono"),
             cell(group(p.loops), "n"), cell(group(p.reads), "n"), cell(group(p.max_reads), "n"), cell(siteText(p.site), "mono")]);
  }

  // The access table, with filters (also from the address: #register=STATUS&op=R).
  const tids = [...new Set(D.rows.map((r) => r[2]))].sort((a, b) => a - b);
  for (const t of tids) {
    const o = document.createElement("option");
    o.textContent = t;
    $("filter-tid").appendChild(o);
  }
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.has("register")) $("filter-register").value = params.get("register");
  if (params.has("op")) $("filter-op").value = params.get("op");
  if (params.has("tid")) $("filter-tid").value = params.get("tid");
  if (params.has("text")) $("filter-text").value = params.get("text");
  const PAGE = 2000;
  let limit = PAGE;
  function globRe(g) {
    return new RegExp("^(.* )?" + g.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\[/g, "\\[").replace(/\]/g, "\\]")
        .replace(/\*/g, ".*").replace(/\?/g, ".") + "$");
  }
  function render() {
    const reg = $("filter-register").value.trim();
    const op = $("filter-op").value;
    const tid = $("filter-tid").value;
    const text = $("filter-text").value.trim().toLowerCase();
    const re = reg ? globRe(reg) : null;
    const tb = $("accesses").tBodies[0];
    tb.textContent = "";
    let matched = 0;
    let shown = 0;
    for (const r of D.rows) {
      const name = regName(r[4]);
      if (re && !re.test(name)) continue;
      if (op && r[3] !== op) continue;
      if (tid && String(r[2]) !== tid) continue;
      const site = siteText(r[7]);
      if (text && !(r[5] + " " + r[6] + " " + site).toLowerCase().includes(text)) continue;
      ++matched;
      if (shown >= limit) continue;
      ++shown;
      row(tb, [cell(r[0], "n"), cell(seconds(r[1]), "n"), cell(r[2], "n"), cell(r[3]), cell(name, "mono"),
               cell(r[5], "mono"), cell(r[6], "mono"), cell(site, "mono")]);
    }
    $("shown-rows").textContent = shown + " shown of " + matched + " matching; the table holds " + D.rows.length +
        " of " + D.rows_total + " accesses";
    $("shown-rows").dataset.matching = matched;
    $("more").hidden = shown >= matched;
  }
  for (const id of ["filter-register", "filter-op", "filter-tid", "filter-text"]) {
    $(id).addEventListener("input", () => { limit = PAGE; render(); });
  }
  $("more").addEventListener("click", () => { limit += PAGE; render(); });
  render();
  if (document.body.dataset.status !== "error") document.body.dataset.status = "ok";
} catch (e) {
  fail(e && e.stack ? e.stack : String(e));
}
</script>
</body>
</html>
)HTML";

}  // namespace mmiotrace::analysis
