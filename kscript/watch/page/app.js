// kscript watch: the live preview page. Plain JS, no libraries, nothing from the network.
//
// The server announces every build step on /events (Server-Sent Events); on the events that
// change the picture the page refetches /api/state and redraws: the video (swapped in place,
// keeping the playback position), the scene timeline, the curve plots, the diagnostics.
(() => {
  'use strict';

  const $ = (id) => document.getElementById(id);
  // The plotted channels come with the summary (kscript/channels.py is the one table);
  // this list is only what the page shows before the first summary arrives.
  const DEFAULT_CURVES = [
    ['zoom', 'zoom', 'factor per second', 1],
    ['angle', 'angle', 'degrees per second', 0],
    ['x', 'x', '% of the width per second', 0],
    ['y', 'y', '% of the height per second', 0],
    ['turn', 'turn', 'degrees per second', 0],
    ['tilt', 'tilt', 'degrees per second', 0],
    ['strength', 'strength', '0…1', 0],
  ];
  let CURVES = DEFAULT_CURVES;
  const SCENE_COLORS = ['#c8553d', '#2f6f8f', '#6b8f3a', '#8a5a9e', '#d08c1f', '#3d8c7a', '#9e5a5a', '#5a6b9e'];

  // Public for tests and for the curious (devtools): what the page currently shows.
  const app = { state: null, videoId: null, refreshes: 0, events: [], connected: false, plotted: 0 };
  window.kscript = app;

  // ---- state -------------------------------------------------------------------------
  let refreshing = false;
  let again = false;
  async function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    try {
      do {
        again = false;
        const response = await fetch('/api/state', { cache: 'no-store' });
        apply(await response.json());
        app.refreshes += 1;
      } while (again);
    } catch (err) {
      setStatus('offline', 'server offline, reconnecting…');
    } finally {
      refreshing = false;
    }
  }

  function apply(s) {
    const summaryChanged = !app.state || JSON.stringify(app.state.summary) !== JSON.stringify(s.summary);
    app.state = s;
    document.body.dataset.build = String(s.build);
    document.body.dataset.status = s.status;
    showStatus(s);
    showProgress(s.progress, s.status, s.frame);
    showDiagnostics(s.diagnostics);
    showVideo(s.video, s.result);
    showResult(s);
    if (summaryChanged) {
      showTimeline(s.summary);
      drawPlots();
    }
  }

  // ---- status and progress -------------------------------------------------------------
  function setStatus(kind, text) {
    const el = $('status');
    el.className = `status ${kind}`;
    el.dataset.status = kind;
    el.textContent = text;
  }

  function showStatus(s) {
    const p = s.progress || {};
    const text = {
      idle: s.video ? `up to date · build ${s.build}` : 'idle',
      compiling: `compiling · build ${s.build}`,
      rendering: `rendering ${p.done || 0}/${p.total || 0} · build ${s.build}`,
      error: 'the script has errors',
      missing: s.message || 'film missing',
    }[s.status] || s.status;
    setStatus(s.status, text);
    const film = s.summary && s.summary.film;
    $('title').textContent = film && film.title ? `${film.title} — ${s.film}` : s.film || 'watch';
    document.title = `${s.status === 'error' ? '✗ ' : ''}${film && film.title ? film.title : s.film} · kscript watch`;
  }

  function showProgress(p, status, frame) {
    const box = $('progress');
    const live = $('live');
    const rendering = status === 'rendering' || status === 'compiling';
    box.hidden = !rendering;
    if (rendering && p) {
      const total = p.total || 0;
      const pct = total ? Math.min(100, (100 * (p.done || 0)) / total) : 0;
      $('progressfill').style.width = `${pct}%`;
      $('progresstext').textContent = total ? `frame ${p.done || 0} of ${total}` : 'compiling…';
    }
    if (rendering && frame && frame.url) {
      const img = $('liveframe');
      if (img.dataset.url !== frame.url) {
        img.dataset.url = frame.url;
        img.src = frame.url;
      }
      $('livecaption').textContent = `frame ${frame.index}`;
      live.hidden = false;
    } else if (!rendering) {
      live.hidden = true;
    }
  }

  function showResult(s) {
    const r = s.result;
    if (!r || s.status !== 'idle') { $('result').textContent = ''; return; }
    const parts = [`built in ${r.seconds.toFixed(2)} s`];
    if (r.frames_rendered != null) parts.push(`${r.frames_rendered} frames rendered`);
    if (r.frames_cached != null) parts.push(`${r.frames_cached} from cache`);
    if (r.output) parts.push(r.output);
    $('result').textContent = parts.join(' · ');
  }

  // ---- diagnostics ---------------------------------------------------------------------
  function showDiagnostics(d) {
    const overlay = $('overlay');
    if (d && d.text) {
      $('diagnostics').textContent = d.text; // exactly the terminal's text
      overlay.hidden = false;
    } else {
      overlay.hidden = true;
      $('diagnostics').textContent = '';
    }
  }

  // ---- video ---------------------------------------------------------------------------
  const video = $('video');
  function showVideo(v, result) {
    $('novideo').hidden = !!v;
    $('novideo').textContent = !v && result && result.output
      ? `written to ${result.output} (not a video the page can play)`
      : 'no video yet';
    if (!v || v.id === app.videoId) return;
    const t = video.currentTime;
    // The first video starts by itself (muted, so browsers allow it); later ones carry on
    // as the viewer left the player: playing or paused, at the same time.
    const wasPlaying = app.videoId === null || !video.paused;
    app.videoId = v.id;
    const restore = () => {
      video.removeEventListener('loadedmetadata', restore);
      if (t > 0 && t < video.duration) video.currentTime = t; // keep the place when the film still reaches it
      if (wasPlaying) video.play().catch(() => {});
    };
    video.addEventListener('loadedmetadata', restore);
    video.src = v.url;
  }

  // ---- timeline ------------------------------------------------------------------------
  function fmt(t) { return `${t.toFixed(2)}s`; }

  function showTimeline(summary) {
    const line = $('timeline');
    const list = $('prompts');
    line.textContent = '';
    list.textContent = '';
    if (!summary || !summary.scenes) return;
    const total = (summary.film && summary.film.duration) || 1;
    summary.scenes.forEach((sc, i) => {
      const block = document.createElement('div');
      block.className = 'scene';
      block.style.flex = `${Math.max(sc.end - sc.start, 0.001)} 0 0`;
      block.style.background = SCENE_COLORS[i % SCENE_COLORS.length];
      block.textContent = sc.name;
      block.title = `${sc.name}: ${fmt(sc.start)} – ${fmt(sc.end)}`;
      line.appendChild(block);
      sc.prompts.forEach((p, j) => {
        const li = document.createElement('li');
        const name = document.createElement('span');
        name.className = 'name';
        name.textContent = j === 0 ? sc.name : '';
        name.style.color = SCENE_COLORS[i % SCENE_COLORS.length];
        const time = document.createElement('span');
        time.className = 'time';
        time.textContent = fmt(p.start);
        const text = document.createElement('span');
        text.textContent = p.text;
        if (p.blend > 0) {
          const b = document.createElement('span');
          b.className = 'blend';
          b.textContent = `  (blend ${fmt(p.blend)})`;
          text.appendChild(b);
        }
        li.append(name, time, text);
        list.appendChild(li);
      });
    });
    // A block narrower than about three letters shows no label (see .scene.narrow).
    const width = line.getBoundingClientRect().width || 1;
    Array.from(line.children).forEach((block, i) => {
      const sc = summary.scenes[i];
      if (((sc.end - sc.start) / total) * width < 28) block.classList.add('narrow');
    });
    const head = document.createElement('div');
    head.className = 'playhead';
    head.id = 'timelinehead';
    line.appendChild(head);
    line.onclick = (ev) => {
      const r = line.getBoundingClientRect();
      const t = ((ev.clientX - r.left) / r.width) * total;
      if (video.duration) video.currentTime = Math.min(t, video.duration - 0.001);
    };
  }

  // ---- plots ---------------------------------------------------------------------------
  function ensurePlots() {
    const box = $('plots');
    if (box.children.length === CURVES.length) return;
    box.textContent = '';
    for (const [key] of CURVES) {
      const wrap = document.createElement('div');
      wrap.className = 'plot';
      const canvas = document.createElement('canvas');
      canvas.id = `plot-${key}`;
      canvas.dataset.curve = key;
      wrap.appendChild(canvas);
      box.appendChild(wrap);
    }
  }

  function currentFrame() {
    const s = app.state && app.state.summary;
    if (!s || !s.film || !s.film.fps) return null;
    if (!video.duration || !app.videoId) return null;
    return Math.floor(video.currentTime * s.film.fps + 1e-6);
  }

  function drawPlots() {
    const s = app.state && app.state.summary;
    if (s && Array.isArray(s.curve_info) && s.curve_info.length) CURVES = s.curve_info;
    ensurePlots();
    const frame = currentFrame();
    for (const [key, label, unit, base] of CURVES) {
      drawPlot($(`plot-${key}`), s, key, label, unit, base, frame);
    }
    const head = $('timelinehead');
    if (head && s && s.film && s.film.duration) {
      const pct = Math.min(100, (100 * video.currentTime) / s.film.duration);
      head.style.left = `${pct}%`;
    }
    app.plotted += 1;
  }

  function drawPlot(canvas, summary, key, label, unit, base, frame) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    const W = w / dpr;
    const H = h / dpr;
    g.clearRect(0, 0, W, H);
    g.fillStyle = '#fff';
    g.fillRect(0, 0, W, H);
    const values = summary && summary.curves ? summary.curves[key] || [] : [];
    const pad = { l: 8, r: 8, t: 20, b: 8 };
    const pw = W - pad.l - pad.r;
    const ph = H - pad.t - pad.b;
    let lo = Math.min(base, ...values);
    let hi = Math.max(base, ...values);
    if (!isFinite(lo) || !isFinite(hi)) { lo = base - 1; hi = base + 1; }
    const flat = hi - lo < 1e-9;
    if (flat) { const m = Math.max(Math.abs(hi) * 0.05, 0.05); lo -= m; hi += m; }
    const n = values.length;
    const X = (i) => pad.l + (n > 1 ? (i / (n - 1)) * pw : pw / 2);
    const Y = (v) => pad.t + (1 - (v - lo) / (hi - lo)) * ph;

    // scenes as alternating bands
    if (summary && summary.scenes && n > 1) {
      summary.scenes.forEach((sc, i) => {
        const x0 = X(sc.start_frame);
        const x1 = X(Math.min(sc.start_frame + sc.frame_count - 1, n - 1));
        g.fillStyle = i % 2 ? '#f4f2ec' : '#fbfaf7';
        g.fillRect(x0, pad.t, Math.max(x1 - x0, 1), ph);
      });
    }
    // baseline (1 for zoom, 0 otherwise)
    g.strokeStyle = '#d9d5cc';
    g.lineWidth = 1;
    g.setLineDash([3, 3]);
    g.beginPath();
    g.moveTo(pad.l, Y(base));
    g.lineTo(W - pad.r, Y(base));
    g.stroke();
    g.setLineDash([]);
    // the song: its loudness filled from the baseline, a mark on every beat
    if (key === 'audio' && n) {
      g.fillStyle = '#b9c7cf';
      g.beginPath();
      g.moveTo(X(0), Y(0));
      values.forEach((v, i) => g.lineTo(X(i), Y(v)));
      g.lineTo(X(n - 1), Y(0));
      g.closePath();
      g.fill();
    }
    if (summary && Array.isArray(summary.beats) && n > 1 && key === 'audio') {
      g.strokeStyle = '#c8553d';
      g.lineWidth = 1;
      for (const b of summary.beats) {
        g.beginPath();
        g.moveTo(X(b), H - pad.b - 6);
        g.lineTo(X(b), H - pad.b);
        g.stroke();
      }
    }
    // the curve
    if (n) {
      g.strokeStyle = key === 'strength' ? '#2f6f8f' : '#c8553d';
      g.lineWidth = 1.6;
      g.beginPath();
      values.forEach((v, i) => (i ? g.lineTo(X(i), Y(v)) : g.moveTo(X(i), Y(v))));
      if (n === 1) g.lineTo(X(0) + 1, Y(values[0]));
      g.stroke();
    }
    // labels
    g.fillStyle = '#22211f';
    g.font = '600 12px system-ui, sans-serif';
    g.textBaseline = 'top';
    g.fillText(label, pad.l, 4);
    g.fillStyle = '#77736b';
    g.font = '11px ui-monospace, monospace';
    const range = flat ? `constant ${fmtNum(values.length ? values[0] : base)}  ${unit}` : `${fmtNum(lo)} … ${fmtNum(hi)}  ${unit}`;
    g.fillText(range, W - pad.r - g.measureText(range).width, 5);
    // playhead
    if (frame !== null && n) {
      const i = Math.min(Math.max(frame, 0), n - 1);
      g.strokeStyle = '#22211f';
      g.lineWidth = 1;
      g.beginPath();
      g.moveTo(X(i), pad.t);
      g.lineTo(X(i), H - pad.b);
      g.stroke();
      g.fillStyle = '#22211f';
      g.beginPath();
      g.arc(X(i), Y(values[i]), 3, 0, Math.PI * 2);
      g.fill();
      const label2 = fmtNum(values[i]);
      g.font = '11px ui-monospace, monospace';
      const tx = Math.min(X(i) + 5, W - pad.r - g.measureText(label2).width);
      g.fillText(label2, tx, pad.t + 2);
    }
  }

  function fmtNum(v) {
    if (!isFinite(v)) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 0.01 || a >= 1e4)) return v.toExponential(1);
    return (Math.round(v * 1000) / 1000).toString();
  }

  // Redraw the playheads while the video moves; nothing to do when it stands still.
  let lastDrawn = -1;
  function tick() {
    const f = currentFrame();
    if (f !== lastDrawn) { lastDrawn = f; drawPlots(); }
    requestAnimationFrame(tick);
  }
  window.addEventListener('resize', () => drawPlots());

  // ---- events --------------------------------------------------------------------------
  function connect() {
    const es = new EventSource('/events');
    es.addEventListener('hello', () => { app.connected = true; refresh(); });
    for (const type of ['start', 'compiled', 'finished', 'error', 'cancelled', 'missing']) {
      es.addEventListener(type, (ev) => {
        app.events.push({ type, data: JSON.parse(ev.data), at: Date.now() });
        if (app.events.length > 200) app.events.shift();
        refresh();
      });
    }
    es.addEventListener('progress', (ev) => {
      const d = JSON.parse(ev.data);
      if (!app.state || d.build !== app.state.build) { refresh(); return; }
      app.state.progress = { done: d.done, total: d.total };
      const frame = d.frame == null ? null : { index: d.frame, url: `/frames/${d.frame}.jpg?b=${d.build}` };
      showProgress(app.state.progress, 'rendering', frame);
      showStatus(Object.assign({}, app.state, { status: 'rendering' }));
    });
    es.onerror = () => {
      app.connected = false;
      setStatus('offline', 'server offline, reconnecting…');
      if (es.readyState === EventSource.CLOSED) { // the browser gave up: try again ourselves
        setTimeout(connect, 1000);
      }
    };
  }

  ensurePlots();
  refresh();
  connect();
  requestAnimationFrame(tick);
})();
