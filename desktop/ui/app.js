// The console's window: calls the Rust commands (desktop/src/lib.rs) and shows their answers.
const { invoke, Channel } = window.__TAURI__.core;
const $ = (id) => document.getElementById(id);
let lang = localStorage.getItem("lang") || (navigator.language || "en").slice(0, 2);
if (!TEXT[lang]) lang = "en";
let me = null, agent = null, current = null, feed = { connection: "offline", tickets: [] }, queues = {}, stats = {};

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
  show("work");
  try {
    const qs = await invoke("fetch", { path: "queues/?limit=200" });
    queues = Object.fromEntries(qs.results.map((q) => [q.id, q]));
    $("tr-queue").innerHTML = qs.results.map((q) => `<option value="${q.id}">${q.name}</option>`).join("");
  } catch (p) { problem("work-error", p); }
  await refresh();
  const ch = new Channel();
  ch.onmessage = (s) => {
    const was = feed.connection; feed = s;
    if (s.refused) { refresh().then(() => invoke("follow", { onState: ch })); }
    if (was !== "online" && s.connection === "online") refresh();
    render();
  };
  await invoke("follow", { onState: ch });
}

async function refresh() {
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
  document.querySelectorAll("#work button:not([data-lang-toggle]):not(#signout), #status").forEach((b) => (b.disabled = !online));
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
    $("cur-customer").textContent = [current.customer_name, q && q.name].filter(Boolean).join(" · ");
    $("cur-waited").textContent = mins(current.arrived_at).replace(/^/, "");
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
