// The station console page: the alert queue, one incident's detail and actions, and the live
// map (key waters, drones, alerts). Data from /api/*, changes from /events (server-sent events).
"use strict";

const BOOT = JSON.parse(document.getElementById("boot").textContent);
const M = BOOT.messages;
const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const SEVERITY_COLOR = { critical: "#c0392b", high: "#e67e22", medium: "#f1c40f", low: "#7f8c8d" };
const state = { page: 1, pages: 1, selected: null, lastEventId: 0, drones: {}, alerts: {} };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return node;
}
const word = (k) => M[k] || k;
const when = (iso) => (iso ? new Date(iso).toLocaleString(BOOT.lang === "zh" ? "zh-CN" : "en-GB") : "-");
const place = (a) => (a.lat == null ? "-" : `${a.lat.toFixed(5)}, ${a.lon.toFixed(5)} ±${Math.round(a.radius_m)} m`);
const metres = (m) => (m == null ? "-" : m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(1)} km`);

async function api(path, options) {
  const resp = await fetch(path, { credentials: "same-origin", ...options });
  if (resp.status === 401) { location.href = "/login"; throw new Error("logged out"); }
  const body = await resp.json();
  if (!resp.ok) throw new Error(body.error || resp.statusText);
  return body;
}

// -- the queue ------------------------------------------------------------------------------

function filters() {
  const form = new FormData(document.getElementById("filters"));
  const q = new URLSearchParams();
  for (const [k, v] of form) {
    if (!v) { if (k === "state") q.set(k, ""); continue; }
    q.set(k, k === "since" || k === "until" ? new Date(v).toISOString() : v);
  }
  q.set("page", state.page);
  return q;
}

let loading = null;
async function loadQueue() {
  if (loading) { loading.again = true; return; }
  loading = { again: false };
  try {
    const data = await api("/api/queue?" + filters());
    state.pages = data.pages;
    if (!state.lastEventId) state.lastEventId = data.last_event_id;
    renderQueue(data);
  } finally {
    const again = loading.again;
    loading = null;
    if (again) loadQueue();
  }
}

function renderQueue(data) {
  const body = document.querySelector("#queue tbody");
  body.replaceChildren();
  if (!data.items.length) body.append(el("tr", {}, el("td", { colspan: 6 }, word("none"))));
  for (const a of data.items) {
    const row = el("tr", { "data-incident": a.incident_id, class: `sev-${a.severity} st-${a.state}`,
      onclick: () => select(a.incident_id) },
      el("td", {}, el("span", { class: "badge" }, word(a.severity))),
      el("td", {}, word(a.type) + (a.is_test ? ` (${word("test")})` : "")),
      el("td", {}, when(a.sent_at)),
      el("td", {}, a.water_name || a.water_id || "-"),
      el("td", {}, a.confidence == null ? "-" : `${Math.round(a.confidence * 100)}%`),
      el("td", {}, word(a.state)));
    if (a.incident_id === state.selected) row.classList.add("selected");
    body.append(row);
  }
  document.getElementById("page").textContent =
    word("page").replace("{p}", data.page).replace("{n}", data.pages).replace("{t}", data.total);
  for (const a of data.items) drawAlert(a);
}

// -- one incident ---------------------------------------------------------------------------

async function select(incidentId) {
  state.selected = incidentId;
  document.querySelectorAll("#queue tr.selected").forEach((r) => r.classList.remove("selected"));
  document.querySelector(`#queue tr[data-incident="${CSS.escape(incidentId)}"]`)?.classList.add("selected");
  const d = await api(`/api/incidents/${encodeURIComponent(incidentId)}`);
  renderDetail(d);
  if (d.lat != null && map) map.setView([d.lat, d.lon], Math.max(map.getZoom(), 16));
}

