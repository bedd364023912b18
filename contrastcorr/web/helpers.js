// DOM helpers shared by the three widgets (contrastcorr.widgets joins this file before each widget's module).
const SVGNS = 'http://www.w3.org/2000/svg';
function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  e.append(...kids);
  return e;
}
function sv(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}
function setSrc(img, src) { if (src && img.getAttribute('src') !== src) img.setAttribute('src', src); }
function num(x, d = 3) { return Number(x).toPrecision(d); }
function slider(cls, min, max, step) { return h('input', { type: 'range', class: cls, min, max, step }); }
// Call f on a change of any of the traits `names`; returns the function that stops listening.
function on(model, names, f) {
  for (const n of names) model.on('change:' + n, f);
  return () => { for (const n of names) model.off('change:' + n, f); };
}
