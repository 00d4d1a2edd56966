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
  const total = Object.values(s.peers).reduce((a, b) => a + b, 0);
  $("#node-peers").textContent = s.peers.up + "/" + total + " peers up";
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
const jobs = { selected: null };

function summary(result) {
  if (result === null || result === undefined) return "";
  const text = JSON.stringify(result);
  return text.length > 80 ? text.slice(0, 77) + "..." : text;
}

async function refreshJobs() {
  const [list, clients] = await Promise.all([api("GET", "/api/v1/jobs?limit=50"), api("GET", "/api/v1/jobs/clients")]);
  if (list.status === 404) { $("#jobs").hidden = true; } else if (list.ok && clients.ok) {
    $("#jobs").hidden = false;
    const all = list.data.jobs;
    $("#jobs-summary").textContent = clients.data.clients.length + " clients, " + all.length + " jobs";
    fill($("#jobs-clients tbody"), clients.data.clients.length ? clients.data.clients.map((c) => el("tr", {},
      el("td", {}, c.name), el("td", {}, c.organization),
      el("td", {}, ...c.datasources.map((d) => el("div", { class: "datasource" },
        el("code", {}, d.name), " ", d.rows + " rows, " + d.columns.length + " columns",
        el("span", { class: "muted small" }, " " + d.projects.join(", "))))))) :
      [el("tr", {}, el("td", { colspan: 3, class: "muted" }, "No client has connected yet."))]);
    fill($("#jobs-list tbody"), all.length ? all.map((j) => el("tr", { class: j.id === jobs.selected ? "selected" : "" },
      el("td", {}, el("a", { href: "#jobs", class: "skill-link job", "data-id": j.id,
                             onclick: (ev) => { ev.preventDefault(); openJob(j.id); } }, j.id)),
      el("td", {}, j.project), el("td", {}, j.kind),
      el("td", {}, el("span", { class: "badge " + (j.state === "completed" ? "ok" : j.state === "failed" ? "error" : "") }, j.state)),
      el("td", {}, (j.round + 1) + "/" + j.rounds),
      el("td", { class: "small" }, el("code", {}, j.state === "failed" ? (j.error || {}).message || "" : summary(j.result))))) :
      [el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No jobs yet."))]);
    if (jobs.selected) openJob(jobs.selected);
  }
  const w = await api("GET", "/api/v1/worker");
  if (!w.ok) { $("#worker").hidden = true; return; }
  $("#worker").hidden = false;
  $("#worker-summary").textContent = (w.data.connected ? "connected to " + w.data.aggregator : "not connected") +
    ", " + w.data.tasks + " tasks done, " + w.data.refused + " refused" + (w.data.last_error ? " (last error: " + w.data.last_error + ")" : "");
  fill($("#worker-datasources tbody"), w.data.datasources.map((d) => el("tr", {},
    el("td", {}, el("code", {}, d.name)), el("td", {}, d.rows),
    el("td", { class: "small" }, d.columns.map((c) => c.name + " (" + c.type + ")").join(", ")), el("td", {}, d.min_rows))));
}

async function openJob(id) {
  jobs.selected = id;
  $("#job-name").textContent = id;
  const r = await api("GET", "/api/v1/jobs/" + enc(id));
  if (!r.ok) return;
  fill($("#job-tasks tbody"), r.data.tasks.map((t) => el("tr", {},
    el("td", {}, t.client), el("td", {}, t.datasource), el("td", {}, t.round),
    el("td", {}, el("span", { class: "badge " + (t.state === "done" ? "ok" : t.state === "failed" ? "error" : "") }, t.state)),
    el("td", {}, t.attempts))));
  $("#job-result").textContent = r.data.state === "failed" ? "failed: " + (r.data.error || {}).message :
    r.data.result ? JSON.stringify(r.data.result, null, 2) : r.data.state;
  document.querySelectorAll("#jobs-list tr").forEach((tr) =>
    tr.classList.toggle("selected", !!tr.querySelector(`[data-id="${CSS.escape(id)}"]`)));
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
