// The Annotate page's span editor: renders one sentence, handles keys and mouse in the browser, and sends the
// actions in order to Python (state "actions", each with the sentence id it was made on and a sequence number).
// The tag rules mirror core/annotate.py, which stays the authority: every reply from Python is the new base and
// the actions it has not acknowledged yet are replayed on it, so local state is never undone by a late reply.
// User text only ever goes through textContent.

const UNDO_DEPTH = 200;
const RESEND_MS = 3000;
const LEAVE = new Set(["save", "accept", "next", "prev", "flag"]);
const S = {mounts: 0, root: null, box: null, server: null, view: null, pending: [], seq: 0, sentUpTo: 0, sentAt: 0,
           sel: null, drag: null, setState: null, timer: null, listening: false};

// ------------------------------------------------------------------ tag rules (as core/annotate.py)
const typ = (t) => (t === "O" ? null : t.slice(2));

function repair(tags) {
  const out = tags.slice();
  for (let i = 0; i < out.length; i++) {
    if (out[i].startsWith("I-") && (i === 0 || typ(out[i - 1]) !== out[i].slice(2))) out[i] = "B-" + out[i].slice(2);
  }
  return out;
}

function setLabel(tags, i, label) {
  const out = tags.slice();
  if (label === null) out[i] = "O";
  else if (out[i] === "I-" + label) out[i] = "B-" + label;
  else if (i > 0 && typ(out[i - 1]) === label && out[i] !== "B-" + label) out[i] = "I-" + label;
  else out[i] = "B-" + label;
  return repair(out);
}

function labelSpan(tags, start, end, label) {
  const out = tags.slice();
  for (let k = start; k < end; k++) out[k] = label === null ? "O" : (k === start ? "B-" : "I-") + label;
  if (end < out.length && out[end].startsWith("I-")) out[end] = "B-" + out[end].slice(2);
  return repair(out);
}

function entityAt(tags, i) {
  if (i < 0 || i >= tags.length || tags[i] === "O") return null;
  let start = i;
  while (tags[start].startsWith("I-") && start > 0 && typ(tags[start - 1]) === typ(tags[i])) start--;
  let end = i + 1;
  while (end < tags.length && tags[end] === "I-" + typ(tags[i])) end++;
  return [start, end];
}

function spans(tags) {  // [start, end, label] as core.formats.spans
  const out = [];
  let label = null;
  tags.forEach((t, i) => {
    if (t.startsWith("I-") && t.slice(2) === label) { out[out.length - 1][1] = i + 1; return; }
    label = typ(t);
    if (label !== null) out.push([i, i + 1, label]);
  });
  return out;
}

function entityJump(tags, cursor, step) {
  const starts = spans(tags).map((s) => s[0]);
  const found = step > 0 ? starts.find((s) => s > cursor) : starts.reverse().find((s) => s < cursor);
  return found === undefined ? cursor : found;
}

// ------------------------------------------------------------------ the draft (as core.annotate.Draft / apply)
const clamp = (d, i) => Math.max(0, Math.min(d.tags.length - 1, i));

function change(d, tags) {
  if (tags.length === d.tags.length && tags.every((t, k) => t === d.tags[k])) return;
  d.undo = d.undo.concat([[d.tags, d.cursor]]).slice(-UNDO_DEPTH);
  d.tags = tags;
}

function apply(d, a) {
  switch (a.kind) {
    case "label":
      if (a.end !== undefined) { change(d, labelSpan(d.tags, a.start, a.end, a.label)); d.cursor = clamp(d, a.end); }
      else { d.cursor = a.at; change(d, setLabel(d.tags, a.at, a.label)); d.cursor = clamp(d, a.at + 1); }
      break;
    case "remove": {
      d.cursor = a.at;
      const span = entityAt(d.tags, a.at);
      if (span) change(d, labelSpan(d.tags, span[0], span[1], null));
      break;
    }
    case "clear_all": change(d, d.tags.map(() => "O")); break;
    case "move": d.cursor = clamp(d, d.cursor + a.step); break;
    case "cursor": d.cursor = a.at; break;
    case "home": d.cursor = 0; break;
    case "end": d.cursor = d.tags.length - 1; break;
    case "next_entity": d.cursor = entityJump(d.tags, d.cursor, 1); break;
    case "prev_entity": d.cursor = entityJump(d.tags, d.cursor, -1); break;
    case "undo": if (d.undo.length) { [d.tags, d.cursor] = d.undo[d.undo.length - 1]; d.undo = d.undo.slice(0, -1); } break;
    default: break;
  }
}

// The server's state with the actions it has not acknowledged replayed; an action after one that leaves the
// sentence is sent (Python refuses it) but not shown.
function replay() {
  const s = S.server;
  const d = {tags: s.tags.slice(), cursor: s.cursor, undo: s.undo.slice(), leaving: null};
  for (const a of S.pending) {
    if (a.sid !== s.sid || d.leaving) continue;
    if (LEAVE.has(a.kind)) d.leaving = a.kind;
    else apply(d, a);
  }
  return d;
}

