// The console's window: calls the Rust commands (desktop/src/lib.rs) and shows their answers.
// It holds no queue rule: the waiting list (calling order, places, waits), the actions allowed
// on the held ticket and the floor's figures come computed from Rust (desktop/src/views.rs).
//
// Safety: no HTML is ever built from strings. Every element is made by `el` below, and every
// piece of data or translated text reaches the page as a text node (textContent), so a name
// like `<img src=x onerror=…>` shows as those characters and never runs.
const { invoke, Channel } = window.__TAURI__.core;
const $ = (id) => document.getElementById(id);
let lang = localStorage.getItem("lang") || (navigator.language || "en").slice(0, 2);
if (!TEXT[lang]) lang = "en";
let me = null, agent = null, feed = { connection: "offline", waiting: [], current: null }, queues = {}, services = {};

/// el(tag, attrs, ...children): an element with attributes and children. Children are nodes or
/// text (strings and numbers become text nodes; null/false are skipped; arrays are flattened).
/// Attributes are set as attributes (true → present, null/false → absent), except `on<event>`,
/// which must be a function and becomes a listener.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) {
      if (typeof v !== "function") throw new Error(`${k} must be a function`);
      e.addEventListener(k.slice(2), v);
    } else if (v !== null && v !== undefined && v !== false) {
      e.setAttribute(k, v === true ? "" : String(v));
    }
  }
  for (const c of children.flat(Infinity)) {
    if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  }
  return e;
}
/// Replaces the children of element `id`.
const fill = (id, ...children) => $(id).replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));