function renderDetail(d) {
  const box = document.getElementById("detail");
  box.hidden = false;
  const fields = el("dl", {},
    ...[["type", word(d.type)], ["severity", word(d.severity)], ["time", when(d.sent_at)],
        ["place", place(d)], ["water", d.water_name || d.water_id || "-"],
        ["confidence", d.confidence == null ? "-" : `${Math.round(d.confidence * 100)}%`],
        ["people", d.people ?? "-"], ["vehicle", d.vehicle_id || "-"], ["state", word(d.state)],
        ["unit", d.unit_id || "-"], ["outcome", d.outcome ? word(d.outcome) : "-"]]
      .flatMap(([k, v]) => [el("dt", {}, word(k)), el("dd", { "data-field": k }, String(v))]));
  const text = BOOT.lang === "zh" ? d.text_zh : d.text_en;
  const evidence = d.evidence_sha256
    ? el("a", { href: `/api/alerts/${encodeURIComponent(d.alert_id)}/evidence`, target: "_blank", class: "evidence" },
        el("img", { src: `/api/alerts/${encodeURIComponent(d.alert_id)}/evidence`, alt: word("evidence") }))
    : el("p", { class: "note" }, word("no_evidence"));
  const history = el("ol", { class: "history" },
    ...d.alerts.map((a) => ({ at: a.received_at, text: `${word("received")} (${a.status}, ${word(a.severity)})` }))
      .concat(d.history.map((h) => ({ at: h.at, text:
        `${word(h.action)} · ${h.user_name}` + (h.unit_id ? ` → ${h.unit_id}` : "") +
        (h.outcome ? ` · ${word(h.outcome)}` : "") + (h.note ? ` · ${h.note}` : "") })))
      .sort((a, b) => a.at - b.at)
      .map((h) => el("li", {}, `${new Date(h.at * 1000).toLocaleString()}  ${h.text}`)));
  box.replaceChildren(
    el("h3", {}, `${word(d.type)} · ${d.incident_id}`),
    el("p", {}, text || ""), evidence, fields, actions(d),
    el("h4", {}, word("history")), history,
    el("a", { href: `/api/incidents/${encodeURIComponent(d.incident_id)}/export`, download: "" }, word("export")));
}

function actions(d) {
  if (!BOOT.can_act || d.state === "closed") return el("div");
  const note = el("input", { name: "note", placeholder: word("note") });
  const unit = el("select", { name: "unit" },
    ...d.units.map((u) => el("option", { value: u.id }, `${u.name} · ${metres(u.distance_m)}`)));
  const outcome = el("select", { name: "outcome" }, ...BOOT.outcomes.map((o) => el("option", { value: o }, word(o))));
  const act = (body) => async () => {
    try {
      await api(`/api/incidents/${encodeURIComponent(d.incident_id)}/actions`, {
        method: "POST", headers: { "content-type": "application/json", "x-csrftoken": CSRF },
        body: JSON.stringify(body) });
      await select(d.incident_id);
    } catch (e) { alert(e.message); }
  };
  return el("div", { class: "actions" },
    d.state === "new" ? el("button", { id: "ack", onclick: act({ action: "acknowledge" }) }, word("acknowledge")) : "",
    el("div", { class: "row" }, el("label", {}, word("nearest_units"), unit), note,
      el("button", { id: "assign", onclick: () => act({ action: "assign", unit_id: unit.value, note: note.value })() }, word("assign"))),
    el("div", { class: "row" }, el("label", {}, word("outcome"), outcome),
      el("button", { id: "close", onclick: () => act({ action: "close", outcome: outcome.value, note: note.value })() }, word("close"))));
}

// -- the map --------------------------------------------------------------------------------

let map = null;
const layers = {};

function setupMap() {
  map = L.map("map", { preferCanvas: false, zoomControl: true }).setView([29.24, 115.78], 12);
  if (BOOT.tile_url) L.tileLayer(BOOT.tile_url, { attribution: BOOT.tile_attribution, maxZoom: 20 }).addTo(map);
  layers.waters = L.layerGroup().addTo(map);
  layers.alerts = L.layerGroup().addTo(map);
  layers.drones = L.layerGroup().addTo(map);
}

const WATER_STYLE = {
  water: { color: "#1f6fb2", weight: 1, fillColor: "#8fc3ea", fillOpacity: 0.5 },
  island: { color: "#6b8e23", weight: 1, fillColor: "#c5d9a0", fillOpacity: 0.9 },
  no_fly: { color: "#c0392b", weight: 2, dashArray: "4 4", fillOpacity: 0.15 },
  fence: { color: "#8e44ad", weight: 1.5, dashArray: "6 3", fill: false },
  path: { color: "#2c3e50", weight: 1, opacity: 0.6 },
  hotspot: { color: "#d35400", weight: 2 },
};

async function loadWaters() {
  const fc = await api("/api/map");
  const gj = L.geoJSON(fc, {
    style: (f) => WATER_STYLE[f.properties.kind] || {},
    pointToLayer: (f, latlng) => f.properties.radius_m
      ? L.circle(latlng, { radius: f.properties.radius_m, ...WATER_STYLE.hotspot })
      : L.circleMarker(latlng, { radius: 4, color: "#333" }),
  }).addTo(layers.waters);
  const bounds = gj.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [10, 10], animate: false });
}

function drawAlert(a) {
  if (a.lat == null || !map) return;
  const old = state.alerts[a.incident_id];
  if (old) layers.alerts.removeLayer(old);
  if (a.state === "closed") { delete state.alerts[a.incident_id]; return; }
  const color = SEVERITY_COLOR[a.severity] || "#333";
  const group = L.featureGroup([
    L.circle([a.lat, a.lon], { radius: a.radius_m || 1, color, weight: 1, fillOpacity: 0.2 }),
    L.circleMarker([a.lat, a.lon], { radius: 6, color, fillColor: color, fillOpacity: 1 }),
  ]).on("click", () => select(a.incident_id)).bindTooltip(`${word(a.type)} ${word(a.state)}`);
  group.addTo(layers.alerts);
  state.alerts[a.incident_id] = group;
}

