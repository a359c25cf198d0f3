// Switchboard playground: talk to a flow over the Realtime protocol and watch it route.
// Plain JavaScript, no build step. The relay narrates what the flow does as switchboard.* events
// (transcript lines, audit records, the context the agent sees); everything else is the OpenAI protocol.
"use strict";

const TOKEN = document.querySelector('meta[name="sb-token"]').content;
const $ = (id) => document.getElementById(id);
const state = { ws: null, flow: null, flows: [], agent: null, edges: {}, version: null, audio: null, playAt: 0 };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

function api(path) {
  return fetch(path, { headers: { Authorization: `Bearer ${TOKEN}` } });
}

// -- the event log ------------------------------------------------------------------------------------

const pendingRows = [];

function logEvent(direction, event, raw) {
  // Cheap per event (a realtime turn brings dozens): the JSON is pretty-printed only when a row is opened,
  // and rows join the log once per animation frame, with one scroll.
  const type = event.type || "?";
  const time = new Date().toISOString().slice(11, 23);
  const row = el("details", { class: type.startsWith("switchboard.") ? "sb" : "", "data-type": type },
    el("summary", {},
      el("span", { class: `dir ${direction}`, text: direction === "up" ? "↑" : "↓" }),
      el("span", { class: "time", text: time }),
      el("span", { class: "type", text: type })));
  row.dataset.json = raw;
  row.addEventListener("toggle", () => {
    if (row.open && !row.querySelector("pre")) row.append(el("pre", { text: JSON.stringify(event, null, 2) }));
  });
  applyFilter(row);
  pendingRows.push(row);
  if (pendingRows.length === 1) requestAnimationFrame(flushLog);
}

function flushLog() {
  const log = $("log");
  log.append(...pendingRows.splice(0));
  log.scrollTop = log.scrollHeight;
}

function applyFilter(row) {
  const words = $("filter").value.trim().toLowerCase();
  row.hidden = words !== "" && !row.dataset.json.toLowerCase().includes(words);
}

// -- the transcript -------------------------------------------------------------------------------------

let scrollPending = false;

function add(node) {
  $("transcript").append(node);
  if (!scrollPending) {  // one scroll (one layout) per frame, however many lines came
    scrollPending = true;
    requestAnimationFrame(() => { scrollPending = false; $("transcript").scrollTop = $("transcript").scrollHeight; });
  }
  return node;
}

function badge(outcome) {
  return el("span", { class: `badge ${outcome}`, text: outcome.replace("_", " ") });
}

function json(value) {
  return el("pre", { text: JSON.stringify(value, null, 2) });
}

function onTranscript(event) {
  if (event.kind === "user") {
    add(el("div", { class: "msg user" }, event.text));
  } else if (event.kind === "assistant") {
    if (state.waiting) { state.waiting = false; performance.measure("sb-reply", "sb-submit"); }
    add(el("div", { class: "msg assistant", "data-agent": event.agent },
      el("span", { class: "who", text: event.agent }), event.text));
  } else if (event.kind === "escalation") {
    const block = [...document.querySelectorAll("details.escalation")].pop();
    if (block && !block.dataset.answer) {
      block.dataset.answer = "1";
      block.append(el("div", { class: "answer", text: event.text }));
    }
  } else if (event.kind === "notice") {
    add(el("div", { class: "notice", text: event.text }));
  }
}

function onAudit(record) {
  if (record.kind === "handoff") {
    const to = record.to_agent || "?";
    const requested = record.detail && record.detail.requested;
    const route = requested && requested !== to ? `${record.from_agent} → ${requested} ⇒ ${to}` : `${record.from_agent} → ${to}`;
    add(el("div", { class: "hop", "data-outcome": record.outcome },
      el("span", { class: "route", text: route }), badge(record.outcome),
      record.reason ? el("span", { class: "reason", text: record.reason }) : null));
    if (record.outcome !== "refused") {
      const carried = record.carried && record.carried.length ? record.carried.join(", ") : "nothing";
      $("carried").append(el("li", { text: `${record.from_agent} → ${to}: ${carried}` }));
    }
    countEdge(record);
  } else if (record.kind === "tool") {
    const d = record.detail || {};
    const ms = typeof d.latency_s === "number" ? ` · ${Math.round(d.latency_s * 1000)} ms` : "";
    add(el("details", { class: "tool", "data-tool": d.tool || "" },
      el("summary", {}, el("span", { class: "chip", text: "tool" }), el("span", { class: "name", text: d.tool }), badge(record.outcome), el("span", { class: "muted", text: `${record.from_agent}${ms}` })),
      el("div", { class: "muted", text: "arguments" }), json(d.arguments),
      el("div", { class: "muted", text: "result" }), json("result" in d ? d.result : d.error || null)));
  } else if (record.kind === "escalation") {
    const d = record.detail || {};
    const ms = typeof d.latency_s === "number" ? ` · ${Math.round(d.latency_s * 1000)} ms` : "";
    add(el("details", { class: "escalation", open: "" },
      el("summary", {}, el("span", { class: "chip", text: "supervisor" }), badge(record.outcome), el("span", { class: "muted", text: `${record.from_agent}${ms}` })),
      record.reason ? el("div", { class: "muted", text: `asked: ${record.reason}` }) : null));
  } else if (record.kind === "resume") {
    add(el("div", { class: "notice", text: `resumed with ${record.to_agent}` }));
  }
}

