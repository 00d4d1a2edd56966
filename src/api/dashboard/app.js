// fedmesh node dashboard: plain JS over the operator API, no dependencies.
"use strict";

const $ = (sel) => document.querySelector(sel);
let skills = [];

function token() { return sessionStorage.getItem("fedmesh-token") || ""; }

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (token()) headers["Authorization"] = "Bearer " + token();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body });
  if (res.status === 401) $("#auth").hidden = false;
  let data = null;
  try { data = await res.json(); } catch (e) { data = { error: { code: "bad_answer", message: "the node did not answer JSON" } }; }
  return { ok: res.ok, status: res.status, data };
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}

function fill(tbody, rows) { tbody.replaceChildren(...rows); }

function formatUptime(s) {
  if (s < 60) return Math.floor(s) + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}

async function refreshStatus() {
  const r = await api("GET", "/api/v1/status");
  if (!r.ok) return;
  const s = r.data;
  document.title = s.name + " · fedmesh";
  $("#node-name").textContent = s.name;
  $("#node-org").textContent = s.organization;
  $("#node-version").textContent = "v" + s.version;
  $("#node-uptime").textContent = "up " + formatUptime(s.uptime);
  // Federation peers only; a jobs aggregator's clients have their own chip (refreshJobs).
  const total = Object.values(s.peers).reduce((a, b) => a + b, 0);
  $("#node-peers").textContent = total ? s.peers.up + "/" + total + " federation peers up" : "no federation peers";
}

