// evolve web UI: charts and the lineage tree drawn as SVG from the page's JSON blocks.
// Archive text only ever reaches the page through textContent and SVG <title> text nodes.
(function () {
  'use strict';
  var SVGNS = 'http://www.w3.org/2000/svg';
  var MODE = document.body.dataset.mode;
  var KIND_COLOURS = ['#d62728', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f',
    '#bcbd22', '#17becf', '#1f77b4', '#2ca02c'];
  var SHAPES = ['circle', 'square', 'triangle', 'diamond', 'hexagon', 'triangle-down', 'star'];

  function svg(tag, attrs, parent) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) { if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]); }
    if (parent) parent.appendChild(e);
    return e;
  }
  function title(e, text) { svg('title', {}, e).textContent = text; return e; }
  function html(tag, cls, text, parent) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function fmt(x) {
    if (x === null || x === undefined || !isFinite(x)) return '-';
    var a = Math.abs(x);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return x.toExponential(3);
    return String(Number(x.toPrecision(4)));
  }
  function quantile(sorted, q) {
    if (!sorted.length) return NaN;
    var pos = (sorted.length - 1) * q, lo = Math.floor(pos), hi = Math.ceil(pos);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
  }
  function ticks(lo, hi, n) {
    var span = hi - lo || 1, step = Math.pow(10, Math.floor(Math.log10(span / n)));
    var err = span / n / step;
    if (err >= 7.5) step *= 10; else if (err >= 3.5) step *= 5; else if (err >= 1.5) step *= 2;
    var out = [];
    for (var i = Math.ceil(lo / step); i * step <= hi + step * 1e-9; i++) out.push(Number((i * step).toPrecision(12)));
    return out;
  }
  // viridis, sampled: low scores dark purple, high scores yellow
  var VIRIDIS = ['#440154', '#482878', '#3e4989', '#31688e', '#26828e', '#1f9e89', '#35b779', '#6ece58', '#b5de2b', '#fde725'];
  function ramp(t) {
    if (!isFinite(t)) return '#bbbbbb';
    t = Math.max(0, Math.min(1, t));
    return VIRIDIS[Math.min(VIRIDIS.length - 1, Math.floor(t * VIRIDIS.length))];
  }
  function programHref(key, id) {
    if (MODE === 'report') return document.getElementById('p' + id) ? '#p' + id : null;
    return '/run/' + key + '/program/' + id;
  }
  function go(href) { if (href) window.location.href = href; }

  // The drawing width of a chart box. An empty box is hidden (.chart:empty), so its width is
  // read off its parent: a chart drawn into it for the first time fills the column.
  function widthOf(box) {
    return box.clientWidth ? box.clientWidth - 12 : (box.parentElement ? box.parentElement.clientWidth - 14 : 900);
  }

  // A frame: an SVG with margins, linear scales and axes.
  function frame(container, opts) {
    var W = Math.max(320, widthOf(container)), H = opts.height || 300;
    container.textContent = '';
    var m = {l: 64, r: 16, t: 12, b: 40};
    var s = svg('svg', {width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, 'class': 'plot'}, container);
    var f = {svg: s, W: W, H: H, m: m,
      x: function (v) { return m.l + (v - opts.x0) / ((opts.x1 - opts.x0) || 1) * (W - m.l - m.r); },
      y: function (v) { return H - m.b - (v - opts.y0) / ((opts.y1 - opts.y0) || 1) * (H - m.t - m.b); }};
    var ax = svg('g', {'class': 'axis'}, s);
    ticks(opts.y0, opts.y1, 5).forEach(function (v) {
      if (v < opts.y0 || v > opts.y1) return;
      svg('line', {x1: m.l, x2: W - m.r, y1: f.y(v), y2: f.y(v), 'class': 'gridline'}, ax);
      svg('text', {x: m.l - 6, y: f.y(v) + 4, 'text-anchor': 'end'}, ax).textContent = fmt(v);
    });
    ticks(opts.x0, opts.x1, 8).forEach(function (v) {
      if (v < opts.x0 || v > opts.x1) return;
      svg('line', {x1: f.x(v), x2: f.x(v), y1: H - m.b, y2: H - m.b + 4}, ax);
      svg('text', {x: f.x(v), y: H - m.b + 16, 'text-anchor': 'middle'}, ax).textContent = fmt(v);
    });
    svg('line', {x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b}, ax);
    svg('line', {x1: m.l, x2: m.l, y1: m.t, y2: H - m.b}, ax);
    if (opts.xlabel) svg('text', {x: (m.l + W - m.r) / 2, y: H - 6, 'text-anchor': 'middle', 'class': 'label'}, ax).textContent = opts.xlabel;
    if (opts.ylabel) svg('text', {x: 14, y: (m.t + H - m.b) / 2, 'text-anchor': 'middle', 'class': 'label', transform: 'rotate(-90 14 ' + (m.t + H - m.b) / 2 + ')'}, ax).textContent = opts.ylabel;
    return f;
  }
  function stepPath(f, xs, ys, xEnd) {
    var d = '';
    for (var i = 0; i < xs.length; i++) {
      d += (i ? 'H' + f.x(xs[i]).toFixed(1) + 'V' : 'M' + f.x(xs[i]).toFixed(1) + ',') + f.y(ys[i]).toFixed(1);
    }
    if (xs.length && xEnd !== undefined) d += 'H' + f.x(xEnd).toFixed(1);
    return d;
  }
  function legend(parent, items) {
    var box = html('div', 'legend', null, parent);
    items.forEach(function (it) {
      var s = html('span', 'item', null, box);
      var sw = html('span', 'swatch', null, s);
      sw.style.background = it.colour;  // CSSOM: allowed under the page's CSP
      html('span', '', it.label, s);
    });
  }

  // ---- Run page -------------------------------------------------------------------------
  // Robust y axis: from the first best score (or the lower quartile) up, never lower than one
  // climb's height below the seed, so a few disastrous programs do not flatten the progress.
  function yRange(scores, firstBest, full) {
    var s = scores.slice().sort(function (a, b) { return a - b; });
    var hi = s[s.length - 1], lo = s[0];
    if (!full && s.length >= 8) {
      var span = (hi - firstBest) || Math.abs(hi) * 0.1 || 1;
      lo = Math.max(Math.min(firstBest, quantile(s, 0.25)), firstBest - span);
    }
    var pad = 0.06 * ((hi - lo) || Math.abs(hi) || 1);
    return [lo - pad, hi + pad];
  }

  // A canvas over a chart for thousands of marks (one SVG element each made pages slow): it
  // keeps the marks' screen positions for hover tips and clicks, and a tip box of plain text.
  function markLayer(box, W, H) {
    var dpr = window.devicePixelRatio || 1;
    var c = html('canvas', 'marks', null, box);
    c.width = Math.round(W * dpr); c.height = Math.round(H * dpr);
    c.style.width = W + 'px'; c.style.height = H + 'px';
    var ctx = c.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    var tip = html('div', 'tip', null, box);
    var layer = {canvas: c, ctx: ctx, tip: tip, xs: [], ys: [], items: [],
      nearest: function (x, y, within) {
        var best = -1, bd = within * within;
        for (var i = 0; i < layer.xs.length; i++) {
          var dx = layer.xs[i] - x, dy = layer.ys[i] - y, d = dx * dx + dy * dy;
          if (d <= bd) { bd = d; best = i; }
        }
        return best;
      },
      show: function (i, text) {
        if (i < 0) { tip.classList.remove('on'); c.classList.remove('pointing'); return; }
        tip.textContent = text;
        tip.style.left = Math.min(layer.xs[i] + 12, W - 260) + 'px';
        tip.style.top = Math.max(0, layer.ys[i] - 30) + 'px';
        tip.classList.add('on'); c.classList.add('pointing');
      }};
    // for tests and scripts: where a mark is, in CSS pixels from the canvas's corner
    c._locate = function (id) {
      if (layer.flush) layer.flush();  // a view change still waiting for its frame
      var i = layer.items.indexOf(String(id));
      return i < 0 ? null : {x: layer.xs[i], y: layer.ys[i]};
    };
    return layer;
  }
  function pointerAt(c, ev) { var r = c.getBoundingClientRect(); return {x: ev.clientX - r.left, y: ev.clientY - r.top}; }

  function scoreChart(root, data, key) {
    var box = root.querySelector('.score-chart');
    if (!box) return;
    var axis = root.querySelector('.x-axis'), fullY = root.querySelector('.full-y');
    var wall = axis && axis.value === 'wall', full = fullY && fullY.checked;
    var pts = data.points.filter(function (p) { return p[3] !== null; });
    var note = root.querySelector('.chart-note');
    if (!pts.length) { box.textContent = 'No scored program yet.'; if (note) note.textContent = ''; return; }
    var xi = wall ? 2 : 1;
    pts.sort(function (a, b) { return a[xi] - b[xi] || a[0] - b[0]; });
    var xs = pts.map(function (p) { return p[xi]; }), ys = pts.map(function (p) { return p[3]; });
    var best = [], b = -Infinity;
    ys.forEach(function (y) { b = Math.max(b, y); best.push(b); });
    var xEnd = 0;
    data.points.forEach(function (p) { if (p[xi] > xEnd) xEnd = p[xi]; });
    var yr = yRange(ys, best[0], full);
    var f = frame(box, {x0: 0, x1: Math.max(xEnd, 1), y0: yr[0], y1: yr[1], height: 320,
      xlabel: wall ? 'wall time (s)' : 'iteration', ylabel: 'score (higher is better)'});
    box.classList.add('layered');
    var L = markLayer(box, f.W, f.H), ctx = L.ctx, below = [];
    var dots = new Path2D(), rings = new Path2D(), tris = new Path2D();
    pts.forEach(function (p) {
      var y = p[3], x = f.x(p[xi]), cy = f.y(Math.max(y, yr[0]));
      if (y < yr[0]) { below.push(y); tris.moveTo(x - 3, cy - 5); tris.lineTo(x + 3, cy - 5); tris.lineTo(x, cy); tris.closePath(); }
      else if (p[7] === 'gate') { rings.moveTo(x + 2.6, cy); rings.arc(x, cy, 2.6, 0, 2 * Math.PI); }
      else { dots.moveTo(x + 2.6, cy); dots.arc(x, cy, 2.6, 0, 2 * Math.PI); }
      L.xs.push(x); L.ys.push(cy); L.items.push(String(p[0]));
    });
    ctx.fillStyle = 'rgba(138,138,138,0.55)'; ctx.fill(dots);
    ctx.strokeStyle = '#8a8a8a'; ctx.setLineDash([2, 1]); ctx.stroke(rings); ctx.setLineDash([]);
    ctx.fillStyle = 'rgba(179,38,30,0.6)'; ctx.fill(tris);
    svg('path', {d: stepPath(f, xs, best, xEnd), 'class': 'best-line'}, f.svg);
    L.canvas.dataset.points = pts.length;
    function textOf(i) { var p = pts[i]; return '#' + p[0] + ' · iteration ' + p[1] + ' · score ' + fmt(p[3]) + ' · ' + p[6] + (p[7] === 'gate' ? ' (stopped at the gate)' : ''); }
    L.canvas.addEventListener('mousemove', function (ev) { var q = pointerAt(L.canvas, ev), i = L.nearest(q.x, q.y, 6); L.show(i, i < 0 ? '' : textOf(i)); });
    L.canvas.addEventListener('mouseleave', function () { L.show(-1); });
    L.canvas.addEventListener('click', function (ev) {
      var q = pointerAt(L.canvas, ev), i = L.nearest(q.x, q.y, 6);
      if (i >= 0) go(programHref(key, pts[i][0]));
    });
    legend(box, [{colour: '#1f77b4', label: 'best so far'}, {colour: '#8a8a8a', label: 'program (point at it for details, click to open)'}]);
    if (note) {
      note.textContent = below.length ? below.length + ' program' + (below.length > 1 ? 's' : '') +
        ' scored below the axis (lowest ' + fmt(Math.min.apply(null, below)) + '), drawn as ▼ at the bottom; tick "full y range" to see them.' : '';
    }
  }

  function failChart(root, data) {
    var box = root.querySelector('.fail-chart');
    if (!box) return;
    var kids = data.points.filter(function (p) { return p[1] > 0; });
    var fails = kids.filter(function (p) { return p[4] !== 'ok' && p[4] !== 'no_gain'; });
    if (!fails.length) { box.textContent = ''; html('p', 'empty', kids.length ? 'No failures: every proposal was scored.' : 'No proposals yet.', box); return; }
    var last = Math.max.apply(null, kids.map(function (p) { return p[1]; }));
    var nWin = Math.min(40, last), width = Math.ceil(last / nWin), n = Math.ceil(last / width);
    var kinds = [], totals = {};
    fails.forEach(function (p) { if (!(p[4] in totals)) { kinds.push(p[4]); totals[p[4]] = 0; } totals[p[4]]++; });
    kinds.sort();
    var counts = kinds.map(function () { return new Array(n).fill(0); }), all = new Array(n).fill(0);
    kids.forEach(function (p) { all[Math.min(n - 1, Math.floor((p[1] - 1) / width))]++; });
    fails.forEach(function (p) { counts[kinds.indexOf(p[4])][Math.min(n - 1, Math.floor((p[1] - 1) / width))]++; });
    var top = Math.max.apply(null, all.map(function (_, i) { return counts.reduce(function (s, c) { return s + c[i]; }, 0); }));
    var f = frame(box, {x0: 0, x1: n * width, y0: 0, y1: Math.max(top, 1), height: 220,
      xlabel: 'iteration (windows of ' + width + ')', ylabel: 'failed proposals'});
    var g = svg('g', {}, f.svg);
    for (var i = 0; i < n; i++) {
      var base = 0;
      kinds.forEach(function (k, j) {
        var c = counts[j][i];
        if (!c) return;
        var r = svg('rect', {x: f.x(i * width) + 1, width: Math.max(1, f.x(width) - f.x(0) - 2),
          y: f.y(base + c), height: f.y(base) - f.y(base + c), fill: KIND_COLOURS[j % KIND_COLOURS.length]}, g);
        title(r, k + ': ' + c + ' of ' + all[i] + ' proposals in iterations ' + (i * width + 1) + '-' + ((i + 1) * width));
        base += c;
      });
    }
    legend(box, kinds.map(function (k, j) { return {colour: KIND_COLOURS[j % KIND_COLOURS.length], label: k + ' (' + totals[k] + ')'}; }));
  }

  function islandChart(root, data) {
    var box = root.querySelector('.island-chart');
    if (!box) return;
    var by = {};
    data.points.forEach(function (p) { if (p[3] !== null) (by[p[5]] = by[p[5]] || []).push(p); });
    var ids = Object.keys(by).map(Number).sort(function (a, b) { return a - b; });
    if (ids.length < 2) { box.textContent = ''; return; }
    var curves = ids.map(function (i) {
      var ps = by[i].sort(function (a, b) { return a[1] - b[1]; }), b = -Infinity;
      return {xs: ps.map(function (p) { return p[1]; }), ys: ps.map(function (p) { b = Math.max(b, p[3]); return b; })};
    });
    var lastIt = Math.max.apply(null, data.points.map(function (p) { return p[1]; }));
    var allY = [].concat.apply([], curves.map(function (c) { return c.ys; }));
    var firsts = curves.map(function (c) { return c.ys[0]; });
    var yr = yRange(allY, Math.min.apply(null, firsts), false);
    var f = frame(box, {x0: 0, x1: Math.max(lastIt, 1), y0: yr[0], y1: yr[1], height: 200, xlabel: 'iteration', ylabel: 'best on island'});
    curves.forEach(function (c, j) {
      svg('path', {d: stepPath(f, c.xs, c.ys.map(function (y) { return Math.max(y, yr[0]); }), lastIt), 'class': 'line', stroke: KIND_COLOURS[(j + 8) % KIND_COLOURS.length]}, f.svg);
    });
    legend(box, ids.map(function (i, j) { return {colour: KIND_COLOURS[(j + 8) % KIND_COLOURS.length], label: 'island ' + i}; }));
  }

  function gridChart(root, data, key) {
    var box = root.querySelector('.grid-chart');
    if (!box || !data.grid) return;
    box.textContent = '';
    var g = data.grid, nb = g.bins, two = g.features.length > 1;
    var cell = Math.min(36, Math.floor(Math.min(widthOf(box) - 70, 420) / nb));
    var W = 60 + nb * cell, H = 30 + (two ? nb : 1) * cell;
    var s = svg('svg', {width: W, height: H + 10, 'class': 'plot'}, box);
    var scores = g.cells.map(function (c) { return c.score; }).filter(function (v) { return v !== null; }).sort(function (a, b) { return a - b; });
    var lo = quantile(scores, 0.1), hi = scores[scores.length - 1];
    for (var i = 0; i < nb; i++) for (var j = 0; j < (two ? nb : 1); j++) {
      svg('rect', {x: 60 + i * cell, y: 10 + ((two ? nb : 1) - 1 - j) * cell, width: cell - 1, height: cell - 1, 'class': 'empty-cell'}, s);
    }
    g.cells.forEach(function (c) {
      var i = c.key[0], j = two ? c.key[1] : 0;
      var r = svg('rect', {x: 60 + i * cell, y: 10 + ((two ? nb : 1) - 1 - j) * cell, width: cell - 1, height: cell - 1,
        fill: ramp((c.score - lo) / ((hi - lo) || 1)), 'class': 'link'}, s);
      title(r, 'cell ' + c.key.join(',') + ': #' + c.id + ' score ' + fmt(c.score));
      var href = programHref(key, c.id);
      if (href) r.addEventListener('click', function () { go(href); });
    });
    svg('text', {x: 60 + nb * cell / 2, y: H + 6, 'text-anchor': 'middle', 'class': 'label'}, s).textContent = g.features[0] + ' →';
    if (two) svg('text', {x: 40, y: 10 + nb * cell / 2, 'text-anchor': 'middle', 'class': 'label', transform: 'rotate(-90 40 ' + (10 + nb * cell / 2) + ')'}, s).textContent = g.features[1] + ' →';
  }

  function renderRun(root, data, key) {
    scoreChart(root, data, key);
    failChart(root, data);
    islandChart(root, data);
    gridChart(root, data, key);
    var axis = root.querySelector('.x-axis'), fullY = root.querySelector('.full-y');
    [axis, fullY].forEach(function (c) {
      if (c && !c.dataset.bound) {
        c.dataset.bound = '1';
        c.addEventListener('change', function () { scoreChart(root, root._data, key); });
      }
    });
  }

  function shapePath(shape, x, y, r) {
    switch (shape) {
      case 'square': return 'M' + (x - r) + ',' + (y - r) + 'h' + 2 * r + 'v' + 2 * r + 'h' + -2 * r + 'z';
      case 'triangle': return 'M' + x + ',' + (y - r * 1.2) + 'L' + (x + r * 1.1) + ',' + (y + r * 0.8) + 'L' + (x - r * 1.1) + ',' + (y + r * 0.8) + 'z';
      case 'triangle-down': return 'M' + x + ',' + (y + r * 1.2) + 'L' + (x + r * 1.1) + ',' + (y - r * 0.8) + 'L' + (x - r * 1.1) + ',' + (y - r * 0.8) + 'z';
      case 'diamond': return 'M' + x + ',' + (y - r * 1.3) + 'L' + (x + r * 1.3) + ',' + y + 'L' + x + ',' + (y + r * 1.3) + 'L' + (x - r * 1.3) + ',' + y + 'z';
      case 'hexagon': { var d = ''; for (var i = 0; i < 6; i++) { var a = Math.PI / 3 * i; d += (i ? 'L' : 'M') + (x + r * 1.1 * Math.cos(a)).toFixed(1) + ',' + (y + r * 1.1 * Math.sin(a)).toFixed(1); } return d + 'z'; }
      case 'cross': return 'M' + (x - r) + ',' + (y - r) + 'L' + (x + r) + ',' + (y + r) + 'M' + (x + r) + ',' + (y - r) + 'L' + (x - r) + ',' + (y + r);
      case 'star': { var s = ''; for (var k = 0; k < 10; k++) { var rr = k % 2 ? r * 0.5 : r * 1.3, b = Math.PI / 5 * k - Math.PI / 2; s += (k ? 'L' : 'M') + (x + rr * Math.cos(b)).toFixed(1) + ',' + (y + rr * Math.sin(b)).toFixed(1); } return s + 'z'; }
      default: return 'M' + (x - r) + ',' + y + 'a' + r + ',' + r + ' 0 1,0 ' + 2 * r + ',0a' + r + ',' + r + ' 0 1,0 ' + -2 * r + ',0';
    }
  }

  // ---- Lineage tree -------------------------------------------------------------------
  // Drawn on a canvas: 5,000 SVG nodes took seconds to build and to redraw on every zoom step.
  // Only what the viewport shows is drawn; nodes are batched by look (one fill per colour and
  // shape), so a redraw is a few milliseconds whatever the run's size.
  function shapeTo(ctx, shape, x, y, r) {
    var i, a;
    switch (shape) {
      case 'square': ctx.rect(x - r, y - r, 2 * r, 2 * r); return;
      case 'triangle': ctx.moveTo(x, y - r * 1.2); ctx.lineTo(x + r * 1.1, y + r * 0.8); ctx.lineTo(x - r * 1.1, y + r * 0.8); ctx.closePath(); return;
      case 'triangle-down': ctx.moveTo(x, y + r * 1.2); ctx.lineTo(x + r * 1.1, y - r * 0.8); ctx.lineTo(x - r * 1.1, y - r * 0.8); ctx.closePath(); return;
      case 'diamond': ctx.moveTo(x, y - r * 1.3); ctx.lineTo(x + r * 1.3, y); ctx.lineTo(x, y + r * 1.3); ctx.lineTo(x - r * 1.3, y); ctx.closePath(); return;
      case 'hexagon': for (i = 0; i < 6; i++) { a = Math.PI / 3 * i; ctx[i ? 'lineTo' : 'moveTo'](x + r * 1.1 * Math.cos(a), y + r * 1.1 * Math.sin(a)); } ctx.closePath(); return;
      case 'star': for (i = 0; i < 10; i++) { var rr = i % 2 ? r * 0.5 : r * 1.3; a = Math.PI / 5 * i - Math.PI / 2; ctx[i ? 'lineTo' : 'moveTo'](x + rr * Math.cos(a), y + rr * Math.sin(a)); } ctx.closePath(); return;
      case 'cross': ctx.moveTo(x - r, y - r); ctx.lineTo(x + r, y + r); ctx.moveTo(x + r, y - r); ctx.lineTo(x - r, y + r); return;
      default: ctx.moveTo(x + r, y); ctx.arc(x, y, r, 0, 2 * Math.PI);
    }
  }

  function renderTree(root, data, key) {
    var box = root.querySelector('.tree-chart');
    if (!box) return;
    var keep = box._view;  // a live update keeps the user's zoom and pan
    box.textContent = '';
    var nodes = data.nodes, N = nodes.length;
    if (!N) { html('p', 'empty', 'No programs yet.', box); return; }
    var proposers = [], shapeOf = {}, byId = {}, onPath = {}, maxIt = 1, rows = data.rows || N;
    nodes.forEach(function (n, i) {
      if (!(n[6] in shapeOf)) { shapeOf[n[6]] = SHAPES[proposers.length % SHAPES.length]; proposers.push(n[6]); }
      byId[n[0]] = i;
      if (n[2] > maxIt) maxIt = n[2];
    });
    data.best_path.forEach(function (id) { onPath[id] = true; });
    var scores = nodes.map(function (n) { return n[4]; }).filter(function (v) { return v !== null; }).sort(function (a, b) { return a - b; });
    var lo = quantile(scores, 0.1), hi = scores.length ? scores[scores.length - 1] : 1;
    // the look of each node, fixed: kind 0 scored, 1 failed, 2 stopped at the gate
    var kind = new Uint8Array(N), look = new Array(N), counts = {failed: 0, gate: 0, path: 0};
    nodes.forEach(function (n, i) {
      var failed = n[5] !== 'ok' && n[5] !== 'no_gain', gate = !failed && n[7] === 'gate';
      kind[i] = failed ? 1 : gate ? 2 : 0;
      look[i] = kind[i] ? '' : ramp((n[4] - lo) / ((hi - lo) || 1)) + '|' + shapeOf[n[6]] + (n[8] ? '|dup' : '');
      if (failed) counts.failed++; else if (gate) counts.gate++;
      if (onPath[n[0]]) counts.path++;
    });
    var W = Math.max(480, widthOf(box)), H = Math.min(720, Math.max(320, rows * 14 + 40)), pad = 24;
    var home = {x0: -0.5, x1: maxIt + 0.5, y0: -1, y1: rows};
    var view = keep || Object.assign({}, home);
    box._view = view;
    box.classList.add('layered');
    var L = markLayer(box, W, H), c = L.canvas, ctx = L.ctx;
    c.classList.add('tree');
    c.dataset.nodes = N; c.dataset.failed = counts.failed; c.dataset.gate = counts.gate; c.dataset.onPath = counts.path;
    var sx = new Float32Array(N), sy = new Float32Array(N), hover = -1, queued = false;
    L.items = nodes.map(function (n) { return String(n[0]); });
    function X(v) { return pad + (v - view.x0) / (view.x1 - view.x0) * (W - 2 * pad); }
    function Y(v) { return pad + (v - view.y0) / (view.y1 - view.y0) * (H - 2 * pad); }
    function draw() {
      queued = false;
      ctx.clearRect(0, 0, W, H);
      var r = Math.max(2, Math.min(7, 0.35 * (H - 2 * pad) / (view.y1 - view.y0)));
      var i, n, shown = 0, groups = {}, edges = new Path2D(), pathEdges = new Path2D();
      for (i = 0; i < N; i++) { sx[i] = X(nodes[i][2]); sy[i] = Y(nodes[i][3]); }
      for (i = 0; i < N; i++) {
        n = nodes[i];
        var p = n[1] === null ? undefined : byId[n[1]];
        if (p === undefined) continue;
        var x0 = Math.min(sx[p], sx[i]), x1 = Math.max(sx[p], sx[i]), y0 = Math.min(sy[p], sy[i]), y1 = Math.max(sy[p], sy[i]);
        if (x1 < 0 || x0 > W || y1 < 0 || y0 > H) continue;  // off screen
        var e = onPath[n[0]] && onPath[nodes[p][0]] ? pathEdges : edges;
        e.moveTo(sx[p], sy[p]); e.lineTo(sx[p], sy[i]); e.lineTo(sx[i], sy[i]);
      }
      ctx.lineWidth = 1; ctx.strokeStyle = '#c3c9d3'; ctx.stroke(edges);
      ctx.lineWidth = 2.6; ctx.strokeStyle = '#e8590c'; ctx.stroke(pathEdges);
      var failed = new Path2D(), gate = new Path2D(), rings = new Path2D();
      for (i = 0; i < N; i++) {
        if (sx[i] < -r || sx[i] > W + r || sy[i] < -r || sy[i] > H + r) continue;
        shown++;
        n = nodes[i];
        if (kind[i] === 1) shapeTo(failed, 'cross', sx[i], sy[i], r);
        else if (kind[i] === 2) shapeTo(gate, 'circle', sx[i], sy[i], r);
        else shapeTo(groups[look[i]] = groups[look[i]] || new Path2D(), shapeOf[n[6]], sx[i], sy[i], r);
        if (onPath[n[0]]) shapeTo(rings, 'circle', sx[i], sy[i], r + 2.5);
      }
      ctx.lineWidth = r >= 3 ? 0.6 : 0; ctx.strokeStyle = 'rgba(51,51,51,0.5)';
      Object.keys(groups).forEach(function (g) {
        var parts = g.split('|');
        ctx.globalAlpha = parts[2] ? 0.45 : 1;
        ctx.fillStyle = parts[0]; ctx.fill(groups[g]);
        if (r >= 3) ctx.stroke(groups[g]);
      });
      ctx.globalAlpha = 1;
      ctx.lineWidth = 1.6; ctx.strokeStyle = '#b3261e'; ctx.stroke(failed);
      ctx.lineWidth = 1.4; ctx.strokeStyle = '#5d6778'; ctx.setLineDash([2, 1.5]); ctx.stroke(gate); ctx.setLineDash([]);
      ctx.lineWidth = 2.2; ctx.strokeStyle = '#e8590c'; ctx.stroke(rings);
      if (hover >= 0) { ctx.beginPath(); ctx.arc(sx[hover], sy[hover], r + 4, 0, 2 * Math.PI); ctx.lineWidth = 2; ctx.strokeStyle = '#1d2430'; ctx.stroke(); }
      L.xs = sx; L.ys = sy;
      c.dataset.drawn = shown;
    }
    function redraw() { if (!queued) { queued = true; requestAnimationFrame(draw); } }
    // positions are those of the last frame: a click or a lookup right after a zoom, a pan or
    // a reset (a busy machine can hold the frame back) draws first, so it hits what it shows
    L.flush = function () { if (queued) draw(); };
    function textOf(i) {
      var n = nodes[i];
      return '#' + n[0] + ' · iteration ' + n[2] + ' · ' + n[6] + ' · ' + (kind[i] === 1 ? 'failed: ' + n[5] : 'score ' + fmt(n[4])) +
        (kind[i] === 2 ? ' (stopped at the gate)' : '') + (n[8] ? ' (duplicate)' : '') + (onPath[n[0]] ? ' · on the seed → best path' : '');
    }
    function pick(q) { L.flush(); return L.nearest(q.x, q.y, Math.max(6, Math.min(10, 0.35 * (H - 2 * pad) / (view.y1 - view.y0) + 3))); }
    draw();
    // zoom around the pointer, pan by dragging; a click without a drag opens the program
    var drag = null;
    c.addEventListener('wheel', function (ev) {
      ev.preventDefault();
      var k = ev.deltaY > 0 ? 1.2 : 1 / 1.2, q = pointerAt(c, ev);
      var fx = (q.x - pad) / (W - 2 * pad), fy = (q.y - pad) / (H - 2 * pad);
      var cx = view.x0 + fx * (view.x1 - view.x0), cy = view.y0 + fy * (view.y1 - view.y0);
      view.x0 = cx - (cx - view.x0) * k; view.x1 = cx + (view.x1 - cx) * k;
      view.y0 = cy - (cy - view.y0) * k; view.y1 = cy + (view.y1 - cy) * k;
      L.show(-1); redraw();
    }, {passive: false});
    c.addEventListener('mousedown', function (ev) { drag = {x: ev.clientX, y: ev.clientY, v: Object.assign({}, view), moved: false}; });
    c.addEventListener('mousemove', function (ev) {
      if (drag) return;
      var i = pick(pointerAt(c, ev));
      if (i !== hover) { hover = i; L.show(i, i < 0 ? '' : textOf(i)); redraw(); }
    });
    c.addEventListener('mouseleave', function () { if (!drag && hover >= 0) { hover = -1; L.show(-1); redraw(); } });
    function onMove(ev) {
      if (!drag || !c.isConnected) return;
      var dx = (ev.clientX - drag.x) / (W - 2 * pad) * (drag.v.x1 - drag.v.x0), dy = (ev.clientY - drag.y) / (H - 2 * pad) * (drag.v.y1 - drag.v.y0);
      if (Math.abs(ev.clientX - drag.x) + Math.abs(ev.clientY - drag.y) > 3) { drag.moved = true; c.classList.add('dragging'); L.show(-1); }
      view.x0 = drag.v.x0 - dx; view.x1 = drag.v.x1 - dx; view.y0 = drag.v.y0 - dy; view.y1 = drag.v.y1 - dy;
      redraw();
    }
    function onUp(ev) {
      var d = drag;
      drag = null;
      c.classList.remove('dragging');
      if (!d || d.moved || !c.isConnected) return;
      var i = pick(pointerAt(c, ev));
      if (i < 0) return;
      var href = programHref(key, nodes[i][0]), info = root.querySelector('.tree-info');
      if (href) go(href); else if (info) info.textContent = 'program #' + nodes[i][0] + ' is not in this report (only the seed → best path is)';
    }
    // one pair of window listeners per chart box, replaced on every re-render
    if (box._off) box._off();
    window.addEventListener('mousemove', onMove);
    window.addEventListener('mouseup', onUp);
    box._off = function () { window.removeEventListener('mousemove', onMove); window.removeEventListener('mouseup', onUp); };
    var reset = root.querySelector('.tree-reset');
    if (reset) reset.onclick = function () { Object.assign(view, home); redraw(); };
    var leg = root.querySelector('.tree-legend');
    if (leg) {
      leg.textContent = '';
      proposers.forEach(function (p) {
        var item = html('span', 'item', null, leg);
        var sv = svg('svg', {width: 16, height: 16}, item);
        svg('path', {d: shapePath(shapeOf[p], 8, 8, 5), 'class': 'node', fill: '#888'}, sv);
        html('span', '', p, item);
      });
      var sc = html('span', 'item', 'score ' + fmt(lo) + ' ', leg);
      VIRIDIS.forEach(function (col) { var sw = html('span', 'swatch', null, sc); sw.style.background = col; });
      sc.appendChild(document.createTextNode(' ' + fmt(hi)));
    }
    var list = root.querySelector('.best-path-list');
    if (list) {
      list.textContent = '';
      data.best_path.forEach(function (id, j) {
        if (j) list.appendChild(document.createTextNode(' → '));
        var href = programHref(key, id), n = nodes[byId[id]];
        var a = html(href ? 'a' : 'span', '', '#' + id + (n && n[4] !== null ? ' (' + fmt(n[4]) + ')' : ''), list);
        if (href) a.href = href;
      });
    }
  }

  // ---- Compare ------------------------------------------------------------------------
  function renderCompare(root, data) {
    var box = root.querySelector('.cmp-chart');
    if (!box) return;
    var lows = [], highs = [];
    data.groups.forEach(function (g) {
      (g.mean || []).forEach(function (v) { lows.push(v); });
      (g.high || []).forEach(function (v) { highs.push(v); });
    });
    if (!lows.length) { box.textContent = 'No group has a successful program at every iteration yet.'; return; }
    lows.sort(function (a, b) { return a - b; });
    var y0 = quantile(lows, 0.05), y1 = Math.max(Math.max.apply(null, highs), lows[lows.length - 1]);
    var pad = 0.08 * ((y1 - y0) || 1);
    var f = frame(box, {x0: 0, x1: Math.max(1, data.upto), y0: y0 - pad, y1: y1 + pad, height: 340, xlabel: 'iteration', ylabel: 'best score so far'});
    var items = [];
    data.groups.forEach(function (g, i) {
      var col = KIND_COLOURS[(i + 8) % KIND_COLOURS.length];
      g.runs.forEach(function (c) {
        var xs = [], ys = [];
        c.forEach(function (v, j) { if (v !== null) { xs.push(j); ys.push(Math.max(v, y0 - pad)); } });
        svg('path', {d: stepPath(f, xs, ys), 'class': 'line thin', stroke: col}, f.svg);
      });
      if (!g.mean) return;
      var up = '', down = '';
      // steps, like the mean line: a value holds until the next iteration
      g.x.forEach(function (x, j) { up += (j ? 'H' + f.x(x) + 'V' : 'M' + f.x(x) + ',') + f.y(Math.max(g.high[j], y0 - pad)); });
      for (var j = g.x.length - 1; j >= 0; j--) down += (j < g.x.length - 1 ? 'V' + f.y(Math.max(g.low[j], y0 - pad)) + 'H' : 'L' + f.x(g.x[j]) + ',' + f.y(Math.max(g.low[j], y0 - pad)) + 'H') + f.x(g.x[j]);
      svg('path', {d: up + down + 'z', fill: col, 'class': 'band'}, f.svg);
      svg('path', {d: stepPath(f, g.x, g.mean.map(function (v) { return Math.max(v, y0 - pad); })), 'class': 'line', stroke: col}, f.svg);
      items.push({colour: col, label: g.group + ' (n=' + g.runs.length + ')'});
    });
    legend(box, items);
  }

  // ---- live updates ---------------------------------------------------------------------
  function setFields(scope, obj) {
    Object.keys(obj).forEach(function (k) {
      var e = scope.querySelector('[data-field="' + k + '"]');
      if (!e) return;
      var v = obj[k];
      e.textContent = k === 'cost_usd' ? (k === 'cost_usd' && scope.id === 'summary' ? '$' : '') + Number(v || 0).toFixed(4)
        : k === 'wall_seconds' ? Number(v || 0).toFixed(2) + ' s'
        : typeof v === 'number' ? fmt(v) : String(v === null ? '-' : v);
    });
  }
  function stamp(text) { var l = document.getElementById('live-state'); if (l) l.textContent = text; }

  function poll(url, every, apply) {
    var busy = false;
    var timer = setInterval(function () {
      if (busy) return;
      busy = true;
      fetch(url, {cache: 'no-store'}).then(function (r) { return r.json(); }).then(function (d) {
        busy = false;
        stamp('live · updated ' + new Date().toLocaleTimeString());
        if (apply(d) === false) clearInterval(timer);
      }).catch(function () { busy = false; stamp('live · server not answering'); });
    }, every);
    stamp('live');
  }

  function start() {
    var live = document.body.dataset.live === '1' && MODE === 'serve';
    document.querySelectorAll('script.page-data').forEach(function (block) {
      var data = JSON.parse(block.textContent), root = block.parentElement, key = block.dataset.key;
      root._data = data;
      if (block.dataset.kind === 'run') {
        renderRun(root, data, key);
        if (live) poll('/run/' + key + '/data.json', 2000, function (d) {
          root._data = d;
          renderRun(root, d, key);
          setFields(document.getElementById('summary'), d.summary);
          if (d.summary.status !== 'running') { window.location.reload(); return false; }
        });
      } else if (block.dataset.kind === 'tree') {
        renderTree(root, data, key);
        if (live) poll('/run/' + key + '/tree.json', 4000, function (d) {
          root._data = d;
          renderTree(root, d, key);
          if (d.summary.status !== 'running') return false;
        });
      } else if (block.dataset.kind === 'compare') {
        renderCompare(root, data);
      }
    });
    document.body.dataset.ready = '1';  // drawn: what tests and benchmarks/webui.py wait for
    if (live && document.body.dataset.page === 'runs') {
      poll('/runs.json', 2000, function (rows) {
        var known = document.querySelectorAll('#runs-table tbody tr').length;
        if (rows.length !== known) { window.location.reload(); return false; }
        rows.forEach(function (r) {
          var tr = document.querySelector('#runs-table tr[data-key="' + r.key + '"]');
          if (tr) setFields(tr, r);
        });
      });
    }
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