const t = (k) => TEXT[lang][k] || TEXT.en[k] || k;
function applyLang() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-t]").forEach((e) => (e.textContent = t(e.dataset.t)));
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
  if (p && p.field) { const f = document.querySelector(`[data-field="${CSS.escape(p.field)}"]`); if (f) { f.textContent = say(p); return; } }
  $(where).textContent = p ? say(p) : "";
}
const mins = (from) => from ? Math.max(0, Math.round((Date.now() - Date.parse(from)) / 60000)) + " min" : "—";
const clock = (from) => { if (!from) return "—"; const s = Math.max(0, Math.round((Date.now() - Date.parse(from)) / 1000)); return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`; };
const option = (value, label, selected) => el("option", { value, selected: !!selected }, label);
const check = (value, label, checked) => el("label", {}, el("input", { type: "checkbox", value, checked: !!checked }), " ", label);

async function start(signed) {
  me = signed;
  if (!me.tenant && me.tenants.length === 0) { problem("signin-error", { message: "This account belongs to no organisation." }); show("signin"); return; }
  if (me.tenants.length > 1 && !sessionStorage.getItem("chosen")) {
    fill("tenant-list", me.tenants.map((x) => el("button", { class: "ghost wide", onclick: async () => {
      sessionStorage.setItem("chosen", "1");
      try { start(await invoke("switch_tenant", { slug: x.slug })); } catch (p) { problem("signin-error", p); }
    } }, `${x.slug} (${x.role})`)));
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
    fill("tr-queue", qs.results.map((q) => option(q.id, q.name)));
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
// Times of day are shown in the site's time zone (a console may sit elsewhere than the branch).
let siteZones = {};
const zoneOfQueue = (qid) => (queues[qid] && siteZones[queues[qid].site_id]) || undefined;
const hhmm = (iso, zone) => iso ? new Date(iso).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit", timeZone: zone }) : "";

// --- Floor (managers): queues against their SLA, agents and what they hold — one request.
let floorTimer = null, floorSoon = null, floorShown = "";
// One listener on the table, which a refresh never replaces: a row redrawn between press and
// release still opens — the row under the pointer is the one meant.
$("floor-queues").addEventListener("click", (e) => {
  const row = e.target.closest("tr[data-queue]")
    || document.elementFromPoint(e.clientX, e.clientY)?.closest("tr[data-queue]");
  if (row) floorQueue(row.dataset.queue, row.dataset.name);
});
const SLA_CLASS = { ok: "sla-ok", warn: "sla-warn", breached: "sla-bad" };
async function loadFloor() {
  clearTimeout(floorTimer);
  if (currentTab !== "floor") return;
  try {
    const f = await invoke("floor");
    // Unchanged figures are not redrawn: a redraw between a press and its release would eat
    // the click (and flickers for nothing).
    const shown = lang + JSON.stringify(f);
    if (shown === floorShown) { problem("work-error", null); floorTimer = setTimeout(loadFloor, 5000); return; }
    floorShown = shown;
    fill("floor-queues", f.queues.map((q) => el("tr", { class: "click", "data-queue": q.id, "data-name": q.name },
      el("td", {}, q.name), el("td", {}, q.waiting),
      el("td", { class: SLA_CLASS[q.sla] }, `${Math.round(q.longest_wait_seconds / 60)} min`),
      el("td", {}, `${Math.round(q.sla_target_seconds / 60)} min`), el("td", {}, q.agents),
      el("td", {}, q.served_today), el("td", {}, q.called_per_hour.toFixed(1)))));
    fill("floor-agents", f.agents.map((a) => el("tr", {},
      el("td", {}, a.name), el("td", {}, t("st_" + a.status)),
      el("td", {}, a.ticket_number ? `${a.ticket_number} · ${t("status_" + a.ticket_status)}` : ""))));
    problem("work-error", null);
  } catch (p) { problem("work-error", p); }
  floorTimer = setTimeout(loadFloor, 5000);
}
async function floorQueue(id, name) {
  try {
    const list = await invoke("fetch", { path: `tickets/?queue_id=${encodeURIComponent(id)}&limit=100` });
    $("floor-detail").hidden = false; $("floor-detail-title").textContent = name;
    fill("floor-tickets", list.results.map((x) => el("tr", {},
      el("td", {}, x.number), el("td", {}, x.status), el("td", {}, hhmm(x.arrived_at, zoneOfQueue(x.queue_id))), el("td", {}, x.customer_name || ""))));
  } catch (p) { problem("work-error", p); }
}

// --- Devices (admins): pair a display or kiosk with the code it shows; revoke.
let sites = [];
async function loadDevices() {
  try {
    const [ds, ks, ss] = await Promise.all([invoke("fetch", { path: "displays/?limit=200" }), invoke("fetch", { path: "kiosks/?limit=200" }), invoke("fetch", { path: "sites/?limit=200" })]);
    sites = ss.results;
    fill("dv-site", sites.map((x) => option(x.id, x.name)));
    siteQueues();
    const revoke = (path) => async () => {
      try { await invoke("send", { method: "POST", path: `${path}/revoke/`, body: {} }); loadDevices(); } catch (p) { problem("device-error", p); }
    };
    const row = (d, plural) => el("tr", {},
      el("td", {}, d.name), el("td", {}, t(plural === "displays" ? "display" : "kiosk")), el("td", {}, d.is_paired ? t("yes") : t("no")),
      el("td", {}, d.is_paired && el("button", { class: "ghost", onclick: revoke(`${plural}/${d.id}`) }, t("revoke"))));
    fill("devices", ds.results.map((d) => row(d, "displays")), ks.results.map((k) => row(k, "kiosks")));
  } catch (p) { problem("device-error", p); }
}
function siteQueues() {
  const site = $("dv-site").value;
  fill("dv-queues", Object.values(queues).filter((q) => q.site_id === site).map((q) => check(q.id, q.name, true)));
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
  members: { cols: ["email", "first_name", "last_name", "role"], editFields: ["role"], fields: [["email", "text"], ["password", "password"], ["first_name", "text"], ["last_name", "text"], ["role", "enum:agent,manager,admin"]] },
};
let resource = "sites", editing = null, refs = {};
fill("res-tabs", Object.keys(RESOURCES).map((r) => el("button", { type: "button", "data-res": r, "data-t": "r_" + r, onclick: () => loadResource(r) }, t("r_" + r))));
async function loadResource(name) {
  resource = name; editing = null;
  document.querySelectorAll("[data-res]").forEach((b) => b.classList.toggle("on", b.dataset.res === name));
  const spec = RESOURCES[name];
  try {
    for (const f of spec.fields.filter((f) => /^refs?:/.test(f[1]))) { const r = f[1].split(":")[1]; refs[r] = (await invoke("fetch", { path: `${r}/?limit=200` })).results; }
    const list = await invoke("fetch", { path: `${name}/?limit=200` });
    const items = (list.results || list).map((x) => (name === "members"
      ? { id: x.user.id, email: x.user.email, first_name: x.user.first_name, last_name: x.user.last_name, role: x.membership.role } : x));
    fill("res-head", el("tr", {}, spec.cols.map((c) => el("th", {}, t("f_" + c))), el("th", {})));
    const remove = (id) => async () => {
      try { await invoke("send", { method: "DELETE", path: `${name}/${id}/` }); loadResource(name); } catch (p) { problem("res-error", p); }
    };
    fill("res-rows", items.map((x) => el("tr", {},
      spec.cols.map((c) => el("td", {}, x[c] == null ? "" : x[c])),
      el("td", { class: "acts" },
        el("button", { class: "ghost", "data-edit": x.id, onclick: () => form(x) }, t("edit")),
        el("button", { class: "ghost", "data-del": x.id, onclick: remove(x.id) }, t("delete"))))));
    form(null);
  } catch (p) { problem("res-error", p); }
}
// The fields the form shows: all of them for a new item, the editable ones for an existing one.
const formFields = (spec) => (editing && spec.editFields ? spec.fields.filter((f) => spec.editFields.includes(f[0])) : spec.fields);
function input(k, kind, v) {
  if (kind.startsWith("refs:")) return el("div", { class: "checks", "data-multi": k }, (refs[kind.slice(5)] || []).map((o) => check(o.id, o.name, (v || []).includes(o.id))));
  if (kind.startsWith("ref:")) return el("select", { name: k }, (refs[kind.slice(4)] || []).map((o) => option(o.id, o.name, o.id === v)));
  if (kind.startsWith("enum:")) return el("select", { name: k }, kind.slice(5).split(",").map((o) => option(o, o, o === v)));
  return el("input", { name: k, type: kind, value: v == null ? "" : v });
}
function form(item) {
  editing = item;
  const spec = RESOURCES[resource];
  // Screens and kiosks are created by pairing them (Screens & kiosks tab); here they are edited.
  $("res-form").hidden = !!spec.noCreate && !item;
  $("res-form-title").textContent = `${t(item ? "edit" : "new")} — ${t("r_" + resource)}`;
  fill("res-fields", formFields(spec).map(([k, kind, dflt]) => el("label", {},
    el("span", {}, t("f_" + k)), input(k, kind, item ? item[k] : dflt), el("span", { class: "field-error", "data-field": k }))));
  problem("res-error", null);
}
$("res-new").addEventListener("click", () => form(null));
$("res-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const spec = RESOURCES[resource], body = {};
  for (const [k, kind] of formFields(spec)) {
    if (kind.startsWith("refs:")) { body[k] = [...document.querySelectorAll(`#res-fields [data-multi="${k}"] input:checked`)].map((c) => c.value); continue; }
    const raw = document.querySelector(`#res-fields [name="${k}"]`).value;
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
    fill("my-counter", option("", t("no_counter")), cs.results.map((c) => option(c.id, c.name, c.id === agent.counter_id)));
    const mine = new Set(agent.queue_ids || []);
    fill("my-queues", Object.values(queues).map((q) => check(q.id, q.name, mine.has(q.id))));
  } catch (p) { problem("work-error", p); }
}
$("my-save").addEventListener("click", async () => {
  const body = { counter_id: $("my-counter").value || null, queue_ids: [...document.querySelectorAll("#my-queues input:checked")].map((c) => c.value) };
  try { await invoke("send", { method: "PATCH", path: "agents/me/", body }); $("mydesk").open = false; await refresh(); }
  catch (p) { problem("work-error", p); }
});

