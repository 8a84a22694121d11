// The console's window: calls the Rust commands (desktop/src/lib.rs) and shows their answers.
const { invoke, Channel } = window.__TAURI__.core;
const $ = (id) => document.getElementById(id);
let lang = localStorage.getItem("lang") || (navigator.language || "en").slice(0, 2);
if (!TEXT[lang]) lang = "en";
let me = null, agent = null, current = null, feed = { connection: "offline", tickets: [] }, queues = {}, stats = {}, services = {};

const t = (k) => TEXT[lang][k] || TEXT.en[k] || k;
function applyLang() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-t]").forEach((el) => (el.textContent = t(el.dataset.t)));
  document.querySelectorAll("[data-lang-toggle]").forEach((b) => (b.textContent = lang === "en" ? "FR" : "EN"));
  $("tr-reason").placeholder = t("reason");
  render();
}
document.querySelectorAll("[data-lang-toggle]").forEach((b) => b.addEventListener("click", () => {
  lang = lang === "en" ? "fr" : "en"; localStorage.setItem("lang", lang); applyLang();
}));
const say = (p) => (lang === "fr" && PROBLEMS_FR[p.code]) || p.message || String(p);
function show(id) { ["signin", "tenants", "work"].forEach((s) => ($(s).hidden = s !== id)); }
function problem(where, p) {
  document.querySelectorAll(".field-error").forEach((e) => (e.textContent = ""));
  if (p && p.field) { const f = document.querySelector(`[data-field="${p.field}"]`); if (f) { f.textContent = say(p); return; } }
  $(where).textContent = p ? say(p) : "";
}
const mins = (from) => from ? Math.max(0, Math.round((Date.now() - Date.parse(from)) / 60000)) + " min" : "—";
const clock = (from) => { if (!from) return "—"; const s = Math.max(0, Math.round((Date.now() - Date.parse(from)) / 1000)); return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`; };

async function start(signed) {
  me = signed;
  if (!me.tenant && me.tenants.length === 0) { problem("signin-error", { message: "This account belongs to no organisation." }); show("signin"); return; }
  if (me.tenants.length > 1 && !sessionStorage.getItem("chosen")) {
    $("tenant-list").innerHTML = "";
    me.tenants.forEach((x) => {
      const b = document.createElement("button"); b.textContent = `${x.slug} (${x.role})`; b.className = "ghost"; b.style.width = "100%"; b.style.marginTop = ".5rem";
      b.onclick = async () => { sessionStorage.setItem("chosen", "1"); try { start(await invoke("switch_tenant", { slug: x.slug })); } catch (p) { problem("signin-error", p); } };
      $("tenant-list").appendChild(b);
    });
    show("tenants"); return;
  }
  $("who").textContent = me.name; $("org").textContent = me.tenant;
  // Tabs by role: the counter for agents, the floor for managers and admins, devices for admins.
  const role = me.role || "";
  const tabs = { counter: !!me.agent_id, floor: ["manager", "admin"].includes(role), devices: role === "admin", settings: role === "admin" };
  document.querySelectorAll(".tab").forEach((b) => (b.hidden = !tabs[b.dataset.tab]));
  $("status").hidden = !me.agent_id;
  tab(Object.keys(tabs).find((k) => tabs[k]) || "counter");
  show("work");
  try {
    const qs = await invoke("fetch", { path: "queues/?limit=200" });
    queues = Object.fromEntries(qs.results.map((q) => [q.id, q]));
    const ss = await invoke("fetch", { path: "sites/?limit=200" });
    siteZones = Object.fromEntries(ss.results.map((x) => [x.id, x.timezone]));
    const sv = await invoke("fetch", { path: "services/?limit=200" });
    services = Object.fromEntries(sv.results.map((x) => [x.id, x.name]));
    $("tr-queue").innerHTML = qs.results.map((q) => `<option value="${q.id}">${q.name}</option>`).join("");
  } catch (p) { problem("work-error", p); }
  await refresh();
  await loadDesk();
  const ch = new Channel();
  ch.onmessage = (s) => {
    const was = feed.connection; feed = s;
    if (s.refused) { refresh().then(() => invoke("follow", { onState: ch })); }
    if (was !== "online" && s.connection === "online") refresh();
    // The floor follows the same events (coalesced: at most one reload per 300 ms).
    if (currentTab === "floor" && !floorSoon) floorSoon = setTimeout(() => { floorSoon = null; loadFloor(); }, 300);
    render();
  };
  await invoke("follow", { onState: ch });
}

let currentTab = "counter";
function tab(name) {
  currentTab = name;
  document.querySelectorAll(".tab").forEach((b) => b.classList.toggle("on", b.dataset.tab === name));
  ["counter", "floor", "devices", "settings"].forEach((n) => ($("tab-" + n).hidden = n !== name));
  if (name === "floor") loadFloor();
  if (name === "devices") loadDevices();
  if (name === "settings") loadResource(resource);
}
document.querySelectorAll(".tab").forEach((b) => b.addEventListener("click", () => tab(b.dataset.tab)));
const esc = (s) => String(s == null ? "" : s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
// Times of day are shown in the site's time zone (a console may sit elsewhere than the branch).
let siteZones = {};
const zoneOfQueue = (qid) => (queues[qid] && siteZones[queues[qid].site_id]) || undefined;
const hhmm = (iso, zone) => iso ? new Date(iso).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit", timeZone: zone }) : "";

// --- Floor (managers): queues against their SLA, agents and what they serve.
let floorTimer = null, floorSoon = null, members = {};
async function loadFloor() {
  clearTimeout(floorTimer);
  if (currentTab !== "floor") return;
  try {
    const [qs, ags, ms] = await Promise.all([invoke("fetch", { path: "queues/?limit=200" }), invoke("fetch", { path: "agents/?limit=200" }), invoke("fetch", { path: "members/" })]);
    (ms.results || ms).forEach((m) => (members[m.user.id] = `${m.user.first_name} ${m.user.last_name}`.trim() || m.user.email));
    const rows = [];
    for (const q of qs.results) {
      const st = await invoke("fetch", { path: `queues/${q.id}/stats/` });
      const ratio = st.sla_target_seconds ? st.longest_wait_seconds / st.sla_target_seconds : 0;
      const cls = ratio >= 1 ? "sla-bad" : ratio >= 0.8 ? "sla-warn" : "sla-ok";
      const hours = Math.max(1, (Date.now() - new Date().setHours(0, 0, 0, 0)) / 3600000);
      rows.push(`<tr class="click" data-q="${q.id}" data-name="${esc(q.name)}"><td>${esc(q.name)}</td><td>${st.waiting}</td><td class="${cls}">${Math.round(st.longest_wait_seconds / 60)} min</td><td>${Math.round(st.sla_target_seconds / 60)} min</td><td>${st.active_agents}</td><td>${st.served_today}</td><td>${((st.served_today + st.no_show_today + st.active) / hours).toFixed(1)}</td></tr>`);
    }
    $("floor-queues").innerHTML = rows.join("");
    document.querySelectorAll("#floor-queues tr").forEach((r) => r.addEventListener("click", () => floorQueue(r.dataset.q, r.dataset.name)));
    const held = {};
    for (const a of ags.results) {
      if (!a.current_ticket_id) continue;
      const known = feed.tickets.find((x) => x.id === a.current_ticket_id);
      held[a.id] = known || (await invoke("fetch", { path: `tickets/${a.current_ticket_id}/` }).catch(() => null));
    }
    $("floor-agents").innerHTML = ags.results.map((a) => {
      const tk = held[a.id];
      return `<tr><td>${esc(members[a.user_id] || a.user_id)}</td><td>${t("st_" + a.status)}</td><td>${tk ? `${esc(tk.number)} · ${t("status_" + tk.status)}` : ""}</td></tr>`;
    }).join("");
    problem("work-error", null);
  } catch (p) { problem("work-error", p); }
  floorTimer = setTimeout(loadFloor, 5000);
}
async function floorQueue(id, name) {
  try {
    const list = await invoke("fetch", { path: `tickets/?queue_id=${id}&limit=100` });
    $("floor-detail").hidden = false; $("floor-detail-title").textContent = name;
    $("floor-tickets").innerHTML = list.results.map((x) => `<tr><td>${esc(x.number)}</td><td>${esc(x.status)}</td><td>${hhmm(x.arrived_at, zoneOfQueue(x.queue_id))}</td><td>${esc(x.customer_name || "")}</td></tr>`).join("");
  } catch (p) { problem("work-error", p); }
}

// --- Devices (admins): pair a display or kiosk with the code it shows; revoke.
let sites = [];
async function loadDevices() {
  try {
    const [ds, ks, ss] = await Promise.all([invoke("fetch", { path: "displays/?limit=200" }), invoke("fetch", { path: "kiosks/?limit=200" }), invoke("fetch", { path: "sites/?limit=200" })]);
    sites = ss.results;
    $("dv-site").innerHTML = sites.map((x) => `<option value="${x.id}">${esc(x.name)}</option>`).join("");
    siteQueues();
    const row = (d, plural) => `<tr><td>${esc(d.name)}</td><td>${t(plural === "displays" ? "display" : "kiosk")}</td><td>${d.is_paired ? t("yes") : t("no")}</td><td>${d.is_paired ? `<button class="ghost" data-revoke="${plural}/${d.id}">${t("revoke")}</button>` : ""}</td></tr>`;
    $("devices").innerHTML = ds.results.map((d) => row(d, "displays")).concat(ks.results.map((k) => row(k, "kiosks"))).join("");
    document.querySelectorAll("[data-revoke]").forEach((b) => b.addEventListener("click", async () => {
      try { await invoke("send", { method: "POST", path: `${b.dataset.revoke}/revoke/`, body: {} }); loadDevices(); } catch (p) { problem("device-error", p); }
    }));
  } catch (p) { problem("device-error", p); }
}
function siteQueues() {
  const site = $("dv-site").value;
  $("dv-queues").innerHTML = Object.values(queues).filter((q) => q.site_id === site)
    .map((q) => `<label><input type="checkbox" value="${q.id}" checked> ${esc(q.name)}</label>`).join("");
}
$("dv-site").addEventListener("change", siteQueues);
$("device-form").addEventListener("submit", async (e) => {
  e.preventDefault(); problem("device-error", null);
  const plural = $("dv-kind").value;
  const body = { site_id: $("dv-site").value, name: $("dv-name").value, language: $("dv-language").value,
    queue_ids: [...document.querySelectorAll("#dv-queues input:checked")].map((c) => c.value) };
  const extra = $("dv-extra").value.trim();
  if (extra) { if (plural === "kiosks") body.printer = extra; else body.message = extra; }
  if (plural === "displays") body.layout = $("dv-layout").value;
  let created = null;
  try {
    created = await invoke("send", { method: "POST", path: `${plural}/`, body });
    await invoke("send", { method: "POST", path: `${plural}/${created.id}/pair/`, body: { code: $("dv-code").value } });
    $("device-form").reset(); siteQueues(); loadDevices();
  } catch (p) {
    // A wrong code must not leave an unpaired device behind.
    if (created) await invoke("send", { method: "DELETE", path: `${plural}/${created.id}/` }).catch(() => {});
    if (p.code === "invalid_pairing_code") p.field = "code";
    problem("device-error", p);
  }
});

// --- Settings (admins): one editor for every configuration resource, driven by this table.
const RESOURCES = {
  sites: { cols: ["name", "timezone"], fields: [["name", "text"], ["address", "text"], ["timezone", "text", "Europe/Paris"]] },
  services: { cols: ["name", "default_service_seconds"], fields: [["name", "text"], ["description", "text"], ["default_service_seconds", "number", 300]] },
  queues: { cols: ["name", "prefix", "algorithm", "sla_target_seconds"], fields: [["site_id", "ref:sites"], ["service_id", "ref:services"], ["name", "text"], ["prefix", "text"],
    ["algorithm", "enum:fifo,priority,sla"], ["sla_target_seconds", "number", 900], ["max_wait_seconds", "number", 1800], ["max_length", "number"]] },
  counters: { cols: ["name"], fields: [["site_id", "ref:sites"], ["name", "text"]] },
  displays: { cols: ["name", "layout", "language"], noCreate: true, fields: [["name", "text"], ["queue_ids", "refs:queues"], ["language", "enum:fr,en"], ["layout", "enum:landscape,portrait"], ["message", "text"]] },
  kiosks: { cols: ["name", "language", "printer"], noCreate: true, fields: [["name", "text"], ["queue_ids", "refs:queues"], ["language", "enum:fr,en"], ["printer", "text"]] },
  members: { cols: ["email", "role"], editFields: ["role"], fields: [["email", "text"], ["password", "password"], ["first_name", "text"], ["last_name", "text"], ["role", "enum:agent,manager,admin"]] },
};
let resource = "sites", editing = null, refs = {};
$("res-tabs").innerHTML = Object.keys(RESOURCES).map((r) => `<button type="button" data-res="${r}" data-t="r_${r}">${r}</button>`).join("");
document.querySelectorAll("[data-res]").forEach((b) => b.addEventListener("click", () => loadResource(b.dataset.res)));
async function loadResource(name) {
  resource = name; editing = null;
  document.querySelectorAll("[data-res]").forEach((b) => b.classList.toggle("on", b.dataset.res === name));
  const spec = RESOURCES[name];
  try {
    for (const f of spec.fields.filter((f) => /^refs?:/.test(f[1]))) { const r = f[1].split(":")[1]; refs[r] = (await invoke("fetch", { path: `${r}/?limit=200` })).results; }
    const list = await invoke("fetch", { path: `${name}/?limit=200` });
    const items = (list.results || list).map((x) => (name === "members" ? { id: x.user.id, email: x.user.email, role: x.membership.role } : x));
    $("res-head").innerHTML = `<tr>${spec.cols.map((c) => `<th>${t("f_" + c)}</th>`).join("")}<th></th></tr>`;
    $("res-rows").innerHTML = items.map((x) => `<tr>${spec.cols.map((c) => `<td>${esc(x[c])}</td>`).join("")}<td class="acts">${spec.createOnly ? "" : `<button class="ghost" data-edit="${x.id}">${t("edit")}</button><button class="ghost" data-del="${x.id}">${t("delete")}</button>`}</td></tr>`).join("");
    document.querySelectorAll("[data-edit]").forEach((b) => b.addEventListener("click", () => form(items.find((x) => x.id === b.dataset.edit))));
    document.querySelectorAll("[data-del]").forEach((b) => b.addEventListener("click", async () => {
      try { await invoke("send", { method: "DELETE", path: `${name}/${b.dataset.del}/` }); loadResource(name); } catch (p) { problem("res-error", p); }
    }));
    form(null);
  } catch (p) { problem("res-error", p); }
}
// The fields the form shows: all of them for a new item, the editable ones for an existing one.
const formFields = (spec) => (editing && spec.editFields ? spec.fields.filter((f) => spec.editFields.includes(f[0])) : spec.fields);
function form(item) {
  editing = item;
  const spec = RESOURCES[resource];
  // Screens and kiosks are created by pairing them (Screens & kiosks tab); here they are edited.
  $("res-form").hidden = !!spec.noCreate && !item;
  $("res-form-title").textContent = `${t(item ? "edit" : "new")} — ${t("r_" + resource)}`;
  $("res-fields").innerHTML = formFields(spec).map(([k, kind, dflt]) => {
    const v = item ? item[k] : dflt;
    let input;
    if (kind.startsWith("refs:")) input = `<div class="checks" data-multi="${k}">${(refs[kind.slice(5)] || []).map((o) => `<label><input type="checkbox" value="${o.id}" ${(v || []).includes(o.id) ? "checked" : ""}> ${esc(o.name)}</label>`).join("")}</div>`;
    else if (kind.startsWith("ref:")) input = `<select name="${k}">${(refs[kind.slice(4)] || []).map((o) => `<option value="${o.id}" ${o.id === v ? "selected" : ""}>${esc(o.name)}</option>`).join("")}</select>`;
    else if (kind.startsWith("enum:")) input = `<select name="${k}">${kind.slice(5).split(",").map((o) => `<option ${o === v ? "selected" : ""}>${o}</option>`).join("")}</select>`;
    else input = `<input name="${k}" type="${kind}" value="${v == null ? "" : esc(v)}">`;
    return `<label><span>${t("f_" + k)}</span>${input}<span class="field-error" data-field="${k}"></span></label>`;
  }).join("");
  problem("res-error", null);
}
$("res-new").addEventListener("click", () => form(null));
$("res-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const spec = RESOURCES[resource], body = {};
  for (const [k, kind] of formFields(spec)) {
    if (kind.startsWith("refs:")) { body[k] = [...document.querySelectorAll(`#res-fields [data-multi="${k}"] input:checked`)].map((c) => c.value); continue; }
    const el = document.querySelector(`#res-fields [name="${k}"]`); const raw = el.value;
    if (kind === "number") { if (raw !== "") body[k] = Number(raw); else if (!editing) continue; else body[k] = null; }
    else if (raw !== "") body[k] = raw;
    else if (editing && editing[k] != null) body[k] = ""; // cleared (an absent optional value stays absent)
  }
  try {
    if (editing) await invoke("send", { method: "PATCH", path: `${resource}/${editing.id}/`, body });
    else await invoke("send", { method: "POST", path: `${resource}/`, body });
    loadResource(resource);
  } catch (p) { problem("res-error", p); }
});

