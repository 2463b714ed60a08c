// streamdeblur live dashboard: one WebSocket brings status JSON and JPEG frames.
"use strict";
(() => {
  const HISTORY_S = 300;
  const token = new URLSearchParams(location.search).get("token");
  const query = token ? "?token=" + encodeURIComponent(token) : "";
  const tiles = new Map(); // camera -> {el, imgs, history}
  const $ = (sel, root = document) => root.querySelector(sel);
  let socket = null;
  let view = localStorage.getItem("streamdeblur.view") || "both";

  const fmt = {
    in_fps: (v) => v.toFixed(1),
    out_fps: (v) => v.toFixed(1),
    latency_p50_ms: (v) => v.toFixed(0) + " ms",
    latency_p95_ms: (v) => v.toFixed(0) + " ms",
  };
  const pct = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%");

  function wantedStreams() {
    return view === "both" ? ["deblurred", "raw"] : [view];
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws" + query);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      setConn(true);
      socket.send(JSON.stringify({ streams: wantedStreams() }));
    };
    socket.onmessage = (ev) => (typeof ev.data === "string" ? onJson(JSON.parse(ev.data)) : onFrame(ev.data));
    socket.onclose = () => {
      setConn(false);
      setTimeout(connect, 2000);
    };
  }

  function setConn(up) {
    const el = $("#conn");
    el.textContent = up ? "live" : "disconnected";
    el.className = "conn " + (up ? "on" : "off");
  }

  function onJson(msg) {
    if (msg.type === "hello") {
      for (const [cam, points] of Object.entries(msg.history || {})) tileFor(cam).history = points;
    } else if (msg.type === "status") {
      for (const c of msg.status.cameras) {
        const t = tileFor(c.camera);
        t.history.push(c.point);
        const cutoff = c.point.t - HISTORY_S;
        while (t.history.length && t.history[0].t < cutoff) t.history.shift();
      }
    }
    render(msg.status);
  }

  function onFrame(buf) {
    const n = new DataView(buf).getUint16(0);
    const head = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 2, n)));
    const t = tiles.get(head.camera);
    const img = t && t.imgs[head.stream];
    if (!img) return;
    const url = URL.createObjectURL(new Blob([new Uint8Array(buf, 2 + n)], { type: "image/jpeg" }));
    const previous = img.dataset.url;
    img.onload = () => previous && URL.revokeObjectURL(previous);
    img.src = url;
    img.dataset.url = url;
    img.dataset.seq = head.seq;
  }

  function tileFor(camera) {
    let t = tiles.get(camera);
    if (t) return t;
    const el = $("#tile-tpl").content.firstElementChild.cloneNode(true);
    el.dataset.camera = camera;
    $(".cam", el).textContent = camera;
    const imgs = {};
    for (const fig of el.querySelectorAll(".views figure")) imgs[fig.dataset.stream] = $("img", fig);
    $("#grid").appendChild(el);
    $("#empty").hidden = true;
    t = { el, imgs, history: [] };
    tiles.set(camera, t);
    return t;
  }

  function render(status) {
    const e = status.engine;
    $("#engine").textContent = status.mode === "pipeline" ? `model ${e.model} on ${e.device} (${e.precision})` : "attached to a pipeline's output";
    const grid = $("#grid");
    status.cameras.forEach((c, i) => {
      const t = tileFor(c.camera);
      if (grid.children[i] !== t.el) grid.insertBefore(t.el, grid.children[i] || null); // keep the status order
      renderTile(t, c, status);
    });
    renderOcr(status.ocr);
  }

  function renderTile(t, c, status) {
    const el = t.el;
    const state = $(".state", el);
    state.textContent = c.state;
    state.className = "state " + c.state;
    $(".model", el).textContent = "model " + c.model;
    for (const dd of el.querySelectorAll("dd[data-field]")) {
      const key = dd.dataset.field;
      let v = c[key];
      if (key === "device") v = c.device === "-" ? "–" : `${c.device} ${c.precision}`;
      dd.textContent = v === null || v === undefined ? "–" : fmt[key] ? fmt[key](v) : String(v);
    }
    for (const [stream, img] of Object.entries(t.imgs)) {
      const shown = (view === "both" || view === stream) && c.streams.includes(stream);
      img.parentElement.hidden = !shown;
    }
    const note = $(".novideo", el);
    const anyShown = Object.values(t.imgs).some((img) => !img.parentElement.hidden);
    note.hidden = anyShown;
    note.textContent = status.video_error ? "No video: " + status.video_error
      : !status.video ? "No video: the output socket cannot be watched (use a pub+bind endpoint)."
      : c.streams.length ? `The ${view} stream is not published (set output.publish_raw).` : "Waiting for frames…";
    const err = $(".error", el);
    err.hidden = !c.error;
    err.textContent = c.error || "";
    const h = t.history;
    plot($('canvas[data-plot="fps"]', el), h, ["in_fps", "out_fps"], ["k1", "k2"]);
    plot($('canvas[data-plot="latency"]', el), h, ["p50", "p95"], ["k1", "k2"]);
    plot($('canvas[data-plot="drops"]', el), h, ["drops"], ["k3"]);
  }

  const colours = {};
  function colour(cls) {
    if (!colours[cls]) {
      const probe = document.createElement("i");
      probe.className = cls;
      document.body.appendChild(probe);
      colours[cls] = getComputedStyle(probe).backgroundColor;
      probe.remove();
    }
    return colours[cls];
  }

  function plot(canvas, points, keys, classes) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (!w || !h) return;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const ctx = canvas.getContext("2d");
    ctx.scale(dpr, dpr);
    ctx.clearRect(0, 0, w, h);
    const now = points.length ? points[points.length - 1].t : 0;
    // the x axis spans the history there is, from one minute up to HISTORY_S
    const span = points.length ? Math.min(HISTORY_S, Math.max(60, now - points[0].t)) : 60;
    let top = 0;
    for (const p of points) for (const k of keys) if (p[k] !== null && p[k] > top) top = p[k];
    const max = top > 0 ? top * 1.15 : 1;
    ctx.strokeStyle = "rgba(255,255,255,0.12)";
    ctx.beginPath();
    ctx.moveTo(0, h - 0.5);
    ctx.lineTo(w, h - 0.5);
    ctx.stroke();
    keys.forEach((k, i) => {
      ctx.strokeStyle = colour(classes[i]);
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      let pen = false;
      for (const p of points) {
        if (p[k] === null || p[k] === undefined) { pen = false; continue; }
        const x = w - ((now - p.t) / span) * w;
        const y = h - 2 - (p[k] / max) * (h - 14);
        pen ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
        pen = true;
      }
      ctx.stroke();
    });
    ctx.fillStyle = "rgba(255,255,255,0.55)";
    ctx.font = "10px system-ui, sans-serif";
    ctx.fillText("max " + (top < 10 ? top.toFixed(1) : top.toFixed(0)), 3, 10);
    ctx.textAlign = "right";
    ctx.fillText(span >= 120 ? Math.round(span / 60) + " min" : Math.round(span) + " s", w - 3, 10);
  }

  const MAX_READS = 8;
  const STREAM_TAGS = { deblurred: "deblurred", raw: "raw" };
  let thumbs = new Map(); // read key -> its <img>, kept across renders so it never reloads

  // The panel's rows, newest first: the reads the server sent (with thumbnails), then plate
  // texts known only from the consumer's stats (e.g. reads from before the dashboard came).
  function plateRows(s) {
    const rows = (s.reads || []).slice(-MAX_READS).reverse();
    const seen = new Set(rows.map((r) => r.stream + "\n" + r.text));
    for (const stream of ["deblurred", "raw"]) {
      for (const text of [...s.streams[stream].plate_texts].reverse()) {
        if (rows.length >= MAX_READS) return rows;
        if (!seen.has(stream + "\n" + text)) rows.push({ stream, text, confidence: null, thumb_jpeg: null });
      }
    }
    return rows;
  }

  // One read: thumbnail, text, confidence, stream tag. Event data only ever goes into
  // textContent and attributes set through the DOM.
  function plateRow(camera, r, used) {
    const li = document.createElement("li");
    const stream = STREAM_TAGS[r.stream] || "deblurred";
    li.dataset.stream = stream;
    const slot = document.createElement("span");
    slot.className = "thumb-slot";
    if (typeof r.thumb_jpeg === "string" && r.thumb_jpeg) {
      const key = [camera, r.ts, stream, r.text, r.thumb_jpeg.length].join("\n");
      let img = thumbs.get(key);
      if (!img) {
        img = document.createElement("img");
        img.className = "thumb";
        img.setAttribute("src", "data:image/jpeg;base64," + r.thumb_jpeg);
      }
      img.setAttribute("alt", "plate " + r.text);
      used.set(key, img);
      slot.appendChild(img);
    }
    const text = document.createElement("span");
    text.className = "plate";
    text.textContent = r.text;
    const conf = document.createElement("span");
    conf.className = "conf";
    conf.textContent = typeof r.confidence === "number" ? r.confidence.toFixed(2) : "";
    const tag = document.createElement("span");
    tag.className = "tag " + stream;
    tag.textContent = stream;
    li.append(slot, text, conf, tag);
    return li;
  }

  function renderOcr(ocr) {
    const section = $("#ocr");
    section.hidden = !ocr;
    if (!ocr) return;
    const body = $("#ocr-body");
    body.replaceChildren();
    const used = new Map();
    for (const [camera, s] of Object.entries(ocr)) {
      const card = document.createElement("article");
      card.className = "ocr-card";
      card.dataset.camera = camera;
      const deb = s.streams.deblurred, raw = s.streams.raw;
      const gain = s.read_rate_gain;
      const gainText = gain === null ? "gain – (raw not published)" : `gain ${(gain >= 0 ? "+" : "") + (100 * gain).toFixed(1)} pts`;
      card.innerHTML = `<header><h3></h3><span class="gain"></span></header>
        <table><thead><tr><th></th><th>deblurred</th><th>raw</th></tr></thead><tbody></tbody></table>
        <h4>latest reads</h4><ul class="reads"></ul>`;
      $("h3", card).textContent = camera;
      const g = $(".gain", card);
      g.textContent = gainText;
      g.className = "gain " + (gain > 0 ? "up" : gain < 0 ? "down" : "");
      const rows = [
        ["read rate", pct(deb.read_rate), pct(raw.read_rate)],
        ["plates", deb.plates, raw.plates],
        ["frames OCR'd", deb.frames, raw.frames],
      ];
      for (const r of rows) {
        const tr = document.createElement("tr");
        for (const cell of r) {
          const td = document.createElement("td");
          td.textContent = String(cell);
          tr.appendChild(td);
        }
        $("tbody", card).appendChild(tr);
      }
      const ul = $("ul.reads", card);
      const reads = plateRows(s);
      for (const r of reads) ul.appendChild(plateRow(camera, r, used));
      if (!reads.length) {
        const li = document.createElement("li");
        li.className = "none muted";
        li.textContent = "–";
        ul.appendChild(li);
      }
      body.appendChild(card);
    }
    thumbs = used; // reads that scrolled off the panel let go of their images
  }

  const select = $("#view");
  select.value = view;
  select.onchange = () => {
    view = select.value;
    localStorage.setItem("streamdeblur.view", view);
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ streams: wantedStreams() }));
  };
  connect();
})();