// ------------------------------------------------------------------ sending
function act(action, keepSel = false) {
  if (!S.server) return;
  if (!keepSel) S.sel = null;
  S.seq += 1;
  S.pending.push({...action, sid: S.server.sid, seq: S.seq});
  S.view = replay();
  render();
  flush();
}

function flush() {
  const now = Date.now();
  const waiting = S.sentUpTo > S.server.acked && now - S.sentAt < RESEND_MS;
  if (!S.pending.length || waiting || !S.setState) return;
  S.sentUpTo = S.pending[S.pending.length - 1].seq;
  S.sentAt = now;
  S.setState("actions", S.pending.slice());
  clearTimeout(S.timer);
  S.timer = setTimeout(flush, RESEND_MS + 50);  // a reply lost on the way: send again
}

// ------------------------------------------------------------------ rendering (createElement + textContent only)
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function wordSpan(i) {
  const s = S.server, v = S.view;
  const w = el("span", "nl-w", s.words[i]);
  w.dataset.i = String(i);
  if (s.scores) {
    w.title = "confidence " + s.scores[i].toFixed(2);
    if (s.scores[i] < s.low) w.classList.add("nl-low");
  }
  if (i === v.cursor) w.classList.add("nl-cur");
  if (S.sel && i >= S.sel[0] && i < S.sel[1]) w.classList.add("nl-sel");
  return w;
}

function render() {
  const s = S.server, v = S.view;
  const sentence = el("div", "nl-sentence");
  const starts = new Map(spans(v.tags).map((sp) => [sp[0], sp]));
  for (let i = 0; i < s.words.length;) {
    if (i > 0) sentence.appendChild(document.createTextNode(" "));
    const sp = starts.get(i);
    if (!sp) { sentence.appendChild(wordSpan(i)); i += 1; continue; }
    const chip = el("span", "nl-ent");
    const colour = s.colours[sp[2]] || "#999999";
    chip.style.background = colour + "33";
    chip.style.borderColor = colour;
    chip.dataset.start = String(sp[0]);
    chip.dataset.end = String(sp[1]);
    for (let k = sp[0]; k < sp[1]; k++) {
      if (k > sp[0]) chip.appendChild(document.createTextNode(" "));
      chip.appendChild(wordSpan(k));
    }
    const tag = el("b", "nl-tag", sp[2]);
    tag.style.color = colour;
    chip.appendChild(document.createTextNode(" "));
    chip.appendChild(tag);
    sentence.appendChild(chip);
    i = sp[1];
  }
  const c = v.cursor;
  const line = el("div", "nl-line");
  line.appendChild(document.createTextNode(`Word ${c + 1}/${s.words.length}: `));
  line.appendChild(el("b", null, s.words[c]));
  line.appendChild(document.createTextNode(" → "));
  line.appendChild(el("code", null, v.tags[c]));
  if (s.scores) line.appendChild(document.createTextNode(` · model confidence ${s.scores[c].toFixed(2)}`));
  if (S.sel) line.appendChild(document.createTextNode(` · selected words ${S.sel[0] + 1}-${S.sel[1]}: a number labels them, 0 clears`));
  if (s.notice) line.appendChild(el("span", "nl-note", " · " + s.notice));
  if (v.leaving) line.appendChild(el("span", "nl-wait", v.leaving === "save" || v.leaving === "accept" ? " · saving, loading the next sentence…" : " · loading the sentence…"));
  S.box.replaceChildren(sentence, line);
  S.box.classList.toggle("nl-leaving", Boolean(v.leaving));
  S.box.dataset.sid = String(s.sid);
  S.box.dataset.seq = String(S.seq);
  S.box.dataset.acked = String(s.acked);
  S.box.dataset.tags = v.tags.join(" ");
  S.box.dataset.cursor = String(v.cursor);
}

// ------------------------------------------------------------------ keyboard
function typing(e) {
  const t = e.composedPath()[0];
  if (!t || !t.tagName) return false;
  return ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName) || t.isContentEditable ||
    Boolean(t.closest && t.closest('[data-testid="stDataFrame"], [data-testid="stDataFrameResizable"], [role="grid"]'));
}

function labelAction(label) {
  const v = S.view;
  const a = S.sel ? {kind: "label", label, start: S.sel[0], end: S.sel[1]} : {kind: "label", label, at: v.cursor};
  S.sel = null;
  return a;
}

function extend(step) {
  const v = S.view, anchor = S.sel ? (S.sel.anchor ?? v.cursor) : v.cursor;
  const to = clamp(v, v.cursor + step);
  S.sel = Object.assign([Math.min(anchor, to), Math.max(anchor, to) + 1], {anchor});
  act({kind: "move", step}, true);
}