// The agent picks where they sit and which queues they serve.
async function loadDesk() {
  if (!me.agent_id || !agent) { $("mydesk").hidden = true; return; }
  try {
    const cs = await invoke("fetch", { path: "counters/?limit=200" });
    $("my-counter").innerHTML = `<option value="">${t("no_counter")}</option>` + cs.results.map((c) => `<option value="${c.id}" ${c.id === agent.counter_id ? "selected" : ""}>${esc(c.name)}</option>`).join("");
    const mine = new Set(agent.queue_ids || []);
    $("my-queues").innerHTML = Object.values(queues).map((q) => `<label><input type="checkbox" value="${q.id}" ${mine.has(q.id) ? "checked" : ""}> ${esc(q.name)}</label>`).join("");
  } catch (p) { problem("work-error", p); }
}
$("my-save").addEventListener("click", async () => {
  const body = { counter_id: $("my-counter").value || null, queue_ids: [...document.querySelectorAll("#my-queues input:checked")].map((c) => c.value) };
  try { agent = await invoke("send", { method: "PATCH", path: "agents/me/", body }); $("mydesk").open = false; await refresh(); }
  catch (p) { problem("work-error", p); }
});

async function refresh() {
  if (!me || !me.agent_id) return;
  try { const v = await invoke("agent"); agent = v.agent; current = v.ticket; problem("work-error", null); }
  catch (p) { problem("work-error", p); }
  // Service times and active agents of the served queues, for the waiting list's ETA.
  for (const q of (agent && agent.queue_ids) || []) {
    try { stats[q] = await invoke("fetch", { path: `queues/${q}/stats/` }); } catch (_) { /* keep the last figures */ }
  }
  render();
}