function onContext(event) {
  const moved = state.agent !== event.agent;
  state.agent = event.agent;
  $("agent-now").textContent = `· with ${event.agent} · depth ${event.depth}`;
  const rows = [];
  for (const [k, v] of Object.entries(event.trusted || {})) rows.push(el("tr", {}, el("td", { text: k }), el("td", { text: JSON.stringify(v) })));
  for (const [k, v] of Object.entries(event.claimed || {})) rows.push(el("tr", { class: "claimed" }, el("td", { text: k }), el("td", { text: JSON.stringify(v) })));
  $("context").replaceChildren(rows.length ? el("table", {}, ...rows) : el("p", { class: "muted", text: `${event.agent} sees no context yet.` }));
  if (moved) highlight();
}

// -- the live graph ---------------------------------------------------------------------------------------

async function loadGraph() {
  const response = await api(`/api/graph?flow=${encodeURIComponent(state.flow)}`);
  $("graph").innerHTML = response.ok ? await response.text() : `<p class="muted">${await response.text()}</p>`;
  const svg = $("graph").querySelector("svg");
  if (svg) { svg.removeAttribute("width"); svg.removeAttribute("height"); }
  highlight();
}

function nodeOf(name) {
  return [...$("graph").querySelectorAll("g.node")].find((g) => (g.querySelector("title") || {}).textContent === name);
}

function edgeOf(from, to) {
  return [...$("graph").querySelectorAll("g.edge")].find((g) => (g.querySelector("title") || {}).textContent === `${from}->${to}`);
}

function highlight() {
  for (const g of $("graph").querySelectorAll("g.node.sb-current")) g.classList.remove("sb-current");
  const node = state.agent && nodeOf(state.agent);
  if (node) { node.classList.add("sb-current", "sb-visited"); $("graph").dataset.current = state.agent; }
}

function countEdge(record) {
  const requested = (record.detail && record.detail.requested) || record.to_agent;
  const target = record.outcome === "refused" || record.outcome === "capped" ? requested : record.to_agent;
  const key = `${record.from_agent}->${target}`;
  state.edges[key] = (state.edges[key] || 0) + 1;
  const edge = edgeOf(record.from_agent, target);
  if (!edge) return;
  edge.classList.add(record.outcome === "refused" ? "sb-refused" : record.outcome === "capped" ? "sb-capped" : "sb-traversed");
  let count = edge.querySelector("text.sb-count");
  if (!count) {
    const path = edge.querySelector("path");
    if (!path) return;
    const mid = path.getPointAtLength(path.getTotalLength() / 2);
    count = document.createElementNS("http://www.w3.org/2000/svg", "text");
    count.setAttribute("class", "sb-count");
    count.setAttribute("x", mid.x + 4);
    count.setAttribute("y", mid.y - 4);
    edge.append(count);
  }
  count.textContent = `×${state.edges[key]}`;
}

// -- the connection ---------------------------------------------------------------------------------------

function send(event) {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return;
  const raw = JSON.stringify(event);
  logEvent("up", event, raw);
  state.ws.send(raw);
}

function connect() {
  const url = `ws://${location.host}/v1/realtime?flow=${encodeURIComponent(state.flow)}`;
  const ws = new WebSocket(url, ["realtime", `openai-insecure-api-key.${TOKEN}`]);
  state.ws = ws;
  $("status").textContent = "connecting…";
  $("status").className = "status";
  ws.onopen = () => {
    $("status").textContent = "live";
    $("status").className = "status live";
    const voice = $("voice").checked;
    send({ type: "session.update", session: { type: "realtime", output_modalities: [voice ? "audio" : "text"] } });
  };
  ws.onmessage = (message) => {
    const event = JSON.parse(message.data);
    logEvent("down", event, message.data);
    if (event.type === "switchboard.transcript") onTranscript(event);
    else if (event.type === "switchboard.audit") onAudit(event.record);
    else if (event.type === "switchboard.context") onContext(event);
    else if (event.type === "session.created" || event.type === "session.updated") {
      const agent = ((event.session || {}).instructions || "").replace(/^agent: /, "");
      if (agent && !state.agent) { state.agent = agent; $("agent-now").textContent = `· with ${agent}`; highlight(); }
    } else if (event.type === "error") add(el("div", { class: "notice error", text: `error: ${event.error.message}` }));
    else if (event.type === "response.output_audio.delta") play(event.delta);
  };
  ws.onclose = (close) => {
    if (state.ws !== ws) return;
    $("status").textContent = `closed ${close.code}`;
    $("status").className = "status closed";
  };
}

function say(text) {
  performance.mark("sb-submit");  // the reply's transcript line ends the "sb-reply" measure (benchmarks read it)
  state.waiting = true;
  send({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text }] } });
  send({ type: "response.create" });
}

