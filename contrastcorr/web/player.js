// PropagationPlayer, browser side: a frame slider over predicted and true masks; nbs/10_widgets.ipynb §6.
function render({ model, el }) {
  const root = h('div', { class: 'cc-widget cc-player' });
  const title = h('div', { class: 'cc-title' });
  const pred = h('img', { class: 'cc-img', alt: 'prediction' }), gt = h('img', { class: 'cc-img',
      alt: 'ground truth' });
  const gtPane = h('div', { class: 'cc-pane' }, h('div', { class: 'cc-cap' }, 'ground truth'), gt);
  const row = h('div', { class: 'cc-row' }, h('div', { class: 'cc-pane' }, h('div', { class: 'cc-cap' }, 'prediction'),
      pred), gtPane);
  const spark = sv('svg', { class: 'cc-spark', preserveAspectRatio: 'none', viewBox: '0 0 100 100' });
  const fr = slider('cc-frame-slider', '0', '0', '1'), frVal = h('span', { class: 'cc-val' });
  const play = h('button', { type: 'button', class: 'cc-play' }, '▶ play');
  let timer = null;
  const step = (i) => { model.set('frame', i); model.save_changes(); };
  fr.addEventListener('input', () => step(Number(fr.value)));
  play.addEventListener('click', () => {
    if (timer) { clearInterval(timer); timer = null; play.textContent = '▶ play'; return; }
    play.textContent = '⏸ pause';
    timer = setInterval(() => step((model.get('frame') + 1) % model.get('n_frames')), 1000 / model.get('fps'));
  });
  const readout = h('div', { class: 'cc-readout' });
  root.append(title, row, h('div', { class: 'cc-controls' }, play, h('label', {}, 'frame', fr, frVal)), spark, readout);
  el.appendChild(root);
  function update() {
    const i = model.get('frame'), n = model.get('n_frames'), j = model.get('j');
    title.textContent = model.get('title');
    setSrc(pred, model.get('pred_src')); setSrc(gt, model.get('gt_src'));
    gtPane.style.display = model.get('gt_src') ? '' : 'none';
    fr.max = String(n - 1); fr.value = String(i); frVal.textContent = `${i} / ${n - 1}`;
    spark.replaceChildren();
    if (j.length) {
      const x = (t) => (n > 1 ? (100 * t) / (n - 1) : 50), lo = Math.max(0, Math.min(...j) - 0.05);
      const y = (v) => 97 - (94 * (v - lo)) / Math.max(1e-6, 1 - lo);   // the curve fills the box: J from lo to 1
      spark.append(sv('polyline', { points: j.map((v, t) => `${x(t)},${y(v)}`).join(' ') }),
                   sv('line', { x1: x(i), x2: x(i), y1: 0, y2: 100 }));
    }
    const lowJ = num(Math.max(0, Math.min(...j) - 0.05), 2);
    readout.textContent = j.length ? `frame ${i}: J = ${num(j[i])} · mean J over frames ${num(model.get('j_mean'))} ` +
                                     `(curve: J per frame from ${lowJ} to 1, red line = this frame)`
                                   : `frame ${i} (no ground truth: J not available)`;
    const d = root.dataset;
    d.title = model.get('title'); d.frame = String(i); d.j = j.length ? String(j[i]) : '';
  }
  const off = on(model, ['frame', 'n_frames', 'pred_src', 'gt_src', 'j', 'j_mean', 'title'], update);
  update();
  return () => { off(); if (timer) clearInterval(timer); };
}
export default { render };
