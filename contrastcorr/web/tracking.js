// TrackingViewer, browser side: reference patch, tracked box and intra/inter mass per video; nbs/10_widgets.ipynb §5.
function render({ model, el }) {
  const root = h('div', { class: 'cc-widget cc-tracking' });
  const title = h('div', { class: 'cc-title' });
  const panes = {};
  const row = h('div', { class: 'cc-row' });
  for (const side of ['ref', 'tgt']) {
    const img = h('img', { class: 'cc-img', alt: side === 'ref' ? 'reference frame' : 'target frame' });
    const marks = sv('svg', { class: 'cc-marks', preserveAspectRatio: 'none' });
    const cap = h('div', { class: 'cc-cap' });
    row.append(h('div', { class: 'cc-pane' }, cap, h('div', { class: 'cc-frame' }, img, marks)));
    panes[side] = { img, marks, cap };
  }
  const pr = h('img', { alt: 'reference patch' }), pt = h('img', { alt: 'tracked patch' });
  const bars = h('div', { class: 'cc-bars' });
  const side = h('div', { class: 'cc-pane' }, h('div', { class: 'cc-cap' }, 'reference patch · tracked patch'),
    h('div', { class: 'cc-patches' }, pr, pt), h('div', { class: 'cc-cap', style: 'margin-top: 8px' },
        'mass of the tracked patch on each video\'s reference patch'), bars);
  row.append(side);
  const idx = slider('cc-index', '0', '0', '1'), idxVal = h('span', { class: 'cc-val' });
  const prev = h('button', { type: 'button' }, '◀'), next = h('button', { type: 'button' }, '▶');
  const go = (i) => { const n = model.get('n'); model.set('index', ((i % n) + n) % n); model.save_changes(); };
  prev.addEventListener('click', () => go(model.get('index') - 1));
  next.addEventListener('click', () => go(model.get('index') + 1));
  idx.addEventListener('input', () => go(Number(idx.value)));
  const tauIn = slider('cc-tau', '-3', '0.5', '0.05'), tauVal = h('span', { class: 'cc-val' });
  tauIn.addEventListener('input', () => { tauVal.textContent = num(10 ** Number(tauIn.value)); });
  tauIn.addEventListener('change', () => { model.set('tau', Number(num(10 ** Number(tauIn.value))));
      model.save_changes(); });
  const readout = h('div', { class: 'cc-readout' });
  root.append(title, row, h('div', { class: 'cc-controls' }, h('label', {}, 'video', prev, idx, next, idxVal),
      h('label', {}, 'τ', tauIn, tauVal)), readout);
  el.appendChild(root);
  const rect = (cls, b) => sv('rect', { class: cls, x: b[0], y: b[1], width: b[2] - b[0], height: b[3] - b[1] });
  function update() {
    const [H, W] = model.get('size'), i = model.get('index'), n = model.get('n');
    title.textContent = model.get('title');
    setSrc(panes.ref.img, model.get('ref_src')); setSrc(panes.tgt.img, model.get('tgt_src'));
    setSrc(pr, model.get('ref_patch_src')); setSrc(pt, model.get('tgt_patch_src'));
    panes.ref.cap.textContent = `video ${i}: reference frame, patch (green)`;
    panes.tgt.cap.textContent = 'target frame: tracked box (orange), points, truth (dashed)';
    for (const p of Object.values(panes)) { p.marks.setAttribute('viewBox', `0 0 ${W} ${H}`);
        p.marks.replaceChildren(); }
    panes.ref.marks.append(rect('cc-box-ref', model.get('ref_box')));
    for (const [x, y] of model.get('points')) panes.tgt.marks.append(sv('circle', { class: 'cc-pt', cx: x, cy: y,
        r: 1.5 }));
    if (model.get('true_box').length) panes.tgt.marks.append(rect('cc-box-true', model.get('true_box')));
    panes.tgt.marks.append(rect('cc-box-track', model.get('track_box')));
    idx.max = String(n - 1); idx.value = String(i); idxVal.textContent = `${i + 1} / ${n}`;
    tauIn.value = Math.log10(model.get('tau')); tauVal.textContent = num(model.get('tau'));
    const m = model.get('mass');
    bars.replaceChildren(...m.map((v, j) => h('div', { class: 'cc-bar' + (j === i ? ' own' : ''),
        style: `height: ${Math.max(1, 70 * v)}px`, title: `video ${j}: ${num(v)}` }, h('span', {}, String(j)))));
    const own = m[i] ?? 0, [cx, cy] = model.get('centre'), [sw, sh] = model.get('scale');
    readout.textContent = `tracked centre (x, y) = (${num(cx, 4)}, ${num(cy, 4)}) px, ` +
      `scale ${num(sw)} × ${num(sh)} of the reference patch; ` +
      `intra-video mass ${num(own)}, inter-video mass ${num(1 - own)}`;
    const d = root.dataset;
    d.title = model.get('title'); d.index = String(i); d.trackBox = model.get('track_box').join(',');
    d.intra = String(own);
  }
  const off = on(model, ['index', 'n', 'tau', 'ref_src', 'tgt_src', 'ref_patch_src', 'tgt_patch_src', 'ref_box',
      'track_box',
    'true_box', 'points', 'mass', 'centre', 'scale', 'title', 'size'], update);
  update();
  return off;
}
export default { render };
