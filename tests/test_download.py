"""`contrastcorr data davis` against a local server (tests/fakes.py): resume, restart, verification, atomic unpack,
locking. No test here opens a connection outside this machine."""
import threading
import zipfile

import pytest
from fakes import fake_davis_zip, serve

from contrastcorr.data import DavisDataset
from contrastcorr.download import DAVIS_VAL, download, fetch_davis, has_davis, verify_davis_zip

BODY = fake_davis_zip()

def test_resume_after_cut(tmp_path):
    with serve(BODY, cut=50_000) as (srv, url):
        with pytest.raises(ConnectionError, match='again to resume'): download(url, tmp_path/'a.zip', progress=False)
        assert (tmp_path/'a.zip.part').stat().st_size == 50_000
        download(url, tmp_path/'a.zip', progress=False)
    assert (tmp_path/'a.zip').read_bytes() == BODY and not (tmp_path/'a.zip.part').exists()
    assert srv.requests == [None, 'bytes=50000-']

def test_server_without_ranges_restarts(tmp_path):
    (tmp_path/'a.zip.part').write_bytes(b'junk that is not the start of the file')
    with serve(BODY, ranges=False) as (srv, url): download(url, tmp_path/'a.zip', progress=False)
    assert (tmp_path/'a.zip').read_bytes() == BODY   # overwritten, not appended to the junk

def test_complete_part_is_finished_on_416(tmp_path):
    (tmp_path/'a.zip.part').write_bytes(BODY)
    with serve(BODY) as (srv, url): download(url, tmp_path/'a.zip', progress=False)
    assert (tmp_path/'a.zip').read_bytes() == BODY

def test_errors_name_the_address(tmp_path):
    with serve(BODY) as (srv, url):
        with pytest.raises(ConnectionError, match='HTTP 404'): download(url + '.missing', tmp_path/'x', progress=False)
    with pytest.raises(ConnectionError, match='cannot reach http://127.0.0.1:9/'):
        download('http://127.0.0.1:9/davis.zip', tmp_path/'y', progress=False, timeout=5)

def test_zip_slip_refused(tmp_path):
    with zipfile.ZipFile(tmp_path/'evil.zip', 'w') as z:
        z.writestr('DAVIS/ImageSets/2017/val.txt', 'a\n'); z.writestr('../escape.txt', 'x')
    with pytest.raises(ValueError, match='unsafe member name'): verify_davis_zip(tmp_path/'evil.zip')

def test_bad_archive_deleted_and_root_untouched(tmp_path):
    root = tmp_path/'DAVIS'
    with serve(fake_davis_zip(drop='dog')) as (srv, url):
        with pytest.raises(ValueError, match="'dog' has no Annotations"): fetch_davis(root, url=url, progress=False)
    assert not (root/'.download'/'DAVIS-2017-trainval-480p.zip').exists()   # never resumed from
    assert not any(p.name in ('JPEGImages', 'Annotations', 'ImageSets') for p in root.iterdir())

def test_stale_unpacking_removed_and_layout_read(tmp_path):
    root = tmp_path/'DAVIS'; (root/'.unpacking'/'JPEGImages').mkdir(parents=True)   # a killed run's half
    with serve(BODY) as (srv, url): fetch_davis(root, url=url, progress=False)
    assert has_davis(root) and not (root/'.unpacking').exists() and not (root/'.download').exists()
    assert DavisDataset(root).sequences == list(DAVIS_VAL)
    assert len(DavisDataset(root, split='train')) == 60

def test_two_fetches_one_download(tmp_path):
    root, errors = tmp_path/'DAVIS', []
    with serve(BODY) as (srv, url):
        def run():
            try: fetch_davis(root, url=url, progress=False)
            except Exception as e: errors.append(e)
        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads: t.start()
        for t in threads: t.join()
    assert not errors and has_davis(root)
    assert srv.requests == [None]   # the second waited for the lock, then found the data set there

def test_keep_archive(tmp_path):
    with serve(BODY) as (srv, url): fetch_davis(tmp_path/'D', url=url, progress=False, keep_archive=True)
    assert (tmp_path/'D'/'.download'/'DAVIS-2017-trainval-480p.zip').read_bytes() == BODY

def test_cli(tmp_path, capsys):
    from contrastcorr.cli import main
    with serve(BODY) as (srv, url):
        assert main(['data', 'davis', '--root', str(tmp_path/'D'), '--url', url, '--no-progress']) == 0
    assert has_davis(tmp_path/'D')
    capsys.readouterr()
    bad = ['data', 'davis', '--root', str(tmp_path/'E'), '--url', 'http://127.0.0.1:9/x.zip', '--no-progress']
    assert main(bad) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('contrastcorr data: error: cannot reach http://127.0.0.1:9/x.zip')