function onKey(e) {
  if (!S.root || !S.box || !S.box.isConnected || !S.server || e.defaultPrevented || typing(e)) return;
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  const v = S.view;
  if ((e.ctrlKey || e.metaKey) && key === "Enter") { e.preventDefault(); act({kind: "save"}); return; }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  let action = null;
  if (/^[0-9]$/.test(key)) {
    const n = Number(key);
    if (n === 0) action = labelAction(null);
    else if (n <= S.server.labels.length) action = labelAction(S.server.labels[n - 1]);
  } else if ((key === "ArrowLeft" || key === "ArrowRight") && e.shiftKey) {
    e.preventDefault(); extend(key === "ArrowLeft" ? -1 : 1); return;
  } else {
    action = {
      ArrowLeft: {kind: "move", step: -1}, ArrowRight: {kind: "move", step: 1}, Home: {kind: "home"},
      End: {kind: "end"}, "]": {kind: "next_entity"}, "[": {kind: "prev_entity"}, u: {kind: "undo"},
      x: {kind: "clear_all"}, a: {kind: "accept"}, n: {kind: "next"}, p: {kind: "prev"},
      f: {kind: "flag"},
    }[key] || null;
    if (key === "Backspace" || key === "Delete") {
      action = e.shiftKey ? {kind: "clear_all"} : S.sel ? labelAction(null) : {kind: "remove", at: v.cursor};
    }
    if (key === "Escape" && S.sel) { S.sel = null; render(); e.preventDefault(); return; }
  }
  if (!action) return;
  e.preventDefault();
  e.stopPropagation();
  act(action);
}

// ------------------------------------------------------------------ mouse
const wordOf = (e) => {
  const t = e.composedPath().find((n) => n.dataset && (n.dataset.i !== undefined || n.classList.contains("nl-ent")));
  if (!t) return null;
  return t.dataset.i !== undefined ? Number(t.dataset.i) : {start: Number(t.dataset.start), end: Number(t.dataset.end)};
};

function onDown(e) {
  if (e.button !== 0 || !S.server || S.view.leaving) return;
  const w = wordOf(e);
  if (w === null) return;
  e.preventDefault();  // no text selection; take the focus from a text field so the keys reach the editor
  if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
  if (typeof w === "object") {  // the entity's label: select the entity
    S.sel = [w.start, w.end];
    act({kind: "cursor", at: w.start}, true);
    return;
  }
  if (e.shiftKey) {
    const anchor = S.view.cursor;
    S.sel = Object.assign([Math.min(anchor, w), Math.max(anchor, w) + 1], {anchor});
    render();
    return;
  }
  S.drag = {anchor: w, focus: w};
}

function onOver(e) {
  if (!S.drag) return;
  const w = wordOf(e);
  if (typeof w !== "number" || w === S.drag.focus) return;
  S.drag.focus = w;
  const {anchor} = S.drag;
  S.sel = Object.assign([Math.min(anchor, w), Math.max(anchor, w) + 1], {anchor});
  render();
}

function onUp() {
  if (!S.drag) return;
  const {anchor, focus} = S.drag;
  S.drag = null;
  if (anchor !== focus) return;  // a selection made by dragging: a key labels it
  const span = entityAt(S.view.tags, anchor);
  S.sel = span;  // a click in an entity selects it (0 or Backspace removes it, a number relabels it)
  act({kind: "cursor", at: anchor}, true);
}

// ------------------------------------------------------------------ mounting
export default function (component) {
  const {data, parentElement, setStateValue} = component;
  S.setState = setStateValue;
  if (S.root !== parentElement || !S.box || !S.box.isConnected) {
    S.root = parentElement;
    S.box = el("div", "nl-editor");
    S.box.tabIndex = -1;
    parentElement.appendChild(S.box);
    S.box.addEventListener("mousedown", onDown);
    S.box.addEventListener("mouseover", onOver);
  }
  if (!S.listening) {
    document.addEventListener("keydown", onKey);
    document.addEventListener("mouseup", onUp);
    S.listening = true;
  }
  if (!S.server || S.server.sid !== data.sid) S.sel = null;
  S.server = data;
  S.seq = Math.max(S.seq, data.acked);
  S.pending = S.pending.filter((a) => a.seq > data.acked);
  if (S.sel && S.sel[1] > data.words.length) S.sel = null;
  S.view = replay();
  render();
  flush();
  const mount = ++S.mounts;
  return () => {  // only the latest mount's cleanup stops the keys: a superseded one may run after it
    if (S.mounts !== mount) return;
    document.removeEventListener("keydown", onKey);
    document.removeEventListener("mouseup", onUp);
    S.listening = false;
    S.root = null;
  };
}
