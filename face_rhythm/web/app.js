// face-rhythm ROI drawing page. Plain JavaScript, no external resources.
// Image coordinates: (x, y) with pixel centres at integers; the frame spans
// [-0.5, W-0.5] x [-0.5, H-0.5]. Vertices are rounded to a quarter pixel.
"use strict";

(function () {
  const COLOURS = ["#ff595e", "#1982c4", "#8ac926", "#ffca3a", "#6a4c93", "#ff924c", "#52d1dc"];
  const HIT_PX = 8;          // CSS px radius to grab a vertex
  const EDGE_PX = 8;         // CSS px distance to insert on an edge
  const QUANTUM = 4;         // vertices rounded to 1/QUANTUM px

  const $ = (id) => document.getElementById(id);
  const canvas = $("canvas");
  const ctx = canvas.getContext("2d");
  const img = new Image();

  const app = {
    width: 0, height: 0, scale: 1,
    state: { rois: [], active: -1, spacing: 9 },
    selected: null,          // {roi, vertex}
    preview: { points: [], n_points: 0, errors: [], warnings: [] },
    undoStack: [],
    dirty: false,
    finished: false,
    previewSeq: 0,
    previewShown: 0,
    idle: false,             // no preview pending: the grid shown is up to date
    lastSave: null,
  };
  window.frApp = app;

  // ------------------------------------------------------------------ state helpers
  function snapshot() {
    app.undoStack.push(JSON.stringify(app.state));
    if (app.undoStack.length > 300) app.undoStack.shift();
  }
  function changed() {
    app.dirty = true;
    renderList();
    draw();
    schedulePreview();
  }
  function undo() {
    if (!app.undoStack.length) { setStatus([["warn", "nothing to undo"]]); return; }
    app.state = JSON.parse(app.undoStack.pop());
    app.selected = null;
    $("spacing").value = app.state.spacing;
    changed();
  }
  function activeRoi() { return app.state.rois[app.state.active] || null; }
  function uniqueName(base) {
    const names = new Set(app.state.rois.map((r) => r.name));
    if (!names.has(base)) return base;
    let i = 2;
    while (names.has(base + "_" + i)) i++;
    return base + "_" + i;
  }
  function addRoi(name) {
    name = (name || "").trim() || uniqueName(app.state.rois.length ? "roi" : "face");
    if (app.state.rois.some((r) => r.name === name)) {
      setStatus([["err", `an ROI named '${name}' exists already`]]);
      return false;
    }
    snapshot();
    app.state.rois.push({ name, vertices: [], points: true, mask: true });
    app.state.active = app.state.rois.length - 1;
    app.selected = null;
    changed();
    return true;
  }
  function colour(i) { return COLOURS[i % COLOURS.length]; }

  // ------------------------------------------------------------------ coordinates
  function toImage(ev) {
    const r = canvas.getBoundingClientRect();
    let x = (ev.clientX - r.left) / app.scale - 0.5;
    let y = (ev.clientY - r.top) / app.scale - 0.5;
    x = Math.min(app.width - 0.5, Math.max(-0.5, Math.round(x * QUANTUM) / QUANTUM));
    y = Math.min(app.height - 0.5, Math.max(-0.5, Math.round(y * QUANTUM) / QUANTUM));
    return [x, y];
  }
  function toCss(p) { return [(p[0] + 0.5) * app.scale, (p[1] + 0.5) * app.scale]; }
  function cssOf(ev) {
    const r = canvas.getBoundingClientRect();
    return [ev.clientX - r.left, ev.clientY - r.top];
  }
  function hitVertex(c) {
    // active ROI first, then the others
    const order = app.state.rois.map((_, i) => i);
    if (app.state.active >= 0) {
      order.splice(app.state.active, 1);
      order.unshift(app.state.active);
    }
    for (const ri of order) {
      const vs = app.state.rois[ri].vertices;
      for (let vi = vs.length - 1; vi >= 0; vi--) {
        const p = toCss(vs[vi]);
        if (Math.hypot(p[0] - c[0], p[1] - c[1]) <= HIT_PX) return { roi: ri, vertex: vi };
      }
    }
    return null;
  }
  function nearestEdge(c, roi) {
    const vs = roi.vertices;
    if (vs.length < 2) return null;
    let best = null;
    const n = vs.length;
    for (let i = 0; i < n; i++) {
      if (n === 2 && i === 1) break;
      const a = toCss(vs[i]), b = toCss(vs[(i + 1) % n]);
      const dx = b[0] - a[0], dy = b[1] - a[1];
      const L = dx * dx + dy * dy;
      const t = L ? Math.max(0, Math.min(1, ((c[0] - a[0]) * dx + (c[1] - a[1]) * dy) / L)) : 0;
      const d = Math.hypot(a[0] + t * dx - c[0], a[1] + t * dy - c[1]);
      if (!best || d < best.d) best = { d, index: i + 1 };
    }
    return best && best.d <= EDGE_PX ? best.index : null;
  }

  // ------------------------------------------------------------------ drawing
  function layout() {
    if (!app.width) return;
    const stage = $("stage");
    const availW = Math.max(100, stage.clientWidth - 24);
    const availH = Math.max(100, window.innerHeight - 24);
    app.scale = Math.min(availW / app.width, availH / app.height, 4);
    const cssW = app.width * app.scale, cssH = app.height * app.scale;
    const dpr = window.devicePixelRatio || 1;
    canvas.style.width = cssW + "px";
    canvas.style.height = cssH + "px";
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
    draw();
  }
  function draw() {
    if (!app.width) return;
    const dpr = window.devicePixelRatio || 1;
    const s = app.scale * dpr;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.imageSmoothingEnabled = app.scale < 1;
    ctx.setTransform(s, 0, 0, s, 0.5 * s, 0.5 * s);  // image coordinates from here on
    if (img.complete && img.naturalWidth) ctx.drawImage(img, -0.5, -0.5, app.width, app.height);
    const px = 1 / app.scale;  // one CSS pixel in image units

    app.state.rois.forEach((roi, ri) => {
      const vs = roi.vertices;
      const c = colour(ri);
      const isActive = ri === app.state.active;
      if (vs.length) {
        ctx.beginPath();
        ctx.moveTo(vs[0][0], vs[0][1]);
        for (let i = 1; i < vs.length; i++) ctx.lineTo(vs[i][0], vs[i][1]);
        if (vs.length >= 3) {
          ctx.closePath();
          ctx.fillStyle = c + (isActive ? "33" : "22");
          ctx.fill();
        }
        ctx.strokeStyle = c;
        ctx.lineWidth = (isActive ? 2 : 1.5) * px;
        ctx.setLineDash(roi.points ? [] : [6 * px, 4 * px]);
        ctx.stroke();
        ctx.setLineDash([]);
      }
      const r = (isActive ? 4.5 : 3) * px;
      vs.forEach((v, vi) => {
        ctx.beginPath();
        ctx.arc(v[0], v[1], r, 0, 2 * Math.PI);
        const sel = app.selected && app.selected.roi === ri && app.selected.vertex === vi;
        ctx.fillStyle = sel ? "#ffffff" : c;
        ctx.fill();
        ctx.lineWidth = 1 * px;
        ctx.strokeStyle = "#000000";
        ctx.stroke();
      });
      if (vs.length) {  // label near the first vertex
        ctx.font = `${12 * px}px system-ui, sans-serif`;
        ctx.fillStyle = c;
        ctx.fillText(roi.name, vs[0][0] + 6 * px, vs[0][1] - 6 * px);
      }
    });

    // grid points from the server (exactly the library's grid)
    const pts = app.preview.points;
    const pr = Math.max(1.2 * px, Math.min(2.5 * px, 0.25 * app.state.spacing));
    ctx.fillStyle = "#00e5ff";
    for (const p of pts) {
      ctx.beginPath();
      ctx.arc(p[0], p[1], pr, 0, 2 * Math.PI);
      ctx.fill();
    }
  }

  function renderList() {
    const ul = $("roi-list");
    ul.innerHTML = "";
    app.state.rois.forEach((roi, ri) => {
      const li = document.createElement("li");
      li.dataset.testid = "roi-item";
      li.dataset.name = roi.name;
      if (ri === app.state.active) li.classList.add("active");
      li.title = "click to make this the active ROI";
      li.innerHTML =
        `<span class="swatch" style="background:${colour(ri)}"></span>` +
        `<span class="name"></span><span class="nv">${roi.vertices.length} v</span>` +
        `<label title="grid points fill the overlap of the ROIs ticked here">` +
        `<input type="checkbox" data-k="points" ${roi.points ? "checked" : ""}>points</label>` +
        `<label title="tracking mask = overlap of the ROIs ticked here">` +
        `<input type="checkbox" data-k="mask" ${roi.mask ? "checked" : ""}>mask</label>` +
        `<button class="del" title="delete this ROI" data-testid="delete-roi">×</button>`;
      li.querySelector(".name").textContent = roi.name;
      li.addEventListener("click", (ev) => {
        if (ev.target.tagName === "INPUT" || ev.target.tagName === "BUTTON") return;
        app.state.active = ri;
        app.selected = null;
        renderList();
        draw();
      });
      li.querySelectorAll("input[type=checkbox]").forEach((cb) => {
        cb.addEventListener("change", () => {
          snapshot();
          roi[cb.dataset.k] = cb.checked;
          changed();
        });
      });
      li.querySelector("button.del").addEventListener("click", () => {
        snapshot();
        app.state.rois.splice(ri, 1);
        app.state.active = Math.min(app.state.active, app.state.rois.length - 1);
        app.selected = null;
        changed();
      });
      ul.appendChild(li);
    });
  }

  function setStatus(items) {
    const el = $("status");
    el.innerHTML = "";
    for (const [cls, text] of items) {
      const d = document.createElement("div");
      d.className = cls;
      d.textContent = text;
      el.appendChild(d);
    }
  }

  // ------------------------------------------------------------------ server calls
  function payload(extra) {
    return Object.assign({
      rois: app.state.rois.map((r) => ({
        name: r.name, vertices: r.vertices, points: r.points, mask: r.mask,
      })),
      point_spacing: app.state.spacing,
    }, extra || {});
  }
  async function post(url, body) {
    const res = await fetch(url, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const data = await res.json();
    return { ok: res.ok, data };
  }
  let previewTimer = null;
  function schedulePreview() {
    app.idle = false;  // true again once the grid shown matches the drawing
    clearTimeout(previewTimer);
    previewTimer = setTimeout(runPreview, 60);
  }
  async function runPreview() {
    previewTimer = null;
    const seq = ++app.previewSeq;
    try {
      const { data } = await post("api/preview", payload());
      if (app.finished || seq < app.previewShown) return;  // stale answer
      app.previewShown = seq;
      if (seq === app.previewSeq && previewTimer === null) app.idle = true;
      app.preview = data;
      $("n-points").textContent = `${data.n_points} points`;
      const items = data.errors.map((e) => ["err", e]).concat(data.warnings.map((w) => ["warn", w]));
      setStatus(items);
      draw();
    } catch (e) {
      if (!app.finished) setStatus([["err", "server not reachable: " + e]]);
    }
  }
  async function save(finish) {
    try {
      const { ok, data } = await post("api/save", payload({ finish }));
      if (!ok) { setStatus([["err", "not saved: " + data.error]]); return; }
      app.dirty = false;
      app.lastSave = data;
      const msg = `saved ${data.rois.length} ROI(s) and ${data.n_points} points to ${data.path}`;
      if (finish) {
        app.finished = true;
        setStatus([["ok", msg], ["ok", "the server has stopped: you can close this tab"]]);
        document.querySelectorAll("button, input").forEach((el) => { el.disabled = true; });
      } else {
        setStatus([["ok", msg]]);
      }
    } catch (e) {
      setStatus([["err", "save failed: " + e]]);
    }
  }

  // ------------------------------------------------------------------ canvas interaction
  let drag = null;  // {roi, vertex, moved}
  canvas.addEventListener("mousedown", (ev) => {
    if (app.finished || ev.button !== 0) return;
    ev.preventDefault();
    const c = cssOf(ev);
    const hit = hitVertex(c);
    if (hit && ev.altKey) { deleteVertex(hit); return; }
    if (hit) {
      app.state.active = hit.roi;
      app.selected = hit;
      drag = { roi: hit.roi, vertex: hit.vertex, moved: false };
      renderList();
      draw();
      return;
    }
    if (!activeRoi()) addRoi("");
    const roi = activeRoi();
    const p = toImage(ev);
    snapshot();
    let at = roi.vertices.length;
    if (ev.shiftKey) {
      const e = nearestEdge(c, roi);
      if (e !== null) at = e;
    }
    roi.vertices.splice(at, 0, p);
    app.selected = { roi: app.state.active, vertex: at };
    changed();
  });
  window.addEventListener("mousemove", (ev) => {
    if (!app.width) return;
    if (drag) {
      const p = toImage(ev);
      const v = app.state.rois[drag.roi].vertices;
      if (!drag.moved) { snapshot(); drag.moved = true; }
      v[drag.vertex] = p;
      app.dirty = true;
      draw();
      schedulePreview();
      return;
    }
    if (ev.target === canvas) {
      const p = toImage(ev);
      $("coords").textContent = `x ${p[0].toFixed(2)}  y ${p[1].toFixed(2)}`;
      canvas.classList.toggle("on-vertex", !!hitVertex(cssOf(ev)));
    }
  });
  window.addEventListener("mouseup", () => {
    if (drag && drag.moved) changed();
    drag = null;
  });
  canvas.addEventListener("contextmenu", (ev) => {
    ev.preventDefault();
    const hit = hitVertex(cssOf(ev));
    if (hit) deleteVertex(hit);
  });
  function deleteVertex(hit) {
    snapshot();
    app.state.rois[hit.roi].vertices.splice(hit.vertex, 1);
    app.state.active = hit.roi;
    app.selected = null;
    changed();
  }
  window.addEventListener("keydown", (ev) => {
    const inInput = ev.target && ev.target.tagName === "INPUT";
    if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "z" && !inInput) {
      ev.preventDefault();
      undo();
    } else if ((ev.key === "Delete" || ev.key === "Backspace") && !inInput && app.selected) {
      ev.preventDefault();
      deleteVertex(app.selected);
    }
  });

  // ------------------------------------------------------------------ controls
  $("add-roi").addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (addRoi($("new-roi-name").value)) $("new-roi-name").value = "";
  });
  $("spacing").addEventListener("change", () => {
    const v = Math.round(Number($("spacing").value));
    if (!(v >= 1)) { $("spacing").value = app.state.spacing; return; }
    snapshot();
    app.state.spacing = v;
    $("spacing").value = v;
    changed();
  });
  $("undo").addEventListener("click", undo);
  $("clear").addEventListener("click", () => {
    const roi = activeRoi();
    if (!roi || !roi.vertices.length) return;
    snapshot();
    roi.vertices = [];
    app.selected = null;
    changed();
  });
  $("save").addEventListener("click", () => save(false));
  $("finish").addEventListener("click", () => save(true));
  window.addEventListener("resize", layout);
  window.addEventListener("beforeunload", (ev) => {
    if (app.dirty && !app.finished) { ev.preventDefault(); ev.returnValue = ""; }
  });

  // ------------------------------------------------------------------ start
  async function start() {
    const st = await (await fetch("api/state")).json();
    app.width = st.width;
    app.height = st.height;
    app.state.spacing = st.point_spacing;
    app.state.rois = st.rois.map((r) => ({
      name: r.name, vertices: r.vertices, points: r.points, mask: r.mask,
    }));
    if (!app.state.rois.length) app.state.rois.push({ name: "face", vertices: [], points: true, mask: true });
    app.state.active = 0;
    $("spacing").value = st.point_spacing;
    $("source").textContent = `${st.source} · ${st.width}×${st.height}`;
    $("output").textContent = `saves to ${st.output}`;
    img.onload = () => {
      layout();
      renderList();
      runPreview().then(() => { document.body.dataset.ready = "1"; });
    };
    img.src = "frame.png";
  }
  start().catch((e) => setStatus([["err", "cannot load: " + e]]));
})();
