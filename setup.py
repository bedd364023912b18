"""Packaging for contrastcorr, driven by settings.ini (the nbdev 2 source of truth).

nbdev 2's template setup.py imports `pkg_resources`, which current setuptools no longer ships;
this one parses requirements with the standard library only and supplies every field that
pyproject.toml declares dynamic.
"""
from configparser import ConfigParser
from pathlib import Path

from setuptools import setup

here = Path(__file__).parent
cfg = ConfigParser(delimiters=["="])
cfg.read(here / "settings.ini", encoding="utf-8")
cfg = cfg["DEFAULT"]

# SPDX expressions: setuptools deprecates licence classifiers in their favour
licenses = {"apache2": "Apache-2.0"}
statuses = ["1 - Planning", "2 - Pre-Alpha", "3 - Alpha", "4 - Beta", "5 - Production/Stable",
            "6 - Mature", "7 - Inactive"]
lic_name = licenses[cfg["license"]]
py_versions = ["3.10", "3.11", "3.12", "3.13"]
min_python = cfg["min_python"]


def reqs(key):
    return cfg.get(key, "").split()


# Real data ships in data/ (the repo's single place for data); a wheel carries it as the
# `contrastcorr.assets` package so `pip install` users have the sample clips and checkpoint too.
setup(
    name=cfg["lib_name"],
    version=cfg["version"],
    description=cfg["description"],
    long_description=(here / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    keywords=cfg["keywords"],
    license=lic_name,
    author=cfg["author"],
    author_email=cfg["author_email"],
    url=cfg["git_url"],
    project_urls={"Source": cfg["git_url"], "Documentation": cfg["doc_host"] + cfg["doc_baseurl"]},
    classifiers=[
        "Development Status :: " + statuses[int(cfg["status"]) - 1],
        "Intended Audience :: " + cfg["audience"],
        "Natural Language :: " + cfg["language"],
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ] + ["Programming Language :: Python :: " + v for v in py_versions[py_versions.index(min_python):]],
    python_requires=">=" + min_python,
    # Setuptools treats a data folder whose path reads as a module name (videos/real) as a package and warns when it
    # is not listed, so every such folder under data/ is named here; package_data's glob still carries every file.
    packages=["contrastcorr", "contrastcorr.web", "contrastcorr.assets"] + sorted(
        "contrastcorr.assets." + ".".join(d.relative_to(here / "data").parts)
        for d in (here / "data").rglob("*")
        if d.is_dir() and all(part.isidentifier() for part in d.relative_to(here / "data").parts)),
    package_dir={"contrastcorr.assets": "data"},
    # contrastcorr/web/: the widgets' JavaScript modules and CSS, read at import by contrastcorr.widgets
    package_data={"contrastcorr.web": ["*.js", "*.css"], "contrastcorr.assets": ["**/*"]},
    include_package_data=True,
    install_requires=reqs("requirements"),
    extras_require={"video": reqs("video_requirements"), "dev": reqs("dev_requirements")},
    entry_points={
        "console_scripts": reqs("console_scripts"),
        "nbdev": [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"],
    },
    zip_safe=False,
)