function render() {
  if (!me || $("work").hidden) return;
  const online = feed.connection === "online";
  $("offline").hidden = online; $("offline").textContent = t("offline_banner");
  document.querySelectorAll("#work button:not([data-lang-toggle]):not(#signout):not(.tab), #status").forEach((b) => (b.disabled = !online));
  if (agent) $("status").value = agent.status === "busy" ? "available" : agent.status;
  // The current ticket, as the feed last saw it.
  if (current) { const live = feed.tickets.find((x) => x.id === current.id); if (live) current = { ...current, ...live }; }
  const active = current && ["called", "in_service", "paused"].includes(current.status);
  $("current").hidden = !active; $("idle").hidden = !!active;
  $("call").disabled = !online || !!active;
  if (active) {
    $("cur-number").textContent = current.number;
    $("cur-status").textContent = t("status_" + current.status);
    const q = queues[current.queue_id];
    $("cur-customer").textContent = [current.customer_name, q && (services[q.service_id] || q.name)].filter(Boolean).join(" · ");
    $("cur-waited").textContent = `${mins(current.arrived_at)} (${hhmm(current.arrived_at, zoneOfQueue(current.queue_id))})`;
    $("cur-timer").textContent = current.service_started_at ? clock(current.service_started_at) : "—";
    const can = { recall: "called", start_service: "called", close: "in_service", pause: "in_service", resume: "paused", mark_no_show: "called" };
    document.querySelectorAll("[data-act]").forEach((b) => (b.disabled = !online || can[b.dataset.act] !== current.status));
  }
  const mine = new Set((agent && agent.queue_ids) || []);
  const lane = (x) => (x.lane === "front" ? 0 : 1);
  const waiting = feed.tickets.filter((x) => x.status === "waiting" && mine.has(x.queue_id))
    .sort((a, b) => lane(a) - lane(b) || Date.parse(a.queued_at) - Date.parse(b.queued_at));
  // Place in its own queue's line, and the wait that implies with the queue's service time.
  const seen = {};
  waiting.forEach((x) => {
    x.place = seen[x.queue_id] = (seen[x.queue_id] || 0) + 1;
    const st = stats[x.queue_id];
    x.eta = st ? Math.ceil(((x.place - 1) * (st.average_service_seconds || 300)) / Math.max(1, st.active_agents) / 60) : null;
  });
  $("wait-count").textContent = waiting.length;
  $("waiting").innerHTML = waiting.length ? waiting.map((x) => {
    const q = queues[x.queue_id] || {}; const late = q.sla_target_seconds && (Date.now() - Date.parse(x.queued_at)) / 1000 > q.sla_target_seconds;
    return `<tr class="${late ? "late" : ""}"><td>${x.place}</td><td class="num">${x.number}</td><td>${q.name || ""}</td><td>${mins(x.queued_at)}</td><td>${x.eta === null ? "" : x.eta + " min"}</td></tr>`;
  }).join("") : `<tr><td colspan="5">${t("nobody")}</td></tr>`;
}
setInterval(render, 1000);