function reset() {
  if (state.ws) { const old = state.ws; state.ws = null; old.close(1000, "reset"); }
  state.agent = null;
  state.edges = {};
  for (const id of ["transcript", "log", "carried"]) $(id).replaceChildren();
  $("context").replaceChildren(el("p", { class: "muted", text: "No context yet." }));
  $("agent-now").textContent = "";
  $("banner").hidden = true;
  loadGraph().then(connect);
}

// -- flows, lint and reload ---------------------------------------------------------------------------------

async function refreshFlows(first) {
  const response = await api("/api/flows");
  if (!response.ok) return;
  const { flows } = await response.json();
  state.flows = flows;
  if (first) {
    $("flow").replaceChildren(...flows.map((f) => el("option", { value: f.name, text: f.name })));
    state.flow = flows.find((f) => f.ok) ? flows.find((f) => f.ok).name : flows[0].name;
    $("flow").value = state.flow;
  }
  const flow = flows.find((f) => f.name === state.flow);
  if (!flow) return;
  const errors = flow.diagnostics.filter((d) => d.severity === "error").length;
  const warnings = flow.diagnostics.length - errors;
  $("lint").textContent = errors ? `${errors} error(s)` : warnings ? `lint ok · ${warnings} warning(s)` : "lint ok";
  $("lint").className = `lint ${errors ? "bad" : "ok"}`;
  if (state.version === null) state.version = flow.version;
  if (flow.version !== state.version) {
    $("banner-text").textContent = `${flow.path} changed: ${errors ? `${errors} error(s), it cannot run` : "it lints"}${warnings ? `, ${warnings} warning(s)` : ""}.`;
    $("banner-diagnostics").replaceChildren(...flow.diagnostics.map((d) =>
      el("li", { text: `${d.file}:${d.line}:${d.col}: ${d.code} [${d.severity}] ${d.message}${d.help ? ` — help: ${d.help}` : ""}` })));
    $("restart").disabled = errors > 0;
    $("banner").hidden = false;
  }
}

// -- audio: push to talk (PCM16, 24 kHz) and playback ----------------------------------------------------

function base64(int16) {
  let binary = "";
  const bytes = new Uint8Array(int16.buffer);
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

async function startTalking() {
  if (!navigator.mediaDevices) return add(el("div", { class: "notice error", text: "no microphone here" }));
  state.audio = state.audio || new AudioContext({ sampleRate: 24000 });
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { sampleRate: 24000, channelCount: 1 } });
  const source = state.audio.createMediaStreamSource(stream);
  const processor = state.audio.createScriptProcessor(4096, 1, 1);
  processor.onaudioprocess = (e) => {
    const input = e.inputBuffer.getChannelData(0);
    const pcm = new Int16Array(input.length);
    for (let i = 0; i < input.length; i++) pcm[i] = Math.max(-1, Math.min(1, input[i])) * 0x7fff;
    send({ type: "input_audio_buffer.append", audio: base64(pcm) });
  };
  source.connect(processor);
  processor.connect(state.audio.destination);
  state.talking = { stream, source, processor };
  $("talk").classList.add("on");
}

function stopTalking() {
  const talking = state.talking;
  if (!talking) return;
  talking.processor.disconnect();
  talking.source.disconnect();
  for (const track of talking.stream.getTracks()) track.stop();
  state.talking = null;
  $("talk").classList.remove("on");
  send({ type: "input_audio_buffer.commit" });
  send({ type: "response.create" });
}

function play(delta) {
  if (!$("voice").checked) return;
  state.audio = state.audio || new AudioContext({ sampleRate: 24000 });
  const bytes = Uint8Array.from(atob(delta), (c) => c.charCodeAt(0));
  const pcm = new Int16Array(bytes.buffer, 0, bytes.length >> 1);
  if (!pcm.length) return;
  const buffer = state.audio.createBuffer(1, pcm.length, 24000);
  const channel = buffer.getChannelData(0);
  for (let i = 0; i < pcm.length; i++) channel[i] = pcm[i] / 0x8000;
  const node = state.audio.createBufferSource();
  node.buffer = buffer;
  node.connect(state.audio.destination);
  state.playAt = Math.max(state.playAt, state.audio.currentTime);
  node.start(state.playAt);
  state.playAt += buffer.duration;
}

// -- wiring ---------------------------------------------------------------------------------------------

$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("text").value.trim();
  if (!text) return;
  $("text").value = "";
  say(text);
});
$("reset").addEventListener("click", reset);
$("restart").addEventListener("click", () => { state.version = null; reset(); refreshFlows(false); });
$("flow").addEventListener("change", () => { state.flow = $("flow").value; state.version = null; refreshFlows(false); reset(); });
$("voice").addEventListener("change", reset);
$("filter").addEventListener("input", () => { for (const row of $("log").children) applyFilter(row); });
$("talk").addEventListener("pointerdown", startTalking);
$("talk").addEventListener("pointerup", stopTalking);
$("talk").addEventListener("pointerleave", stopTalking);

refreshFlows(true).then(() => { loadGraph().then(connect); setInterval(() => refreshFlows(false), 2000); });
