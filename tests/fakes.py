"""Stand-ins for the outside world, for tests and the download notebook: a DAVIS-shaped zip and a local HTTP server
that honours Range requests (so resuming can be tested) and can cut a download short or ignore ranges."""
from __future__ import annotations

import contextlib
import io
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image

DAVIS_VAL = ('bike-packing', 'blackswan', 'bmx-trees', 'breakdance', 'camel', 'car-roundabout', 'car-shadow', 'cows',
             'dance-twirl', 'dog', 'dogs-jump', 'drift-chicane', 'drift-straight', 'goat', 'gold-fish',
             'horsejump-high', 'india', 'judo', 'kite-surf', 'lab-coat', 'libby', 'loading', 'mbike-trick',
             'motocross-jump', 'paragliding-launch', 'parkour', 'pigs', 'scooter-black', 'shooting', 'soapbox')

def _png(ids) -> bytes:
    "An indexed (palette) PNG of object ids, as DAVIS stores masks."
    im = Image.fromarray(ids, mode='P'); im.putpalette([0, 0, 0, 128, 0, 0] + [0] * 762)
    buf = io.BytesIO(); im.save(buf, format='PNG'); return buf.getvalue()

def _jpg(arr) -> bytes:
    buf = io.BytesIO(); Image.fromarray(arr).save(buf, format='JPEG'); return buf.getvalue()

def fake_davis_zip(val=DAVIS_VAL, n_train=60, frames=2, size=(16, 24), top='DAVIS/', drop=None) -> bytes:
    "A DAVIS-2017-shaped zip (tiny frames, one square object): `drop` names a sequence whose masks are left out."
    train = [f'train-{i:02d}' for i in range(n_train)]
    rng = np.random.default_rng(0)
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr(f'{top}ImageSets/2017/train.txt', '\n'.join(train) + '\n')
        z.writestr(f'{top}ImageSets/2017/val.txt', '\n'.join(val) + '\n')
        for seq in [*train, *val]:
            for t in range(frames):
                z.writestr(f'{top}JPEGImages/480p/{seq}/{t:05d}.jpg', _jpg(rng.integers(0, 255, (*size, 3), np.uint8)))
                if seq == drop: continue
                mask = np.zeros(size, np.uint8); mask[4:10, 6 + t:12 + t] = 1
                z.writestr(f'{top}Annotations/480p/{seq}/{t:05d}.png', _png(mask))
    return out.getvalue()

class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args): pass   # keep test output quiet

    def do_GET(self):
        srv = self.server
        srv.requests.append(self.headers.get('Range'))
        if self.path != '/' + srv.name: self.send_error(404); return
        body, start = srv.body, 0
        rng = self.headers.get('Range')
        if rng and srv.ranges:
            start = int(rng.split('=')[1].split('-')[0])
            if start >= len(body): self.send_error(416); return
            self.send_response(206)
            self.send_header('Content-Range', f'bytes {start}-{len(body) - 1}/{len(body)}')
        else: self.send_response(200)
        self.send_header('Content-Length', str(len(body) - start)); self.end_headers()
        stop = len(body) if srv.cut is None else min(len(body), srv.cut)
        self.wfile.write(body[start:max(start, stop)])
        srv.cut = None   # only the first response is cut short, as a dropped connection would be

@contextlib.contextmanager
def serve(body: bytes, name='DAVIS-2017-trainval-480p.zip', cut=None, ranges=True):
    "Serve `body` at http://127.0.0.1:PORT/name; `cut`: stop the first response after that many bytes."
    srv = ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    srv.body, srv.name, srv.cut, srv.ranges, srv.requests = body, name, cut, ranges, []
    thread = threading.Thread(target=srv.serve_forever, daemon=True); thread.start()
    try: yield srv, f'http://127.0.0.1:{srv.server_address[1]}/{name}'
    finally: srv.shutdown(); srv.server_close()