$("signin").addEventListener("submit", async (e) => {
  e.preventDefault(); $("signin-button").disabled = true; problem("signin-error", null);
  try { sessionStorage.removeItem("chosen"); start(await invoke("sign_in", { server: $("server").value, email: $("email").value, password: $("password").value })); }
  catch (p) { problem("signin-error", p); }
  finally { $("signin-button").disabled = false; }
});
$("signout").addEventListener("click", async () => { await invoke("sign_out").catch(() => {}); me = null; current = null; show("signin"); });
async function callNext() {
  if ($("call").disabled) return;
  try { const tk = await invoke("call_next"); current = tk; problem("work-error", tk ? null : { message: t("nobody") }); await refresh(); }
  catch (p) { problem("work-error", p); }
}
$("call").addEventListener("click", callNext);
// The system-wide shortcut (Ctrl+Shift+Space), from the Rust side.
window.__TAURI__.event.listen("call-next", () => { if (!$("work").hidden) callNext(); });
document.addEventListener("keydown", (e) => {
  if ($("work").hidden || ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName)) return;
  if (e.key === "F2" || e.key === " ") { e.preventDefault(); callNext(); }
});
document.querySelectorAll("[data-act]").forEach((b) => b.addEventListener("click", async () => {
  try { current = await invoke("act", { ticketId: current.id, action: b.dataset.act, body: null }); await refresh(); }
  catch (p) { problem("work-error", p); }
}));
$("tr-go").addEventListener("click", async () => {
  try {
    current = await invoke("act", { ticketId: current.id, action: "transfer", body: { to_queue_id: $("tr-queue").value, placement: $("tr-placement").value, reason: $("tr-reason").value || null } });
    $("transfer").open = false; await refresh();
  } catch (p) { problem("work-error", p); }
});
$("status").addEventListener("change", async () => {
  try { agent = await invoke("set_status", { status: $("status").value }); } catch (p) { problem("work-error", p); }
});

applyLang();
(async () => {
  try { const s = await invoke("restore"); if (s) { start(s); return; } } catch (p) { problem("signin-error", p); }
  show("signin");
})();