function droneIcon(heading) {
  return L.divIcon({ className: "drone-icon", iconSize: [24, 24], iconAnchor: [12, 12],
    html: `<div class="arrow" style="transform: rotate(${Number(heading) || 0}deg)">▲</div>` });
}

function drawDrone(v) {
  if (v.lat == null || !map) return;
  let d = state.drones[v.vehicle_id];
  if (!d || d.mission_id !== v.mission_id) {
    if (d) { layers.drones.removeLayer(d.marker); layers.drones.removeLayer(d.track); }
    d = state.drones[v.vehicle_id] = {
      mission_id: v.mission_id,
      track: L.polyline(v.track || [], { color: "#16a085", weight: 2 }).addTo(layers.drones),
      marker: L.marker([v.lat, v.lon], { icon: droneIcon(v.heading_deg) }).addTo(layers.drones),
    };
  }
  if (!v.track) d.track.addLatLng([v.lat, v.lon]);
  d.marker.setLatLng([v.lat, v.lon]).setIcon(droneIcon(v.heading_deg));
  d.marker.getElement()?.setAttribute("data-vehicle", v.vehicle_id);
  d.last = v;
  renderDrones();
}

function renderDrones() {
  const box = document.getElementById("drones");
  box.replaceChildren(el("h3", {}, word("drones")), ...Object.entries(state.drones).map(([id, d]) => {
    const v = d.last;
    return el("div", { class: "drone", "data-vehicle": id },
      el("b", {}, id), ` ${word("mode")} ${v.mode} · ${word("battery")} ${v.battery_pct == null ? "-" : Math.round(v.battery_pct) + "%"}` +
      ` · ${word("sortie")} ${v.sortie ?? "-"}/${v.sorties ?? "-"} · ${word("link")} ${v.link} · ${word("video")} ${v.video}` +
      ` · ${word("detector")} ${v.detector_fps == null ? "-" : v.detector_fps.toFixed(1)} fps` +
      ` · ${v.lat == null ? "-" : v.lat.toFixed(5) + ", " + v.lon.toFixed(5)}`);
  }));
}

// -- live updates ---------------------------------------------------------------------------

let audio = null;
document.addEventListener("click", () => { audio = audio || new (window.AudioContext || window.webkitAudioContext)(); }, { once: true });

function beep() {
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    for (const [i, f] of [[0, 880], [1, 660], [2, 880]]) {
      const o = audio.createOscillator(), g = audio.createGain();
      o.frequency.value = f; g.gain.value = 0.2;
      o.connect(g).connect(audio.destination);
      o.start(audio.currentTime + i * 0.25); o.stop(audio.currentTime + i * 0.25 + 0.2);
    }
    document.body.dataset.beeps = String(Number(document.body.dataset.beeps || 0) + 1);
  } catch (e) { /* no audio device: the highlight still shows */ }
}

function follow() {
  const live = document.getElementById("live");
  const source = new EventSource(`/events?since=${state.lastEventId}`);
  source.onopen = () => { live.className = "live on"; live.textContent = word("live"); };
  source.onerror = () => { live.className = "live off"; live.textContent = word("offline"); };
  const onChange = (ev) => {
    const e = JSON.parse(ev.data);
    state.lastEventId = Math.max(state.lastEventId, e.id);
    drawAlert(e.incident);
    loadQueue().then(() => {
      const row = document.querySelector(`#queue tr[data-incident="${CSS.escape(e.incident.incident_id)}"]`);
      if (e.kind === "alert" && row) {
        row.classList.add("flash");
        setTimeout(() => row.classList.remove("flash"), 10000);
      }
    });
    if (e.kind === "alert" && e.incident.severity === "critical" && e.incident.status === "open") {
      beep();
      document.body.classList.add("critical");
      setTimeout(() => document.body.classList.remove("critical"), 3000);
    }
    if (e.incident.incident_id === state.selected) select(state.selected);
  };
  source.addEventListener("alert", onChange);
  source.addEventListener("action", onChange);
  source.addEventListener("vehicle", (ev) => drawDrone(JSON.parse(ev.data)));
}

async function start() {
  setupMap();
  document.getElementById("filters").addEventListener("submit", (e) => { e.preventDefault(); state.page = 1; loadQueue(); });
  document.getElementById("prev").onclick = () => { if (state.page > 1) { state.page--; loadQueue(); } };
  document.getElementById("next").onclick = () => { if (state.page < state.pages) { state.page++; loadQueue(); } };
  await loadQueue();
  follow();
  loadWaters().catch((e) => console.error(e));
  for (const v of await api("/api/vehicles")) drawDrone(v);
}

window.addEventListener("DOMContentLoaded", start);