async function refreshPeers() {
  const r = await api("GET", "/api/v1/peers");
  if (!r.ok) return;
  fill($("#peers tbody"), r.data.peers.map((p) => el("tr", {},
    el("td", {}, el("strong", {}, p.name), el("div", { class: "muted small" }, p.url)),
    el("td", {}, el("span", { class: "badge " + p.state }, p.state)),
    el("td", {}, p.organization),
    el("td", {}, ...(p.skills || []).map((s) => el("span", { class: "tag" }, s))),
    el("td", { class: "muted" }, p.last_error))));
  if (r.data.peers.length === 0) fill($("#peers tbody"), [el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No peers."))]);
}

function selectSkill(name) {
  $("#skill-select").value = name;
  describeSkill();
}

function describeSkill() {
  const s = skills.find((x) => x.name === $("#skill-select").value);
  $("#skill-description").textContent = s ? (s.description || "") + (s.input && Object.keys(s.input).length ? "  Input: " + JSON.stringify(s.input) : "") : "";
}

async function refreshSkills() {
  const [sr, pr] = await Promise.all([api("GET", "/api/v1/skills"), api("GET", "/api/v1/packages")]);
  if (sr.ok) {
    const current = $("#skill-select").value;
    skills = sr.data.skills;
    $("#skill-select").replaceChildren(...skills.map((s) => el("option", { value: s.name }, s.name)));
    if (skills.some((s) => s.name === current)) $("#skill-select").value = current;
    describeSkill();
  }
  if (pr.ok) {
    const list = pr.data.packages.map((p) => el("div", { class: "package", "data-status": p.status || "ok" },
      el("strong", {}, p.name), " ", el("span", { class: "muted" }, p.version + " · " + p.hash.slice(0, 12)),
      p.status && p.status !== "ok"
        ? el("div", { class: "package-status" },
          el("span", { class: "badge" }, p.status), " ", p.reason || "",
          " ", el("button", { class: "resume", onclick: () => resumePackage(p.name) }, "Resume"))
        : "",
      el("div", { class: "muted" }, p.description),
      el("ul", { class: "skills" }, ...p.skills.map((s) => {
        const full = p.name + "/" + s;
        const info = skills.find((x) => x.name === full);
        return el("li", {}, el("span", { class: "skill-link", onclick: () => selectSkill(full) }, full),
          " ", el("span", { class: "muted small" }, info ? "acl: " + JSON.stringify(info.acl) : ""));
      }))));
    $("#packages").replaceChildren(...(list.length ? list : [el("p", { class: "muted" }, "No packages installed.")]));
  }
}

// A failed or suspended package is served again after the operator resumes it.
async function resumePackage(name) {
  const r = await api("POST", "/api/v1/packages/" + encodeURIComponent(name) + "/resume");
  if (!r.ok) alert(r.data && r.data.error ? r.data.error.message : "resume failed");
  refreshSkills();
}

async function refreshLedger() {
  const r = await api("GET", "/api/v1/ledger?limit=25");
  if (!r.ok) return;
  fill($("#ledger tbody"), r.data.items.map((e) => el("tr", {},
    el("td", { class: "muted" }, e.at.replace("T", " ").slice(0, 23)),
    el("td", {}, e.direction),
    el("td", {}, e.caller),
    el("td", {}, e.callee),
    el("td", {}, el("code", {}, e.skill)),
    el("td", {}, el("span", { class: "badge " + (e.status === "ok" ? "ok" : "error") }, e.status)),
    el("td", {}, (e.duration_us / 1000).toFixed(1)),
    el("td", { class: "muted" }, e.error))));
}

function showResult(r) {
  const box = $("#result");
  box.hidden = false;
  if (r.ok) {
    box.className = "result ok";
    const children = [el("strong", {}, "Result")];
    if (r.data && typeof r.data.rgb === "string" && /^#[0-9a-fA-F]{6}$/.test(r.data.rgb)) {
      const sw = el("span", { class: "swatch" });
      sw.style.background = r.data.rgb;
      children.push(el("div", { class: "blend" }, sw, el("span", { class: "blend-name" }, r.data.color + " " + r.data.rgb)));
    }
    children.push(el("pre", {}, JSON.stringify(r.data, null, 2)));
    box.replaceChildren(...children);
  } else {
    const e = (r.data && r.data.error) || { code: "error", message: "status " + r.status };
    box.className = "result error";
    box.replaceChildren(
      el("div", {}, el("span", { class: "error-code" }, e.code), " ", el("span", { class: "error-message" }, e.message)),
      el("div", { class: "muted small" }, "HTTP " + r.status + (e.node ? " · failed on node " + e.node : "") + (e.skill ? " · " + e.skill : "")));
  }
}

async function runSkill(ev) {
  ev.preventDefault();
  const name = $("#skill-select").value;
  if (!name) return;
  let args;
  try { args = JSON.parse($("#skill-args").value || "{}"); } catch (e) {
    showResult({ ok: false, status: 0, data: { error: { code: "bad_json", message: "the arguments are not JSON: " + e.message } } });
    return;
  }
  const button = $("#run-skill");
  button.disabled = true;
  try {
    const [pkg, skill] = name.split("/");
    showResult(await api("POST", "/api/v1/skills/" + encodeURIComponent(pkg) + "/" + encodeURIComponent(skill), JSON.stringify(args)));
  } finally {
    button.disabled = false;
    refreshLedger();
  }
}

// The catalog page (registry nodes only): the query API with a search box and pages.
const catalog = { page: 0, size: 15, total: 0 };

async function refreshCatalog() {
  const q = $("#catalog-q").value;
  const r = await api("GET", "/api/v1/registry/flows?pp=" + catalog.size + "&p=" + catalog.page +
    "&by=node,name&q=" + encodeURIComponent(q));
  if (r.status === 404) { $("#catalog").hidden = true; return; }
  $("#catalog").hidden = false;
  if (!r.ok) { $("#catalog-note").textContent = (r.data.error || {}).message || "query failed"; return; }
  const d = r.data;
  catalog.total = d.filtered;
  $("#catalog-note").textContent = d.full_text ? "Searched as free text (" + d.parse_error + ")." : "";
  $("#catalog-counts").textContent = d.filtered + " of " + d.total + " flows";
  fill($("#catalog-table tbody"), d.items.map((f) => el("tr", {},
    el("td", {}, el("code", {}, f.name), el("div", { class: "muted small" }, f.description)),
    el("td", {}, f.node),
    el("td", {}, f.organization),
    el("td", {}, f.author),
    el("td", {}, ...f.tags.map((t) => el("span", { class: "tag" }, t))),
    el("td", {}, el("span", { class: "badge " + (f.status === "alive" ? "ok" : "error") }, f.status)),
    el("td", { class: "muted" }, f.heartbeat.replace("T", " ").slice(0, 19)))));
  const pages = Math.max(1, Math.ceil(catalog.total / catalog.size));
  $("#catalog-page").textContent = "page " + (catalog.page + 1) + " of " + pages;
  $("#catalog-prev").disabled = catalog.page === 0;
  $("#catalog-next").disabled = catalog.page + 1 >= pages;
}

$("#catalog-form").addEventListener("submit", (ev) => { ev.preventDefault(); catalog.page = 0; refreshCatalog(); });
$("#catalog-prev").addEventListener("click", () => { catalog.page = Math.max(0, catalog.page - 1); refreshCatalog(); });
$("#catalog-next").addEventListener("click", () => { catalog.page += 1; refreshCatalog(); });

// ---- shared data: collections, entities, and one entity's lossless history ----
const shared = { collection: null, entity: null };
const enc = encodeURIComponent;

function timeOf(micros) { return new Date(Math.floor(micros / 1000)).toISOString().replace("T", " ").replace("Z", ""); }

async function refreshData() {
  const r = await api("GET", "/api/v1/data");
  if (!r.ok) return;
  const cols = r.data.collections;
  $("#data-summary").textContent = cols.length + " collection" + (cols.length === 1 ? "" : "s");
  fill($("#data-collections tbody"), cols.length ? cols.map((c) => el("tr", { class: c.name === shared.collection ? "selected" : "" },
    el("td", {}, el("a", { href: "#data", class: "skill-link collection", "data-name": c.name,
                           onclick: (ev) => { ev.preventDefault(); openCollection(c.name); } }, c.name)),
    el("td", {}, c.entities),
    el("td", { class: "muted small" }, c.settings ? Object.keys(c.settings.properties || {}).join(", ") || c.settings.resolver : ""))) :
    [el("tr", {}, el("td", { colspan: 3, class: "muted" }, "No shared data yet."))]);
  fill($("#data-links tbody"), r.data.links.map((l) => el("tr", {},
    el("td", {}, l.peer), el("td", {}, el("span", { class: "badge " + l.state }, l.state)),
    el("td", {}, l.deltas_sent), el("td", {}, l.deltas_pulled), el("td", {}, l.queued))));
  const eqs = r.data.equivocations || [];
  $("#data-equivocations-box").hidden = eqs.length === 0;
  if (eqs.length) $("#data-summary").textContent += ", " + eqs.length + " stream" + (eqs.length === 1 ? "" : "s") + " quarantined";
  fill($("#data-equivocations tbody"), eqs.map((e) => el("tr", { class: "equivocation" },
    el("td", {}, e.creator + "/" + e.collection), el("td", {}, e.seq),
    el("td", { class: "mono small", title: e.held }, e.held.slice(0, 12)),
    el("td", { class: "mono small", title: e.other }, e.other.slice(0, 12)),
    el("td", {}, e.from), el("td", { class: "muted small" }, e.detected),
    el("td", {}, el("button", { type: "button", class: "resolve",
                                onclick: () => resolveEquivocation(e.creator, e.collection) }, "Resolve")))));
  if (shared.collection) openCollection(shared.collection, true);
}

// Lifts a stream's quarantine: this node keeps the chain it holds and accepts the stream again.
async function resolveEquivocation(creator, collection) {
  if (!confirm("Accept deltas of " + creator + "/" + collection + " again? This node keeps the chain it holds.")) return;
  const r = await api("DELETE", "/api/v1/data/equivocations/" + enc(creator) + "/" + enc(collection));
  if (!r.ok) alert(r.data && r.data.error ? r.data.error.message : "resolve failed");
  refreshData();
}

async function openCollection(name, quiet) {
  shared.collection = name;
  $("#data-collection-name").textContent = name;
  const r = await api("GET", "/api/v1/data/" + enc(name) + "/ids?limit=500");
  if (!r.ok) return;
  $("#data-entities").replaceChildren(...r.data.ids.map((id) => el("li", { class: id === shared.entity ? "selected" : "" },
    el("a", { href: "#data", class: "skill-link entity", "data-id": id,
              onclick: (ev) => { ev.preventDefault(); openEntity(id); } }, id))));
  if (!quiet) document.querySelectorAll("#data-collections tr").forEach((tr) =>
    tr.classList.toggle("selected", !!tr.querySelector(`[data-name="${CSS.escape(name)}"]`)));
}

async function openEntity(id) {
  shared.entity = id;
  $("#data-entity-name").textContent = shared.collection + "/" + id;
  document.querySelectorAll("#data-entities li").forEach((li) =>
    li.classList.toggle("selected", !!li.querySelector(`[data-id="${CSS.escape(id)}"]`)));
  const path = "/api/v1/data/" + enc(shared.collection) + "/" + enc(id);
  const [resolved, lossless] = await Promise.all([api("GET", path), api("GET", path + "?view=lossless")]);
  $("#data-resolved").textContent = resolved.ok ? JSON.stringify(resolved.data.properties, null, 2) : "(deleted)";
  if (!lossless.ok) { fill($("#data-history tbody"), []); return; }
  const rows = [];
  for (const [prop, values] of Object.entries(lossless.data.properties)) {
    for (const v of values) {
      const note = v.negated ? "negated" : v.deleted ? "deleted" : "";
      rows.push({ time: v.time, tr: el("tr", { class: note ? "hidden-value" : "" },
        el("td", {}, prop), el("td", {}, el("code", {}, JSON.stringify(v.value))), el("td", {}, v.creator),
        el("td", { class: "small" }, timeOf(v.time)), el("td", {}, el("code", { title: v.delta }, v.delta.slice(0, 12))),
        el("td", { class: "muted small" }, note)) });
    }
  }
  for (const d of lossless.data.deletes) {
    rows.push({ time: d.time, tr: el("tr", {}, el("td", {}, el("em", {}, "deleted")), el("td", {}, ""), el("td", {}, d.creator),
      el("td", { class: "small" }, timeOf(d.time)), el("td", {}, el("code", { title: d.delta }, d.delta.slice(0, 12))),
      el("td", { class: "muted small" }, d.negated ? "negated" : "")) });
  }
  rows.sort((a, b) => a.time - b.time);
  fill($("#data-history tbody"), rows.map((r) => r.tr));
}

// ---- federated jobs: an aggregator's clients and jobs, a client's datasources ----
const jobs = { selected: null, shown: "" };

const plural = (n, word) => num(n) + " " + word + (n === 1 ? "" : "s");

// One line per job for the jobs table: what the result says, in words and whole numbers.
function summary(j) {
  if (j.state === "failed") return (j.error || {}).message || "failed";
  const r = j.result;
  if (!r) return "";
  switch (j.kind) {
    case "count": return plural(r.count, "row");
    case "mean": case "variance": return plural(Object.keys(r.mean || {}).length, "column") + " over " + plural(r.count, "row");
    case "min_max": return plural(Object.keys(r.min || {}).length, "column");
    case "histogram": return plural(sum(r.counts), "value") + " in " + plural(r.counts.length, "bin");
    case "group_count": case "group_mean": return plural(Object.keys(r.groups || {}).length, "group");
    case "linear_regression": return "R² " + num(r.r2) + " over " + plural(r.n, "row");
    case "logistic_regression": return "training accuracy " + num(last(r.accuracy)) + " after " + plural(r.rounds, "round");
    case "random_forest": return plural(r.trees, "tree") + " over " + plural(r.n, "row");
    case "evaluate": return "AUC " + num(r.auc) + ", accuracy " + num(r.accuracy) + " on " + plural(r.n, "row");
    default:
      return Object.entries(r).filter(([, v]) => v === null || typeof v !== "object").map(([k, v]) => k + " " + num(v)).join(", ");
  }
}

// The point at threshold 0.5 from the metrics alone: recall is its TPR; with n, accuracy and
// precision the confusion counts follow, and from them its FPR.
function operatingPoint(r) {
  if (r.recall === null || r.accuracy === null) return null;
  if (r.recall === 0) return r.precision === null ? { tpr: 0, fpr: 0 } : null;
  if (r.precision === null || r.precision === 0) return null;
  const denominator = 1 / r.precision + 1 / r.recall - 2;
  if (denominator <= 0) return { tpr: r.recall, fpr: 0 };
  const tp = (r.n * (1 - r.accuracy)) / denominator;
  const fp = tp / r.precision - tp, tn = r.n * r.accuracy - tp;
  return { tpr: r.recall, fpr: fp + tn > 0 ? Math.max(0, fp / (fp + tn)) : 0 };
}

// The curve from the tasks' score bins (only when the aggregator shows partial results).
function rocCurve(tasks) {
  const parts = tasks.map((t) => t.result).filter((p) => p && Array.isArray(p.pos) && Array.isArray(p.neg));
  if (!parts.length) return null;
  const pos = parts[0].pos.map((_, b) => sum(parts.map((p) => p.pos[b])));
  const neg = parts[0].neg.map((_, b) => sum(parts.map((p) => p.neg[b])));
  const P = sum(pos), N = sum(neg);
  if (!P || !N) return null;
  const curve = [[0, 0]];
  let tp = 0, fp = 0;
  for (let b = pos.length - 1; b >= 0; --b) {
    if (!pos[b] && !neg[b]) continue;
    tp += pos[b]; fp += neg[b];
    curve.push([fp / N, tp / P]);
  }
  return curve;
}

const figureNames = { n: "rows used", count: "rows", r2: "R²", auc: "AUC", below: "below the first edge",
                      above: "above the last edge", rounds: "rounds", trees: "trees", datasources: "datasources" };

// Headline numbers: each a label over a whole number.
function figures(entries) {
  return el("dl", { class: "figures" }, ...entries.map(([key, value, label]) => el("div", { "data-key": key },
    el("dt", {}, label || figureNames[key] || key.replace(/_/g, " ")),
    el("dd", {}, Array.isArray(value) ? value.join(", ") : num(value)))));
}

// Objects of numbers keyed alike (mean, std, ... per column; groups) as one table.
function statsTable(result, keys) {
  const cols = keys.filter((k) => result[k] && typeof result[k] === "object" && !Array.isArray(result[k]));
  if (!cols.length) return null;
  const nested = cols.length === 1 && Object.values(result[cols[0]]).some((v) => v && typeof v === "object");
  const rows = nested ? result[cols[0]] : null;
  const heads = nested ? [...new Set(Object.values(rows).flatMap((v) => Object.keys(v || {})))] : cols;
  const names = nested ? Object.keys(rows) : [...new Set(cols.flatMap((c) => Object.keys(result[c])))];
  return el("table", { class: "stats" },
    el("thead", {}, el("tr", {}, el("th", {}, nested || cols[0] === "groups" ? "group" : "column"), ...heads.map((h) => el("th", {}, h === "groups" ? "count" : h)))),
    el("tbody", {}, ...names.map((name) => el("tr", {}, el("td", {}, name),
      ...heads.map((h) => el("td", { class: "number" }, num(nested ? (rows[name] || {})[h] : result[h][name])))))));
}

// The coefficients in the order the operation named the features (the JSON's keys are sorted).
function coefficientRows(coefficients, features) {
  const names = (features || []).filter((f) => f in coefficients);
  for (const k of Object.keys(coefficients)) if (k !== "intercept" && !names.includes(k)) names.push(k);
  return names.map((label) => ({ label, value: coefficients[label] }));
}

// What a completed job's result looks like: headline numbers, charts, tables.
function resultView(job) {
  const r = job.result, op = job.operation || {}, kind = op.kind;
  const scalars = Object.entries(r).filter(([, v]) => v === null || typeof v !== "object").map(([k, v]) => [k, v]);
  const parts = [];
  const charts = el("div", { class: "charts" });
  switch (kind) {
    case "histogram":
      parts.push(figures([["values", sum(r.counts), "values in the bins"], ["below", r.below], ["above", r.above]]));
      charts.append(histogramChart(op.column, op.bins, r.counts));
      break;
    case "linear_regression":
      parts.push(figures([...scalars, ["intercept", r.coefficients.intercept]]));
      charts.append(barsChart("coefficients", "Coefficients for " + op.target + " (per unit of each column)", coefficientRows(r.coefficients, op.features)));
      break;
    case "logistic_regression":
      parts.push(figures([...scalars, ["intercept", r.coefficients.intercept],
                          ["loss", last(r.loss), "last loss"], ["accuracy", last(r.accuracy), "last training accuracy"]]));
      charts.append(barsChart("coefficients", "Coefficients for " + op.target + " (per unit of each column)", coefficientRows(r.coefficients, op.features)),
        roundsChart("loss", "Log-loss per round", r.loss),
        roundsChart("accuracy", "Training accuracy per round", r.accuracy, 1));
      break;
    case "evaluate":
      parts.push(figures(["n", "accuracy", "precision", "recall", "auc"].map((k) => [k, r[k]])));
      charts.append(rocChart(r.auc, operatingPoint(r), rocCurve(job.tasks || [])),
        barsChart("metrics", "Scores on " + (op.datasource || "every datasource"),
          ["accuracy", "precision", "recall", "auc"].map((k) => ({ label: figureNames[k] || k, value: r[k] })), [0, 1]));
      break;
    case "group_count":
      parts.push(figures([["groups", Object.keys(r.groups).length, "groups"]]));
      if (Object.keys(r.groups).length <= 40)
        charts.append(barsChart("groups", "Rows per " + op.by, Object.entries(r.groups).map(([label, value]) => ({ label, value }))));
      else parts.push(statsTable(r, ["groups"]));
      break;
    default: {
      const objects = Object.keys(r).filter((k) => r[k] && typeof r[k] === "object" && !Array.isArray(r[k]));
      const lists = Object.entries(r).filter(([, v]) => Array.isArray(v));
      parts.push(figures([...scalars, ...lists]));
      const table = statsTable(r, objects);
      if (table) parts.push(table);
    }
  }
  if (charts.children.length) parts.push(charts);
  return parts;
}

// The tasks of a job, one row per datasource: rounds done, the latest state, attempts.
function taskRows(job) {
  const by = new Map();
  for (const t of job.tasks) {
    const key = t.client + "\u0000" + t.datasource;
    const row = by.get(key) || { client: t.client, datasource: t.datasource, done: 0, attempts: 0, latest: t };
    if (t.state === "done") row.done += 1;
    row.attempts += t.attempts;
    if (t.round >= row.latest.round) row.latest = t;
    by.set(key, row);
  }
  return [...by.values()].map((r) => el("tr", {},
    el("td", {}, r.client), el("td", {}, r.datasource), el("td", {}, r.done + "/" + job.rounds),
    el("td", {}, el("span", { class: "badge " + (r.latest.state === "done" ? "ok" : r.latest.state === "failed" ? "error" : "") }, r.latest.state),
      r.latest.error ? el("div", { class: "muted small" }, r.latest.error.message || "") : ""),
    el("td", {}, r.attempts)));
}

async function refreshJobs() {
  const [list, clients] = await Promise.all([api("GET", "/api/v1/jobs?limit=50"), api("GET", "/api/v1/jobs/clients")]);
  const chip = $("#node-jobs");
  if (list.status === 404) { $("#jobs").hidden = true; } else if (list.ok && clients.ok) {
    $("#jobs").hidden = false;
    const all = list.data.jobs, known = clients.data.clients;
    chip.hidden = false;
    chip.textContent = plural(known.length, "jobs client");
    chip.title = "clients that reported their datasources to this aggregator";
    $("#jobs-summary").textContent = plural(known.length, "client") + ", " + plural(all.length, "job");
    fill($("#jobs-clients tbody"), known.length ? known.map((c) => el("tr", {},
      el("td", {}, c.name), el("td", {}, c.organization),
      el("td", {}, ...c.datasources.map((d) => el("div", { class: "datasource" },
        el("code", {}, d.name), " ", d.rows + " rows, " + d.columns.length + " columns",
        el("span", { class: "muted small" }, " " + d.projects.join(", "))))))) :
      [el("tr", {}, el("td", { colspan: 3, class: "muted" }, "No client has connected yet."))]);
    fill($("#jobs-list tbody"), all.length ? all.map((j) => el("tr", { class: j.id === jobs.selected ? "selected" : "", "data-id": j.id },
      el("td", {}, el("a", { href: "#jobs", class: "skill-link job", "data-id": j.id,
                             onclick: (ev) => { ev.preventDefault(); openJob(j.id); } }, j.id)),
      el("td", {}, j.project), el("td", {}, j.kind),
      el("td", {}, el("span", { class: "badge " + (j.state === "completed" ? "ok" : j.state === "failed" ? "error" : "") }, j.state)),
      el("td", {}, Math.min(j.round + 1, j.rounds) + "/" + j.rounds),
      el("td", { class: "job-summary" }, summary(j)))) :
      [el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No jobs yet."))]);
    if (jobs.selected) openJob(jobs.selected);
  }
  const w = await api("GET", "/api/v1/worker");
  if (!w.ok) { $("#worker").hidden = true; if (list.status === 404) chip.hidden = true; return; }
  $("#worker").hidden = false;
  if (list.status === 404) {
    chip.hidden = false;
    chip.textContent = w.data.connected ? "jobs client of " + w.data.aggregator : "jobs client, not connected";
    chip.title = "";
  }
  $("#worker-summary").textContent = (w.data.connected ? "connected to " + w.data.aggregator : "not connected") +
    ", " + w.data.tasks + " tasks done, " + w.data.refused + " refused" + (w.data.last_error ? " (last error: " + w.data.last_error + ")" : "");
  fill($("#worker-datasources tbody"), w.data.datasources.map((d) => el("tr", {},
    el("td", {}, el("code", {}, d.name)), el("td", {}, d.rows),
    el("td", { class: "small" }, d.columns.map((c) => c.name + " (" + c.type + ")").join(", ")), el("td", {}, d.min_rows))));
}

async function openJob(id) {
  jobs.selected = id;
  document.querySelectorAll("#jobs-list tbody tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.id === id));
  const r = await api("GET", "/api/v1/jobs/" + enc(id));
  if (!r.ok || jobs.selected !== id) return;
  const job = r.data, text = JSON.stringify(job);
  if (text === jobs.shown) return;  // unchanged: keep what the reader has open
  jobs.shown = text;
  $("#job-name").textContent = id + " · " + ((job.operation || {}).kind || "") + " · " + job.state;
  $("#job-hint").hidden = true;
  $("#job-tasks").hidden = false;
  $("#job-json").hidden = false;
  fill($("#job-tasks tbody"), taskRows(job));
  const view = job.state === "failed" ? [el("p", { class: "job-error" }, "failed: " + (job.error || {}).message)] :
    job.state === "completed" && job.result ? resultView(job) :
    [el("p", { class: "muted" }, job.state + ", round " + Math.min(job.round + 1, job.rounds) + " of " + job.rounds)];
  $("#job-view").replaceChildren(...view);
  $("#job-result").textContent = job.state === "failed" ? "failed: " + (job.error || {}).message :
    job.result ? JSON.stringify(job.result, null, 2) : job.state;
}

function refreshAll() { refreshStatus(); refreshPeers(); refreshLedger(); refreshData(); refreshJobs(); }

$("#run-form").addEventListener("submit", runSkill);
$("#skill-select").addEventListener("change", describeSkill);
$("#save-token").addEventListener("click", () => {
  sessionStorage.setItem("fedmesh-token", $("#token").value);
  $("#auth").hidden = true;
  refreshAll();
  refreshSkills();
});
refreshAll();
refreshSkills();
refreshCatalog();
setInterval(refreshAll, 2000);
setInterval(refreshCatalog, 5000);
setInterval(refreshSkills, 5000);
