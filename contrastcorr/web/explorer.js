// AffinityExplorer, browser side: two frames, click a pixel, show its affinity heat-map; see nbs/10_widgets.ipynb §4.
function render({ model, el }) {
  const root = h('div', { class: 'cc-widget cc-explorer' });
  const title = h('div', { class: 'cc-title' });
  const row = h('div', { class: 'cc-row' });
  const panes = {};
  for (const side of ['ref', 'tgt']) {
    const img = h('img', { class: 'cc-img', draggable: 'false',
        alt: side === 'ref' ? 'reference frame' : 'target frame' });
    const heat = h('img', { class: 'cc-heat', draggable: 'false', alt: '' });
    const marks = sv('svg', { class: 'cc-marks', preserveAspectRatio: 'none' });
    const frame = h('div', { class: 'cc-frame', 'data-side': side }, img, heat, marks);
    const cap = h('div', { class: 'cc-cap' });
    row.append(h('div', { class: 'cc-pane' }, cap, frame));
    panes[side] = { img, heat, marks, frame, cap };
    let timer = null, lastCell = '';
    const send = (ev, hover) => {
      const [H, W] = model.get('size'), st = model.get('stride');
      const r = frame.getBoundingClientRect();
      const x = Math.min(W - 1, Math.max(0, Math.floor((ev.clientX - r.left) / r.width * W)));
      const y = Math.min(H - 1, Math.max(0, Math.floor((ev.clientY - r.top) / r.height * H)));
      const cell = side + Math.floor(y / st) + ',' + Math.floor(x / st);
      if (hover && cell === lastCell) return;      // hovering inside one cell changes nothing: send nothing
      lastCell = cell;
      model.set('direction', side === 'ref' ? 'r2t' : 't2r');
      model.set('click', [y, x]);
      model.save_changes();
    };
    frame.addEventListener('click', (ev) => send(ev, false));
    frame.addEventListener('mousemove', (ev) => {
      if (!model.get('hover')) return;
      clearTimeout(timer);
      const e = { clientX: ev.clientX, clientY: ev.clientY };
      timer = setTimeout(() => send(e, true), 40);   // debounce: only where the mouse rests
    });
  }
  const tauIn = slider('cc-tau', '-3', '0.5', '0.05'), tauVal = h('span', { class: 'cc-val' });
  tauIn.addEventListener('input', () => { tauVal.textContent = num(10 ** Number(tauIn.value)); });
  tauIn.addEventListener('change', () => { model.set('tau', Number(num(10 ** Number(tauIn.value))));
      model.save_changes(); });
  const kIn = slider('cc-k', '0', '1', '1'), kVal = h('span', { class: 'cc-val' });
  const kList = () => {
    const [gh, gw] = model.get('grid'), N = gh * gw, out = [];
    for (const b of [1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]) if (b < N) out.push(b);
    out.push(0);
    return out;
  };
  const kName = (k) => (k === 0 ? 'all' : String(k));
  kIn.addEventListener('input', () => { kVal.textContent = kName(kList()[Number(kIn.value)]); });
  kIn.addEventListener('change', () => { model.set('k', kList()[Number(kIn.value)]); model.save_changes(); });
  const swap = h('button', { class: 'cc-swap', type: 'button' });
  swap.addEventListener('click', () => { model.set('direction', model.get('direction') === 'r2t' ? 't2r' : 'r2t');
      model.save_changes(); });
  const featSel = h('select', { class: 'cc-features' });
  featSel.addEventListener('change', () => { model.set('features', featSel.value); model.save_changes(); });
  const ckptIn = h('input', { type: 'text', class: 'cc-ckpt', placeholder: 'checkpoint path (.pt)', size: '28' });
  const ckptBtn = h('button', { type: 'button' }, 'load');
  ckptBtn.addEventListener('click', () => { model.set('checkpoint', ckptIn.value); model.set('features', 'checkpoint');
      model.save_changes(); });
  const hoverIn = h('input', { type: 'checkbox', class: 'cc-hover' });
  hoverIn.addEventListener('change', () => { model.set('hover', hoverIn.checked); model.save_changes(); });
  const controls = h('div', { class: 'cc-controls' },
    h('label', {}, 'τ', tauIn, tauVal), h('label', {}, 'top-k', kIn, kVal), swap,
    h('label', {}, 'features', featSel), h('label', {}, ckptIn, ckptBtn), h('label', {}, hoverIn, 'follow the mouse'));
  const readout = h('div', { class: 'cc-readout' }), error = h('div', { class: 'cc-error' });
  root.append(title, row, controls, readout, error);
  el.appendChild(root);

  function update() {
    const [H, W] = model.get('size'), st = model.get('stride'), dir = model.get('direction');
    const q = dir === 'r2t' ? 'ref' : 'tgt', k = dir === 'r2t' ? 'tgt' : 'ref';
    const qName = q === 'ref' ? 'reference' : 'target', kName2 = k === 'ref' ? 'reference' : 'target';
    title.textContent = model.get('title');
    setSrc(panes.ref.img, model.get('ref_src')); setSrc(panes.tgt.img, model.get('tgt_src'));
    setSrc(panes[k].heat, model.get('heat_src'));
    panes[k].heat.style.display = model.get('heat_src') ? 'block' : 'none';
    panes[q].heat.style.display = 'none';
    panes[k].frame.classList.add('cc-key'); panes[q].frame.classList.remove('cc-key');
    panes.ref.cap.textContent = q === 'ref' ? 'reference r (clicked)'
      : 'reference r: where the target pixel copies from, A_{r→t}(·, j)';
    panes.tgt.cap.textContent = q === 'tgt' ? 'target t (clicked)'
      : 'target t: where the reference pixel went, A_{t→r}(·, i)';
    const [cy, cx] = model.get('click'), [py, px] = model.get('peak'), [sy, sx] = model.get('soft_argmax');
    for (const p of Object.values(panes)) { p.marks.setAttribute('viewBox', `0 0 ${W} ${H}`);
        p.marks.replaceChildren(); }
    panes[q].marks.append(
      sv('rect', { class: 'cc-cell', x: Math.floor(cx / st) * st, y: Math.floor(cy / st) * st, width: st, height: st }),
      sv('circle', { class: 'cc-dot', cx: cx + 0.5, cy: cy + 0.5, r: Math.max(1.5, st / 5) }));
    panes[k].marks.append(
      sv('rect', { class: 'cc-peak', x: px - st / 2, y: py - st / 2, width: st, height: st }),
      sv('circle', { class: 'cc-sa', cx: sx, cy: sy, r: Math.max(4, st * 0.7) }));
    const tau = model.get('tau'), kk = model.get('k'), ks = kList();
    tauIn.value = Math.log10(tau); tauVal.textContent = num(tau);
    kIn.max = String(ks.length - 1);
    let best = ks.length - 1;
    if (kk !== 0) { best = 0; ks.forEach((v, i) => { if (v !== 0 &&
        Math.abs(v - kk) < Math.abs(ks[best] - kk)) best = i; }); }
    kIn.value = String(best); kVal.textContent = kName(kk);
    swap.textContent = dir === 'r2t' ? '⇄ direction: reference → target' : '⇄ direction: target → reference';
    const opts = model.get('feature_options');
    if (featSel.options.length !== opts.length || [...featSel.options].some((o, i) => o.value !== opts[i]))
      featSel.replaceChildren(...opts.map((o) => h('option', { value: o }, o)));
    featSel.value = model.get('features');
    if (document.activeElement !== ckptIn) ckptIn.value = model.get('checkpoint');
    hoverIn.checked = model.get('hover');
    const c = model.get('colour'), t = model.get('true_colour'), s = model.get('stats');
    const sw = (rgb) => h('span', { class: 'cc-swatch', style: `background: rgb(${rgb.join(',')})` });
    readout.replaceChildren(
      h('div', {},
        `clicked (y, x) = (${cy}, ${cx}) px in the ${qName}; ` +
        `in the ${kName2}: soft-argmax (${num(sy, 4)}, ${num(sx, 4)}) px, ` +
        `peak cell centre (${py}, ${px}) px; peak weight ${num(s.peak_weight ?? 0)}, ` +
        `effective cells ${num(s.eff_n ?? 0)}`),
      h('div', {}, 'colour of the clicked cell', sw(t), `reconstructed from the ${kName2}`, sw(c),
        model.get('busy') ? ' · computing features…' : ''));
    error.textContent = model.get('error');
    const d = root.dataset;
    d.title = model.get('title'); d.direction = dir; d.click = `${cy},${cx}`; d.peak = `${py},${px}`;
    d.softArgmax = `${sy},${sx}`; d.tau = String(tau); d.k = String(kk); d.features = model.get('features');
    d.resultFor = model.get('result_for'); d.ready = model.get('heat_src') ? '1' : '0'; d.error = model.get('error');
  }
  const off = on(model, ['ref_src', 'tgt_src', 'heat_src', 'click', 'direction', 'peak', 'soft_argmax', 'colour',
      'true_colour',
    'stats', 'tau', 'k', 'features', 'feature_options', 'checkpoint', 'hover', 'busy', 'error', 'title', 'size',
        'result_for'], update);
  update();
  return off;
}
export default { render };