// Reloads the agent's profile, queues and wait-estimate inputs in Rust; the waiting list and the
// held ticket then arrive through the feed channel.
async function refresh() {
  if (!me || !me.agent_id) return;
  try { agent = await invoke("agent"); problem("work-error", null); }
  catch (p) { problem("work-error", p); }
  render();
}

function render() {
  if (!me || $("work").hidden) return;
  const online = feed.connection === "online";
  $("offline").hidden = online; $("offline").textContent = t("offline_banner");
  document.querySelectorAll("#work button:not([data-lang-toggle]):not(#signout):not(.tab), #status").forEach((b) => (b.disabled = !online));
  if (agent) $("status").value = agent.status === "busy" ? "available" : agent.status;
  // The held ticket and what its status allows, as Rust computed them.
  const cur = feed.current;
  $("current").hidden = !cur; $("idle").hidden = !!cur;
  $("call").disabled = !online || !!cur;
  if (cur) {
    const tk = cur.ticket;
    $("cur-number").textContent = tk.number;
    $("cur-status").textContent = t("status_" + cur.status);
    const q = queues[tk.queue_id];
    $("cur-customer").textContent = [tk.customer_name, (q && services[q.service_id]) || cur.queue_name].filter(Boolean).join(" · ");
    $("cur-waited").textContent = `${mins(tk.arrived_at)} (${hhmm(tk.arrived_at, zoneOfQueue(tk.queue_id))})`;
    $("cur-timer").textContent = tk.service_started_at ? clock(tk.service_started_at) : "—";
    document.querySelectorAll("[data-act]").forEach((b) => (b.disabled = !online || !cur.actions.includes(b.dataset.act)));
    $("transfer").hidden = !cur.actions.includes("transfer");
  }
  // The waiting list in calling order, with place and wait, as Rust computed them.
  const waiting = feed.waiting || [];
  $("wait-count").textContent = waiting.length;
  const now = Date.now();
  fill("waiting", waiting.length ? waiting.map((x) => el("tr", { class: now > Date.parse(x.sla_due_at) ? "late" : null, "data-id": x.id },
    el("td", {}, x.place), el("td", { class: "num" }, x.number), el("td", {}, x.queue_name),
    el("td", {}, mins(x.queued_at)), el("td", {}, x.wait_seconds == null ? "" : `${Math.ceil(x.wait_seconds / 60)} min`)))
    : el("tr", {}, el("td", { colspan: 5 }, t("nobody"))));
}
setInterval(render, 1000);

$("signin").addEventListener("submit", async (e) => {
  e.preventDefault(); $("signin-button").disabled = true; problem("signin-error", null);
  try { sessionStorage.removeItem("chosen"); start(await invoke("sign_in", { server: $("server").value, email: $("email").value, password: $("password").value })); }
  catch (p) { problem("signin-error", p); }
  finally { $("signin-button").disabled = false; }
});
$("signout").addEventListener("click", async () => { await invoke("sign_out").catch(() => {}); me = null; feed = { connection: "offline", waiting: [], current: null }; show("signin"); });
async function callNext() {
  if ($("call").disabled) return;
  try { const tk = await invoke("call_next"); problem("work-error", tk ? null : { message: t("nobody") }); await refresh(); }
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
  if (!feed.current) return;
  try { await invoke("act", { ticketId: feed.current.ticket.id, action: b.dataset.act, body: null }); await refresh(); }
  catch (p) { problem("work-error", p); }
}));
$("tr-go").addEventListener("click", async () => {
  if (!feed.current) return;
  try {
    await invoke("act", { ticketId: feed.current.ticket.id, action: "transfer", body: { to_queue_id: $("tr-queue").value, placement: $("tr-placement").value, reason: $("tr-reason").value || null } });
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
